// Repository for the models table: the fine-tuned models a guild owns (registered when a job succeeds) and
// the models it registered with /model add, each with its serving state (migration 007): whether it can be
// asked yet, and by which id.

import { type Expression, type SqlBool, sql } from "kysely";
import type { ServingStatus } from "../domain/serving.ts";
import type { ProviderRef } from "./jobs.ts";
import { compiled, type Param } from "./query/compiled.ts";
import type { Engine, Queryable } from "./query/store.ts";

export type { ServingStatus };

export interface ModelRow {
  id: number;
  guildId: string;
  /** The provider's model id, e.g. ft:gpt-4o-mini-2024-07-18:classtune-sandbox:bio:abc123. */
  name: string;
  provider: string;
  baseModel: string;
  jobId: number | null;
  label: string | null;
  createdAt: string;
  shutdownDate: string | null;
  /** Whether it can be asked yet (see domain/serving.ts). */
  servingStatus: ServingStatus;
  /** The id chat completions take, once ready; null before. */
  servedAs: string | null;
  /** The current deploy attempt's deterministic name (providers/deployments.ts); null where serving is immediate. */
  deploymentName: string | null;
  /** Deploy attempts so far (0 where serving is immediate). */
  deployAttempt: number;
  /** The provider's words when the deploy failed; the steps to take when it waits for a manual deploy. */
  servingError: string | null;
  servingUpdatedAt: string | null;
}

/** How a new model is served; default ready, served as its name. */
export interface NewServing {
  status: ServingStatus;
  servedAs: string | null;
  deploymentName: string | null;
  attempt: number;
  error?: string | null;
}

export type NewModel = Pick<ModelRow, "guildId" | "name" | "provider" | "baseModel" | "jobId"> & {
  label?: string | null;
  shutdownDate?: string | null;
  createdAt?: string;
  serving?: NewServing;
};

/** A change of serving state; fields left undefined are kept. */
export interface ServingUpdate {
  status: ServingStatus;
  servedAs?: string | null;
  error?: string | null;
}

const COLUMNS = [
  "id",
  "guild_id as guildId",
  "name",
  "provider",
  "base_model as baseModel",
  "job_id as jobId",
  "label",
  "created_at as createdAt",
  "shutdown_date as shutdownDate",
  "serving_status as servingStatus",
  "served_as as servedAs",
  "deployment_name as deploymentName",
  "deploy_attempt as deployAttempt",
  "serving_error as servingError",
  "serving_updated_at as servingUpdatedAt",
] as const;

const escapeLike = (text: string) => `%${text.replace(/[%_\\]/g, (c) => `\\${c}`)}%`;

/**
 * `(guildId IS NULL OR <column> = guildId)`: every guild's rows, or one guild's. The cast types the bare parameter
 * for PostgreSQL (it cannot infer a type beside IS NULL).
 */
const inGuild = (column: string, guildId: string | null): Expression<SqlBool> =>
  sql<SqlBool>`(cast(${guildId} as text) is null or ${sql.ref(column)} = ${guildId})`;

/** The elements of a JSON array of strings, as a subquery for IN: json_each on SQLite, jsonb on PostgreSQL. */
const jsonList = (engine: Engine, json: string) =>
  engine === "postgres"
    ? sql`(select jsonb_array_elements_text(cast(${json} as jsonb)))`
    : sql`(select value from json_each(${json}))`;

const insert = compiled(
  (
    db,
    p: Param<{
      guildId: string;
      name: string;
      provider: string;
      baseModel: string;
      jobId: number | null;
      label: string | null;
      createdAt: string;
      shutdownDate: string | null;
      status: string;
      servedAs: string | null;
      deploymentName: string | null;
      attempt: number;
      error: string | null;
    }>,
  ) =>
    db
      .insertInto("models")
      .values({
        guild_id: p("guildId"),
        name: p("name"),
        provider: p("provider"),
        base_model: p("baseModel"),
        job_id: p("jobId"),
        label: p("label"),
        created_at: p("createdAt"),
        shutdown_date: p("shutdownDate"),
        serving_status: p("status"),
        served_as: p("servedAs"),
        deployment_name: p("deploymentName"),
        deploy_attempt: p("attempt"),
        serving_error: p("error"),
        serving_updated_at: p("createdAt"),
      })
      .onConflict((oc) => oc.columns(["guild_id", "name"]).doNothing()),
);

