// Repositories for fine-tuning jobs and their per-step metrics. Reads take the guild id (another
// guild's job is "not found"); the poller's sweep across guilds is the one named exception.
import type { JobProgress, JobStatus, TestQuestion } from "../domain/jobs.ts";
import { prepared } from "./statements.ts";

export type { JobProgress, TestQuestion };

import type { Db } from "./open.ts";
import { fillProviderEndpoint, type Repoint, repointProviderRows } from "./providerRows.ts";

export type { Repoint };

export interface JobHyperparameters {
  nEpochs: number | "auto";
  seed: number | null;
  /** Absent: supervised (every job from before DPO). */
  method?: "supervised" | "dpo" | undefined;
  /** DPO's beta when one was asked for. */
  beta?: number | undefined;
  /** The fine-tuned model the job started from, when it was not a base model. */
  fromModel?: string | undefined;
}

export interface JobRow {
  id: number;
  tag: string;
  guildId: string;
  /** The configured provider's name (what `--provider` and `provider:` name). */
  provider: string;
  /** Its kind when the job was created ("openai", "nebius", …); null for jobs from before migration 006. */
  providerKind: string | null;
  /** Where it was sent (see endpointOf in providers/registry.ts; never a key); null before migration 006. */
  providerEndpoint: string | null;
  remoteId: string;
  datasetId: number;
  requesterId: string;
  baseModel: string;
  suffix: string | null;
  hyperparameters: JobHyperparameters;
  trainingFileId: string;
  status: JobStatus;
  rawStatus: string;
  fineTunedModel: string | null;
  trainedTokens: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  lastEventId: string | null;
  lastEventsAt: string | null;
  progress: JobProgress | null;
  remoteFingerprint: string | null;
  estimatedCostUsd: number | null;
  notifyChannelId: string | null;
  testQuestions: TestQuestion[];
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
}

export type NewJob = Pick<
  JobRow,
  | "tag"
  | "guildId"
  | "provider"
  | "remoteId"
  | "datasetId"
  | "requesterId"
  | "baseModel"
  | "suffix"
  | "hyperparameters"
  | "trainingFileId"
  | "status"
  | "rawStatus"
  | "estimatedCostUsd"
  | "notifyChannelId"
  | "testQuestions"
> & {
  createdAt?: string;
  /** Unset: unknown, as for rows from before migration 006 (filled in from the configuration later). */
  providerKind?: string | null;
  providerEndpoint?: string | null;
};

/** Fields the poller writes back from the provider. */
export type JobUpdate = Partial<
  Pick<
    JobRow,
    | "status"
    | "rawStatus"
    | "fineTunedModel"
    | "trainedTokens"
    | "errorCode"
    | "errorMessage"
    | "lastEventId"
    | "lastEventsAt"
    | "progress"
    | "remoteFingerprint"
    | "startedAt"
    | "finishedAt"
  >
>;

const COLUMNS = `id, tag, guild_id AS guildId, provider, provider_kind AS providerKind,
  provider_endpoint AS providerEndpoint, remote_id AS remoteId, dataset_id AS datasetId,
  requester_id AS requesterId, base_model AS baseModel, suffix, hyperparameters, training_file_id AS trainingFileId,
  status, raw_status AS rawStatus, fine_tuned_model AS fineTunedModel, trained_tokens AS trainedTokens,
  error_code AS errorCode, error_message AS errorMessage, last_event_id AS lastEventId, last_events_at AS lastEventsAt,
  progress, remote_fingerprint AS remoteFingerprint, estimated_cost_usd AS estimatedCostUsd,
  notify_channel_id AS notifyChannelId, test_questions AS testQuestions, created_at AS createdAt,
  started_at AS startedAt, finished_at AS finishedAt, updated_at AS updatedAt`;

type RawRow = Omit<JobRow, "hyperparameters" | "progress" | "testQuestions"> & {
  hyperparameters: string;
  progress: string | null;
  testQuestions: string;
};

const fromRaw = (r: RawRow): JobRow => ({
  ...r,
  hyperparameters: JSON.parse(r.hyperparameters) as JobHyperparameters,
  progress: r.progress === null ? null : (JSON.parse(r.progress) as JobProgress),
  testQuestions: JSON.parse(r.testQuestions) as TestQuestion[],
});

