// Which tables hold whose data, written down once: the registry below is what /privacy show reads, what
// /privacy delete deletes or anonymises, what the retention sweep purges and what a server's departure deletes.
// test/db/privacy.test.ts reads every table and column from sqlite_master and fails when a table is missing here,
// or a column whose name matches USER_ID_COLUMN is not listed in its table's `users`: a new table cannot be forgotten.
import type { Db } from "./open.ts";
import { prepared } from "./statements.ts";

/** The naming rule: a column whose name matches this may hold a Discord user id. */
export const USER_ID_COLUMN = /user|requester|uploader|author|student|asker|_by$/i;

/** What /privacy show writes instead of another person's id in a row that is also the caller's. */
export const SOMEONE_ELSE = "someone else";

/** What an anonymised user id becomes (the column stays non-null; nothing links the row to a person). */
export const ANONYMOUS_USER = "deleted";

/** What `/privacy delete` does with the rows where this column is the caller. */
export type UserColumnAction =
  /** The row is the person's own (their question, their vote): it is deleted. */
  | { action: "delete" }
  /** The row is someone else's material or an aggregate input (usage, a teacher's dataset): the id is removed. */
  | { action: "anonymise" }
  /** Kept, and the person is told so; `until` says what removes it. */
  | { action: "keep"; until: string };

export interface TableSpec {
  table: string;
  /** What a person or a teacher calls this kind of data (/privacy show's counts). */
  kind: string;
  /** The server column: every row belongs to one server. Null: rows go with their parent (foreign key cascade). */
  guild: string | null;
  /** Every column that holds a user id, and what /privacy delete does with it. */
  users: Record<string, UserColumnAction>;
  /** JSON or free-text columns that may mention a user id: each mention is replaced by ANONYMOUS_USER. */
  scrub?: string[];
  /** Rows that mention the person (in a `scrub` column) and match this SQL condition are deleted, not scrubbed. */
  deleteIfMentioned?: string;
  /** Student activity purged past DATA_RETENTION_DAYS: rows whose `column` is before the cut-off (and `where`). */
  retention?: { column: string; where?: string };
}

/**
 * Every table of the application database. The order is the deletion order of a server's data (a row before
 * the rows it references). Retention covers every entry with `retention`: a table added later (moderation
 * verdicts, say) is purged once it is listed here, and the schema test makes listing it unavoidable.
 */
export const PRIVACY_TABLES: readonly TableSpec[] = [
  {
    table: "answer_votes",
    kind: "votes",
    guild: "guild_id",
    users: { user_id: { action: "delete" } },
    retention: { column: "created_at" },
  },
  {
    table: "dataset_exports",
    kind: "answers exported into a teacher's dataset",
    guild: "guild_id",
    users: {
      student_id: {
        action: "keep",
        until: "a teacher runs /dataset remove-student (or the dataset is deleted)",
      },
      exported_by: { action: "anonymise" },
    },
  },
  {
    table: "moderation_verdicts",
    kind: "moderation checks of your questions and answers",
    guild: "guild_id",
    // A flagged question's text is kept here for the teachers' review (flagged_text): it goes with the row.
    users: { user_id: { action: "delete" }, reviewed_by: { action: "anonymise" } },
    retention: { column: "created_at" },
  },
  {
    table: "answers",
    kind: "questions and answers",
    guild: "guild_id",
    users: { user_id: { action: "delete" }, corrected_by: { action: "anonymise" } },
    retention: { column: "created_at" },
  },
  {
    table: "ask_usage",
    kind: "usage records",
    guild: "guild_id",
    users: { user_id: { action: "anonymise" } },
    // Folded into usage_daily first (PrivacyRepository.foldUsage), in the same transaction.
    retention: { column: "created_at" },
  },
  { table: "usage_daily", kind: "anonymous daily usage", guild: "guild_id", users: {} },
  { table: "usage_daily_errors", kind: "anonymous daily usage errors", guild: "guild_id", users: {} },
  {
    table: "outbox",
    kind: "notices",
    guild: "guild_id",
    users: {},
    scrub: ["payload"],
    // A moderation alert carries the student's question and the answer: it goes. One posted lives on in the
    // teachers' channel; one that could not be posted yet (no notice channel) would otherwise keep the text.
    deleteIfMentioned: "kind = 'moderation_flagged'",
    // A notice lives on in Discord once posted; the row only lets classtune post it once and edit it.
    retention: { column: "created_at" },
  },
  { table: "job_metrics", kind: "training loss points", guild: null, users: {} },
  { table: "models", kind: "models", guild: "guild_id", users: {} },
  {
    table: "hosting_sessions",
    kind: "hosting sessions started or stopped",
    guild: "guild_id",
    users: { started_by: { action: "anonymise" }, stopped_by: { action: "anonymise" } },
  },
  { table: "job_intents", kind: "job creates in flight", guild: "guild_id", users: {}, scrub: ["input"] },
  {
    table: "jobs",
    kind: "fine-tuning jobs requested",
    guild: "guild_id",
    users: { requester_id: { action: "anonymise" } },
  },
  {
    table: "datasets",
    kind: "datasets uploaded or exported",
    guild: "guild_id",
    users: { uploader_id: { action: "anonymise" } },
  },
  {
    table: "channel_settings",
    kind: "channel settings changed",
    guild: "guild_id",
    users: { updated_by: { action: "anonymise" } },
  },
  { table: "guild_settings", kind: "server settings", guild: "guild_id", users: {} },
  { table: "guild_departures", kind: "scheduled server deletion", guild: "guild_id", users: {} },
];