const repoint = compiled(
  (db, p: Param<{ from: string; to: string; endpoint: string; guildId: string | null }>) =>
    db
      .updateTable("models")
      .set({ provider: p("to") })
      .where("provider", "=", p("from"))
      .where(inGuild("guild_id", p("guildId")))
      .where("job_id", "in", (eb) =>
        eb
          .selectFrom("jobs")
          .select("id")
          .where("provider", "=", p("to"))
          .where("provider_endpoint", "=", p("endpoint")),
      ),
);

const byId = compiled((db, p: Param<{ guildId: string; id: number }>) =>
  db.selectFrom("models").select(COLUMNS).where("guild_id", "=", p("guildId")).where("id", "=", p("id")),
);

const byName = compiled((db, p: Param<{ guildId: string; name: string }>) =>
  db.selectFrom("models").select(COLUMNS).where("guild_id", "=", p("guildId")).where("name", "=", p("name")),
);

const newest = compiled((db, p: Param<{ guildId: string; ready: number; limit: number }>) =>
  db
    .selectFrom("models")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .where(sql<SqlBool>`(${p("ready")} = 0 or serving_status = 'ready')`)
    .orderBy("id", "desc")
    .limit(p("limit")),
);

// LIKE is ASCII case-insensitive on SQLite; ILIKE is the case-insensitive match on PostgreSQL. The escape
// character is the backslash (escapeLike).
const matching = compiled(
  (db, p: Param<{ guildId: string; like: string; ready: number; limit: number }>, engine) => {
    const like = engine === "postgres" ? sql.raw("ilike") : sql.raw("like");
    return db
      .selectFrom("models")
      .select(COLUMNS)
      .where("guild_id", "=", p("guildId"))
      .where(
        sql<SqlBool>`(name ${like} ${p("like")} escape '\\' or coalesce(label, '') ${like} ${p("like")} escape '\\')`,
      )
      .where(sql<SqlBool>`(${p("ready")} = 0 or serving_status = 'ready')`)
      .orderBy("id", "desc")
      .limit(p("limit"));
  },
);

const byJob = compiled((db, p: Param<{ guildId: string; jobId: number }>) =>
  db
    .selectFrom("models")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .where("job_id", "=", p("jobId"))
    .orderBy("id")
    .limit(1),
);

const deploying = compiled((db, p: Param<{ provider: string; guildId: string | null }>) =>
  db
    .selectFrom("models")
    .select(COLUMNS)
    .where("provider", "=", p("provider"))
    .where("serving_status", "=", "deploying")
    .where(inGuild("guild_id", p("guildId")))
    .orderBy("id"),
);

const servedUntracked = compiled((db, p: Param<{ provider: string; guildId: string | null }>) =>
  db
    .selectFrom("models as m")
    .select(COLUMNS)
    .where("provider", "=", p("provider"))
    .where("job_id", "is not", null)
    .where("serving_status", "in", ["ready", "deploying"])
    .where("deployment_name", "is not", null)
    .where(inGuild("guild_id", p("guildId")))
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom("hosting_sessions as s")
            .select(sql`1`.as("one"))
            .whereRef("s.provider", "=", "m.provider")
            .whereRef("s.deployment_name", "=", "m.deployment_name"),
        ),
      ),
    )
    .orderBy("id"),
);

const deployingProviderRefs = compiled((db, p: Param<{ guildId: string | null }>) =>
  db
    .selectFrom("models as m")
    .leftJoin("jobs as j", "j.id", "m.job_id")
    .select(["m.provider", "j.provider_endpoint as endpoint"])
    .distinct()
    .where("m.serving_status", "=", "deploying")
    .where(inGuild("m.guild_id", p("guildId")))
    .orderBy("m.provider"),
);