const UPDATE_COLUMNS: Record<keyof JobUpdate, string> = {
  status: "status",
  rawStatus: "raw_status",
  fineTunedModel: "fine_tuned_model",
  trainedTokens: "trained_tokens",
  errorCode: "error_code",
  errorMessage: "error_message",
  lastEventId: "last_event_id",
  lastEventsAt: "last_events_at",
  progress: "progress",
  remoteFingerprint: "remote_fingerprint",
  startedAt: "started_at",
  finishedAt: "finished_at",
};

const TERMINAL_SQL = "('succeeded', 'failed', 'cancelled')";

/** A provider name as rows record it, with the endpoint they recorded (null before migration 006). */
export interface ProviderRef {
  provider: string;
  endpoint: string | null;
}

/** A renamed provider: rows under `from` at `endpoint` now belong to `to` (of `kind`). */
export class JobRepository {
  constructor(private readonly db: Db) {}

  insert(j: NewJob): JobRow {
    const now = j.createdAt ?? new Date().toISOString();
    const info = prepared(
      this.db,
      `INSERT INTO jobs (tag, guild_id, provider, provider_kind, provider_endpoint, remote_id, dataset_id,
          requester_id, base_model, suffix, hyperparameters, training_file_id, status, raw_status, estimated_cost_usd,
          notify_channel_id, test_questions, created_at, updated_at)
         VALUES (@tag, @guildId, @provider, @providerKind, @providerEndpoint, @remoteId, @datasetId, @requesterId,
          @baseModel, @suffix,
          @hyperparameters, @trainingFileId, @status, @rawStatus, @estimatedCostUsd, @notifyChannelId,
          @testQuestions, @createdAt, @createdAt)`,
    ).run({
      ...j,
      providerKind: j.providerKind ?? null,
      providerEndpoint: j.providerEndpoint ?? null,
      hyperparameters: JSON.stringify(j.hyperparameters),
      testQuestions: JSON.stringify(j.testQuestions),
      createdAt: now,
    });
    const row = this.get(j.guildId, Number(info.lastInsertRowid));
    if (!row) throw new Error("inserted job vanished");
    return row;
  }

  get(guildId: string, id: number): JobRow | undefined {
    const r = prepared(this.db, `SELECT ${COLUMNS} FROM jobs WHERE guild_id = ? AND id = ?`).get(
      guildId,
      id,
    ) as RawRow | undefined;
    return r && fromRaw(r);
  }

  /** By classtune's own tag (sent as metadata.classtune_job_id), still scoped by guild. */
  getByTag(guildId: string, tag: string): JobRow | undefined {
    const r = prepared(this.db, `SELECT ${COLUMNS} FROM jobs WHERE guild_id = ? AND tag = ?`).get(
      guildId,
      tag,
    ) as RawRow | undefined;
    return r && fromRaw(r);
  }

  /** By the provider's id (`ftjob-…`), still scoped by guild. */
  getByRemoteId(guildId: string, remoteId: string): JobRow | undefined {
    const r = prepared(this.db, `SELECT ${COLUMNS} FROM jobs WHERE guild_id = ? AND remote_id = ?`).get(
      guildId,
      remoteId,
    ) as RawRow | undefined;
    return r && fromRaw(r);
  }

  list(guildId: string, limit = 25): JobRow[] {
    return (
      prepared(this.db, `SELECT ${COLUMNS} FROM jobs WHERE guild_id = ? ORDER BY id DESC LIMIT ?`).all(
        guildId,
        limit,
      ) as RawRow[]
    ).map(fromRaw);
  }

  /** For autocomplete: newest first, matching the id, remote id, suffix, base or fine-tuned model. */
  search(guildId: string, text: string, limit = 25): JobRow[] {
    const like = `%${text.replace(/[%_\\]/g, (c) => `\\${c}`)}%`;
    return (
      prepared(
        this.db,
        `SELECT ${COLUMNS} FROM jobs WHERE guild_id = @guildId AND (CAST(id AS TEXT) LIKE @like ESCAPE '\\'
             OR remote_id LIKE @like ESCAPE '\\' OR IFNULL(suffix, '') LIKE @like ESCAPE '\\'
             OR base_model LIKE @like ESCAPE '\\' OR IFNULL(fine_tuned_model, '') LIKE @like ESCAPE '\\')
           ORDER BY id DESC LIMIT @limit`,
      ).all({ guildId, like, limit }) as RawRow[]
    ).map(fromRaw);
  }

