// The bot: the Discord client, the interaction router and the poller, started over the one wiring
// (src/wire.ts). `startApp` is what `npm start` runs and what the end-to-end tests start against the fake Discord.
import { Events, type Guild, type Interaction } from "discord.js";
import { commands, components } from "./commands/index.ts";
import type { Config } from "./config.ts";
import { sweepLeftoverTempFiles } from "./datasets/tempFiles.ts";
import { openDb } from "./db/open.ts";
import { createDiscordClient } from "./discord/client.ts";
import type { AppContext } from "./discord/context.ts";
import { createDiscordNoticeSender } from "./discord/notices.ts";
import { createInteractionRouter } from "./discord/router.ts";
import type { Logger } from "./logger.ts";
import { describeProviderFailure } from "./providers/errors.ts";
import type { SandboxHandle } from "./providers/factory.ts";
import { buildServices } from "./wire.ts";

export interface AppDeps {
  config: Config;
  logger: Logger;
  /** Used for attachment downloads and provider HTTP (tests count or fault requests here). */
  fetch?: typeof fetch;
}

export interface App {
  ctx: AppContext;
  /** The embedded sandbox when it is the provider (tests advance its clock). */
  sandbox: SandboxHandle | undefined;
  /** Resolves once the gateway is READY. */
  ready: Promise<void>;
  close(): Promise<void>;
}

export async function startApp({ config, logger, fetch: doFetch = fetch }: AppDeps): Promise<App> {
  const token = config.discord.token;
  if (!token) throw new Error("startApp needs config.discord.token");
  await sweepLeftoverTempFiles({ dataDir: config.dataDir, logger });
  const db = openDb(config.databasePath);
  const client = createDiscordClient({ apiUrl: config.discord.apiUrl });
  let services: Awaited<ReturnType<typeof buildServices>>;
  try {
    services = await buildServices({
      config,
      db,
      logger,
      sender: (deps) =>
        createDiscordNoticeSender({
          client,
          ...deps,
          defaultChannelId: config.discord.notifyChannelId,
          logger: logger.child({ service: "notices" }),
        }),
    });
  } catch (err) {
    db.close();
    throw err;
  }
  const ctx: AppContext = {
    ...services,
    fetch: doFetch,
    providerName: services.providers.default.name,
    isSandbox: services.providers.default.sandbox,
  };

  const router = createInteractionRouter({
    commands,
    components,
    ctx,
    describeError: describeProviderFailure,
  });
  const onInteraction = (interaction: Interaction) => void router.handle(interaction);
  client.on(Events.InteractionCreate, onInteraction);
  client.on(Events.Error, (err) => logger.error({ err }, "discord client error"));
  // A server removing the bot (GUILD_DELETE without `unavailable`; discord.js reports an outage as guildUnavailable
  // instead) schedules its data's deletion; being invited back (guildCreate, or the server being there on READY)
  // cancels it.
  const onGuildDelete = (guild: Guild) => void ctx.privacy.guildLeft(guild.id);
  const onGuildCreate = (guild: Guild) => void ctx.privacy.guildJoined(guild.id);
  client.on(Events.GuildDelete, onGuildDelete);
  client.on(Events.GuildCreate, onGuildCreate);
  const ready = new Promise<void>((resolve) =>
    client.once(Events.ClientReady, (c) => {
      logger.info(
        { user: c.user.tag, guilds: c.guilds.cache.size, provider: ctx.providerName },
        "classtune is online",
      );
      try {
        ctx.privacy.reconcileGuilds(c.guilds.cache.keys());
      } catch (err) {
        logger.error({ err }, "could not reconcile the servers' scheduled deletions");
      }
      services.poller.start();
      resolve();
    }),
  );
  try {
    await client.login(token);
  } catch (err) {
    await services.close();
    db.close();
    throw err;
  }

  let closed = false;
  return {
    ctx,
    sandbox: services.sandbox,
    ready,
    async close() {
      if (closed) return;
      closed = true;
      // No new work: then let what is in flight finish before the database and the sandbox close.
      client.off(Events.InteractionCreate, onInteraction);
      client.off(Events.GuildDelete, onGuildDelete);
      client.off(Events.GuildCreate, onGuildCreate);
      await services.poller.stop();
      await router.idle();
      await services.notifier.drain().catch(() => undefined);
      await client.destroy();
      await services.close();
      db.close();
    },
  };
}
