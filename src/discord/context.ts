// Everything a command handler may use, built once in the composition root (src/app.ts).
import type { Config } from "../config.ts";
import type { DatasetRepository } from "../db/datasets.ts";
import type { GuildSettingsRepository } from "../db/guildSettings.ts";
import type { ModelRepository } from "../db/models.ts";
import type { Db } from "../db/open.ts";
import type { Logger } from "../logger.ts";
import type { ClassroomServices } from "../services/ask/index.ts";
import type { StoreDataset } from "../services/datasets.ts";
import type { JobService } from "../services/jobs.ts";
import type { Notifier } from "../services/notifier.ts";
import type { JobPoller } from "../services/poller.ts";
import type { Catalog } from "../services/validation/models.ts";

export interface AppContext {
  config: Config;
  logger: Logger;
  db: Db;
  /** For attachment downloads (injected so tests can count requests). */
  fetch: typeof fetch;
  /** Known base models, encodings, limits and training prices. */
  catalog: Catalog;
  datasets: DatasetRepository;
  guildSettings: GuildSettingsRepository;
  models: ModelRepository;
  /** Validates a file, stores it content-addressed and records the dataset row. */
  storeDataset: StoreDataset;
  jobs: JobService;
  poller: JobPoller;
  /** Posts the outbox's pending notices now (a job's card right after Start, a cancel notice). */
  notifier: Notifier;
  /** /ask routing, class channels, limits, usage and the feedback loop. */
  classroom: ClassroomServices;
  /** "sandbox" when no key is configured: every reply and notice about training says so. */
  providerName: string;
  isSandbox: boolean;
}