/** Tables that belong to no server and hold no one's data. */
export const GLOBAL_TABLES: readonly string[] = ["schema_migrations", "privacy_sweeps", "leader_lease"];

/**
 * The embedded sandbox's own tables (src/sandbox/migrations) share the database file but are the fine-tuning
 * provider's side: what a real provider would hold remotely (training files it received, its jobs). classtune's
 * deletions do not reach into a provider's store, the sandbox's included.
 */
export const PROVIDER_TABLE = /^sandbox_/;

export interface TableColumns {
  table: string;
  columns: string[];
}

/** Every table of the database and its columns, from sqlite_master (SQLite's own tables left out). */
export function schemaTables(db: Db): TableColumns[] {
  const tables = prepared(
    db,
    `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`,
  ).all() as { name: string }[];
  return tables.map(({ name }) => ({
    table: name,
    columns: (prepared(db, `SELECT name FROM pragma_table_info(?)`).all(name) as { name: string }[]).map(
      (c) => c.name,
    ),
  }));
}

/**
 * What PRIVACY_TABLES fails to cover in this database's schema: a table in neither list, a column named like a user
 * id (USER_ID_COLUMN) not in its table's `users`, a guild_id column not named as the table's `guild`, or a listed
 * column that does not exist. Empty when the registry is complete (test/db/privacy.test.ts).
 */
export function privacyCoverageProblems(db: Db): string[] {
  const problems: string[] = [];
  const specs = new Map(PRIVACY_TABLES.map((s) => [s.table, s]));
  for (const { table, columns } of schemaTables(db)) {
    if (GLOBAL_TABLES.includes(table) || PROVIDER_TABLE.test(table)) continue;
    const spec = specs.get(table);
    if (!spec) {
      problems.push(`table ${table} is not listed in PRIVACY_TABLES (src/db/privacy.ts)`);
      continue;
    }
    for (const c of columns) {
      if (USER_ID_COLUMN.test(c) && !(c in spec.users)) {
        problems.push(`${table}.${c} looks like a user id but is not in its PRIVACY_TABLES entry's users`);
      }
    }
    if (columns.includes("guild_id") && spec.guild !== "guild_id") {
      problems.push(`${table}.guild_id is not the entry's guild column`);
    }
    const listed = [
      ...Object.keys(spec.users),
      ...(spec.scrub ?? []),
      ...(spec.guild ? [spec.guild] : []),
      ...(spec.retention ? [spec.retention.column] : []),
    ];
    for (const c of listed)
      if (!columns.includes(c)) problems.push(`${table}.${c} is listed but does not exist`);
  }
  return problems;
}

const quote = (id: string) => `"${id.replaceAll('"', '""')}"`;
const DAY_MS = 86_400_000;

/** Replaces every mention of `userId` as a whole word (never inside a longer id) by ANONYMOUS_USER. */
export function scrubUserId(text: string, userId: string): string {
  if (userId === "") return text;
  const escaped = userId.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return text.replace(new RegExp(`(?<![\\w])${escaped}(?![\\w])`, "g"), ANONYMOUS_USER);
}

