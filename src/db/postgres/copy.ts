// `classtune migrate --to postgres://…`'s work: a school's SQLite database copied into PostgreSQL, whole or not at
// all. Every application table is copied in foreign-key order inside one PostgreSQL transaction, in batched
// multi-row INSERTs; identity sequences then continue after each table's highest id, and the copy commits only if
// every table holds as many rows on both sides. A target whose application tables hold any row is refused.
import Database from "better-sqlite3";
import type pg from "pg";
import { UserError } from "../../domain/errors.ts";
import type { Db } from "../open.ts";
import { PROVIDER_TABLE } from "../privacy.ts";

/** The runners' bookkeeping table: each engine's own, filled by its migrations, never copied. */
const MIGRATIONS_TABLE = "schema_migrations";

/**
 * Whether the SQLite file at `path` is classtune's database (its migrations have run: it has schema_migrations),
 * read without writing to it, so a file named by mistake is not migrated into one. Throws when it is not SQLite.
 */
export function isClasstuneDatabase(path: string): boolean {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (
      db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(MIGRATIONS_TABLE) !==
      undefined
    );
  } finally {
    db.close();
  }
}

/**
 * Taken for the whole copy (pg_advisory_xact_lock): the ASCII bytes of "ct:copy", so two migrate commands on one
 * target do not both find it empty and both copy.
 */
export const COPY_LOCK_KEY = 0x63743a636f7079n;

/** PostgreSQL takes at most 65,535 parameters in one statement. */
const MAX_PARAMETERS = 65_535;

export interface TableCount {
  table: string;
  rows: number;
}

export interface CopyResult {
  /** Every copied table, in the order copied (foreign-key order), with its row count (equal on both sides). */
  tables: TableCount[];
  /** Tables of the source that are not classtune's (the embedded sandbox's sandbox_*), left out. */
  skipped: string[];
}

/** The target already holds rows: nothing was written. */
export class TargetNotEmptyError extends UserError {
  constructor(readonly tables: TableCount[]) {
    super(
      `the target database is not empty: ${tables.map((t) => `${t.table} (${t.rows} row(s))`).join(", ")}; copy only into a new database`,
      "target_not_empty",
    );
  }
}

/**
 * Refuses (TargetNotEmptyError) a target whose tables hold rows. Called before migratePostgres, so a database that is
 * not new (someone else's) is refused before classtune's schema is written to it; the copy checks again under its lock.
 */
export async function assertTargetEmpty(target: pg.PoolClient | pg.Pool): Promise<void> {
  const nonEmpty = await nonEmptyTables(target);
  if (nonEmpty.length > 0) throw new TargetNotEmptyError(nonEmpty);
}

/** The copy could not be completed or did not verify: rolled back, nothing was written. */
export class CopyFailedError extends UserError {
  constructor(message: string) {
    super(`${message}; rolled back, nothing was written`, "copy_failed");
  }
}

const quote = (id: string): string => `"${id.replaceAll('"', '""')}"`;

interface SourceTable {
  name: string;
  columns: string[];
  /** Tables it references (other than itself). */
  references: string[];
  /** The primary key's columns, or rowid: the order rows are read (a parent answer before its follow-ups). */
  order: string;
  /** The primary key's column names (none: rowid), to name a row in a message. */
  key: string[];
}

function sourceTables(db: Db): { tables: SourceTable[]; skipped: string[] } {
  const names = db
    .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
    .pluck()
    .all() as string[];
  const skipped = names.filter((n) => PROVIDER_TABLE.test(n));
  const tables = names
    .filter((n) => n !== MIGRATIONS_TABLE && !PROVIDER_TABLE.test(n))
    .map((name): SourceTable => {
      const info = db.prepare("SELECT name, pk FROM pragma_table_info(?) ORDER BY cid").all(name) as {
        name: string;
        pk: number;
      }[];
      const key = info
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => c.name);
      const pk = key.map(quote);
      const references = db
        .prepare(`SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`)
        .pluck()
        .all(name) as string[];
      return {
        name,
        columns: info.map((c) => c.name),
        references: references.filter((r) => r !== name),
        order: pk.length > 0 ? pk.join(", ") : "rowid",
        key,
      };
    });
  return { tables: foreignKeyOrder(tables), skipped };
}

