// Repository for the models table: the fine-tuned models a guild owns (registered when a job succeeds) and
// the models it registered with /model add, each with its serving state (migration 007): whether it can be
// asked yet, and by which id.
import type { ServingStatus } from "../domain/serving.ts";
import type { ProviderRef } from "./jobs.ts";
import type { Db } from "./open.ts";
import { prepared } from "./statements.ts";

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

const COLUMNS = `id, guild_id AS guildId, name, provider, base_model AS baseModel, job_id AS jobId, label,
  created_at AS createdAt, shutdown_date AS shutdownDate, serving_status AS servingStatus, served_as AS servedAs,
  deployment_name AS deploymentName, deploy_attempt AS deployAttempt, serving_error AS servingError,
  serving_updated_at AS servingUpdatedAt`;

const escapeLike = (text: string) => `%${text.replace(/[%_\\]/g, (c) => `\\${c}`)}%`;

export class ModelRepository {
  constructor(private readonly db: Db) {}

  /**
   * Registers a model for the guild (ready and served as its name unless `serving` says otherwise);
   * registering the same name again returns the existing row.
   */
  register(m: NewModel): ModelRow {
    const createdAt = m.createdAt ?? new Date().toISOString();
    const serving = m.serving ?? { status: "ready", servedAs: m.name, deploymentName: null, attempt: 0 };
    prepared(
      this.db,
      `INSERT INTO models (guild_id, name, provider, base_model, job_id, label, created_at, shutdown_date,
           serving_status, served_as, deployment_name, deploy_attempt, serving_error, serving_updated_at)
         VALUES (@guildId, @name, @provider, @baseModel, @jobId, @label, @createdAt, @shutdownDate,
           @status, @servedAs, @deploymentName, @attempt, @error, @createdAt)
         ON CONFLICT (guild_id, name) DO NOTHING`,
    ).run({
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
    const row = this.get(m.guildId, m.name);
    if (!row) throw new Error("registered model vanished");
    return row;
  }

  /**
   * A renamed fine-tuning provider: the models its jobs trained follow their jobs (already moved to `to` by
   * JobRepository.repointProvider) so /ask finds them. Models added by hand (no job) are left as they are.
   */
  repointTrained(r: { from: string; to: string; endpoint: string; guildId?: string | undefined }): number {
    return prepared(
      this.db,
      `UPDATE models SET provider = @to WHERE provider = @from AND (@guildId IS NULL OR guild_id = @guildId)
           AND job_id IN (SELECT id FROM jobs WHERE provider = @to AND provider_endpoint = @endpoint)`,
    ).run({ from: r.from, to: r.to, endpoint: r.endpoint, guildId: r.guildId ?? null }).changes;
  }

  /** By row id, within the guild (a custom id's model: another guild's id finds nothing). */
  getById(guildId: string, id: number): ModelRow | undefined {
    return prepared(this.db, `SELECT ${COLUMNS} FROM models WHERE guild_id = ? AND id = ?`).get(
      guildId,
      id,
    ) as ModelRow | undefined;
  }

  get(guildId: string, name: string): ModelRow | undefined {
    return prepared(this.db, `SELECT ${COLUMNS} FROM models WHERE guild_id = ? AND name = ?`).get(
      guildId,
      name,
    ) as ModelRow | undefined;
  }

  /** Newest first; `ready` keeps only the models that can be asked now. */
  list(guildId: string, limit = 100, opts: { ready?: boolean } = {}): ModelRow[] {
    return prepared(
      this.db,
      `SELECT ${COLUMNS} FROM models WHERE guild_id = @guildId AND (@ready = 0 OR serving_status = 'ready')
         ORDER BY id DESC LIMIT @limit`,
    ).all({ guildId, limit, ready: opts.ready ? 1 : 0 }) as ModelRow[];
  }

  /** For autocomplete: newest first, matching the name or label; `ready` keeps only the askable ones. */
  search(guildId: string, text: string, limit = 25, opts: { ready?: boolean } = {}): ModelRow[] {
    const like = escapeLike(text);
    return prepared(
      this.db,
      `SELECT ${COLUMNS} FROM models WHERE guild_id = @guildId
           AND (name LIKE @like ESCAPE '\\' OR IFNULL(label, '') LIKE @like ESCAPE '\\')
           AND (@ready = 0 OR serving_status = 'ready')
         ORDER BY id DESC LIMIT @limit`,
    ).all({ guildId, like, limit, ready: opts.ready ? 1 : 0 }) as ModelRow[];
  }

  /** The model a guild's job trained, if it registered one. */
  getByJob(guildId: string, jobId: number): ModelRow | undefined {
    return prepared(
      this.db,
      `SELECT ${COLUMNS} FROM models WHERE guild_id = ? AND job_id = ? ORDER BY id LIMIT 1`,
    ).get(guildId, jobId) as ModelRow | undefined;
  }

  /** The poller's sweep: models being deployed at one provider (one guild's, or every guild's), oldest first. */
  listDeploying(provider: string, guildId?: string | undefined): ModelRow[] {
    return prepared(
      this.db,
      `SELECT ${COLUMNS} FROM models WHERE provider = @provider AND serving_status = 'deploying'
           AND (@guildId IS NULL OR guild_id = @guildId) ORDER BY id`,
    ).all({ provider, guildId: guildId ?? null }) as ModelRow[];
  }

  /**
   * Trained models whose deployment is ready or being made at `provider`, with no hosting session open: what the
   * hosting sweep adopts (deployments made before the ledger existed, or whose session was never written).
   */
  listServedUntracked(provider: string, guildId?: string | undefined): ModelRow[] {
    return prepared(
      this.db,
      `SELECT ${COLUMNS} FROM models m WHERE provider = @provider AND job_id IS NOT NULL
           AND serving_status IN ('ready', 'deploying') AND deployment_name IS NOT NULL
           AND (@guildId IS NULL OR guild_id = @guildId)
           AND NOT EXISTS (SELECT 1 FROM hosting_sessions s WHERE s.provider = m.provider
             AND s.deployment_name = m.deployment_name)
         ORDER BY id`,
    ).all({ provider, guildId: guildId ?? null }) as ModelRow[];
  }

  /**
   * The providers (with the endpoint their jobs recorded) of models being deployed: what the poller visits
   * beside the providers of unfinished jobs, so a renamed provider's deployments are followed too.
   */
  deployingProviders(guildId?: string | undefined): ProviderRef[] {
    return prepared(
      this.db,
      `SELECT DISTINCT m.provider, j.provider_endpoint AS endpoint FROM models m
           LEFT JOIN jobs j ON j.id = m.job_id
         WHERE m.serving_status = 'deploying' AND (@guildId IS NULL OR m.guild_id = @guildId) ORDER BY m.provider`,
    ).all({ guildId: guildId ?? null }) as ProviderRef[];
  }

  /**
   * Moves a model's serving state on, only while it is still in one of `from` at `attempt` (a retry or another
   * process did not move it meanwhile). Returns whether it changed; the caller writes the notice in the same
   * transaction.
   */
  updateServing(
    guildId: string,
    name: string,
    expected: { from: readonly ServingStatus[]; attempt: number },
    to: ServingUpdate,
    now = new Date(),
  ): boolean {
    return (
      prepared(
        this.db,
        `UPDATE models SET serving_status = @status,
             served_as = CASE WHEN @setServedAs THEN @servedAs ELSE served_as END,
             serving_error = CASE WHEN @setError THEN @error ELSE serving_error END,
             serving_updated_at = @at
           WHERE guild_id = @guildId AND name = @name AND deploy_attempt = @attempt
             AND serving_status IN (SELECT value FROM json_each(@from))`,
      ).run({
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
      }).changes === 1
    );
  }

  /**
   * Starts deploy attempt `next.attempt` under its own name, only if the model is still at `previousAttempt`:
   * two retries at once start one attempt. Returns whether this call started it.
   */
  startDeployAttempt(
    guildId: string,
    name: string,
    previousAttempt: number,
    next: { attempt: number; deploymentName: string; status: "deploying" | "manual"; error: string | null },
    now = new Date(),
  ): boolean {
    return (
      prepared(
        this.db,
        `UPDATE models SET serving_status = @status, deploy_attempt = @attempt, deployment_name = @deploymentName,
             served_as = NULL, serving_error = @error, serving_updated_at = @at
           WHERE guild_id = @guildId AND name = @name AND deploy_attempt = @previousAttempt`,
      ).run({ guildId, name, previousAttempt, ...next, at: now.toISOString() }).changes === 1
    );
  }

  /** A guild's trained model not ready yet whose current deployment is called `deploymentName` at `provider`. */
  awaitingDeployment(guildId: string, provider: string, deploymentName: string): ModelRow | undefined {
    return prepared(
      this.db,
      `SELECT ${COLUMNS} FROM models WHERE guild_id = ? AND provider = ? AND deployment_name = ?
           AND serving_status <> 'ready' AND job_id IS NOT NULL ORDER BY id LIMIT 1`,
    ).get(guildId, provider, deploymentName) as ModelRow | undefined;
  }

  /**
   * Whether the name is, or derives from, a name the provider gave another guild's job: its fine-tuned model
   * (and the names it is served and deployed under) and that model's checkpoints (`<model>:ckpt-step-N`) or any other `<model><separator>…`, its remote job
   * id, its training file; compared as modelIdKey (case, whitespace and look-alike forms do not matter). The
   * one query that looks across guilds, the one home of this decision: `/model add` refuses such a name, and
   * routing (`/model use`, `/classroom setup`, `/ask model:`) treats it as not found, also when registered.
   */
  trainedByAnotherGuild(guildId: string, name: string): boolean {
    const keys = JSON.stringify(derivationKeys(name));
    // Stored names are the provider's ASCII ids, so SQLite's ASCII lower() gives them their modelIdKey.
    return (
      prepared(
        this.db,
        `WITH k(key) AS (SELECT value FROM json_each(@keys))
           SELECT 1 FROM jobs WHERE guild_id <> @guildId AND (lower(fine_tuned_model) IN k
             OR lower(remote_id) IN k OR lower(training_file_id) IN k)
           UNION ALL SELECT 1 FROM models WHERE guild_id <> @guildId AND job_id IS NOT NULL
             AND (lower(name) IN k OR lower(served_as) IN k OR lower(deployment_name) IN k)
           LIMIT 1`,
      ).get({ guildId, keys }) !== undefined
    );
  }

  setLabel(guildId: string, name: string, label: string | null): boolean {
    return (
      prepared(this.db, "UPDATE models SET label = ? WHERE guild_id = ? AND name = ?").run(
        label,
        guildId,
        name,
      ).changes === 1
    );
  }

  setShutdownDate(guildId: string, name: string, shutdownDate: string | null): boolean {
    return (
      prepared(this.db, "UPDATE models SET shutdown_date = ? WHERE guild_id = ? AND name = ?").run(
        shutdownDate,
        guildId,
        name,
      ).changes === 1
    );
  }

  remove(guildId: string, name: string): boolean {
    return (
      prepared(this.db, "DELETE FROM models WHERE guild_id = ? AND name = ?").run(guildId, name).changes === 1
    );
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
