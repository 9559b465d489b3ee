// The two engines' migrations stay twins: every SQLite migration (src/db/migrations) has a PostgreSQL one of the
// same number and name (src/db/postgres/migrations), and once both are applied the schemas match, table by table:
// columns in order (normalised types, NOT NULL, defaults, primary key, identity), foreign keys, unique and
// partial indexes, and CHECKs (the columns they read and the strings they allow). So a repository's SQL can be written once for both.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { appMigrationsDir, loadMigrations, migrate } from "../../src/db/migrate.ts";
import { migratePostgres, postgresMigrationsDir } from "../../src/db/postgres/migrate.ts";
import { openPostgres } from "../../src/db/postgres/pool.ts";
import { freshPostgresDatabase, skipWithoutPostgres } from "../helpers/postgres.ts";

/** One engine's schema, normalised so that the twins compare equal. */
interface Schema {
  [table: string]: {
    columns: string[];
    primaryKey: string[];
    foreignKeys: string[];
    indexes: string[];
    checks: string[];
  };
}

/** The runners' own bookkeeping table (not created by a migration; each runner makes it). */
const RUNNER_TABLE = "schema_migrations";

const SQLITE_TYPES: Record<string, string> = { INTEGER: "integer", TEXT: "text", REAL: "real", BLOB: "blob" };
const POSTGRES_TYPES: Record<string, string> = {
  bigint: "integer",
  text: "text",
  "double precision": "real",
  bytea: "blob",
};

/** A default's text without PostgreSQL's casts: `'[]'::text` reads `'[]'`, like SQLite's. */
const normalDefault = (d: string | null): string => (d === null ? "none" : d.replace(/::[a-z ]+$/g, ""));

const STRING_LITERAL = /'(?:[^']|'')*'/g;

/**
 * A CHECK as both engines can be compared: the columns it reads and the string literals it allows (PostgreSQL
 * rewrites `x IN ('a', 'b')` as `x = ANY (ARRAY['a'::text, 'b'::text])`, so the expression text itself differs).
 */
function check(source: string, columns: readonly string[]): string {
  // PostgreSQL quotes a negative number it casts ('-1'::integer): a number, not a string.
  const expression = source.replace(/'[^']*'::(integer|bigint|numeric|double precision)/g, "0");
  const literals = [...expression.matchAll(STRING_LITERAL)].map((m) => m[0]).sort();
  const words = new Set(expression.replace(STRING_LITERAL, "").match(/[a-z_][a-z0-9_]*/gi) ?? []);
  return `check (${columns.filter((c) => words.has(c)).join(", ")}) [${literals.join(", ")}]`;
}

