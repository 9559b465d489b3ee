// Everything a command handler may use, built once in the composition root (src/app.ts): services, never the
// database (a command that needs a table asks the service that owns it).

import type { ClassroomServices } from "../classroom/index.ts";
import type { Config } from "../config.ts";
import type { Catalog, CatalogSet } from "../datasets/catalog.ts";
import type { StoreDataset } from "../datasets/store.ts";
import type { DatasetRepository } from "../db/datasets.ts";
import type { GuildSettingsRepository } from "../db/guildSettings.ts";
import type { ModelRepository } from "../db/models.ts";
import type { HostingService } from "../finetuning/hosting.ts";
import type { JobService } from "../finetuning/jobs.ts";
import type { JobPoller } from "../finetuning/poller.ts";
import type { ModelServing } from "../finetuning/serving.ts";
import type { Logger } from "../logger.ts";
import type { Notifier } from "../notices/notifier.ts";
import type { PrivacyService } from "../privacy/service.ts";
import type { ProviderRegistry } from "../providers/registry.ts";

export interface AppContext {
  config: Config;
  logger: Logger;
  /** For attachment downloads (injected so tests can count requests). */
  fetch: typeof fetch;
  /** The default provider's base models, tokenizers, limits and training prices. */
  catalog: Catalog;
  /** Every configured provider's catalog (the `provider:` options). */
  catalogs: CatalogSet;
  datasets: DatasetRepository;
  guildSettings: GuildSettingsRepository;
  models: ModelRepository;
  /** Validates a file, stores it content-addressed under DATA_DIR and records the dataset row. */
  storeDataset: StoreDataset;
  jobs: JobService;
  /** Deploys trained models: `/finetune deploy`, and `/model add` of a deployment made by hand. */
  serving: ModelServing;
  /** Hosting billed while it runs (Together, Fireworks): `/model deploy|undeploy`, its cost, the idle and budget stops. */
  hosting: HostingService;
  poller: JobPoller;
  /** Posts the outbox's pending notices now (a job's card right after Start, a cancel notice). */
  notifier: Notifier;
  /** /ask routing, class channels, limits, usage and the feedback loop. */
  classroom: ClassroomServices;
  /** /privacy show|delete, /dataset remove-student, and a server removing the bot (src/privacy/service.ts). */
  privacy: PrivacyService;
  /** Every configured fine-tuning provider: `/finetune start provider:` picks one (autocomplete lists them). */
  providers: ProviderRegistry;
  /** The default fine-tuning provider's name ("sandbox" when no key is configured). */
  providerName: string;
  /** Whether the default fine-tuning provider is a sandbox (simulated: replies say so). */
  isSandbox: boolean;
}
