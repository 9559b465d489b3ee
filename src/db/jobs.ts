// Repositories for fine-tuning jobs and their per-step metrics. Reads take the guild id (another
// guild's job is "not found"); the poller's sweep across guilds is the one named exception.
import { sql } from "kysely";
import type { JobProgress, JobStatus, TestQuestion } from "../domain/jobs.ts";
import { fillProviderEndpoint, type Repoint, repointProviderRows } from "./providerRows.ts";
import { type CompiledStatement, compiled, type Param } from "./query/compiled.ts";
import type { Queryable } from "./query/store.ts";

export type { JobProgress, Repoint, TestQuestion };

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

const COLUMNS = [
  "id",
  "tag",
  "guild_id as guildId",
  "provider",
  "provider_kind as providerKind",
  "provider_endpoint as providerEndpoint",
  "remote_id as remoteId",
  "dataset_id as datasetId",
  "requester_id as requesterId",
  "base_model as baseModel",
  "suffix",
  "hyperparameters",
  "training_file_id as trainingFileId",
  "status",
  "raw_status as rawStatus",
  "fine_tuned_model as fineTunedModel",
  "trained_tokens as trainedTokens",
  "error_code as errorCode",
  "error_message as errorMessage",
  "last_event_id as lastEventId",
  "last_events_at as lastEventsAt",
  "progress",
  "remote_fingerprint as remoteFingerprint",
  "estimated_cost_usd as estimatedCostUsd",
  "notify_channel_id as notifyChannelId",
  "test_questions as testQuestions",
  "created_at as createdAt",
  "started_at as startedAt",
  "finished_at as finishedAt",
  "updated_at as updatedAt",
] as const;

type RawRow = Omit<JobRow, "hyperparameters" | "progress" | "testQuestions" | "status"> & {
  status: string;
  hyperparameters: string;
  progress: string | null;
  testQuestions: string;
};

const fromRaw = (r: RawRow): JobRow => ({
  ...r,
  status: r.status as JobStatus,
  hyperparameters: JSON.parse(r.hyperparameters) as JobHyperparameters,
  progress: r.progress === null ? null : (JSON.parse(r.progress) as JobProgress),
  testQuestions: JSON.parse(r.testQuestions) as TestQuestion[],
});

const UPDATE_COLUMNS = {
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
} as const satisfies Record<keyof JobUpdate, string>;

const TERMINAL = ["succeeded", "failed", "cancelled"];

type InsertValues = {
  tag: string;
  guildId: string;
  provider: string;
  providerKind: string | null;
  providerEndpoint: string | null;
  remoteId: string;
  datasetId: number;
  requesterId: string;
  baseModel: string;
  suffix: string | null;
  hyperparameters: string;
  trainingFileId: string;
  status: string;
  rawStatus: string;
  estimatedCostUsd: number | null;
  notifyChannelId: string | null;
  testQuestions: string;
  createdAt: string;
};

const insertJob = compiled((db, p: Param<InsertValues>) =>
  db
    .insertInto("jobs")
    .values({
      tag: p("tag"),
      guild_id: p("guildId"),
      provider: p("provider"),
      provider_kind: p("providerKind"),
      provider_endpoint: p("providerEndpoint"),
      remote_id: p("remoteId"),
      dataset_id: p("datasetId"),
      requester_id: p("requesterId"),
      base_model: p("baseModel"),
      suffix: p("suffix"),
      hyperparameters: p("hyperparameters"),
      training_file_id: p("trainingFileId"),
      status: p("status"),
      raw_status: p("rawStatus"),
      estimated_cost_usd: p("estimatedCostUsd"),
      notify_channel_id: p("notifyChannelId"),
      test_questions: p("testQuestions"),
      created_at: p("createdAt"),
      updated_at: p("createdAt"),
    })
    .returning(COLUMNS),
);

const byId = compiled((db, p: Param<{ guildId: string; id: number }>) =>
  db.selectFrom("jobs").select(COLUMNS).where("guild_id", "=", p("guildId")).where("id", "=", p("id")),
);

const byTag = compiled((db, p: Param<{ guildId: string; tag: string }>) =>
  db.selectFrom("jobs").select(COLUMNS).where("guild_id", "=", p("guildId")).where("tag", "=", p("tag")),
);

const byRemoteId = compiled((db, p: Param<{ guildId: string; remoteId: string }>) =>
  db
    .selectFrom("jobs")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .where("remote_id", "=", p("remoteId")),
);

const newest = compiled((db, p: Param<{ guildId: string; limit: number }>) =>
  db
    .selectFrom("jobs")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .orderBy("id", "desc")
    .limit(p("limit")),
);

/**
 * SQLite's LIKE ignores the case of ASCII letters; PostgreSQL's ILIKE is its match. The backslash escapes
 * `%`, `_` and itself in the pattern.
 */
