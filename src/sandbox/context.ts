// What the route handlers share: the store, the clock, faults, and helpers that read a job as it
// stands now (advanced lazily from the clock). Each routes/*.ts file turns this into its routes.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ValidationReport } from "../datasets/types.ts";
import type { Logger } from "../logger.ts";
import type { IndexCache } from "./chat.ts";
import type { SandboxClock } from "./clock.ts";
import { invalid, notFound } from "./errors.ts";
import type { FaultInjector } from "./faults.ts";
import type { JobRow, SandboxStore } from "./store.ts";
import { advanceJob } from "./trainer.ts";
import { jobView as plainJobView } from "./views.ts";

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The route pattern's captures, e.g. the job id. */
  params: string[];
  /** The sandbox clock's time when the request arrived (ms). */
  now: number;
}

export type Handler = (ctx: RequestContext) => Promise<unknown> | unknown;

export interface Route {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** Which API the route belongs to: OpenAI's /v1 (default) or the Nebius-style deploy API under /v0. */
  api?: "v1" | "v0";
  /** Matched against the path after /v1 (or /v0). */
  pattern: RegExp;
  /** For stats and logs, e.g. "GET /fine_tuning/jobs/:id", "POST /v0/models". */
  name: string;
  handler: Handler;
}

/** A handler that already answered (file content) returns this instead of a JSON body. */
export const ANSWERED = Symbol("answered");

/** A handler whose success has no body (Together's DELETE /endpoints/{id}) returns this: 204 No Content. */
export const NO_CONTENT = Symbol("no content");

const REPORT_CACHE_SIZE = 256;
/** A validation that never answers fails its job instead of hanging the create request. */
const VALIDATION_TIMEOUT_MS = 120_000;

export interface SandboxState {
  store: SandboxStore;
  clock: SandboxClock;
  faults: FaultInjector;
  logger: Logger;
  filesDir: string;
  stepMs: number;
  /** Streamed chat completions send this many tokens a second on `clock` (0: as fast as the socket takes them). */
  streamTokensPerSecond: number;
  indexes: IndexCache;
  /** The validation report of a file for a model, cached (files never change). */
  reportFor(fileId: string, path: string, model: string): Promise<ValidationReport>;
  /** The job as the API shows it at `now` (with any status override from the fault injector). */
  jobView(job: JobRow, now: number): Record<string, unknown>;
  /** The job advanced to `now`; 404 when there is none. */
  getJob(id: string, now: number): JobRow;
  /** Advances every job with an event due (before listing models). */
  advanceDue(now: number): void;
  /** A fine-tuned model that exists now (its job succeeded, not deleted), or undefined. */
  fineTuned(model: string, now: number): JobRow | undefined;
}

export function createState(deps: {
  store: SandboxStore;
  clock: SandboxClock;
  faults: FaultInjector;
  logger: Logger;
  filesDir: string;
  stepMs: number;
  streamTokensPerSecond: number;
  indexes: IndexCache;
  validate: (path: string, options: { model: string }) => Promise<ValidationReport>;
}): SandboxState {
  const { store, faults, validate } = deps;
  const reports = new Map<string, Promise<ValidationReport>>();

  const jobView = (job: JobRow, now: number): Record<string, unknown> => {
    const view = plainJobView(job, now);
    const status = faults.statusOverride(job.id);
    return status === undefined ? view : { ...view, status };
  };

  const getJob = (id: string, now: number): JobRow => {
    const job = store.getJob(id);
    if (!job) throw notFound(`No such fine-tuning job: ${id}`, "fine_tuning_job_id");
    return advanceJob(store, job, now);
  };

  const advanceDue = (now: number): void => {
    for (const id of store.dueJobIds(now)) {
      const job = store.getJob(id);
      if (job) advanceJob(store, job, now);
    }
  };

  const fineTuned = (model: string, now: number): JobRow | undefined => {
    let job = store.jobByFineTunedModel(model);
    if (!job && model.startsWith("ft:")) {
      advanceDue(now);
      job = store.jobByFineTunedModel(model);
    }
    return job && !job.modelDeleted && job.status === "succeeded" ? job : undefined;
  };

  const reportFor = (fileId: string, path: string, model: string): Promise<ValidationReport> => {
    const key = `${fileId}\u0000${model}`;
    let report = reports.get(key);
    if (!report) {
      report = withTimeout(
        validate(path, { model }),
        VALIDATION_TIMEOUT_MS,
        "validating the training file took too long",
      );
      report.catch(() => reports.delete(key));
      reports.set(key, report);
      if (reports.size > REPORT_CACHE_SIZE) {
        const oldest = reports.keys().next().value;
        if (oldest !== undefined) reports.delete(oldest);
      }
    }
    return report;
  };

  return { ...deps, reportFor, jobView, getJob, advanceDue, fineTuned };
}

/** The `limit` query parameter: default when absent, capped at `max`, 400 when not a positive integer. */
export function parseLimit(url: URL, def: number, max: number): number {
  const raw = url.searchParams.get("limit");
  if (raw === null || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw invalid(`Invalid 'limit': expected a positive integer, got '${raw}'.`, "limit", "invalid_value");
  return Math.min(n, max);
}

/** Rejects with `message` when `promise` takes longer than `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