/** Referenced tables before the tables that reference them (a cycle is a schema this copy cannot order). */
export function foreignKeyOrder<T extends { name: string; references: string[] }>(tables: T[]): T[] {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const ordered: T[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (t: T, path: string[]): void => {
    if (state.get(t.name) === "done") return;
    if (state.get(t.name) === "visiting") {
      throw new UserError(
        `the foreign keys form a cycle (${[...path, t.name].join(" -> ")}): cannot order the copy`,
      );
    }
    state.set(t.name, "visiting");
    for (const r of t.references) {
      const ref = byName.get(r);
      if (ref) visit(ref, [...path, t.name]);
    }
    state.set(t.name, "done");
    ordered.push(t);
  };
  for (const t of tables) visit(t, []);
  return ordered;
}

/** The target's application tables and their columns (schema_migrations left out). */
async function targetTables(client: pg.PoolClient): Promise<Map<string, Set<string>>> {
  const { rows } = await client.query<{ table_name: string; column_name: string }>(
    `SELECT c.table_name, c.column_name FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name <> $1`,
    [MIGRATIONS_TABLE],
  );
  const tables = new Map<string, Set<string>>();
  for (const r of rows) tables.set(r.table_name, (tables.get(r.table_name) ?? new Set()).add(r.column_name));
  return tables;
}

/** The columns of classtune's schema_migrations (migratePostgres): one of that name with others is another runner's. */
const MIGRATIONS_COLUMNS = "applied_at,name,version";

/**
 * Which of the target's tables hold rows, with their counts (empty: the target may be written). classtune's own
 * schema_migrations is left out; another application's table of that name (other columns) counts like any other.
 */
export async function nonEmptyTables(client: pg.PoolClient | pg.Pool): Promise<TableCount[]> {
  const { rows } = await client.query<{ table_name: string }>(
    `SELECT t.table_name FROM information_schema.tables t
      WHERE t.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
        AND (t.table_name <> $1 OR (SELECT string_agg(c.column_name::text, ',' ORDER BY c.column_name::text)
               FROM information_schema.columns c
              WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name) IS DISTINCT FROM $2)
      ORDER BY t.table_name`,
    [MIGRATIONS_TABLE, MIGRATIONS_COLUMNS],
  );
  const counts: TableCount[] = [];
  for (const { table_name: table } of rows) {
    const n = await countRows(client, table);
    if (n > 0) counts.push({ table, rows: n });
  }
  return counts;
}

async function countRows(client: pg.PoolClient | pg.Pool, table: string): Promise<number> {
  const { rows } = await client.query<{ n: number }>(`SELECT count(*) AS n FROM ${quote(table)}`);
  return rows[0]?.n ?? 0;
}

/**
 * A value as PostgreSQL should receive it: SQLite integers are read as bigint (no digits lost) and sent as numbers
 * when they fit one, else as their decimal text; a BLOB is already a Buffer (bytea); text, reals and NULL as they are.
 */
function parameter(v: unknown): unknown {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  return v;
}

async function copyTable(
  source: Db,
  client: pg.PoolClient,
  table: SourceTable,
  batchRows: number,
): Promise<void> {
  const cols = table.columns.map(quote).join(", ");
  const perBatch = Math.max(1, Math.min(batchRows, Math.floor(MAX_PARAMETERS / table.columns.length)));
  const read = source
    .prepare(`SELECT ${cols} FROM ${quote(table.name)} ORDER BY ${table.order}`)
    .raw(true)
    .safeIntegers(true);
  let batch: unknown[][] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const width = table.columns.length;
    const tuples = batch.map(
      (_, r) => `(${table.columns.map((_c, c) => `$${r * width + c + 1}`).join(", ")})`,
    );
    await client.query(
      `INSERT INTO ${quote(table.name)} (${cols}) VALUES ${tuples.join(", ")}`,
      batch.flat(),
    );
    batch = [];
  };
  // Rows are read as the inserts go (iterate), so a large table is never held whole in memory.
  let position = 0;
  for (const row of read.iterate() as Iterable<unknown[]>) {
    position++;
    const nul = row.findIndex((v) => typeof v === "string" && v.includes("\u0000"));
    if (nul >= 0) {
      // PostgreSQL's text cannot hold U+0000 (SQLite's can): name the cell, so the operator can fix it there.
      const id = table.key.map((k) => `${k} = ${String(row[table.columns.indexOf(k)])}`).join(", ");
      throw new CopyFailedError(
        `${table.name}.${table.columns[nul]} holds a NUL character (U+0000), which PostgreSQL's text cannot, in the row ${id || `at position ${position}`}`,
      );
    }
    batch.push(row.map(parameter));
    if (batch.length >= perBatch) await flush();
  }
  await flush();
}