export interface PersonalRows {
  table: string;
  kind: string;
  column: string;
  action: UserColumnAction["action"];
  rows: Record<string, unknown>[];
}

export interface ExportedByStudent {
  datasetId: number;
  fileName: string;
  exportedBy: string;
  lines: number;
}

export interface RetentionCounts {
  /** Rows deleted per table. */
  deleted: Record<string, number>;
  /** ask_usage rows folded into the anonymous daily aggregates. */
  folded: number;
}

export interface GuildPurgeCounts {
  deleted: Record<string, number>;
  /** Stored dataset files that no remaining row refers to (the caller deletes them). */
  orphanFiles: string[];
}

/** The SQL of privacy: reads and deletes driven by PRIVACY_TABLES. */
export class PrivacyRepository {
  constructor(private readonly db: Db) {}

  private existing(): Map<string, Set<string>> {
    return new Map(schemaTables(this.db).map((t) => [t.table, new Set(t.columns)]));
  }

  /** The listed tables that exist in this database (a table of a later migration may not yet). */
  private specs(): TableSpec[] {
    const tables = this.existing();
    return PRIVACY_TABLES.filter((s) => tables.has(s.table));
  }

  /** Every row of the person's in this server, per table and user column (what /privacy show attaches). */
  personalRows(guildId: string, userId: string): PersonalRows[] {
    const out: PersonalRows[] = [];
    for (const spec of this.specs()) {
      if (spec.guild === null) continue;
      for (const [column, how] of Object.entries(spec.users)) {
        const rows = (
          prepared(
            this.db,
            `SELECT * FROM ${quote(spec.table)} WHERE ${quote(spec.guild)} = ? AND ${quote(column)} = ? LIMIT 100000`,
          ).all(guildId, userId) as Record<string, unknown>[]
        ).map((row) => {
          // A row found by another column (an answer the caller corrected) names someone else: not theirs to see.
          for (const other of Object.keys(spec.users)) {
            if (row[other] !== userId && row[other] !== ANONYMOUS_USER && row[other] != null) {
              row[other] = SOMEONE_ELSE;
            }
          }
          return row;
        });
        if (rows.length > 0)
          out.push({ table: spec.table, kind: spec.kind, column, action: how.action, rows });
      }
    }
    return out;
  }

  /** The person's most recent questions in this server, newest first. */
  lastQuestions(guildId: string, userId: string, limit: number): { question: string; createdAt: string }[] {
    return prepared(
      this.db,
      `SELECT question, created_at AS createdAt FROM answers WHERE guild_id = ? AND user_id = ?
         ORDER BY created_at DESC, id DESC LIMIT ?`,
    ).all(guildId, userId, limit) as { question: string; createdAt: string }[];
  }

  /** Every question the person asked in this server (their cached answers are forgotten by these). */
  questions(guildId: string, userId: string): string[] {
    return (
      prepared(this.db, `SELECT question FROM answers WHERE guild_id = ? AND user_id = ?`).all(
        guildId,
        userId,
      ) as {
        question: string;
      }[]
    ).map((r) => r.question);
  }

  /** The teachers' datasets holding the student's exported answers, and who exported them. */
  exportedAnswers(guildId: string, studentId: string): ExportedByStudent[] {
    return prepared(
      this.db,
      `SELECT e.dataset_id AS datasetId, d.file_name AS fileName, e.exported_by AS exportedBy, COUNT(*) AS lines
         FROM dataset_exports e JOIN datasets d ON d.id = e.dataset_id
         WHERE e.guild_id = ? AND e.student_id = ? GROUP BY e.dataset_id, e.exported_by ORDER BY e.dataset_id`,
    ).all(guildId, studentId) as ExportedByStudent[];
  }