/** The CHECK expressions in SQLite's CREATE TABLE text (ALTER TABLE ADD COLUMN appends to it). */
function sqliteChecks(createSql: string): string[] {
  const found: string[] = [];
  for (const m of createSql.matchAll(/\bCHECK\s*\(/gi)) {
    let depth = 0;
    let quoted = false;
    const start = (m.index ?? 0) + m[0].length - 1;
    for (let i = start; i < createSql.length; i++) {
      const ch = createSql[i];
      if (ch === "'") quoted = !quoted;
      if (quoted) continue;
      if (ch === "(") depth++;
      if (ch === ")" && --depth === 0) {
        found.push(createSql.slice(start + 1, i));
        break;
      }
    }
  }
  return found;
}

const column = (c: {
  name: string;
  type: string;
  notNull: boolean;
  dflt: string;
  identity: boolean;
}): string =>
  `${c.name} ${c.type}${c.notNull ? " not null" : ""} default ${c.dflt}${c.identity ? " identity" : ""}`;

function sqliteSchema(db: Database.Database): Schema {
  const schema: Schema = {};
  const tables = db
    .prepare(
      `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> ? ORDER BY name`,
    )
    .pluck()
    .all(RUNNER_TABLE) as string[];
  for (const table of tables) {
    const info = db.prepare("SELECT * FROM pragma_table_info(?) ORDER BY cid").all(table) as {
      name: string;
      type: string;
      notnull: number;
      dflt_value: string | null;
      pk: number;
    }[];
    const pk = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
    // A lone INTEGER PRIMARY KEY is the rowid: SQLite numbers new rows itself, as an identity column does.
    const rowid = pk.length === 1 && pk[0]?.type === "INTEGER" ? pk[0].name : undefined;
    const fks = db.prepare("SELECT * FROM pragma_foreign_key_list(?) ORDER BY id, seq").all(table) as {
      id: number;
      table: string;
      from: string;
      to: string;
      on_delete: string;
      on_update: string;
    }[];
    const byId = new Map<number, typeof fks>();
    for (const fk of fks) byId.set(fk.id, [...(byId.get(fk.id) ?? []), fk]);
    const indexes = (
      db.prepare("SELECT * FROM pragma_index_list(?)").all(table) as {
        name: string;
        unique: number;
        origin: string;
        partial: number;
      }[]
    )
      .filter((i) => i.origin !== "pk")
      .map((i) => {
        const cols = (
          db
            .prepare("SELECT name, desc FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno")
            .all(i.name) as {
            name: string;
            desc: number;
          }[]
        ).map((c) => `${c.name}${c.desc ? " desc" : ""}`);
        const name = i.origin === "c" ? i.name : "(constraint)";
        return `${i.unique ? "unique" : "index"} ${name} (${cols.join(", ")})${i.partial ? " where …" : ""}`;
      })
      .sort();
    schema[table] = {
      columns: info.map((c) =>
        column({
          name: c.name,
          type: SQLITE_TYPES[c.type] ?? `sqlite:${c.type}`,
          // SQLite lets a PRIMARY KEY column other than the rowid hold NULL unless it says NOT NULL (a quirk it
          // keeps for old files); PostgreSQL's primary keys are always NOT NULL, and classtune never writes NULL keys.
          notNull: c.notnull === 1 || c.pk > 0,
          dflt: normalDefault(c.dflt_value),
          identity: c.name === rowid,
        }),
      ),
      primaryKey: pk.map((c) => c.name),
      foreignKeys: [...byId.values()]
        .map(
          (parts) =>
            `(${parts.map((p) => p.from).join(", ")}) -> ${parts[0]?.table}(${parts.map((p) => p.to).join(", ")}) on delete ${parts[0]?.on_delete.toLowerCase()} on update ${parts[0]?.on_update.toLowerCase()}`,
        )
        .sort(),
      indexes,
      checks: sqliteChecks(
        db
          .prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?")
          .pluck()
          .get(table) as string,
      )
        .map((e) =>
          check(
            e,
            info.map((c) => c.name),
          ),
        )
        .sort(),
    };
  }
  return schema;
}

const FK_ACTIONS: Record<string, string> = {
  a: "no action",
  r: "restrict",
  c: "cascade",
  n: "set null",
  d: "set default",
};

async function postgresSchema(pool: import("pg").Pool): Promise<Schema> {
  const schema: Schema = {};
  const tables = (
    await pool.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables
        WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> $1
        ORDER BY table_name`,
      [RUNNER_TABLE],
    )
  ).rows.map((r) => r.table_name);
  for (const table of tables) {
    const cols = await pool.query<{
      column_name: string;
      data_type: string;
      is_nullable: string;
      column_default: string | null;
      is_identity: string;
    }>(
      `SELECT column_name, data_type, is_nullable, column_default, is_identity FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
      [table],
    );
    const pk = await pool.query<{ name: string }>(
      `SELECT a.attname::text AS name FROM pg_index i
         CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.n`,
      [table],
    );
    const fks = await pool.query<{
      cols: string[];
      ref: string;
      ref_cols: string[];
      del: string;
      upd: string;
    }>(
      `SELECT (SELECT array_agg(a.attname::text ORDER BY k.n) FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS cols,
              c.confrelid::regclass::text AS ref,
              (SELECT array_agg(a.attname::text ORDER BY k.n) FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum) AS ref_cols,
              c.confdeltype AS del, c.confupdtype AS upd
         FROM pg_constraint c WHERE c.conrelid = $1::regclass AND c.contype = 'f'`,
      [table],
    );
    const indexes = await pool.query<{
      name: string;
      unique: boolean;
      partial: boolean;
      from_constraint: boolean;
      cols: string[];
    }>(
      `SELECT ic.relname::text AS name, i.indisunique AS unique, i.indpred IS NOT NULL AS partial,
              EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype = 'u')
                AS from_constraint,
              (SELECT array_agg(pg_get_indexdef(i.indexrelid, k.n::int, true)
                        || CASE WHEN pg_index_column_has_property(i.indexrelid, k.n::int, 'desc') THEN ' desc' ELSE '' END
                        ORDER BY k.n)
                 FROM generate_series(1, i.indnkeyatts) AS k(n)) AS cols
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = $1::regclass AND NOT i.indisprimary`,
      [table],
    );
    const checks = await pool.query<{ def: string }>(
      `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'c'`,
      [table],
    );
    schema[table] = {
      columns: cols.rows.map((c) =>
        column({
          name: c.column_name,
          type: POSTGRES_TYPES[c.data_type] ?? `postgres:${c.data_type}`,
          notNull: c.is_nullable === "NO",
          dflt: normalDefault(c.column_default),
          identity: c.is_identity === "YES",
        }),
      ),
      primaryKey: pk.rows.map((r) => r.name),
      foreignKeys: fks.rows
        .map(
          (f) =>
            `(${f.cols.join(", ")}) -> ${f.ref}(${f.ref_cols.join(", ")}) on delete ${FK_ACTIONS[f.del]} on update ${FK_ACTIONS[f.upd]}`,
        )
        .sort(),
      indexes: indexes.rows
        .map(
          (i) =>
            `${i.unique ? "unique" : "index"} ${i.from_constraint ? "(constraint)" : i.name} (${i.cols.join(", ")})${i.partial ? " where …" : ""}`,
        )
        .sort(),
      checks: checks.rows
        .map((c) =>
          check(
            c.def,
            cols.rows.map((col) => col.column_name),
          ),
        )
        .sort(),
    };
  }
  return schema;
}