const moveServing = compiled(
  (
    db,
    p: Param<{
      guildId: string;
      name: string;
      attempt: number;
      from: string;
      status: string;
      setServedAs: number;
      servedAs: string | null;
      setError: number;
      error: string | null;
      at: string;
    }>,
    engine,
  ) =>
    db
      .updateTable("models")
      .set({
        serving_status: p("status"),
        served_as: sql<
          string | null
        >`case when ${p("setServedAs")} = 1 then ${p("servedAs")} else served_as end`,
        serving_error: sql<
          string | null
        >`case when ${p("setError")} = 1 then ${p("error")} else serving_error end`,
        serving_updated_at: p("at"),
      })
      .where("guild_id", "=", p("guildId"))
      .where("name", "=", p("name"))
      .where("deploy_attempt", "=", p("attempt"))
      .where(sql<SqlBool>`serving_status in ${jsonList(engine, p("from"))}`),
);

const nextAttempt = compiled(
  (
    db,
    p: Param<{
      guildId: string;
      name: string;
      previousAttempt: number;
      attempt: number;
      deploymentName: string;
      status: string;
      error: string | null;
      at: string;
    }>,
  ) =>
    db
      .updateTable("models")
      .set({
        serving_status: p("status"),
        deploy_attempt: p("attempt"),
        deployment_name: p("deploymentName"),
        served_as: null,
        serving_error: p("error"),
        serving_updated_at: p("at"),
      })
      .where("guild_id", "=", p("guildId"))
      .where("name", "=", p("name"))
      .where("deploy_attempt", "=", p("previousAttempt")),
);

const awaiting = compiled((db, p: Param<{ guildId: string; provider: string; deploymentName: string }>) =>
  db
    .selectFrom("models")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .where("provider", "=", p("provider"))
    .where("deployment_name", "=", p("deploymentName"))
    .where("serving_status", "<>", "ready")
    .where("job_id", "is not", null)
    .orderBy("id")
    .limit(1),
);

// Stored names are the provider's ASCII ids, so lower() (ASCII on SQLite) gives them their modelIdKey on both.
const otherGuildsNames = compiled((db, p: Param<{ guildId: string; keys: string }>, engine) => {
  const inKeys = (column: string) =>
    sql<SqlBool>`lower(${sql.ref(column)}) in ${jsonList(engine, p("keys"))}`;
  return db
    .selectFrom("jobs")
    .select(sql<number>`1`.as("one"))
    .where("guild_id", "<>", p("guildId"))
    .where((eb) => eb.or([inKeys("fine_tuned_model"), inKeys("remote_id"), inKeys("training_file_id")]))
    .unionAll(
      db
        .selectFrom("models")
        .select(sql<number>`1`.as("one"))
        .where("guild_id", "<>", p("guildId"))
        .where("job_id", "is not", null)
        .where((eb) => eb.or([inKeys("name"), inKeys("served_as"), inKeys("deployment_name")])),
    )
    .limit(1);
});

const labelOf = compiled((db, p: Param<{ guildId: string; name: string; label: string | null }>) =>
  db
    .updateTable("models")
    .set({ label: p("label") })
    .where("guild_id", "=", p("guildId"))
    .where("name", "=", p("name")),
);

const shutdownOf = compiled((db, p: Param<{ guildId: string; name: string; shutdownDate: string | null }>) =>
  db
    .updateTable("models")
    .set({ shutdown_date: p("shutdownDate") })
    .where("guild_id", "=", p("guildId"))
    .where("name", "=", p("name")),
);

const removal = compiled((db, p: Param<{ guildId: string; name: string }>) =>
  db.deleteFrom("models").where("guild_id", "=", p("guildId")).where("name", "=", p("name")),
);

/** A row as the query layer types it: its serving status is the column's text. */
const row = (r: object | undefined): ModelRow | undefined => r as ModelRow | undefined;
const rows = (rs: object[]): ModelRow[] => rs as ModelRow[];

export class ModelRepository {
  constructor(private readonly on: Queryable) {}

  /** The same repository over a transaction of its store (store.transaction's `tx`). */
  in(tx: Queryable): ModelRepository {
    return new ModelRepository(tx);
  }

