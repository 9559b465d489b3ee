// Repository for the models table: the fine-tuned models a guild owns (registered when a job succeeds).
import type { Db } from "./open.ts";

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
}

export type NewModel = Omit<ModelRow, "id" | "createdAt" | "label" | "shutdownDate"> & {
  label?: string | null;
  shutdownDate?: string | null;
  createdAt?: string;
};

const COLUMNS = `id, guild_id AS guildId, name, provider, base_model AS baseModel, job_id AS jobId, label,
  created_at AS createdAt, shutdown_date AS shutdownDate`;

export class ModelRepository {
  constructor(private readonly db: Db) {}

  /** Registers a model for the guild; registering the same name again returns the existing row. */
  register(m: NewModel): ModelRow {
    this.db
      .prepare(
        `INSERT INTO models (guild_id, name, provider, base_model, job_id, label, created_at, shutdown_date)
         VALUES (@guildId, @name, @provider, @baseModel, @jobId, @label, @createdAt, @shutdownDate)
         ON CONFLICT (guild_id, name) DO NOTHING`,
      )
      .run({
        ...m,
        label: m.label ?? null,
        shutdownDate: m.shutdownDate ?? null,
        createdAt: m.createdAt ?? new Date().toISOString(),
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
    return this.db
      .prepare(
        `UPDATE models SET provider = @to WHERE provider = @from AND (@guildId IS NULL OR guild_id = @guildId)
           AND job_id IN (SELECT id FROM jobs WHERE provider = @to AND provider_endpoint = @endpoint)`,
      )
      .run({ from: r.from, to: r.to, endpoint: r.endpoint, guildId: r.guildId ?? null }).changes;
  }

  get(guildId: string, name: string): ModelRow | undefined {
    return this.db
      .prepare(`SELECT ${COLUMNS} FROM models WHERE guild_id = ? AND name = ?`)
      .get(guildId, name) as ModelRow | undefined;
  }

  list(guildId: string, limit = 100): ModelRow[] {
    return this.db
      .prepare(`SELECT ${COLUMNS} FROM models WHERE guild_id = ? ORDER BY id DESC LIMIT ?`)
      .all(guildId, limit) as ModelRow[];
  }

  /** For autocomplete: newest first, matching the name or label. */
  search(guildId: string, text: string, limit = 25): ModelRow[] {
    const like = `%${text.replace(/[%_\\]/g, (c) => `\\${c}`)}%`;
    return this.db
      .prepare(
        `SELECT ${COLUMNS} FROM models WHERE guild_id = ? AND (name LIKE ? ESCAPE '\\' OR IFNULL(label, '') LIKE ? ESCAPE '\\')
         ORDER BY id DESC LIMIT ?`,
      )
      .all(guildId, like, like, limit) as ModelRow[];
  }

  /**
   * Whether the name is, or derives from, a name the provider gave another guild's job: its fine-tuned model
   * and that model's checkpoints (`<model>:ckpt-step-N`) or any other `<model><separator>…`, its remote job
   * id, its training file; compared as modelIdKey (case, whitespace and look-alike forms do not matter). The
   * one query that looks across guilds, the one home of this decision: `/model add` refuses such a name, and
   * routing (`/model use`, `/classroom setup`, `/ask model:`) treats it as not found, also when registered.
   */
  trainedByAnotherGuild(guildId: string, name: string): boolean {
    const keys = JSON.stringify(derivationKeys(name));
    // Stored names are the provider's ASCII ids, so SQLite's ASCII lower() gives them their modelIdKey.
    return (
      this.db
        .prepare(
          `WITH k(key) AS (SELECT value FROM json_each(@keys))
           SELECT 1 FROM jobs WHERE guild_id <> @guildId AND (lower(fine_tuned_model) IN k
             OR lower(remote_id) IN k OR lower(training_file_id) IN k)
           UNION ALL SELECT 1 FROM models WHERE guild_id <> @guildId AND job_id IS NOT NULL AND lower(name) IN k
           LIMIT 1`,
        )
        .get({ guildId, keys }) !== undefined
    );
  }

  setLabel(guildId: string, name: string, label: string | null): boolean {
    return (
      this.db.prepare("UPDATE models SET label = ? WHERE guild_id = ? AND name = ?").run(label, guildId, name)
        .changes === 1
    );
  }

  setShutdownDate(guildId: string, name: string, shutdownDate: string | null): boolean {
    return (
      this.db
        .prepare("UPDATE models SET shutdown_date = ? WHERE guild_id = ? AND name = ?")
        .run(shutdownDate, guildId, name).changes === 1
    );
  }

  remove(guildId: string, name: string): boolean {
    return (
      this.db.prepare("DELETE FROM models WHERE guild_id = ? AND name = ?").run(guildId, name).changes === 1
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