const searchJobs = compiled((db, p: Param<{ guildId: string; like: string; limit: number }>, engine) => {
  const like = sql.raw(engine === "postgres" ? "ILIKE" : "LIKE");
  const matches = (column: ReturnType<typeof sql>) => sql`${column} ${like} ${p("like")} ESCAPE '\\'`;
  return db
    .selectFrom("jobs")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .where(
      sql<boolean>`(${matches(sql`CAST(id AS TEXT)`)} OR ${matches(sql`remote_id`)}
        OR ${matches(sql`COALESCE(suffix, '')`)} OR ${matches(sql`base_model`)}
        OR ${matches(sql`COALESCE(fine_tuned_model, '')`)})`,
    )
    .orderBy("id", "desc")
    .limit(p("limit"));
});

const activeAcrossGuilds = compiled((db, p: Param<{ provider: string }>) =>
  db
    .selectFrom("jobs")
    .select(COLUMNS)
    .where("provider", "=", p("provider"))
    .where("status", "not in", TERMINAL)
    .orderBy("id"),
);

const activeInGuild = compiled((db, p: Param<{ guildId: string; provider: string }>) =>
  db
    .selectFrom("jobs")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .where("provider", "=", p("provider"))
    .where("status", "not in", TERMINAL)
    .orderBy("id"),
);

const activeProviderRefs = compiled((db, p: Param<{ guildId: string | null }>) =>
  db
    .selectFrom("jobs")
    .select(["provider", "provider_endpoint as endpoint"])
    .distinct()
    .where("status", "not in", TERMINAL)
    .where(sql<boolean>`(cast(${p("guildId")} as text) IS NULL OR guild_id = ${p("guildId")})`)
    .orderBy("provider"),
);

/** One compiled UPDATE per set of patched fields (its shape), built the first time that set is written. */
const updates = new Map<string, CompiledStatement<Record<string, unknown>, unknown>>();

function updateOf(keys: (keyof JobUpdate)[]): CompiledStatement<Record<string, unknown>, unknown> {
  const shape = keys.join(",");
  let statement = updates.get(shape);
  if (statement === undefined) {
    statement = compiled((db, p: Param<Record<string, unknown>>) =>
      db
        .updateTable("jobs")
        .set(Object.fromEntries(keys.map((k) => [UPDATE_COLUMNS[k], p(k)])))
        .set({ updated_at: p("updatedAt") as string })
        .where("guild_id", "=", p("guildId") as string)
        .where("id", "=", p("id") as number),
    );
    updates.set(shape, statement);
  }
  return statement;
}

/** A provider name as rows record it, with the endpoint they recorded (null before migration 006). */
export interface ProviderRef {
  provider: string;
  endpoint: string | null;
}

/** A renamed provider: rows under `from` at `endpoint` now belong to `to` (of `kind`). */
export class JobRepository {
  constructor(private readonly on: Queryable) {}

  /** The same repository over a transaction of its store (store.transaction's `tx`). */
  in(tx: Queryable): JobRepository {
    return new JobRepository(tx);
  }

  async insert(j: NewJob): Promise<JobRow> {
    const row = await insertJob.executeTakeFirst(this.on, {
      tag: j.tag,
      guildId: j.guildId,
      provider: j.provider,
      providerKind: j.providerKind ?? null,
      providerEndpoint: j.providerEndpoint ?? null,
      remoteId: j.remoteId,
      datasetId: j.datasetId,
      requesterId: j.requesterId,
      baseModel: j.baseModel,
      suffix: j.suffix,
      hyperparameters: JSON.stringify(j.hyperparameters),
      trainingFileId: j.trainingFileId,
      status: j.status,
      rawStatus: j.rawStatus,
      estimatedCostUsd: j.estimatedCostUsd,
      notifyChannelId: j.notifyChannelId,
      testQuestions: JSON.stringify(j.testQuestions),
      createdAt: j.createdAt ?? new Date().toISOString(),
    });
    if (!row) throw new Error("inserted job vanished");
    return fromRaw(row);
  }

  async get(guildId: string, id: number): Promise<JobRow | undefined> {
    const r = await byId.executeTakeFirst(this.on, { guildId, id });
    return r && fromRaw(r);
  }

  /** By classtune's own tag (sent as metadata.classtune_job_id), still scoped by guild. */
  async getByTag(guildId: string, tag: string): Promise<JobRow | undefined> {
    const r = await byTag.executeTakeFirst(this.on, { guildId, tag });
    return r && fromRaw(r);
  }

  /** By the provider's id (`ftjob-…`), still scoped by guild. */
  async getByRemoteId(guildId: string, remoteId: string): Promise<JobRow | undefined> {
    const r = await byRemoteId.executeTakeFirst(this.on, { guildId, remoteId });
    return r && fromRaw(r);
  }