  /**
   * Registers a model for the guild (ready and served as its name unless `serving` says otherwise);
   * registering the same name again returns the existing row.
   */
  async register(m: NewModel): Promise<ModelRow> {
    const createdAt = m.createdAt ?? new Date().toISOString();
    const serving = m.serving ?? { status: "ready", servedAs: m.name, deploymentName: null, attempt: 0 };
    await insert.execute(this.on, {
      guildId: m.guildId,
      name: m.name,
      provider: m.provider,
      baseModel: m.baseModel,
      jobId: m.jobId,
      label: m.label ?? null,
      shutdownDate: m.shutdownDate ?? null,
      createdAt,
      status: serving.status,
      servedAs: serving.servedAs,
      deploymentName: serving.deploymentName,
      attempt: serving.attempt,
      error: serving.error ?? null,
    });
    const registered = await this.get(m.guildId, m.name);
    if (!registered) throw new Error("registered model vanished");
    return registered;
  }

  /**
   * A renamed fine-tuning provider: the models its jobs trained follow their jobs (already moved to `to` by
   * JobRepository.repointProvider) so /ask finds them. Models added by hand (no job) are left as they are.
   */
  async repointTrained(r: {
    from: string;
    to: string;
    endpoint: string;
    guildId?: string | undefined;
  }): Promise<number> {
    return repoint.executeChanges(this.on, {
      from: r.from,
      to: r.to,
      endpoint: r.endpoint,
      guildId: r.guildId ?? null,
    });
  }

  /** By row id, within the guild (a custom id's model: another guild's id finds nothing). */
  async getById(guildId: string, id: number): Promise<ModelRow | undefined> {
    return row(await byId.executeTakeFirst(this.on, { guildId, id }));
  }

  async get(guildId: string, name: string): Promise<ModelRow | undefined> {
    return row(await byName.executeTakeFirst(this.on, { guildId, name }));
  }

  /** Newest first; `ready` keeps only the models that can be asked now. */
  async list(guildId: string, limit = 100, opts: { ready?: boolean } = {}): Promise<ModelRow[]> {
    return rows(await newest.execute(this.on, { guildId, limit, ready: opts.ready ? 1 : 0 }));
  }

  /** For autocomplete: newest first, matching the name or label; `ready` keeps only the askable ones. */
  async search(
    guildId: string,
    text: string,
    limit = 25,
    opts: { ready?: boolean } = {},
  ): Promise<ModelRow[]> {
    return rows(
      await matching.execute(this.on, { guildId, like: escapeLike(text), limit, ready: opts.ready ? 1 : 0 }),
    );
  }

  /** The model a guild's job trained, if it registered one. */
  async getByJob(guildId: string, jobId: number): Promise<ModelRow | undefined> {
    return row(await byJob.executeTakeFirst(this.on, { guildId, jobId }));
  }

  /** The poller's sweep: models being deployed at one provider (one guild's, or every guild's), oldest first. */
  async listDeploying(provider: string, guildId?: string | undefined): Promise<ModelRow[]> {
    return rows(await deploying.execute(this.on, { provider, guildId: guildId ?? null }));
  }

  /**
   * Trained models whose deployment is ready or being made at `provider`, with no hosting session open: what the
   * hosting sweep adopts (deployments made before the ledger existed, or whose session was never written).
   */
  async listServedUntracked(provider: string, guildId?: string | undefined): Promise<ModelRow[]> {
    return rows(await servedUntracked.execute(this.on, { provider, guildId: guildId ?? null }));
  }

  /**
   * The providers (with the endpoint their jobs recorded) of models being deployed: what the poller visits
   * beside the providers of unfinished jobs, so a renamed provider's deployments are followed too.
   */
  async deployingProviders(guildId?: string | undefined): Promise<ProviderRef[]> {
    return deployingProviderRefs.execute(this.on, { guildId: guildId ?? null });
  }

