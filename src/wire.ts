// The one wiring: configuration + database + logger (+ fetch) -> every service classtune runs. The bot
// (src/app.ts), the CLI (src/cli/jobs.ts), the benchmarks and the end-to-end tests all build through here,
// so a service is constructed, and its catalog, prices and provider are chosen, in exactly one place.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { type ClassroomServices, createClassroomServices } from "./classroom/index.ts";
import type { Config } from "./config.ts";
import { type Catalog, type CatalogSet, loadConfiguredCatalogs } from "./datasets/catalog.ts";
import { type RewriteDataset, rewriteDataset, type StoreDataset, storeDataset } from "./datasets/store.ts";
import { DatasetRepository } from "./db/datasets.ts";
import { GuildSettingsRepository } from "./db/guildSettings.ts";
import { JobMetricsRepository } from "./db/jobs.ts";
import { ModelRepository } from "./db/models.ts";
import { type Db, openDb } from "./db/open.ts";
import { OutboxRepository } from "./db/outbox.ts";
import { openStore, type Store, sqliteStore } from "./db/query/store.ts";
import { UserError } from "./domain/errors.ts";
import { HostingService } from "./finetuning/hosting.ts";
import { HostingLedger } from "./finetuning/hostingLedger.ts";
import { JobService } from "./finetuning/jobs.ts";
import { JobPoller } from "./finetuning/poller.ts";
import { ModelServing } from "./finetuning/serving.ts";
import type { Leadership } from "./leadership/leadership.ts";
import type { Logger } from "./logger.ts";
import { enqueueModelUnavailable } from "./notices/modelUnavailable.ts";
import { type NoticeSender, Notifier } from "./notices/notifier.ts";
import { PrivacyService } from "./privacy/service.ts";
import { createProviderRegistry, type SandboxHandle } from "./providers/factory.ts";
import type { ProviderRegistry } from "./providers/registry.ts";
import { useCacheDir } from "./tokenizers/tableFile.ts";

/** The configured database, opened (openConfiguredDatabase). */
export interface ConfiguredDatabase {
  /** Every repository's store: the SQLite file (DATABASE_PATH) or PostgreSQL (DATABASE_URL). */
  store: Store;
  /** On SQLite, the connection under `store` (the embedded sandbox keeps its own tables in the same file). */
  sqlite: Db | undefined;
  /** Closes the store (and so the SQLite file). */
  close(): Promise<void>;
}

/**
 * The one place the bot and the CLI open the configured database: PostgreSQL when DATABASE_URL is set (migrated on
 * open), else the SQLite file. `mustExist`: a command that only reads (an export, a report) says there is nothing
 * yet instead of creating an empty SQLite database.
 */
export async function openConfiguredDatabase(
  config: Config,
  { mustExist = false } = {},
): Promise<ConfiguredDatabase> {
  if (config.databaseUrl !== undefined) {
    const store = await openStore({ engine: "postgres", url: config.databaseUrl });
    return { store, sqlite: undefined, close: () => store.close() };
  }
  if (mustExist && !existsSync(config.databasePath)) {
    throw new UserError(`no database at ${config.databasePath} yet (set DATABASE_PATH or DATA_DIR)`, "io");
  }
  const db = openDb(config.databasePath);
  const store = sqliteStore(db);
  return { store, sqlite: db, close: () => store.close() };
}

/** What a notice sender may read while posting (the card it edits, the loss points it charts). */
export interface NoticeSenderDeps {
  guildSettings: GuildSettingsRepository;
  outbox: OutboxRepository;
  metrics: JobMetricsRepository;
}

export interface BuildServicesDeps {
  config: Config;
  /** The configured database (openConfiguredDatabase): the store, and on SQLite its connection. */
  database: Pick<ConfiguredDatabase, "store" | "sqlite">;
  logger: Logger;
  /** Provider and attachment HTTP (tests count or fault requests here). */
  fetch?: typeof fetch | undefined;
  /** Posts notices: the Discord sender for the bot; the terminal acknowledges its own. */
  sender: (deps: NoticeSenderDeps) => NoticeSender;
  /** Work for one guild only (the terminal's "cli"); default every guild but the terminal's. */
  guildId?: string | undefined;
  /** The bot's: its poller ticks only while this process leads the scheduled work (src/leadership/). */
  leadership?: Leadership | undefined;
}

export interface Services {
  config: Config;
  logger: Logger;
  /** The default provider's catalog: its base models, tokenizers, limits and training prices (MODELS_FILE, PRICES_FILE). */
  catalog: Catalog;
  /** Every configured provider's catalog: `catalogFor(provider)` answers which models and rules a provider has. */
  catalogs: CatalogSet;
  /** Every configured fine-tuning provider (FINETUNE_PROVIDERS …), its default, and each job's own. */
  providers: ProviderRegistry;
  /** The embedded sandbox when one is configured (tests advance its clock). */
  sandbox: SandboxHandle | undefined;
  datasets: DatasetRepository;
  guildSettings: GuildSettingsRepository;
  models: ModelRepository;
  outbox: OutboxRepository;
  /** Validates a file against a provider's catalog (default: the default's), stores it content-addressed and records the row. */
  storeDataset: StoreDataset;
  jobs: JobService;
  /** The serving step: deploys of trained models (`/finetune deploy`, `/model add` of a manual deployment). */
  serving: ModelServing;
  /** Hosting billed while it runs: `/model deploy|undeploy`, its cost in `/model list` and `/usage`, the idle and budget stops. */
  hosting: HostingService;
  notifier: Notifier;
  poller: JobPoller;
  /** /ask routing, class channels, limits, usage and the feedback loop. */
  classroom: ClassroomServices;
  /** /privacy show|delete, /dataset remove-student, a server's departure, and the daily retention sweep. */
  privacy: PrivacyService;
  /** Stops the poller and the embedded sandbox (the caller closes the database it opened). */
  close(): Promise<void>;
}

