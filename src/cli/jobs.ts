// `classtune jobs [--json]`: the terminal's fine-tuning jobs (guild "cli"), each refreshed from its own provider
// first. Also the shared set-up of the job commands (finetune, cancel, ask): database, providers, services.
import { parseArgs } from "node:util";
import { type Config, loadConfig } from "../config.ts";
import type { Catalog, CatalogSet } from "../datasets/catalog.ts";
import type { StoreDataset } from "../datasets/store.ts";
import { sweepLeftoverTempFiles } from "../datasets/tempFiles.ts";
import type { JobRow } from "../db/jobs.ts";
import type { Store } from "../db/query/store.ts";
import type { HostingService } from "../finetuning/hosting.ts";
import type { JobService } from "../finetuning/jobs.ts";
import type { JobPoller } from "../finetuning/poller.ts";
import { createLogger, type Logger, secretsOf } from "../logger.ts";
import { CLI_GUILD_ID } from "../notices/notifier.ts";
import type { ProviderRegistry } from "../providers/registry.ts";
import { buildServices, openConfiguredDatabase } from "../wire.ts";
import { type CliCommand, type CliIo, UsageError } from "./io.ts";

/** The guild id the terminal works in. */
export const CLI_GUILD = CLI_GUILD_ID;
export const CLI_USER = "cli";

export interface CliJobContext {
  config: Config;
  logger: Logger;
  /** The configured database (SQLite or PostgreSQL). */
  store: Store;
  /** Every configured fine-tuning provider; a job goes to the one --provider names (default: the default). */
  providers: ProviderRegistry;
  catalog: Catalog;
  /** Every provider's catalog (`catalogFor(name)`). */
  catalogs: CatalogSet;
  /** Validates and stores a dataset against the catalog (as the bot does). */
  storeDataset: StoreDataset;
  jobs: JobService;
  /** Polls the terminal's jobs only; its notices are acknowledged (the terminal prints its own output). */
  poller: JobPoller;
  /** The terminal's hosting billed while it runs: its sessions, stops and sweep. */
  hosting: HostingService;
  close(): Promise<void>;
}

export async function openJobContext(io: CliIo): Promise<CliJobContext> {
  const config = loadConfig(io.env);
  const logger = createLogger(config.cliLogLevel, undefined, { secrets: secretsOf(config) });
  await sweepLeftoverTempFiles({ dataDir: config.dataDir, logger });
  const database = await openConfiguredDatabase(config);
  try {
    // The terminal's notices are its own output: acknowledged, never posted anywhere.
    const services = await buildServices({
      config,
      database,
      logger,
      guildId: CLI_GUILD,
      sender: () => ({ send: async () => ({}) }),
    });
    return {
      config,
      logger,
      store: database.store,
      catalog: services.catalog,
      catalogs: services.catalogs,
      providers: services.providers,
      storeDataset: services.storeDataset,
      jobs: services.jobs,
      poller: services.poller,
      hosting: services.hosting,
      async close() {
        await services.close();
        await database.close();
      },
    };
  } catch (err) {
    await database.close();
    throw err;
  }
}

export function parseJobId(raw: string | undefined, usage: string): number {
  const id = Number((raw ?? "").replace(/^#/, ""));
  if (raw === undefined || !Number.isInteger(id) || id < 1) {
    throw new UsageError(
      raw === undefined ? `no job ID given. ${usage}` : `"${raw}" is not a job ID. ${usage}`,
    );
  }
  return id;
}

const pct = (j: JobRow) =>
  j.progress && j.progress.totalSteps > 0
    ? `${j.progress.step}/${j.progress.totalSteps}${j.progress.loss !== null ? ` loss ${j.progress.loss.toFixed(3)}` : ""}`
    : "";

/** One line per job: id, status, progress, models, when. */
export function formatJobs(jobs: JobRow[]): string {
  if (jobs.length === 0) return "No fine-tuning jobs yet. Start one: classtune finetune FILE --wait\n";
  const rows = jobs.map((j) => [
    `#${j.id}`,
    j.status === "running" && j.rawStatus !== "running" ? `running (${j.rawStatus})` : j.status,
    pct(j),
    j.fineTunedModel ?? j.baseModel,
    j.provider,
    j.createdAt.slice(0, 16).replace("T", " "),
    j.errorMessage ?? "",
  ]);
  const header = ["JOB", "STATUS", "PROGRESS", "MODEL", "PROVIDER", "CREATED (UTC)", ""];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  return `${[header, ...rows]
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

const USAGE = "usage: classtune jobs [--json]";

export const run: CliCommand = async (args, io) => {
  let json: boolean;
  try {
    const { values } = parseArgs({
      args,
      options: {
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    if (values.help) {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    json = values.json;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}. ${USAGE}`);
  }
  const ctx = await openJobContext(io);
  try {
    const tick = await ctx.poller.tick();
    if (tick.errors > 0)
      io.stderr.write(
        "classtune jobs: could not refresh every job from its provider; showing what is known.\n",
      );
    const jobs = await ctx.jobs.list(CLI_GUILD, 100);
    io.stdout.write(json ? `${JSON.stringify(jobs, null, 2)}\n` : formatJobs(jobs));
    return 0;
  } finally {
    await ctx.close();
  }
};
