// Prepared statements kept per connection. better-sqlite3 compiles the SQL again on every db.prepare(), and most
// repositories prepare inside each call: `npm run bench -- store` found 10 of the 15 statements of one /ask question
// re-prepared every time (about 65 µs each), and a CPU profile of `bench -- ask` put db.prepare at 4 % of the whole
// process. prepared() compiles each SQL text once per connection and hands back the same statement after.
//
// Rules that keep a shared statement safe:
// - the cache is keyed by the SQL text AND the result mode: `prepared(db, sql, "pluck")` is a different statement
//   from `prepared(db, sql)`, so one caller's pluck() never changes what another caller reads;
// - a statement still busy (an open iterate()) is never handed out again: that caller gets a fresh one;
// - at most MAX_CACHED_STATEMENTS texts per connection (SQL built at run time, e.g. an IN list of varying length,
//   cannot grow it without bound: past the cap a statement is prepared and not kept).
import type Database from "better-sqlite3";

type Statement = Database.Statement;

export type ResultMode = "rows" | "pluck" | "raw";

/** Most distinct SQL texts kept per connection; the code holds about 300 fixed texts. */
export const MAX_CACHED_STATEMENTS = 1_000;

const caches = new WeakMap<Database.Database, Map<string, Statement>>();

/** A prepared statement for `sql` on `db`, compiled once per connection and result mode. */
export function prepared(db: Database.Database, sql: string, mode: ResultMode = "rows"): Statement {
  let cache = caches.get(db);
  if (cache === undefined) {
    cache = new Map();
    caches.set(db, cache);
  }
  const key = mode === "rows" ? sql : `${mode}\u0000${sql}`;
  const kept = cache.get(key);
  if (kept !== undefined && !kept.busy) return kept;
  const statement = db.prepare(sql);
  if (mode === "pluck") statement.pluck();
  else if (mode === "raw") statement.raw();
  if (kept === undefined && cache.size < MAX_CACHED_STATEMENTS) cache.set(key, statement);
  return statement;
}