  /**
   * Moves a model's serving state on, only while it is still in one of `from` at `attempt` (a retry or another
   * process did not move it meanwhile). Returns whether it changed; the caller writes the notice in the same
   * transaction.
   */
  async updateServing(
    guildId: string,
    name: string,
    expected: { from: readonly ServingStatus[]; attempt: number },
    to: ServingUpdate,
    now = new Date(),
  ): Promise<boolean> {
    const changes = await moveServing.executeChanges(this.on, {
      guildId,
      name,
      attempt: expected.attempt,
      from: JSON.stringify(expected.from),
      status: to.status,
      setServedAs: to.servedAs === undefined ? 0 : 1,
      servedAs: to.servedAs ?? null,
      setError: to.error === undefined ? 0 : 1,
      error: to.error ?? null,
      at: now.toISOString(),
    });
    return changes === 1;
  }

  /**
   * Starts deploy attempt `next.attempt` under its own name, only if the model is still at `previousAttempt`:
   * two retries at once start one attempt. Returns whether this call started it.
   */
  async startDeployAttempt(
    guildId: string,
    name: string,
    previousAttempt: number,
    next: { attempt: number; deploymentName: string; status: "deploying" | "manual"; error: string | null },
    now = new Date(),
  ): Promise<boolean> {
    const changes = await nextAttempt.executeChanges(this.on, {
      guildId,
      name,
      previousAttempt,
      ...next,
      at: now.toISOString(),
    });
    return changes === 1;
  }

  /** A guild's trained model not ready yet whose current deployment is called `deploymentName` at `provider`. */
  async awaitingDeployment(
    guildId: string,
    provider: string,
    deploymentName: string,
  ): Promise<ModelRow | undefined> {
    return row(await awaiting.executeTakeFirst(this.on, { guildId, provider, deploymentName }));
  }

  /**
   * Whether the name is, or derives from, a name the provider gave another guild's job: its fine-tuned model
   * (and the names it is served and deployed under) and that model's checkpoints (`<model>:ckpt-step-N`) or any other `<model><separator>…`, its remote job
   * id, its training file; compared as modelIdKey (case, whitespace and look-alike forms do not matter). The
   * one query that looks across guilds, the one home of this decision: `/model add` refuses such a name, and
   * routing (`/model use`, `/classroom setup`, `/ask model:`) treats it as not found, also when registered.
   */
  async trainedByAnotherGuild(guildId: string, name: string): Promise<boolean> {
    const keys = JSON.stringify(derivationKeys(name));
    return (await otherGuildsNames.executeTakeFirst(this.on, { guildId, keys })) !== undefined;
  }

  async setLabel(guildId: string, name: string, label: string | null): Promise<boolean> {
    return (await labelOf.executeChanges(this.on, { guildId, name, label })) === 1;
  }

  async setShutdownDate(guildId: string, name: string, shutdownDate: string | null): Promise<boolean> {
    return (await shutdownOf.executeChanges(this.on, { guildId, name, shutdownDate })) === 1;
  }

  async remove(guildId: string, name: string): Promise<boolean> {
    return (await removal.executeChanges(this.on, { guildId, name })) === 1;
  }
}

/**
 * A model id as a provider might resolve it, for comparing ids: compatibility forms folded (NFKC: a
 * full-width colon is a colon), whitespace and invisible format characters (zero-width spaces) removed,
 * lower case. Never sent anywhere: only compared.
 */
export function modelIdKey(name: string): string {
  return name
    .normalize("NFKC")
    .replace(/[\p{White_Space}\p{Cf}]/gu, "")
    .toLowerCase();
}

/** Where a name derived from another may continue it: `<model>:ckpt-step-20`, `<model>-v2`, `<model>.x`. */
const DERIVATION_SEPARATOR = /[:\-._/@#+]/u;

/** The name's modelIdKey and every prefix of it that ends before a separator: the names it may derive from. */
export function derivationKeys(name: string): string[] {
  const key = modelIdKey(name);
  const keys = [key];
  for (let i = key.length - 1; i > 0; i--) {
    if (DERIVATION_SEPARATOR.test(key[i] ?? "")) keys.push(key.slice(0, i));
  }
  return [...new Set(keys)];
}