  /**
   * /privacy delete, in one transaction: per PRIVACY_TABLES, the person's own rows are deleted, their id is
   * removed from others' rows and from notices, and the rows marked "keep" stay. Returns rows touched per table.
   */
  deletePerson(guildId: string, userId: string): Record<string, number> {
    const touched: Record<string, number> = {};
    const add = (table: string, n: number) => {
      if (n > 0) touched[table] = (touched[table] ?? 0) + n;
    };
    this.db.transaction(() => {
      for (const spec of this.specs()) {
        if (spec.guild === null) continue;
        const g = quote(spec.guild);
        const t = quote(spec.table);
        for (const [column, how] of Object.entries(spec.users)) {
          const c = quote(column);
          if (how.action === "delete") {
            // Counted before: rows a foreign key cascade deletes with them (a follow-up with its question, the
            // person's own) are not in a DELETE's `changes`.
            const n = prepared(this.db, `SELECT COUNT(*) AS n FROM ${t} WHERE ${g} = ? AND ${c} = ?`).get(
              guildId,
              userId,
            ) as { n: number };
            prepared(this.db, `DELETE FROM ${t} WHERE ${g} = ? AND ${c} = ?`).run(guildId, userId);
            add(spec.table, n.n);
          } else if (how.action === "anonymise") {
            add(
              spec.table,
              prepared(this.db, `UPDATE ${t} SET ${c} = ? WHERE ${g} = ? AND ${c} = ?`).run(
                ANONYMOUS_USER,
                guildId,
                userId,
              ).changes,
            );
          }
        }
        for (const column of spec.scrub ?? []) {
          const c = quote(column);
          const doomed = spec.deleteIfMentioned ?? "0";
          const rows = prepared(
            this.db,
            `SELECT rowid AS r, ${c} AS v, (${doomed}) AS doomed FROM ${t} WHERE ${g} = ? AND instr(${c}, ?) > 0`,
          ).all(guildId, userId) as { r: number; v: string; doomed: number }[];
          const update = prepared(this.db, `UPDATE ${t} SET ${c} = ? WHERE rowid = ?`);
          const remove = prepared(this.db, `DELETE FROM ${t} WHERE rowid = ?`);
          for (const row of rows) {
            const scrubbed = scrubUserId(row.v, userId);
            if (scrubbed === row.v) continue;
            add(spec.table, (row.doomed ? remove.run(row.r) : update.run(scrubbed, row.r)).changes);
          }
        }
      }
    })();
    return touched;
  }

  /**
   * Folds ask_usage rows created before `beforeIso` into the anonymous daily aggregates and deletes them, in one
   * transaction with the caller's purge. Additive: a day folded in two sweeps adds up.
   */
  private foldUsage(beforeIso: string): number {
    prepared(
      this.db,
      `INSERT INTO usage_daily (guild_id, day, model, provider, questions, errors, cache_hits, prompt_tokens,
           completion_tokens, cost_usd, truncated)
         SELECT guild_id, substr(created_at, 1, 10), model, provider, COUNT(*), COUNT(error),
           SUM(CASE WHEN error IS NULL AND cache_hit = 1 THEN 1 ELSE 0 END), SUM(prompt_tokens),
           SUM(completion_tokens), SUM(cost_usd), SUM(truncated)
         FROM ask_usage WHERE created_at < ? GROUP BY guild_id, substr(created_at, 1, 10), model, provider
         ON CONFLICT (guild_id, day, model, provider) DO UPDATE SET questions = questions + excluded.questions,
           errors = errors + excluded.errors, cache_hits = cache_hits + excluded.cache_hits,
           prompt_tokens = prompt_tokens + excluded.prompt_tokens,
           completion_tokens = completion_tokens + excluded.completion_tokens, cost_usd = cost_usd + excluded.cost_usd,
           truncated = truncated + excluded.truncated`,
    ).run(beforeIso);
    prepared(
      this.db,
      `INSERT INTO usage_daily_errors (guild_id, day, code, count)
         SELECT guild_id, substr(created_at, 1, 10), error, COUNT(*) FROM ask_usage
         WHERE created_at < ? AND error IS NOT NULL GROUP BY guild_id, substr(created_at, 1, 10), error
         ON CONFLICT (guild_id, day, code) DO UPDATE SET count = count + excluded.count`,
    ).run(beforeIso);
    return (
      prepared(this.db, `SELECT COUNT(*) AS n FROM ask_usage WHERE created_at < ?`).get(beforeIso) as {
        n: number;
      }
    ).n;
  }

