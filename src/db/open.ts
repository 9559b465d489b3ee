// Opens the SQLite database with explicit pragmas and applies the numbered migrations.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { migrate } from "./migrate.ts";

export type Db = Database.Database;

/**
 * Opens (creating if needed) the database at `path` (":memory:" for tests) and migrates it. `verbose` is told every
 * statement the connection runs (better-sqlite3's trace: the SQL with its values), for the store bench and its test.
 */
export function openDb(path: string, opts: { verbose?: (sql: string) => void } = {}): Db {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, opts.verbose ? { verbose: (sql) => opts.verbose?.(String(sql)) } : {});
  db.pragma("journal_mode = WAL");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  db.pragma("synchronous = NORMAL");
  migrate(db);
  return db;
}