describe("the PostgreSQL migrations", () => {
  it("are the SQLite migrations' twins: the same numbers, each with the same name", () => {
    const names = (dir: string) =>
      loadMigrations(dir).map((m) => `${String(m.version).padStart(3, "0")}_${m.name}`);
    assert.deepEqual(names(postgresMigrationsDir), names(appMigrationsDir));
  });

  it("build the schema SQLite's build, table by table", { skip: skipWithoutPostgres }, async (t) => {
    const pool = openPostgres(await freshPostgresDatabase(t));
    t.after(() => pool.end());
    await migratePostgres(pool);
    const db = new Database(":memory:");
    migrate(db);
    const sqlite = sqliteSchema(db);
    const postgres = await postgresSchema(pool);
    db.close();
    assert.deepEqual(Object.keys(postgres), Object.keys(sqlite), "the same tables");
    for (const table of Object.keys(sqlite)) {
      assert.deepEqual(postgres[table], sqlite[table], `table ${table}`);
    }
    // The comparison sees what it should: identities, partial and descending indexes, cascades.
    assert.ok(sqlite.answers?.columns.includes("id integer not null default none identity"));
    assert.ok(sqlite.datasets?.indexes.includes("index datasets_guild (guild_id, id desc)"));
    assert.ok(sqlite.jobs?.indexes.includes("unique (constraint) (provider, remote_id)"));
    assert.ok(sqlite.answers?.indexes.includes("index answers_parent (parent_id) where …"));
    assert.ok(
      sqlite.models?.checks.includes(
        "check (serving_status) ['asleep', 'deploying', 'failed', 'manual', 'ready']",
      ),
      sqlite.models?.checks.join("; "),
    );
    assert.ok(
      sqlite.answer_votes?.checks.includes("check (value) []"),
      sqlite.answer_votes?.checks.join("; "),
    );
    assert.ok(
      sqlite.answers?.foreignKeys.includes(
        "(parent_id) -> answers(id) on delete cascade on update no action",
      ),
    );
  });

  it("are applied once by two processes starting at once, and a second run applies nothing", {
    skip: skipWithoutPostgres,
  }, async (t) => {
    const url = await freshPostgresDatabase(t);
    const a = openPostgres(url);
    const b = openPostgres(url);
    t.after(() => Promise.all([a.end(), b.end()]));
    const [first, second] = await Promise.all([migratePostgres(a), migratePostgres(b)]);
    const all = loadMigrations(postgresMigrationsDir).map((m) => m.version);
    assert.deepEqual(
      [...first, ...second].sort((x, y) => x - y),
      all,
      "each version applied by exactly one",
    );
    const recorded = await a.query<{ version: number; name: string; applied_at: string }>(
      "SELECT version, name, applied_at FROM schema_migrations ORDER BY version",
    );
    assert.deepEqual(
      recorded.rows.map((r) => r.version),
      all,
    );
    assert.equal(typeof recorded.rows[0]?.version, "number", "int8 reads as a number");
    assert.match(recorded.rows[0]?.applied_at ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(await migratePostgres(a), []);
  });

  it("refuses a schema_migrations of another application's (other columns) instead of reading its versions as classtune's", {
    skip: skipWithoutPostgres,
  }, async (t) => {
    const pool = openPostgres(await freshPostgresDatabase(t));
    t.after(() => pool.end());
    // golang-migrate's table, holding versions that happen to be classtune's numbers.
    await pool.query(`CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL);
      INSERT INTO schema_migrations SELECT v, false FROM generate_series(1, 40) AS v`);
    await assert.rejects(
      migratePostgres(pool),
      /^UserError: schema_migrations here is not classtune's \(its columns: dirty, version\)/,
    );
    const tables = await pool.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'datasets'");
    assert.equal(tables.rowCount, 0, "nothing of classtune's was created");
  });

  it("a connection lost in a migration rejects it, recording nothing, and the next run applies it", {
    skip: skipWithoutPostgres,
  }, async (t) => {
    const pool = openPostgres(await freshPostgresDatabase(t));
    t.after(() => pool.end());
    // The session is ended by the server in the middle of the migration (a restart, an administrator).
    const dying = {
      version: 1,
      name: "dies",
      sql: "CREATE TABLE half (id bigint); SELECT pg_terminate_backend(pg_backend_pid());",
    };
    await assert.rejects(migratePostgres(pool, [dying]), /terminating connection/);
    const tables = await pool.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'half'");
    assert.equal(tables.rowCount, 0, "rolled back");
    const healthy = { version: 1, name: "lives", sql: "CREATE TABLE half (id bigint);" };
    assert.deepEqual(await migratePostgres(pool, [healthy]), [1], "the pool still works");
  });

  it("model rows take 'asleep' after 008 replaced 007's CHECK, and nothing else", {
    skip: skipWithoutPostgres,
  }, async (t) => {
    const pool = openPostgres(await freshPostgresDatabase(t));
    t.after(() => pool.end());
    await migratePostgres(pool);
    await pool.query(
      `INSERT INTO models (guild_id, name, provider, base_model, created_at, serving_status)
       VALUES ('g', 'ft:one', 'together', 'base', '2026-01-01T00:00:00.000Z', 'asleep')`,
    );
    await assert.rejects(
      pool.query("UPDATE models SET serving_status = 'sleeping'"),
      /models_serving_status_check/,
    );
  });
});