  async list(guildId: string, limit = 25): Promise<JobRow[]> {
    return (await newest.execute(this.on, { guildId, limit })).map(fromRaw);
  }

  /** For autocomplete: newest first, matching the id, remote id, suffix, base or fine-tuned model. */
  async search(guildId: string, text: string, limit = 25): Promise<JobRow[]> {
    const like = `%${text.replace(/[%_\\]/g, (c) => `\\${c}`)}%`;
    return (await searchJobs.execute(this.on, { guildId, like, limit })).map(fromRaw);
  }

  /** The poller's sweep: every guild's unfinished jobs at one provider, oldest first. */
  async listActiveAcrossGuilds(provider: string): Promise<JobRow[]> {
    return (await activeAcrossGuilds.execute(this.on, { provider })).map(fromRaw);
  }

  /** One guild's unfinished jobs at one provider, oldest first (the CLI polls only its own). */
  async listActive(guildId: string, provider: string): Promise<JobRow[]> {
    return (await activeInGuild.execute(this.on, { guildId, provider })).map(fromRaw);
  }

  /**
   * The provider names (with the endpoint recorded for them) of unfinished jobs: what the poller visits.
   * Across guilds unless one is given (the CLI's poller sees only its own).
   */
  async activeProviders(guildId?: string): Promise<ProviderRef[]> {
    return activeProviderRefs.execute(this.on, { guildId: guildId ?? null });
  }

  /**
   * Moves every job recorded under `from` at `endpoint` to the provider now configured as `to` (a renamed
   * provider), in every status; a job whose remote id `to` already holds is left as it is. Returns the count.
   */
  async repointProvider(r: Repoint): Promise<number> {
    return repointProviderRows(this.on, "jobs", r, true);
  }

  /** Records the endpoint of jobs written before it was kept (migration 006), from the configured provider. */
  async fillEndpoint(provider: string, kind: string, endpoint: string, guildId?: string): Promise<number> {
    return fillProviderEndpoint(this.on, "jobs", provider, kind, endpoint, guildId);
  }

  async update(guildId: string, id: number, patch: JobUpdate, now = new Date()): Promise<void> {
    const keys: (keyof JobUpdate)[] = [];
    const values: Record<string, unknown> = { guildId, id, updatedAt: now.toISOString() };
    for (const [key, value] of Object.entries(patch) as [keyof JobUpdate, unknown][]) {
      if (value === undefined) continue;
      keys.push(key);
      values[key] = key === "progress" && value !== null ? JSON.stringify(value) : value;
    }
    await updateOf(keys).executeChanges(this.on, values);
  }
}

export interface MetricPoint {
  step: number;
  trainLoss: number | null;
  validLoss: number | null;
  trainAccuracy: number | null;
  createdAt: string;
}

const addPoint = compiled(
  (
    db,
    p: Param<{
      jobId: number;
      step: number;
      trainLoss: number | null;
      validLoss: number | null;
      trainAccuracy: number | null;
      createdAt: string;
    }>,
  ) =>
    db
      .insertInto("job_metrics")
      .values({
        job_id: p("jobId"),
        step: p("step"),
        train_loss: p("trainLoss"),
        valid_loss: p("validLoss"),
        train_accuracy: p("trainAccuracy"),
        created_at: p("createdAt"),
      })
      .onConflict((oc) => oc.columns(["job_id", "step"]).doNothing()),
);

const pointsOf = compiled((db, p: Param<{ guildId: string; jobId: number }>) =>
  db
    .selectFrom("job_metrics as m")
    .innerJoin("jobs as j", "j.id", "m.job_id")
    .select([
      "m.step",
      "m.train_loss as trainLoss",
      "m.valid_loss as validLoss",
      "m.train_accuracy as trainAccuracy",
      "m.created_at as createdAt",
    ])
    .where("j.guild_id", "=", p("guildId"))
    .where("m.job_id", "=", p("jobId"))
    .orderBy("m.step"),
);

/** Loss points per step, kept for the loss chart. */
export class JobMetricsRepository {
  constructor(private readonly on: Queryable) {}

  /** The same repository over a transaction of its store (store.transaction's `tx`). */
  in(tx: Queryable): JobMetricsRepository {
    return new JobMetricsRepository(tx);
  }

  /** Idempotent: a step already stored is left as it is. */
  async add(jobId: number, points: MetricPoint[]): Promise<void> {
    for (const p of points) {
      await addPoint.executeChanges(this.on, {
        jobId,
        step: p.step,
        trainLoss: p.trainLoss,
        validLoss: p.validLoss,
        trainAccuracy: p.trainAccuracy,
        createdAt: p.createdAt,
      });
    }
  }

  /** The job's points in step order; the guild scope goes through the jobs table. */
  async list(guildId: string, jobId: number): Promise<MetricPoint[]> {
    return pointsOf.execute(this.on, { guildId, jobId });
  }
}