  /** Deletes the student activity (PRIVACY_TABLES' `retention`) from before `beforeIso`, usage folded first. */
  purgeBefore(beforeIso: string): RetentionCounts {
    return this.db.transaction(() => {
      const folded = this.foldUsage(beforeIso);
      const deleted: Record<string, number> = {};
      for (const spec of this.specs()) {
        if (!spec.retention) continue;
        const where = spec.retention.where ? ` AND (${spec.retention.where})` : "";
        const n = prepared(
          this.db,
          `DELETE FROM ${quote(spec.table)} WHERE ${quote(spec.retention.column)} < ?${where}`,
        ).run(beforeIso).changes;
        if (n > 0) deleted[spec.table] = n;
      }
      return { deleted, folded };
    })();
  }

  /** Why a server's data cannot be deleted yet (billed hosting running, a job training), or undefined. */
  guildBusy(guildId: string): string | undefined {
    const hosting = prepared(
      this.db,
      `SELECT COUNT(*) AS n FROM hosting_sessions WHERE guild_id = ? AND stopped_at IS NULL`,
    ).get(guildId) as { n: number };
    if (hosting.n > 0) return `${hosting.n} billed hosting session(s) still running`;
    const jobs = prepared(
      this.db,
      `SELECT COUNT(*) AS n FROM jobs WHERE guild_id = ? AND status NOT IN ('succeeded', 'failed', 'cancelled')`,
    ).get(guildId) as { n: number };
    const intents = prepared(this.db, `SELECT COUNT(*) AS n FROM job_intents WHERE guild_id = ?`).get(
      guildId,
    ) as {
      n: number;
    };
    if (jobs.n + intents.n > 0) return `${jobs.n + intents.n} fine-tuning job(s) still active`;
    return undefined;
  }

  /**
   * Deletes every row of the server, in PRIVACY_TABLES' order; then any other table with a guild_id column (a
   * table not yet listed is never left behind). Returns the dataset files nothing refers to any more.
   */
  deleteGuild(guildId: string): GuildPurgeCounts {
    return this.db.transaction(() => {
      const files = prepared(
        this.db,
        `SELECT stored_path AS s, cleaned_path AS c FROM datasets WHERE guild_id = ?`,
      ).all(guildId) as { s: string; c: string | null }[];
      const deleted: Record<string, number> = {};
      const done = new Set<string>();
      for (const spec of this.specs()) {
        done.add(spec.table);
        if (spec.guild === null) continue;
        const n = prepared(this.db, `DELETE FROM ${quote(spec.table)} WHERE ${quote(spec.guild)} = ?`).run(
          guildId,
        ).changes;
        if (n > 0) deleted[spec.table] = n;
      }
      for (const t of schemaTables(this.db)) {
        if (done.has(t.table) || !t.columns.includes("guild_id")) continue;
        const n = prepared(this.db, `DELETE FROM ${quote(t.table)} WHERE guild_id = ?`).run(guildId).changes;
        if (n > 0) deleted[t.table] = n;
      }
      const candidates = [...new Set(files.flatMap((f) => (f.c ? [f.s, f.c] : [f.s])))];
      return { deleted, orphanFiles: candidates.filter((p) => !this.fileInUse(p)) };
    })();
  }

  /** Whether any dataset row (of any server: files are content-addressed) still refers to this file. */
  fileInUse(path: string): boolean {
    return (
      prepared(this.db, `SELECT 1 FROM datasets WHERE stored_path = ? OR cleaned_path = ? LIMIT 1`).get(
        path,
        path,
      ) !== undefined
    );
  }

  /** Records a server's departure: its data is deleted once `deleteAfter` has passed. */
  scheduleGuildDeletion(guildId: string, leftAt: Date, deleteAfter: Date): void {
    prepared(
      this.db,
      `INSERT INTO guild_departures (guild_id, left_at, delete_after) VALUES (?, ?, ?)
         ON CONFLICT (guild_id) DO UPDATE SET left_at = excluded.left_at, delete_after = excluded.delete_after`,
    ).run(guildId, leftAt.toISOString(), deleteAfter.toISOString());
  }

  /** Cancels a scheduled deletion (the bot was invited back); false when none was scheduled. */
  cancelGuildDeletion(guildId: string): boolean {
    return prepared(this.db, `DELETE FROM guild_departures WHERE guild_id = ?`).run(guildId).changes > 0;
  }