  /** The poller's sweep: every guild's unfinished jobs at one provider, oldest first. */
  listActiveAcrossGuilds(provider: string): JobRow[] {
    return (
      prepared(
        this.db,
        `SELECT ${COLUMNS} FROM jobs WHERE provider = ? AND status NOT IN ${TERMINAL_SQL} ORDER BY id`,
      ).all(provider) as RawRow[]
    ).map(fromRaw);
  }

  /** One guild's unfinished jobs at one provider, oldest first (the CLI polls only its own). */
  listActive(guildId: string, provider: string): JobRow[] {
    return (
      prepared(
        this.db,
        `SELECT ${COLUMNS} FROM jobs WHERE guild_id = ? AND provider = ? AND status NOT IN ${TERMINAL_SQL} ORDER BY id`,
      ).all(guildId, provider) as RawRow[]
    ).map(fromRaw);
  }

  /**
   * The provider names (with the endpoint recorded for them) of unfinished jobs: what the poller visits.
   * Across guilds unless one is given (the CLI's poller sees only its own).
   */
  activeProviders(guildId?: string): ProviderRef[] {
    return prepared(
      this.db,
      `SELECT DISTINCT provider, provider_endpoint AS endpoint FROM jobs
         WHERE status NOT IN ${TERMINAL_SQL} AND (@guildId IS NULL OR guild_id = @guildId) ORDER BY provider`,
    ).all({ guildId: guildId ?? null }) as ProviderRef[];
  }

  /**
   * Moves every job recorded under `from` at `endpoint` to the provider now configured as `to` (a renamed
   * provider), in every status; a job whose remote id `to` already holds is left as it is. Returns the count.
   */
  repointProvider(r: Repoint): number {
    return repointProviderRows(this.db, "jobs", r, true);
  }

  /** Records the endpoint of jobs written before it was kept (migration 006), from the configured provider. */
  fillEndpoint(provider: string, kind: string, endpoint: string, guildId?: string): number {
    return fillProviderEndpoint(this.db, "jobs", provider, kind, endpoint, guildId);
  }

  update(guildId: string, id: number, patch: JobUpdate, now = new Date()): void {
    const sets: string[] = [];
    const params: Record<string, unknown> = { guildId, id, updatedAt: now.toISOString() };
    for (const [key, value] of Object.entries(patch) as [keyof JobUpdate, unknown][]) {
      if (value === undefined) continue;
      sets.push(`${UPDATE_COLUMNS[key]} = @${key}`);
      params[key] = key === "progress" && value !== null ? JSON.stringify(value) : value;
    }
    prepared(
      this.db,
      `UPDATE jobs SET ${[...sets, "updated_at = @updatedAt"].join(", ")} WHERE guild_id = @guildId AND id = @id`,
    ).run(params);
  }
}

export interface MetricPoint {
  step: number;
  trainLoss: number | null;
  validLoss: number | null;
  trainAccuracy: number | null;
  createdAt: string;
}

/** Loss points per step, kept for the loss chart. */
export class JobMetricsRepository {
  constructor(private readonly db: Db) {}

  /** Idempotent: a step already stored is left as it is. */
  add(jobId: number, points: MetricPoint[]): void {
    const insert = prepared(
      this.db,
      `INSERT OR IGNORE INTO job_metrics (job_id, step, train_loss, valid_loss, train_accuracy, created_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    for (const p of points) insert.run(jobId, p.step, p.trainLoss, p.validLoss, p.trainAccuracy, p.createdAt);
  }

  /** The job's points in step order; the guild scope goes through the jobs table. */
  list(guildId: string, jobId: number): MetricPoint[] {
    return prepared(
      this.db,
      `SELECT m.step, m.train_loss AS trainLoss, m.valid_loss AS validLoss, m.train_accuracy AS trainAccuracy,
           m.created_at AS createdAt
         FROM job_metrics m JOIN jobs j ON j.id = m.job_id WHERE j.guild_id = ? AND m.job_id = ? ORDER BY m.step`,
    ).all(guildId, jobId) as MetricPoint[];
  }
}
