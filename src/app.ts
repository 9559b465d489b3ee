// The bot: the Discord client, the interaction router and the poller, started over the one wiring
// (src/wire.ts). `startApp` is what `npm start` runs and what the end-to-end tests start against the fake Discord.
import { Events, type Guild, type Interaction } from "discord.js";
import packageJson from "../package.json" with { type: "json" };
import { commands, components } from "./commands/index.ts";
import type { Config } from "./config.ts";
import { sweepLeftoverTempFiles } from "./datasets/tempFiles.ts";
import { databaseAnswers } from "./db/query/store.ts";
import { createDiscordClient } from "./discord/client.ts";
import type { AppContext } from "./discord/context.ts";
import { gatewayHealth } from "./discord/gateway.ts";
import { createDiscordNoticeSender } from "./discord/notices.ts";
import { createInteractionRouter } from "./discord/router.ts";
import { type HealthServer, startHealthServer } from "./health/server.ts";
import { type Leadership, SqliteLeadership } from "./leadership/leadership.ts";
import { PostgresLeadership } from "./leadership/postgres.ts";
import type { Logger } from "./logger.ts";
import { describeProviderFailure } from "./providers/errors.ts";
import type { SandboxHandle } from "./providers/factory.ts";
import { buildServices, openConfiguredDatabase } from "./wire.ts";

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
  /** Resolves once the gateway is READY (and this process has tried for the scheduled work's lease). */
  ready: Promise<void>;
  /** Whether this process runs the scheduled work, when several share the database. */
  leadership: Leadership;
  /** GET /healthz and /readyz when HEALTH_PORT is set. */
  health: HealthServer | undefined;
  close(): Promise<void>;
}

export async function startApp({ config, logger, fetch: doFetch = fetch }: AppDeps): Promise<App> {
  const token = config.discord.token;
  if (!token) throw new Error("startApp needs config.discord.token");
  await sweepLeftoverTempFiles({ dataDir: config.dataDir, logger });
  const database = await openConfiguredDatabase(config);
  const client = createDiscordClient({ apiUrl: config.discord.apiUrl, shards: config.discord.shards });
  // One leader for the scheduled work among the processes on one database: PostgreSQL's advisory lock, or the lease
  // row in the SQLite file (src/leadership/).
  const leaderLogger = logger.child({ service: "leadership" });
  const leadership: Leadership =
    config.databaseUrl !== undefined
      ? new PostgresLeadership({ url: config.databaseUrl, logger: leaderLogger })
      : new SqliteLeadership({ store: database.store, logger: leaderLogger });
  let services: Awaited<ReturnType<typeof buildServices>>;
  try {
    services = await buildServices({
      config,
      database,
      logger,
      leadership,
      sender: (deps) =>
        createDiscordNoticeSender({
          client,
          ...deps,
          defaultChannelId: config.discord.notifyChannelId,
          logger: logger.child({ service: "notices" }),
        }),
    });
  } catch (err) {
    await database.close();
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
  const onGuildDelete = (guild: Guild) =>
    void ctx.privacy
      .guildLeft(guild.id)
      .catch((err) =>
        logger.error({ err, guildId: guild.id }, "could not schedule a server's data deletion"),
      );
  const onGuildCreate = (guild: Guild) =>
    void ctx.privacy
      .guildJoined(guild.id)
      .catch((err) => logger.error({ err, guildId: guild.id }, "could not cancel a server's data deletion"));
  client.on(Events.GuildDelete, onGuildDelete);
  client.on(Events.GuildCreate, onGuildCreate);
  const ready = new Promise<void>((resolve) =>
    client.once(Events.ClientReady, (c) => {
      logger.info(
        { user: c.user.tag, guilds: c.guilds.cache.size, provider: ctx.providerName },
        "classtune is online",
      );
      // Leading from READY, not before (and once the servers are reconciled): a process that cannot reach Discord
      // leaves the scheduled work to one that can.
      void ctx.privacy
        .reconcileGuilds(c.guilds.cache.keys())
        .catch((err) => logger.error({ err }, "could not reconcile the servers' scheduled deletions"))
        .then(() => leadership.start())
        .then(() => {
          services.poller.start();
          resolve();
        });
    }),
  );
  let health: HealthServer | undefined;
  try {
    if (config.health.port !== undefined) {
      health = await startHealthServer({
        port: config.health.port,
        host: config.health.host,
        logger: logger.child({ service: "health" }),
        sources: {
          gateway: () => gatewayHealth(client),
          databaseOk: () => databaseAnswers(database.store),
          engine: database.store.engine,
          role: () => leadership.role(),
          version: packageJson.version,
        },
      });
    }
    await client.login(token);
  } catch (err) {
    await health?.close();
    await client.destroy();
    await services.close();
    await database.close();
    throw err;
  }

  let closed = false;
  return {
    ctx,
    sandbox: services.sandbox,
    ready,
    leadership,
    health,
    async close() {
      if (closed) return;
      closed = true;
      // Not ready from here on: a supervisor stops routing to this process while it drains.
      await health?.close();
      // No new work: then let what is in flight finish before the database and the sandbox close.
      client.off(Events.InteractionCreate, onInteraction);
      client.off(Events.GuildDelete, onGuildDelete);
      client.off(Events.GuildCreate, onGuildCreate);
      await services.poller.stop();
      // The tick in flight is done: a follower may take the scheduled work over now, not after the lease expires.
      await leadership.stop();
      await router.idle();
      await services.notifier.drain().catch(() => undefined);
      await client.destroy();
      await services.close();
      await database.close();
    },
  };
}