  scheduledDeletion(guildId: string): { leftAt: string; deleteAfter: string } | undefined {
    return prepared(
      this.db,
      `SELECT left_at AS leftAt, delete_after AS deleteAfter FROM guild_departures WHERE guild_id = ?`,
    ).get(guildId) as { leftAt: string; deleteAfter: string } | undefined;
  }

  /** Every server id that has a row in any listed table. */
  guildsWithData(): string[] {
    const ids = new Set<string>();
    for (const spec of this.specs()) {
      if (spec.guild === null || spec.table === "guild_departures") continue;
      for (const r of prepared(
        this.db,
        `SELECT DISTINCT ${quote(spec.guild)} AS g FROM ${quote(spec.table)}`,
      ).all() as { g: string }[]) {
        ids.add(r.g);
      }
    }
    return [...ids].sort();
  }

  /** Servers whose grace period has passed. */
  dueGuildDeletions(now: Date): string[] {
    return (
      prepared(
        this.db,
        `SELECT guild_id AS g FROM guild_departures WHERE delete_after <= ? ORDER BY delete_after`,
      ).all(now.toISOString()) as { g: string }[]
    ).map((r) => r.g);
  }

  /**
   * Datasets created before `beforeIso` that may go (DATASET_RETENTION_DAYS): no active job trains on them and no
   * registered model came from a job trained on them. Their finished jobs go with them.
   */
  expiredDatasets(beforeIso: string): { id: number; guildId: string }[] {
    return prepared(
      this.db,
      `SELECT d.id, d.guild_id AS guildId FROM datasets d WHERE d.created_at < ?
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.dataset_id = d.id
             AND (j.status NOT IN ('succeeded', 'failed', 'cancelled')
               OR EXISTS (SELECT 1 FROM models m WHERE m.job_id = j.id)))
         ORDER BY d.id`,
    ).all(beforeIso) as { id: number; guildId: string }[];
  }

  /** Deletes a dataset and its finished jobs (their loss points cascade); returns its files nothing else uses. */
  deleteDataset(id: number): string[] {
    return this.db.transaction(() => {
      const row = prepared(
        this.db,
        `SELECT stored_path AS s, cleaned_path AS c FROM datasets WHERE id = ?`,
      ).get(id) as { s: string; c: string | null } | undefined;
      if (!row) return [];
      prepared(this.db, `DELETE FROM jobs WHERE dataset_id = ?`).run(id);
      prepared(this.db, `DELETE FROM datasets WHERE id = ?`).run(id);
      return (row.c ? [row.s, row.c] : [row.s]).filter((p) => !this.fileInUse(p));
    })();
  }

  /**
   * Takes these questions out of the held-out test questions of the dataset's jobs (drawn from its lines when the
   * job started): a student's removed answers do not live on there. Returns how many went.
   */
  forgetTestQuestions(guildId: string, datasetId: number, questions: Set<string>): number {
    const jobs = prepared(
      this.db,
      `SELECT id, test_questions AS t FROM jobs WHERE guild_id = ? AND dataset_id = ?`,
    ).all(guildId, datasetId) as { id: number; t: string }[];
    let n = 0;
    for (const job of jobs) {
      const held = JSON.parse(job.t) as { question: string }[];
      const kept = held.filter((q) => !questions.has(q.question));
      if (kept.length === held.length) continue;
      n += held.length - kept.length;
      prepared(this.db, `UPDATE jobs SET test_questions = ? WHERE id = ?`).run(JSON.stringify(kept), job.id);
    }
    return n;
  }

  /** When the named sweep last ran, or undefined. */
  lastRun(name: string): Date | undefined {
    const r = prepared(this.db, `SELECT last_run_at AS at FROM privacy_sweeps WHERE name = ?`).get(name) as
      | { at: string }
      | undefined;
    return r ? new Date(r.at) : undefined;
  }

  recordRun(name: string, at: Date, result: unknown): void {
    prepared(
      this.db,
      `INSERT INTO privacy_sweeps (name, last_run_at, last_result) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET last_run_at = excluded.last_run_at, last_result = excluded.last_result`,
    ).run(name, at.toISOString(), JSON.stringify(result));
  }
}

/** The first instant kept by a retention of `days` days: the start (UTC) of the day `days` days before today. */
export function retentionCutoff(now: Date, days: number): Date {
  return new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS - days * DAY_MS);
}
