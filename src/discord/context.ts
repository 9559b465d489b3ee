// Everything a command handler may use, built once in the composition root (src/app.ts).
import type { Config } from "../config.ts";
import type { DatasetRepository } from "../db/datasets.ts";
import type { GuildSettingsRepository } from "../db/guildSettings.ts";
import type { Db } from "../db/open.ts";
import type { Logger } from "../logger.ts";

export interface AppContext {
  config: Config;
  logger: Logger;
  db: Db;
  fetch: typeof fetch;
  datasets: DatasetRepository;
  guildSettings: GuildSettingsRepository;
}
