// Composition root: config -> db -> services -> discord client -> scheduler.
// `startApp` is what `npm start` runs and what the end-to-end tests start against the fake Discord.
import { Events, type Interaction } from "discord.js";
import { commands, components } from "./commands/index.ts";
import type { Config } from "./config.ts";
import { DatasetRepository } from "./db/datasets.ts";
import { GuildSettingsRepository } from "./db/guildSettings.ts";
import { JobMetricsRepository } from "./db/jobs.ts";
import { ModelRepository } from "./db/models.ts";
import { openDb } from "./db/open.ts";
import { OutboxRepository } from "./db/outbox.ts";
import { createDiscordClient } from "./discord/client.ts";
import type { AppContext } from "./discord/context.ts";
import { createDiscordNoticeSender } from "./discord/notices.ts";
import { createInteractionRouter } from "./discord/router.ts";
import type { Logger } from "./logger.ts";
import { createClassroomServices } from "./services/ask/index.ts";
import { type StoreDataset, storeDataset } from "./services/datasets.ts";
import { JobService } from "./services/jobs.ts";
import { Notifier } from "./services/notifier.ts";
import { JobPoller } from "./services/poller.ts";
import { describeProviderFailure } from "./services/providers/errors.ts";
import { createProviderFromConfig } from "./services/runtime.ts";
import type { SandboxHandle } from "./services/sandbox/server.ts";
import { sweepLeftoverTempFiles } from "./services/tempFiles.ts";
import { loadCatalog } from "./services/validation/models.ts";

/** "the provider no longer serves it" → "The provider no longer serves it." */
function sentence(text: string): string {
  const t = text.trim();
  return `${t.charAt(0).toUpperCase()}${t.slice(1)}${/[.!?]$/.test(t) ? "" : "."}`;
}

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
  const catalog = loadCatalog({ modelsFile: config.modelsFile, pricesFile: config.pricesFile });
  const runtime = await createProviderFromConfig(config, { db, logger, dataDir: config.dataDir });
  const guildSettings = new GuildSettingsRepository(db);
  const store: StoreDataset = (args) => storeDataset({ ...args, catalog });
  const outbox = new OutboxRepository(db);
  const models = new ModelRepository(db);
  const classroom = createClassroomServices({
    config,
    db,
    logger,
    fineTuningBaseURL: runtime.sandbox?.url,
    storeDataset,
    // Posted on the poller's next drain; the service already limits this to once per guild, model and day.
    onModelUnavailable: (guildId, model, info) => {
      const registered = models.get(guildId, model);
      outbox.enqueue({
        guildId,
        channelId: null,
        kind: "model_unavailable",
        payload: {
          model,
          provider: registered?.provider ?? "unknown",
          shutdownDate: registered?.shutdownDate ?? null,
          reason: `${sentence(info.reason)}${info.fallbackModel ? ` Students are answered by ${info.fallbackModel} meanwhile.` : " Students get no answer until a teacher picks another model."}`,
        },
        dedupeKey: `model_unavailable:${guildId}:${model}:${new Date().toISOString().slice(0, 10)}`,
      });
    },
  });
  const client = createDiscordClient({ apiUrl: config.discord.apiUrl });
  const notifier = new Notifier({
    db,
    logger: logger.child({ service: "notifier" }),
    sender: createDiscordNoticeSender({
      client,
      guildSettings,
      defaultChannelId: config.discord.notifyChannelId,
      outbox,
      metrics: new JobMetricsRepository(db),
      logger: logger.child({ service: "notices" }),
    }),
  });
  const jobs = new JobService({
    db,
    provider: runtime.provider,
    logger: logger.child({ service: "jobs" }),
    maxJobCostUsd: config.maxJobCostUsd,
    dataDir: config.dataDir,
    catalog,
    requestTimeoutMs: config.provider.timeoutMs,
  });
  const poller = new JobPoller({
    db,
    provider: runtime.provider,
    logger: logger.child({ service: "poller" }),
    notifier,
    reconcileCreates: () => jobs.reconcilePendingCreates(),
    schedule: config.pollSchedule,
  });
  const ctx: AppContext = {
    config,
    logger,
    db,
    fetch: doFetch,
    catalog,
    datasets: new DatasetRepository(db),
    guildSettings,
    models,
    storeDataset: store,
    jobs,
    poller,
    notifier,
    classroom,
    providerName: runtime.provider.name,
    isSandbox: runtime.sandbox !== undefined,
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
  const ready = new Promise<void>((resolve) =>
    client.once(Events.ClientReady, (c) => {
      logger.info(
        { user: c.user.tag, guilds: c.guilds.cache.size, provider: ctx.providerName },
        "classtune is online",
      );
      poller.start();
      resolve();
    }),
  );
  try {
    await client.login(token);
  } catch (err) {
    await runtime.close();
    db.close();
    throw err;
  }

  let closed = false;
  return {
    ctx,
    sandbox: runtime.sandbox,
    ready,
    async close() {
      if (closed) return;
      closed = true;
      // No new work: then let what is in flight finish before the database and the sandbox close.
      client.off(Events.InteractionCreate, onInteraction);
      await poller.stop();
      await router.idle();
      await notifier.drain().catch(() => undefined);
      await client.destroy();
      await runtime.close();
      db.close();
    },
  };
}
