// The sandbox's SQLite state: files, jobs (with their metadata), materialised events, Nebius-style deployments
// and Together-style dedicated endpoints, in its own sandbox_* tables and migration table, so it can share the
// app's database or have its own.
import { fileURLToPath } from "node:url";
import { loadMigrations, migrate } from "../db/migrate.ts";
import type { Db } from "../db/open.ts";

export const sandboxMigrationsDir = fileURLToPath(new URL("./migrations/", import.meta.url));

export function migrateSandbox(db: Db): number[] {
  return migrate(db, loadMigrations(sandboxMigrationsDir), "sandbox_schema_migrations");
}

export interface FileRow {
  id: string;
  filename: string;
  purpose: string;
  bytes: number;
  path: string;
  createdAt: number;
}

export type JobStatus = "validating_files" | "queued" | "running" | "succeeded" | "failed" | "cancelled";
export const TERMINAL: ReadonlySet<JobStatus> = new Set(["succeeded", "failed", "cancelled"]);

export interface JobError {
  code: string;
  message: string;
  param: string | null;
}

export interface JobRow {
  id: string;
  model: string;
  baseModel: string;
  trainingFile: string;
  validationFile: string | null;
  suffix: string | null;
  seed: number;
  method: "supervised" | "dpo";
  requestedHyperparameters: Record<string, unknown>;
  metadata: Record<string, string> | null;
  createdAtMs: number;
  validateMs: number;
  queueMs: number;
  stepMs: number;
  examples: number;
  nEpochs: number;
  batchSize: number;
  learningRateMultiplier: number;
  totalSteps: number;
  trainedTokensPlanned: number;
  plannedError: JobError | null;
  plannedErrorAfterSteps: number | null;
  status: JobStatus;
  eventsEmitted: number;
  nextEventAtMs: number | null;
  startedAtMs: number | null;
  finishedAtMs: number | null;
  cancelledAtMs: number | null;
  fineTunedModel: string | null;
  trainedTokens: number | null;
  error: JobError | null;
  modelDeleted: boolean;
}

/** The fields the trainer moves as time passes. */
export type JobProgress = Pick<
  JobRow,
  | "status"
  | "eventsEmitted"
  | "nextEventAtMs"
  | "startedAtMs"
  | "finishedAtMs"
  | "cancelledAtMs"
  | "fineTunedModel"
  | "trainedTokens"
  | "error"
>;

/** A job as created: everything but what the trainer moves later, and the deletion flag. */
export type NewJob = Omit<JobRow, keyof JobProgress | "modelDeleted">;

export interface EventRow {
  id: string;
  jobId: string;
  seq: number;
  createdAt: number;
  level: "info" | "warn" | "error";
  message: string;
  type: "message" | "metrics";
  data: Record<string, unknown> | null;
}

const JOB_COLUMNS = `id, model, base_model AS baseModel, training_file AS trainingFile, validation_file AS validationFile,
  suffix, seed, method, requested_hyperparameters AS requestedHyperparameters, metadata, created_at_ms AS createdAtMs,
  validate_ms AS validateMs, queue_ms AS queueMs, step_ms AS stepMs, examples, n_epochs AS nEpochs,
  batch_size AS batchSize, learning_rate_multiplier AS learningRateMultiplier, total_steps AS totalSteps,
  trained_tokens_planned AS trainedTokensPlanned, planned_error AS plannedError,
  planned_error_after_steps AS plannedErrorAfterSteps, status, events_emitted AS eventsEmitted,
  next_event_at_ms AS nextEventAtMs, started_at_ms AS startedAtMs, finished_at_ms AS finishedAtMs,
  cancelled_at_ms AS cancelledAtMs, fine_tuned_model AS fineTunedModel, trained_tokens AS trainedTokens, error,
  model_deleted AS modelDeleted`;

type RawJob = Omit<
  JobRow,
  "requestedHyperparameters" | "metadata" | "plannedError" | "error" | "modelDeleted"
> & {
  requestedHyperparameters: string;
  metadata: string | null;
  plannedError: string | null;
  error: string | null;
  modelDeleted: number;
};

