// PostgreSQL's numbered migrations: src/db/postgres/migrations/NNN_name.sql, each the twin of the SQLite migration
// with the same number and name (src/db/migrations; test/db/postgresSchema.test.ts holds the two sets and their
// schemas equal). Read by the one loadMigrations, recorded in the same schema_migrations table.
import { fileURLToPath } from "node:url";
import type pg from "pg";
import { UserError } from "../../domain/errors.ts";
import { loadMigrations, type Migration } from "../migrate.ts";

export const postgresMigrationsDir = fileURLToPath(new URL("./migrations/", import.meta.url));

/**
 * The advisory lock key every migration transaction takes (pg_advisory_xact_lock, released at its COMMIT or
 * ROLLBACK): the ASCII bytes of "ct:migr" as one bigint, fixed forever, so every classtune process on one database
 * serialises its migrations on it. Any other advisory lock classtune takes must use another key (e.g. "ct:lead").
 */
export const MIGRATION_LOCK_KEY = 0x63743a6d696772n;

/** A migration that failed, rolled back: which one (NNN_name), with the server's reason as its message. */
export class PostgresMigrationError extends Error {
  constructor(
    readonly migration: string,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = "PostgresMigrationError";
  }
}

async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // Checked out, a client has no 'error' listener of the pool's: a lost connection would crash the process. The
  // query under way rejects with the reason instead.
  let lost: Error | undefined;
  const onError = (err: Error): void => {
    lost ??= err;
  };
  client.on("error", onError);
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1::bigint)", [MIGRATION_LOCK_KEY.toString()]);
    const result = await work(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined); // the connection may be gone; err says why
    throw err;
  } finally {
    client.off("error", onError);
    client.release(lost); // a broken connection leaves the pool
  }
}

/**
 * Applies every migration not yet recorded, in number order, and returns the versions applied. A gap in the
 * numbers is fine (one branch's 014 may land before another's 013: 013 is applied when it arrives). Each runs in a
 * transaction that first takes the advisory lock MIGRATION_LOCK_KEY and then checks it is still unrecorded, so two
 * processes starting on one database at once apply each migration once between them instead of one failing on
 * "relation already exists" (PostgreSQL's DDL is transactional: a failing migration leaves nothing behind).
 */
export async function migratePostgres(
  pool: pg.Pool,
  migrations: Migration[] = loadMigrations(postgresMigrationsDir),
  table = "schema_migrations",
): Promise<number[]> {
  // Under the lock too: two concurrent CREATE TABLE IF NOT EXISTS can both miss the table and one then fails.
  const done = await inTransaction(pool, async (client) => {
    await client.query(`CREATE TABLE IF NOT EXISTS ${table} (
      version bigint PRIMARY KEY,
      name text NOT NULL,
      applied_at text NOT NULL
    )`);
    // A table of that name kept by another application's migration runner (golang-migrate's, Rails'): its
    // versions are not classtune's, and reading them as such would skip classtune's migrations of those numbers.
    const columns = await client.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = $1 ORDER BY column_name`,
      [table],
    );
    const names = columns.rows.map((r) => r.column_name);
    if (names.join(",") !== "applied_at,name,version") {
      throw new UserError(
        `${table} here is not classtune's (its columns: ${names.join(", ")}): another application keeps its migrations in this database; give classtune a database of its own`,
        "config",
      );
    }
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${table}`);
    return new Set(rows.map((r) => Number(r.version)));
  });
  const applied: number[] = [];
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    const ran = await inTransaction(pool, async (client) => {
      const again = await client.query(`SELECT 1 FROM ${table} WHERE version = $1`, [m.version]);
      if (again.rowCount !== 0) return false; // another process applied it meanwhile
      await client.query(m.sql);
      await client.query(`INSERT INTO ${table} (version, name, applied_at) VALUES ($1, $2, $3)`, [
        m.version,
        m.name,
        new Date().toISOString(),
      ]);
      return true;
    }).catch((err: unknown) => {
      throw new PostgresMigrationError(`${String(m.version).padStart(3, "0")}_${m.name}`, err);
    });
    if (ran) applied.push(m.version);
  }
  return applied;
}
