// Which tables hold whose data, written down once: the registry below is what /privacy show reads, what
// /privacy delete deletes or anonymises, what the retention sweep purges and what a server's departure deletes.
// test/db/privacy.test.ts reads every table and column from sqlite_master and fails when a table is missing here,
// or a column whose name matches USER_ID_COLUMN is not listed in its table's `users`: a new table cannot be forgotten.
//
// The repository runs on the query layer (either engine). The per-table statements are built from the registry
// (table and column names are identifiers from PRIVACY_TABLES or the schema, values are parameters); the fixed
// ones are compiled() once. schemaTables and privacyCoverageProblems stay synchronous on a SQLite connection:
// they read SQLite's own schema (sqlite_master), which the schema tests check the registry against.
import { sql } from "kysely";
import type { Db } from "./open.ts";
import { compiled, type Param } from "./query/compiled.ts";
import type { Queryable, Store } from "./query/store.ts";
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
  /** With `scrub`: the column that identifies a row (a scrubbed row is rewritten or deleted by it). */
  key?: string;
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
    key: "id",
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
  {
    table: "job_intents",
    kind: "job creates in flight",
    guild: "guild_id",
    users: {},
    scrub: ["input"],
    key: "tag",
  },
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
  return coverageProblems(schemaTables(db));
}

/** privacyCoverageProblems over a list of tables (storeTables' on PostgreSQL: its schema is the twin). */
export function coverageProblems(tables: readonly TableColumns[]): string[] {
  const problems: string[] = [];
  const specs = new Map(PRIVACY_TABLES.map((s) => [s.table, s]));
  for (const { table, columns } of tables) {
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
    if (spec.scrub && !spec.key) problems.push(`${table} has scrub columns but no key`);
    if (columns.includes("guild_id") && spec.guild !== "guild_id") {
      problems.push(`${table}.guild_id is not the entry's guild column`);
    }
    const listed = [
      ...Object.keys(spec.users),
      ...(spec.scrub ?? []),
      ...(spec.key ? [spec.key] : []),
      ...(spec.guild ? [spec.guild] : []),
      ...(spec.retention ? [spec.retention.column] : []),
    ];
    for (const c of listed)
      if (!columns.includes(c)) problems.push(`${table}.${c} is listed but does not exist`);
  }
  return problems;
}

const DAY_MS = 86_400_000;

/** Replaces every mention of `userId` as a whole word (never inside a longer id) by ANONYMOUS_USER. */
export function scrubUserId(text: string, userId: string): string {
  if (userId === "") return text;
  const escaped = userId.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return text.replace(new RegExp(`(?<![\\w])${escaped}(?![\\w])`, "g"), ANONYMOUS_USER);
}

/**
 * Every table of the store's database and its columns, on either engine: SQLite's sqlite_master (its own tables
 * left out), PostgreSQL's information_schema (the current schema). Tables by name (bytewise), columns in order.
 */
export async function storeTables(on: Queryable): Promise<TableColumns[]> {
  const { rows } =
    on.engine === "sqlite"
      ? await sql<{ t: string; c: string }>`SELECT m.name AS t, p.name AS c
          FROM sqlite_master m, pragma_table_info(m.name) p
          WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid`.execute(on.db)
      : await sql<{ t: string; c: string }>`SELECT table_name AS t, column_name AS c
          FROM information_schema.columns WHERE table_schema = current_schema()
          ORDER BY table_name COLLATE "C", ordinal_position`.execute(on.db);
  const tables: TableColumns[] = [];
  for (const { t, c } of rows) {
    const last = tables.at(-1);
    if (last?.table === t) last.columns.push(c);
    else tables.push({ table: t, columns: [c] });
  }
  return tables;
}

/** The listed tables that exist in this database (a table of a later migration may not yet). */
async function specsOf(on: Queryable): Promise<TableSpec[]> {
  const tables = new Set((await storeTables(on)).map((t) => t.table));
  return PRIVACY_TABLES.filter((s) => tables.has(s.table));
}

/** Rows an INSERT, UPDATE or DELETE of a `sql` statement changed. */
const changes = (r: { numAffectedRows?: bigint }) => Number(r.numAffectedRows ?? 0n);

const ENDED_JOB = ["succeeded", "failed", "cancelled"];