const parseJson = <T>(s: string | null): T | null => (s === null ? null : (JSON.parse(s) as T));

const fromRawJob = (r: RawJob): JobRow => ({
  ...r,
  requestedHyperparameters: JSON.parse(r.requestedHyperparameters) as Record<string, unknown>,
  metadata: parseJson<Record<string, string>>(r.metadata),
  plannedError: parseJson<JobError>(r.plannedError),
  error: parseJson<JobError>(r.error),
  modelDeleted: r.modelDeleted === 1,
});

type RawEvent = Omit<EventRow, "data"> & { data: string | null };

export interface DeploymentRow {
  name: string;
  fullName: string;
  baseModel: string;
  source: string;
  jobId: string;
  checkpointId: string;
  description: string | null;
  createdAtMs: number;
  readyAtMs: number;
  /** Set when the deployment is planned to end in "error" (its status_reason). */
  plannedError: string | null;
  deleted: boolean;
}

const DEPLOYMENT_COLUMNS = `name, full_name AS fullName, base_model AS baseModel, source, job_id AS jobId,
  checkpoint_id AS checkpointId, description, created_at_ms AS createdAtMs, ready_at_ms AS readyAtMs,
  planned_error AS plannedError, deleted`;

const fromRawDeployment = (r: Omit<DeploymentRow, "deleted"> & { deleted: number }): DeploymentRow => ({
  ...r,
  deleted: r.deleted === 1,
});

/** A dedicated endpoint's latest start or stop request and when it settles; its state is derived from these. */
export interface EndpointPhase {
  phase: "start" | "stop";
  phaseAtMs: number;
  /** Start phase: PENDING until then, STARTING after; null in a stop phase. */
  pendingUntilMs: number | null;
  /** STARTED (or ERROR) from then in a start phase; STOPPED from then in a stop phase. */
  settlesAtMs: number;
  /** This start ends in ERROR instead of STARTED (the fault injector's failNextEndpoint). */
  plannedError: boolean;
}

export interface EndpointRow extends EndpointPhase {
  id: string;
  /** What chat completions take as `model`. */
  name: string;
  displayName: string;
  /** The fine-tuned model it serves. */
  model: string;
  hardware: string;
  minReplicas: number;
  maxReplicas: number;
  createdAtMs: number;
}

const ENDPOINT_COLUMNS = `id, name, display_name AS displayName, model, hardware, min_replicas AS minReplicas,
  max_replicas AS maxReplicas, created_at_ms AS createdAtMs, phase, phase_at_ms AS phaseAtMs,
  pending_until_ms AS pendingUntilMs, settles_at_ms AS settlesAtMs, planned_error AS plannedError`;

const fromRawEndpoint = (r: Omit<EndpointRow, "plannedError"> & { plannedError: number }): EndpointRow => ({
  ...r,
  plannedError: r.plannedError === 1,
});

export interface JobListQuery {
  after?: string | undefined;
  limit: number;
  /** Every pair must match; `null` means "jobs without metadata". */
  metadata?: Record<string, string> | null | undefined;
}

export class SandboxStore {
  private readonly stmts;

  constructor(private readonly db: Db) {
    migrateSandbox(db);
    this.stmts = {
      getFile: db.prepare(
        `SELECT id, filename, purpose, bytes, path, created_at AS createdAt FROM sandbox_files WHERE id = ? AND deleted = 0`,
      ),
      getJob: db.prepare(`SELECT ${JOB_COLUMNS} FROM sandbox_jobs WHERE id = ?`),
      jobByModel: db.prepare(`SELECT ${JOB_COLUMNS} FROM sandbox_jobs WHERE fine_tuned_model = ?`),
      jobSeq: db.prepare(`SELECT seq FROM sandbox_jobs WHERE id = ?`),
      insertEvent: db.prepare(
        `INSERT INTO sandbox_events (id, job_id, seq, created_at, level, message, type, data)
         VALUES (@id, @jobId, @seq, @createdAt, @level, @message, @type, @data)`,
      ),
      eventSeq: db.prepare(`SELECT seq FROM sandbox_events WHERE id = ? AND job_id = ?`),
      updateProgress: db.prepare(
        `UPDATE sandbox_jobs SET status = @status, events_emitted = @eventsEmitted, next_event_at_ms = @nextEventAtMs,
           started_at_ms = @startedAtMs, finished_at_ms = @finishedAtMs, cancelled_at_ms = @cancelledAtMs,
           fine_tuned_model = @fineTunedModel, trained_tokens = @trainedTokens, error = @error
         WHERE id = @id`,
      ),
    };
  }

