// Composition root: config -> db -> services -> discord client -> scheduler.
// `startApp` is what `npm start` runs and what the end-to-end tests start against the fake Discord.
import { Events } from "discord.js";
import { commands, components } from "./commands/index.ts";
import type { Config } from "./config.ts";
import { DatasetRepository } from "./db/datasets.ts";
import { GuildSettingsRepository } from "./db/guildSettings.ts";
import { openDb } from "./db/open.ts";
import { createDiscordClient } from "./discord/client.ts";
import type { AppContext } from "./discord/context.ts";
import { createInteractionRouter } from "./discord/router.ts";
import type { Logger } from "./logger.ts";

export interface AppDeps {
  config: Config;
  logger: Logger;
  fetch?: typeof fetch;
}

export interface App {
  ctx: AppContext;
  /** Resolves once the gateway is READY. */
  ready: Promise<void>;
  close(): Promise<void>;
}

export async function startApp({ config, logger, fetch: doFetch = fetch }: AppDeps): Promise<App> {
  const token = config.discord.token;
  if (!token) throw new Error("startApp needs config.discord.token");
  const db = openDb(config.databasePath);
  const ctx: AppContext = {
    config,
    logger,
    db,
    fetch: doFetch,
    datasets: new DatasetRepository(db),
    guildSettings: new GuildSettingsRepository(db),
  };

  const client = createDiscordClient({ apiUrl: config.discord.apiUrl });
  const router = createInteractionRouter({ commands, components, ctx });
  client.on(Events.InteractionCreate, (interaction) => void router.handle(interaction));
  client.on(Events.Error, (err) => logger.error({ err }, "discord client error"));
  const ready = new Promise<void>((resolve) =>
    client.once(Events.ClientReady, (c) => {
      logger.info(
        { user: c.user.tag, guilds: c.guilds.cache.size, provider: config.provider.name },
        "classtune is online",
      );
      resolve();
    }),
  );
  await client.login(token);

  let closed = false;
  return {
    ctx,
    ready,
    async close() {
      if (closed) return;
      closed = true;
      await router.idle();
      await client.destroy();
      db.close();
    },
  };
}