const lastQuestionsOf = compiled((db, p: Param<{ guildId: string; userId: string; limit: number }>) =>
  db
    .selectFrom("answers")
    .select(["question", "created_at as createdAt"])
    .where("guild_id", "=", p("guildId"))
    .where("user_id", "=", p("userId"))
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(p("limit")),
);

const questionsOf = compiled((db, p: Param<{ guildId: string; userId: string }>) =>
  db
    .selectFrom("answers")
    .select("question")
    .where("guild_id", "=", p("guildId"))
    .where("user_id", "=", p("userId")),
);

const exportedOf = compiled((db, p: Param<{ guildId: string; studentId: string }>) =>
  db
    .selectFrom("dataset_exports as e")
    .innerJoin("datasets as d", "d.id", "e.dataset_id")
    .select((eb) => [
      "e.dataset_id as datasetId",
      "d.file_name as fileName",
      "e.exported_by as exportedBy",
      eb.fn.countAll<number>().as("lines"),
    ])
    .where("e.guild_id", "=", p("guildId"))
    .where("e.student_id", "=", p("studentId"))
    // d.file_name follows from e.dataset_id; PostgreSQL wants it grouped by all the same.
    .groupBy(["e.dataset_id", "e.exported_by", "d.file_name"])
    .orderBy("e.dataset_id")
    .orderBy("e.exported_by"),
);

const DAY_OF = sql<string>`substr(created_at, 1, 10)`;

/** ask_usage before `before` added into usage_daily (additive: a day folded twice adds up). */
const foldDaily = compiled((db, p: Param<{ before: string }>) =>
  db
    .insertInto("usage_daily")
    .columns([
      "guild_id",
      "day",
      "model",
      "provider",
      "questions",
      "errors",
      "cache_hits",
      "prompt_tokens",
      "completion_tokens",
      "cost_usd",
      "truncated",
    ])
    .expression((eb) =>
      eb
        .selectFrom("ask_usage")
        .select([
          "guild_id",
          DAY_OF.as("day"),
          "model",
          "provider",
          sql<number>`COUNT(*)`.as("questions"),
          sql<number>`COUNT(error)`.as("errors"),
          sql<number>`SUM(CASE WHEN error IS NULL AND cache_hit = 1 THEN 1 ELSE 0 END)`.as("cache_hits"),
          sql<number>`SUM(prompt_tokens)`.as("prompt_tokens"),
          sql<number>`SUM(completion_tokens)`.as("completion_tokens"),
          sql<number>`SUM(cost_usd)`.as("cost_usd"),
          sql<number>`SUM(truncated)`.as("truncated"),
        ])
        .where("created_at", "<", p("before"))
        .groupBy(["guild_id", DAY_OF, "model", "provider"]),
    )
    .onConflict((oc) =>
      oc.columns(["guild_id", "day", "model", "provider"]).doUpdateSet({
        questions: sql`usage_daily.questions + excluded.questions`,
        errors: sql`usage_daily.errors + excluded.errors`,
        cache_hits: sql`usage_daily.cache_hits + excluded.cache_hits`,
        prompt_tokens: sql`usage_daily.prompt_tokens + excluded.prompt_tokens`,
        completion_tokens: sql`usage_daily.completion_tokens + excluded.completion_tokens`,
        cost_usd: sql`usage_daily.cost_usd + excluded.cost_usd`,
        truncated: sql`usage_daily.truncated + excluded.truncated`,
      }),
    ),
);

const foldErrors = compiled((db, p: Param<{ before: string }>) =>
  db
    .insertInto("usage_daily_errors")
    .columns(["guild_id", "day", "code", "count"])
    .expression((eb) =>
      eb
        .selectFrom("ask_usage")
        .select([
          "guild_id",
          DAY_OF.as("day"),
          sql<string>`error`.as("code"),
          sql<number>`COUNT(*)`.as("count"),
        ])
        .where("created_at", "<", p("before"))
        .where("error", "is not", null)
        .groupBy(["guild_id", DAY_OF, "error"]),
    )
    .onConflict((oc) =>
      oc
        .columns(["guild_id", "day", "code"])
        .doUpdateSet({ count: sql`usage_daily_errors.count + excluded.count` }),
    ),
);