  // ----- files

  insertFile(f: FileRow): void {
    this.db
      .prepare(
        `INSERT INTO sandbox_files (id, filename, purpose, bytes, path, created_at)
         VALUES (@id, @filename, @purpose, @bytes, @path, @createdAt)`,
      )
      .run(f);
  }

  getFile(id: string): FileRow | undefined {
    return this.stmts.getFile.get(id) as FileRow | undefined;
  }

  listFiles(q: {
    purpose?: string | undefined;
    after?: string | undefined;
    limit: number;
    order: "asc" | "desc";
  }): FileRow[] {
    const where = ["deleted = 0"];
    const args: unknown[] = [];
    if (q.purpose !== undefined) {
      where.push("purpose = ?");
      args.push(q.purpose);
    }
    if (q.after !== undefined) {
      where.push(
        `seq ${q.order === "desc" ? "<" : ">"} COALESCE((SELECT seq FROM sandbox_files WHERE id = ?), ${q.order === "desc" ? "-1" : "1e18"})`,
      );
      args.push(q.after);
    }
    return this.db
      .prepare(
        `SELECT id, filename, purpose, bytes, path, created_at AS createdAt FROM sandbox_files WHERE ${where.join(" AND ")}
         ORDER BY seq ${q.order === "desc" ? "DESC" : "ASC"} LIMIT ?`,
      )
      .all(...args, q.limit) as FileRow[];
  }

  deleteFile(id: string): boolean {
    return (
      this.db.prepare(`UPDATE sandbox_files SET deleted = 1 WHERE id = ? AND deleted = 0`).run(id).changes > 0
    );
  }

  // ----- jobs