/** Every identity column continues after its table's highest value: the next insert without an id gets max + 1. */
async function resetIdentities(client: pg.PoolClient): Promise<void> {
  const { rows } = await client.query<{ table_name: string; column_name: string }>(
    `SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND is_identity = 'YES'`,
  );
  for (const { table_name: table, column_name: column } of rows) {
    // As text: the value set is not read as a number (it may be past Number.MAX_SAFE_INTEGER, copied exactly).
    await client.query(
      `SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT max(${quote(column)}) FROM ${quote(table)}), 0) + 1, false)::text`,
      [quote(table), column],
    );
  }
}

export interface CopyOptions {
  /** Rows per INSERT at most (fewer for a wide table, to stay under PostgreSQL's parameter limit). Default 500. */
  batchRows?: number | undefined;
}

/**
 * Copies every application table of `source` (migrated to the latest version) into `target` (migrated by
 * migratePostgres), in one transaction: refused (TargetNotEmptyError, nothing written) when an application table of
 * the target holds a row; rolled back (CopyFailedError) when a table or column is missing on the target, a row is
 * rejected, or a table's row count differs after the copy.
 */
export async function copySqliteToPostgres(
  source: Db,
  target: pg.Pool,
  options: CopyOptions = {},
): Promise<CopyResult> {
  const { tables, skipped } = sourceTables(source);
  const orphans = source
    .prepare('SELECT DISTINCT "table" FROM pragma_foreign_key_check')
    .pluck()
    .all() as string[];
  if (orphans.length > 0) {
    throw new CopyFailedError(
      `the SQLite database has rows whose foreign key points at a missing row (in ${orphans.join(", ")}; see PRAGMA foreign_key_check), which PostgreSQL would refuse`,
    );
  }
  const client = await target.connect();
  // A checked-out client has no 'error' listener of the pool's: a connection lost mid-copy (the server restarted,
  // the session killed) would crash the process. The query under way rejects with the reason, handled below.
  let lost: Error | undefined;
  const onError = (err: Error): void => {
    lost ??= err;
  };
  client.on("error", onError);
  // One read transaction on the source: every table is read from the same snapshot, even if a bot still writes.
  source.exec("BEGIN");
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1::bigint)", [COPY_LOCK_KEY.toString()]);
    const present = await targetTables(client);
    for (const t of tables) {
      const columns = present.get(t.name);
      if (!columns) throw new CopyFailedError(`the target has no table ${t.name}`);
      const missing = t.columns.filter((c) => !columns.has(c));
      if (missing.length > 0)
        throw new CopyFailedError(`the target's ${t.name} has no ${missing.join(", ")}`);
    }
    await assertTargetEmpty(client);

    for (const t of tables) {
      try {
        await copyTable(source, client, t, options.batchRows ?? 500);
      } catch (err) {
        if (err instanceof CopyFailedError) throw err;
        throw new CopyFailedError(`copying ${t.name} failed: ${(err as Error).message}`);
      }
    }
    await resetIdentities(client);

    const counts: TableCount[] = [];
    const mismatches: string[] = [];
    for (const t of tables) {
      const expected = Number(
        source
          .prepare(`SELECT count(*) FROM ${quote(t.name)}`)
          .pluck()
          .safeIntegers(true)
          .get() as bigint,
      );
      const copied = await countRows(client, t.name);
      if (copied !== expected) mismatches.push(`${t.name}: ${expected} in SQLite, ${copied} in PostgreSQL`);
      counts.push({ table: t.name, rows: copied });
    }
    if (mismatches.length > 0) throw new CopyFailedError(`row counts differ (${mismatches.join("; ")})`);
    await client.query("COMMIT");
    return { tables: counts, skipped };
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined); // the connection may be gone; err says why
    if (err instanceof UserError) throw err;
    // Inside the transaction, whatever failed (the identities, the counts, a lost connection) left nothing behind.
    throw new CopyFailedError(`the copy failed: ${(err as Error).message}`);
  } finally {
    source.exec("ROLLBACK");
    client.off("error", onError);
    // A broken connection leaves the pool instead of going back to it.
    client.release(lost);
  }
}