const usageBefore = compiled((db, p: Param<{ before: string }>) =>
  db
    .selectFrom("ask_usage")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("created_at", "<", p("before")),
);

const runningHosting = compiled((db, p: Param<{ guildId: string }>) =>
  db
    .selectFrom("hosting_sessions")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("guild_id", "=", p("guildId"))
    .where("stopped_at", "is", null),
);

const activeJobs = compiled((db, p: Param<{ guildId: string }>) =>
  db
    .selectFrom("jobs")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("guild_id", "=", p("guildId"))
    .where("status", "not in", ENDED_JOB),
);

const intentsOf = compiled((db, p: Param<{ guildId: string }>) =>
  db
    .selectFrom("job_intents")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("guild_id", "=", p("guildId")),
);

const guildFiles = compiled((db, p: Param<{ guildId: string }>) =>
  db
    .selectFrom("datasets")
    .select(["stored_path as s", "cleaned_path as c"])
    .where("guild_id", "=", p("guildId")),
);

const datasetFiles = compiled((db, p: Param<{ id: number }>) =>
  db.selectFrom("datasets").select(["stored_path as s", "cleaned_path as c"]).where("id", "=", p("id")),
);

const fileUse = compiled((db, p: Param<{ path: string }>) =>
  db
    .selectFrom("datasets")
    .select(sql<number>`1`.as("one"))
    .where((eb) => eb.or([eb("stored_path", "=", p("path")), eb("cleaned_path", "=", p("path"))]))
    .limit(1),
);

const deleteJobsOf = compiled((db, p: Param<{ id: number }>) =>
  db.deleteFrom("jobs").where("dataset_id", "=", p("id")),
);

const deleteDatasetRow = compiled((db, p: Param<{ id: number }>) =>
  db.deleteFrom("datasets").where("id", "=", p("id")),
);

const scheduleDeparture = compiled((db, p: Param<{ guildId: string; leftAt: string; deleteAfter: string }>) =>
  db
    .insertInto("guild_departures")
    .values({ guild_id: p("guildId"), left_at: p("leftAt"), delete_after: p("deleteAfter") })
    .onConflict((oc) =>
      oc.column("guild_id").doUpdateSet((eb) => ({
        left_at: eb.ref("excluded.left_at"),
        delete_after: eb.ref("excluded.delete_after"),
      })),
    ),
);

const cancelDeparture = compiled((db, p: Param<{ guildId: string }>) =>
  db.deleteFrom("guild_departures").where("guild_id", "=", p("guildId")),
);

const departureOf = compiled((db, p: Param<{ guildId: string }>) =>
  db
    .selectFrom("guild_departures")
    .select(["left_at as leftAt", "delete_after as deleteAfter"])
    .where("guild_id", "=", p("guildId")),
);

const dueDepartures = compiled((db, p: Param<{ now: string }>) =>
  db
    .selectFrom("guild_departures")
    .select("guild_id as g")
    .where("delete_after", "<=", p("now"))
    .orderBy("delete_after"),
);

const expired = compiled((db, p: Param<{ before: string }>) =>
  db
    .selectFrom("datasets as d")
    .select(["d.id", "d.guild_id as guildId"])
    .where("d.created_at", "<", p("before"))
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom("jobs as j")
            .select(sql<number>`1`.as("one"))
            .whereRef("j.dataset_id", "=", "d.id")
            .where((j) =>
              j.or([
                j("j.status", "not in", ENDED_JOB),
                j.exists(
                  j
                    .selectFrom("models as m")
                    .select(sql<number>`1`.as("one"))
                    .whereRef("m.job_id", "=", "j.id"),
                ),
              ]),
            ),
        ),
      ),
    )
    .orderBy("d.id"),
);

const testQuestionsOf = compiled((db, p: Param<{ guildId: string; datasetId: number }>) =>
  db
    .selectFrom("jobs")
    .select(["id", "test_questions as t"])
    .where("guild_id", "=", p("guildId"))
    .where("dataset_id", "=", p("datasetId")),
);

const setTestQuestions = compiled((db, p: Param<{ id: number; t: string }>) =>
  db
    .updateTable("jobs")
    .set({ test_questions: p("t") })
    .where("id", "=", p("id")),
);