  insertJob(j: NewJob, progress: JobProgress): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO sandbox_jobs (id, model, base_model, training_file, validation_file, suffix, seed, method,
             requested_hyperparameters, metadata, created_at_ms, validate_ms, queue_ms, step_ms, examples, n_epochs,
             batch_size, learning_rate_multiplier, total_steps, trained_tokens_planned, planned_error,
             planned_error_after_steps, status, events_emitted, next_event_at_ms)
           VALUES (@id, @model, @baseModel, @trainingFile, @validationFile, @suffix, @seed, @method,
             @requestedHyperparameters, @metadata, @createdAtMs, @validateMs, @queueMs, @stepMs, @examples, @nEpochs,
             @batchSize, @learningRateMultiplier, @totalSteps, @trainedTokensPlanned, @plannedError,
             @plannedErrorAfterSteps, @status, @eventsEmitted, @nextEventAtMs)`,
        )
        .run({
          ...j,
          requestedHyperparameters: JSON.stringify(j.requestedHyperparameters),
          metadata: j.metadata === null ? null : JSON.stringify(j.metadata),
          plannedError: j.plannedError === null ? null : JSON.stringify(j.plannedError),
          status: progress.status,
          eventsEmitted: progress.eventsEmitted,
          nextEventAtMs: progress.nextEventAtMs,
        });
      const meta = this.db.prepare(`INSERT INTO sandbox_job_metadata (job_id, key, value) VALUES (?, ?, ?)`);
      for (const [k, v] of Object.entries(j.metadata ?? {})) meta.run(j.id, k, v);
    })();
  }

  getJob(id: string): JobRow | undefined {
    const r = this.stmts.getJob.get(id) as RawJob | undefined;
    return r && fromRawJob(r);
  }

  jobByFineTunedModel(model: string): JobRow | undefined {
    const r = this.stmts.jobByModel.get(model) as RawJob | undefined;
    return r && fromRawJob(r);
  }

  /** Newest first; `after` is the id of the last job of the previous page. */
  listJobs(q: JobListQuery): JobRow[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.after !== undefined) {
      const seq = (this.stmts.jobSeq.get(q.after) as { seq: number } | undefined)?.seq;
      if (seq === undefined) return [];
      where.push("j.seq < ?");
      args.push(seq);
    }
    if (q.metadata === null) where.push("j.metadata IS NULL");
    for (const [k, v] of Object.entries(q.metadata ?? {})) {
      where.push(
        "EXISTS (SELECT 1 FROM sandbox_job_metadata m WHERE m.job_id = j.id AND m.key = ? AND m.value = ?)",
      );
      args.push(k, v);
    }
    const sql = `SELECT ${JOB_COLUMNS} FROM sandbox_jobs j
      ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY j.seq DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, q.limit) as RawJob[]).map(fromRawJob);
  }

  /** Jobs whose next event is due: advanced before listing models. */
  dueJobIds(nowMs: number): string[] {
    return (
      this.db
        .prepare(`SELECT id FROM sandbox_jobs WHERE next_event_at_ms IS NOT NULL AND next_event_at_ms <= ?`)
        .all(nowMs) as { id: string }[]
    ).map((r) => r.id);
  }

  /** Writes new events and the job's new progress in one transaction. */
  saveProgress(jobId: string, progress: JobProgress, events: EventRow[]): void {
    this.db.transaction(() => {
      for (const e of events) {
        this.stmts.insertEvent.run({ ...e, data: e.data === null ? null : JSON.stringify(e.data) });
      }
      this.stmts.updateProgress.run({
        ...progress,
        id: jobId,
        error: progress.error === null ? null : JSON.stringify(progress.error),
      });
    })();
  }

  /** Newest first; `after` is the id of the last event of the previous page. */
  listEvents(jobId: string, after: string | undefined, limit: number): EventRow[] {
    let before = Number.MAX_SAFE_INTEGER;
    if (after !== undefined) {
      const seq = (this.stmts.eventSeq.get(after, jobId) as { seq: number } | undefined)?.seq;
      if (seq === undefined) return [];
      before = seq;
    }
    return (
      this.db
        .prepare(
          `SELECT id, job_id AS jobId, seq, created_at AS createdAt, level, message, type, data FROM sandbox_events
           WHERE job_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
        )
        .all(jobId, before, limit) as RawEvent[]
    ).map((e) => ({ ...e, data: parseJson<Record<string, unknown>>(e.data) }));
  }

  fineTunedModels(): JobRow[] {
    return (
      this.db
        .prepare(
          `SELECT ${JOB_COLUMNS} FROM sandbox_jobs WHERE status = 'succeeded' AND fine_tuned_model IS NOT NULL
           AND model_deleted = 0 ORDER BY seq`,
        )
        .all() as RawJob[]
    ).map(fromRawJob);
  }

  // ----- deployments (Nebius-style custom models)

  /** False when the name is taken (by a deployment not deleted): the caller answers 409. */
  insertDeployment(d: Omit<DeploymentRow, "deleted">): boolean {
    return this.db.transaction(() => {
      if (this.deploymentByName(d.name)) return false;
      // A deleted deployment's name may be used again: the old row gives way.
      this.db
        .prepare(`DELETE FROM sandbox_deployments WHERE name = ? OR full_name = ?`)
        .run(d.name, d.fullName);
      this.db
        .prepare(
          `INSERT INTO sandbox_deployments (name, full_name, base_model, source, job_id, checkpoint_id, description,
             created_at_ms, ready_at_ms, planned_error)
           VALUES (@name, @fullName, @baseModel, @source, @jobId, @checkpointId, @description, @createdAtMs,
             @readyAtMs, @plannedError)`,
        )
        .run(d);
      return true;
    })();
  }

  /** By short name or full name; deleted ones are not found. */
  deploymentByName(name: string): DeploymentRow | undefined {
    const r = this.db
      .prepare(
        `SELECT ${DEPLOYMENT_COLUMNS} FROM sandbox_deployments WHERE (name = ? OR full_name = ?) AND deleted = 0`,
      )
      .get(name, name) as (Omit<DeploymentRow, "deleted"> & { deleted: number }) | undefined;
    return r && fromRawDeployment(r);
  }

  markDeploymentDeleted(name: string): boolean {
    return (
      this.db
        .prepare(
          `UPDATE sandbox_deployments SET deleted = 1 WHERE (name = ? OR full_name = ?) AND deleted = 0`,
        )
        .run(name, name).changes > 0
    );
  }

  // ----- dedicated endpoints (Together-style)

  insertEndpoint(e: EndpointRow): void {
    this.db
      .prepare(
        `INSERT INTO sandbox_endpoints (id, name, display_name, model, hardware, min_replicas, max_replicas,
           created_at_ms, phase, phase_at_ms, pending_until_ms, settles_at_ms, planned_error)
         VALUES (@id, @name, @displayName, @model, @hardware, @minReplicas, @maxReplicas, @createdAtMs, @phase,
           @phaseAtMs, @pendingUntilMs, @settlesAtMs, @plannedError)`,
      )
      .run({ ...e, plannedError: e.plannedError ? 1 : 0 });
  }

  /** By id; deleted ones are not found. */
  endpointById(id: string): EndpointRow | undefined {
    const r = this.db
      .prepare(`SELECT ${ENDPOINT_COLUMNS} FROM sandbox_endpoints WHERE id = ? AND deleted = 0`)
      .get(id) as Parameters<typeof fromRawEndpoint>[0] | undefined;
    return r && fromRawEndpoint(r);
  }

  /** By the name chat takes, deleted ones included (`deleted` says so): chat tells a deleted endpoint apart. */
  endpointByName(name: string): (EndpointRow & { deleted: boolean }) | undefined {
    const r = this.db
      .prepare(`SELECT ${ENDPOINT_COLUMNS}, deleted FROM sandbox_endpoints WHERE name = ?`)
      .get(name) as (Parameters<typeof fromRawEndpoint>[0] & { deleted: number }) | undefined;
    return r && { ...fromRawEndpoint(r), deleted: r.deleted === 1 };
  }

  /** Oldest first, deleted ones left out. */
  listEndpoints(): EndpointRow[] {
    return (
      this.db
        .prepare(`SELECT ${ENDPOINT_COLUMNS} FROM sandbox_endpoints WHERE deleted = 0 ORDER BY seq`)
        .all() as Parameters<typeof fromRawEndpoint>[0][]
    ).map(fromRawEndpoint);
  }

  /** A new start or stop request (false when there is no such endpoint). */
  setEndpointPhase(id: string, p: EndpointPhase): boolean {
    return (
      this.db
        .prepare(
          `UPDATE sandbox_endpoints SET phase = @phase, phase_at_ms = @phaseAtMs, pending_until_ms = @pendingUntilMs,
             settles_at_ms = @settlesAtMs, planned_error = @plannedError WHERE id = @id AND deleted = 0`,
        )
        .run({ ...p, id, plannedError: p.plannedError ? 1 : 0 }).changes > 0
    );
  }

  updateEndpointSettings(
    id: string,
    s: { displayName: string; minReplicas: number; maxReplicas: number },
  ): boolean {
    return (
      this.db
        .prepare(
          `UPDATE sandbox_endpoints SET display_name = @displayName, min_replicas = @minReplicas,
             max_replicas = @maxReplicas WHERE id = @id AND deleted = 0`,
        )
        .run({ ...s, id }).changes > 0
    );
  }

  markEndpointDeleted(id: string): boolean {
    return (
      this.db.prepare(`UPDATE sandbox_endpoints SET deleted = 1 WHERE id = ? AND deleted = 0`).run(id)
        .changes > 0
    );
  }

  markModelDeleted(model: string): boolean {
    return (
      this.db
        .prepare(`UPDATE sandbox_jobs SET model_deleted = 1 WHERE fine_tuned_model = ? AND model_deleted = 0`)
        .run(model).changes > 0
    );
  }
}