export async function buildServices(deps: BuildServicesDeps): Promise<Services> {
  const { config, logger } = deps;
  const { store } = deps.database;
  useCacheDir(config.cacheDir);
  const catalogs = loadConfiguredCatalogs(config);
  const catalog = catalogs.default;
  // The embedded sandbox's own tables: in the SQLite file beside classtune's, or (PostgreSQL) a file of its own.
  let sandboxFile: Db | undefined;
  const sandboxDb = () => {
    if (deps.database.sqlite) return deps.database.sqlite;
    sandboxFile ??= openDb(join(config.dataDir, "sandbox.db"));
    return sandboxFile;
  };
  const runtime = await createProviderRegistry(config, {
    sandboxDb,
    logger,
    dataDir: config.dataDir,
    fetch: deps.fetch,
  });
  const guildSettings = new GuildSettingsRepository(store);
  const outbox = new OutboxRepository(store);
  const models = new ModelRepository(store);
  // Hosting billed while it runs: every such provider must have a price for its hardware before anything starts.
  const ledger = new HostingLedger({ store, providers: runtime.providers, catalogs });
  const saveDataset: StoreDataset = (args) =>
    storeDataset({ ...args, store, dataDir: config.dataDir, catalog: catalogs.catalogFor(args.provider) });
  // A refusal from here on (an unpriced hardware, a moderator that cannot be built) must not leave the sandboxes
  // the runtime started listening.
  const classroom = await closingOnError(runtime, () => {
    ledger.checkPrices();
    return createClassroomServices({
      config,
      store,
      logger,
      catalog,
      fineTuningProviders: runtime.providers.chatEndpoints(),
      defaultFineTuningProvider: runtime.providers.default.name,
      storeDataset: saveDataset,
      moderationSandboxURL: runtime.moderationSandboxURL,
      // Posted on the next drain; the ask service already limits this to once per guild, model and day.
      onModelUnavailable: (guildId, model, info) =>
        enqueueModelUnavailable({ outbox, models }, guildId, model, info),
      // In the answer's transaction when it has one (`tx`): the idle clock restarts with the answer, or not at all.
      onModelUsed: (guildId, model, tx) =>
        (tx ? ledger.repo.in(tx) : ledger.repo).touch(guildId, model, new Date()),
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    });
  });
  const rewrite: RewriteDataset = (args) =>
    rewriteDataset({
      ...args,
      store,
      dataDir: config.dataDir,
      // The dataset's provider while it is configured, else the default's rules.
      catalogFor: (provider) => catalogs.find(provider) ?? catalogs.default,
    });
  const privacy = new PrivacyService({
    store,
    config: config.privacy,
    cache: { forget: (guildId, questions) => classroom.forgetCachedAnswers(guildId, questions) },
    rewriteDataset: rewrite,
    logger: logger.child({ service: "privacy" }),
  });
  const notifier = new Notifier({
    store,
    logger: logger.child({ service: "notifier" }),
    sender: deps.sender({ guildSettings, outbox, metrics: new JobMetricsRepository(store) }),
    // Its notice claims carry the process's leadership id (one id per process in the logs); a terminal, a new one.
    holder: deps.leadership?.id,
    ...(deps.guildId !== undefined ? { guildId: deps.guildId } : {}),
  });
  const jobs = new JobService({
    store,
    providers: runtime.providers,
    logger: logger.child({ service: "jobs" }),
    maxJobCostUsd: config.maxJobCostUsd,
    dataDir: config.dataDir,
    catalogs,
    requestTimeoutMs: Math.max(...config.finetuneProviders.map((p) => p.timeoutMs)),
  });
  const serving = new ModelServing({
    store,
    providers: runtime.providers,
    logger: logger.child({ service: "serving" }),
    hosting: { ledger, ...config.hosting },
    ...(deps.guildId !== undefined ? { guildId: deps.guildId } : {}),
  });
  const hosting = new HostingService({
    store,
    providers: runtime.providers,
    serving,
    ledger,
    ...config.hosting,
    logger: logger.child({ service: "hosting" }),
    ...(deps.guildId !== undefined ? { guildId: deps.guildId } : {}),
  });
  const poller = new JobPoller({
    store,
    providers: runtime.providers,
    logger: logger.child({ service: "poller" }),
    notifier,
    serving,
    hosting,
    // The daily privacy sweep (retention, departed servers) rides on the bot's tick; it runs once a day, by SQLite.
    // Not on a terminal command's poller (`finetune --wait`): the bot, which holds the answer cache, does it.
    ...(deps.guildId === undefined ? { privacy } : {}),
    reconcileCreates: (provider) => jobs.reconcilePendingCreates(provider),
    schedule: config.pollSchedule,
    ...(deps.guildId !== undefined ? { guildId: deps.guildId } : {}),
    leadership: deps.leadership,
  });
  return {
    config,
    logger,
    catalog,
    catalogs,
    providers: runtime.providers,
    sandbox: runtime.sandbox,
    datasets: new DatasetRepository(store),
    guildSettings,
    models,
    outbox,
    storeDataset: saveDataset,
    jobs,
    serving,
    hosting,
    notifier,
    poller,
    classroom,
    privacy,
    async close() {
      await poller.stop();
      await runtime.close();
      sandboxFile?.close();
    },
  };
}

/** `build()`, or the runtime closed and the error rethrown. */
async function closingOnError<T>(runtime: { close(): Promise<void> }, build: () => T): Promise<T> {
  try {
    return build();
  } catch (err) {
    await runtime.close();
    throw err;
  }
}