const sweepRun = compiled((db, p: Param<{ name: string }>) =>
  db.selectFrom("privacy_sweeps").select("last_run_at as at").where("name", "=", p("name")),
);

const recordSweep = compiled((db, p: Param<{ name: string; at: string; result: string }>) =>
  db
    .insertInto("privacy_sweeps")
    .values({ name: p("name"), last_run_at: p("at"), last_result: p("result") })
    .onConflict((oc) =>
      oc.column("name").doUpdateSet((eb) => ({
        last_run_at: eb.ref("excluded.last_run_at"),
        last_result: eb.ref("excluded.last_result"),
      })),
    ),
);

/** Whether any dataset row (of any server: files are content-addressed) still refers to this file. */
async function fileInUseOn(on: Queryable, path: string): Promise<boolean> {
  return (await fileUse.executeTakeFirst(on, { path })) !== undefined;
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
  constructor(private readonly store: Store) {}

  /** Every row of the person's in this server, per table and user column (what /privacy show attaches). */
  async personalRows(guildId: string, userId: string): Promise<PersonalRows[]> {
    const out: PersonalRows[] = [];
    for (const spec of await specsOf(this.store)) {
      if (spec.guild === null) continue;
      for (const [column, how] of Object.entries(spec.users)) {
        const found = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(spec.table)}
          WHERE ${sql.ref(spec.guild)} = ${guildId} AND ${sql.ref(column)} = ${userId} LIMIT 100000`.execute(
          this.store.db,
        );
        const rows = found.rows.map((row) => {
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
  async lastQuestions(
    guildId: string,
    userId: string,
    limit: number,
  ): Promise<{ question: string; createdAt: string }[]> {
    return lastQuestionsOf.execute(this.store, { guildId, userId, limit });
  }

  /** Every question the person asked in this server (their cached answers are forgotten by these). */
  async questions(guildId: string, userId: string): Promise<string[]> {
    return (await questionsOf.execute(this.store, { guildId, userId })).map((r) => r.question);
  }

  /** The teachers' datasets holding the student's exported answers, and who exported them. */
  async exportedAnswers(guildId: string, studentId: string): Promise<ExportedByStudent[]> {
    return exportedOf.execute(this.store, { guildId, studentId });
  }

  /**
   * /privacy delete, in one transaction: per PRIVACY_TABLES, the person's own rows are deleted, their id is
   * removed from others' rows and from notices, and the rows marked "keep" stay. Returns rows touched per table.
   */
  async deletePerson(guildId: string, userId: string): Promise<Record<string, number>> {
    const touched: Record<string, number> = {};
    const add = (table: string, n: number) => {
      if (n > 0) touched[table] = (touched[table] ?? 0) + n;
    };
    await this.store.transaction(async (tx) => {
      for (const spec of await specsOf(tx)) {
        if (spec.guild === null) continue;
        const g = sql.ref(spec.guild);
        const t = sql.table(spec.table);
        for (const [column, how] of Object.entries(spec.users)) {
          const c = sql.ref(column);
          if (how.action === "delete") {
            // Counted before: rows a foreign key cascade deletes with them (a follow-up with its question, the
            // person's own) are not in a DELETE's `changes`.
            const n = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM ${t}
              WHERE ${g} = ${guildId} AND ${c} = ${userId}`.execute(tx.db);
            await sql`DELETE FROM ${t} WHERE ${g} = ${guildId} AND ${c} = ${userId}`.execute(tx.db);
            add(spec.table, Number(n.rows[0]?.n ?? 0));
          } else if (how.action === "anonymise") {
            const r = await sql`UPDATE ${t} SET ${c} = ${ANONYMOUS_USER}
              WHERE ${g} = ${guildId} AND ${c} = ${userId}`.execute(tx.db);
            add(spec.table, changes(r));
          }
        }
        if (!spec.scrub) continue;
        if (spec.key === undefined) throw new Error(`PRIVACY_TABLES: ${spec.table} scrubs without a key`);
        const k = sql.ref(spec.key);
        for (const column of spec.scrub) {
          const c = sql.ref(column);
          const doomed = spec.deleteIfMentioned ? sql.raw(spec.deleteIfMentioned) : sql.raw("1 = 0");
          const mentions =
            tx.engine === "sqlite" ? sql`instr(${c}, ${userId}) > 0` : sql`strpos(${c}, ${userId}) > 0`;
          const { rows } = await sql<{ r: unknown; v: string; doomed: unknown }>`SELECT ${k} AS r, ${c} AS v,
              (${doomed}) AS doomed FROM ${t} WHERE ${g} = ${guildId} AND ${mentions}`.execute(tx.db);
          for (const row of rows) {
            const scrubbed = scrubUserId(row.v, userId);
            if (scrubbed === row.v) continue;
            const r = row.doomed
              ? await sql`DELETE FROM ${t} WHERE ${k} = ${row.r}`.execute(tx.db)
              : await sql`UPDATE ${t} SET ${c} = ${scrubbed} WHERE ${k} = ${row.r}`.execute(tx.db);
            add(spec.table, changes(r));
          }
        }
      }
    });
    return touched;
  }

  /**
   * Folds ask_usage rows created before `beforeIso` into the anonymous daily aggregates and deletes them, in one
   * transaction with the caller's purge (`on` is its transaction). Additive: a day folded in two sweeps adds up.
   */
  private async foldUsage(on: Queryable, beforeIso: string): Promise<number> {
    await foldDaily.execute(on, { before: beforeIso });
    await foldErrors.execute(on, { before: beforeIso });
    return Number((await usageBefore.executeTakeFirst(on, { before: beforeIso }))?.n ?? 0);
  }

  /** Deletes the student activity (PRIVACY_TABLES' `retention`) from before `beforeIso`, usage folded first. */
  async purgeBefore(beforeIso: string): Promise<RetentionCounts> {
    return this.store.transaction(async (tx) => {
      const folded = await this.foldUsage(tx, beforeIso);
      const deleted: Record<string, number> = {};
      for (const spec of await specsOf(tx)) {
        if (!spec.retention) continue;
        const where = spec.retention.where ? sql` AND (${sql.raw(spec.retention.where)})` : sql``;
        const n = changes(
          await sql`DELETE FROM ${sql.table(spec.table)}
            WHERE ${sql.ref(spec.retention.column)} < ${beforeIso}${where}`.execute(tx.db),
        );
        if (n > 0) deleted[spec.table] = n;
      }
      return { deleted, folded };
    });
  }

  /** Why a server's data cannot be deleted yet (billed hosting running, a job training), or undefined. */
  async guildBusy(guildId: string): Promise<string | undefined> {
    const hosting = Number((await runningHosting.executeTakeFirst(this.store, { guildId }))?.n ?? 0);
    if (hosting > 0) return `${hosting} billed hosting session(s) still running`;
    const jobs = Number((await activeJobs.executeTakeFirst(this.store, { guildId }))?.n ?? 0);
    const intents = Number((await intentsOf.executeTakeFirst(this.store, { guildId }))?.n ?? 0);
    if (jobs + intents > 0) return `${jobs + intents} fine-tuning job(s) still active`;
    return undefined;
  }

  /**
   * Deletes every row of the server, in PRIVACY_TABLES' order; then any other table with a guild_id column (a
   * table not yet listed is never left behind). Returns the dataset files nothing refers to any more.
   */
  async deleteGuild(guildId: string): Promise<GuildPurgeCounts> {
    return this.store.transaction(async (tx) => {
      const files = await guildFiles.execute(tx, { guildId });
      const deleted: Record<string, number> = {};
      const done = new Set<string>();
      for (const spec of await specsOf(tx)) {
        done.add(spec.table);
        if (spec.guild === null) continue;
        const n = changes(
          await sql`DELETE FROM ${sql.table(spec.table)} WHERE ${sql.ref(spec.guild)} = ${guildId}`.execute(
            tx.db,
          ),
        );
        if (n > 0) deleted[spec.table] = n;
      }
      for (const t of await storeTables(tx)) {
        if (done.has(t.table) || !t.columns.includes("guild_id")) continue;
        const n = changes(
          await sql`DELETE FROM ${sql.table(t.table)} WHERE guild_id = ${guildId}`.execute(tx.db),
        );
        if (n > 0) deleted[t.table] = n;
      }
      const candidates = [...new Set(files.flatMap((f) => (f.c ? [f.s, f.c] : [f.s])))];
      const orphanFiles: string[] = [];
      for (const p of candidates) if (!(await fileInUseOn(tx, p))) orphanFiles.push(p);
      return { deleted, orphanFiles };
    });
  }

  /** Whether any dataset row (of any server: files are content-addressed) still refers to this file. */
  async fileInUse(path: string): Promise<boolean> {
    return fileInUseOn(this.store, path);
  }

  /** Records a server's departure: its data is deleted once `deleteAfter` has passed. */
  async scheduleGuildDeletion(guildId: string, leftAt: Date, deleteAfter: Date): Promise<void> {
    await scheduleDeparture.execute(this.store, {
      guildId,
      leftAt: leftAt.toISOString(),
      deleteAfter: deleteAfter.toISOString(),
    });
  }

  /** Cancels a scheduled deletion (the bot was invited back); false when none was scheduled. */
  async cancelGuildDeletion(guildId: string): Promise<boolean> {
    return (await cancelDeparture.executeChanges(this.store, { guildId })) > 0;
  }

  async scheduledDeletion(guildId: string): Promise<{ leftAt: string; deleteAfter: string } | undefined> {
    return departureOf.executeTakeFirst(this.store, { guildId });
  }

  /** Every server id that has a row in any listed table. */
  async guildsWithData(): Promise<string[]> {
    const ids = new Set<string>();
    for (const spec of await specsOf(this.store)) {
      if (spec.guild === null || spec.table === "guild_departures") continue;
      const { rows } = await sql<{ g: string }>`SELECT DISTINCT ${sql.ref(spec.guild)} AS g
        FROM ${sql.table(spec.table)}`.execute(this.store.db);
      for (const r of rows) ids.add(r.g);
    }
    return [...ids].sort();
  }

  /** Servers whose grace period has passed. */
  async dueGuildDeletions(now: Date): Promise<string[]> {
    return (await dueDepartures.execute(this.store, { now: now.toISOString() })).map((r) => r.g);
  }

  /**
   * Datasets created before `beforeIso` that may go (DATASET_RETENTION_DAYS): no active job trains on them and no
   * registered model came from a job trained on them. Their finished jobs go with them.
   */
  async expiredDatasets(beforeIso: string): Promise<{ id: number; guildId: string }[]> {
    return expired.execute(this.store, { before: beforeIso });
  }

  /** Deletes a dataset and its finished jobs (their loss points cascade); returns its files nothing else uses. */
  async deleteDataset(id: number): Promise<string[]> {
    return this.store.transaction(async (tx) => {
      const row = await datasetFiles.executeTakeFirst(tx, { id });
      if (!row) return [];
      await deleteJobsOf.execute(tx, { id });
      await deleteDatasetRow.execute(tx, { id });
      const left: string[] = [];
      for (const p of row.c ? [row.s, row.c] : [row.s]) if (!(await fileInUseOn(tx, p))) left.push(p);
      return left;
    });
  }

  /**
   * Takes these questions out of the held-out test questions of the dataset's jobs (drawn from its lines when the
   * job started): a student's removed answers do not live on there. Returns how many went.
   */
  async forgetTestQuestions(guildId: string, datasetId: number, questions: Set<string>): Promise<number> {
    const jobs = await testQuestionsOf.execute(this.store, { guildId, datasetId });
    let n = 0;
    for (const job of jobs) {
      const held = JSON.parse(job.t) as { question: string }[];
      const kept = held.filter((q) => !questions.has(q.question));
      if (kept.length === held.length) continue;
      n += held.length - kept.length;
      await setTestQuestions.execute(this.store, { id: job.id, t: JSON.stringify(kept) });
    }
    return n;
  }

  /** When the named sweep last ran, or undefined. */
  async lastRun(name: string): Promise<Date | undefined> {
    const r = await sweepRun.executeTakeFirst(this.store, { name });
    return r ? new Date(r.at) : undefined;
  }

  async recordRun(name: string, at: Date, result: unknown): Promise<void> {
    await recordSweep.execute(this.store, { name, at: at.toISOString(), result: JSON.stringify(result) });
  }
}

/** The first instant kept by a retention of `days` days: the start (UTC) of the day `days` days before today. */
export function retentionCutoff(now: Date, days: number): Date {
  return new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS - days * DAY_MS);
}
