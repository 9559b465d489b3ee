// The store: classtune's tables behind one Kysely query layer over either engine (issue 14), so each repository is
// written once. SQLite (better-sqlite3, the default, one machine) or PostgreSQL (DATABASE_URL, several processes).
// openStore migrates the database first (the engines' own runners) and hands back `{ engine, db, transaction,
// close }`. Two things the store adds to stock Kysely, both measured by `npm run bench -- store`:
// - statements kept: on SQLite each SQL text is prepared once per connection (src/db/statements.ts), on
//   PostgreSQL each is a named statement, parsed and planned once per connection (namedStatements.ts);
// - with compiled() (compiled.ts) each query is built and compiled once per engine, not per call.
//
// Transactions: `store.transaction(async (tx) => …)` commits when the function resolves and rolls back when it
// throws, on both engines; run every statement of it on `tx`, never on `store` (on SQLite a statement on `store`
// waits for the transaction's end: one connection; on PostgreSQL it runs outside the transaction).
// - SQLite: a transaction is BEGIN IMMEDIATE (Kysely's own is a deferred BEGIN), so it takes the write lock before
//   its first read, as the outbox's claim and the leader lease rely on: of two processes on one file, the second
//   waits (busy_timeout) and then reads what the first wrote, instead of failing with SQLITE_BUSY when it upgrades.
//   `{ readOnly: true }` gives a deferred BEGIN (readers never block writers under WAL).
// - PostgreSQL: READ COMMITTED, one pooled connection for the whole transaction. Claims are
//   `.forUpdate().skipLocked()` on the engine that has them (below).
//
// How a repository written once meets the engines' differences (the schema is the same: the twins are tested):
// - Build for the engine where the SQL differs: compiled()'s builder is given the engine, and is compiled once per
//   engine, e.g. `.$if(engine === "postgres", (q) => q.forUpdate().skipLocked())`: SQLite has no row locks (its
//   IMMEDIATE transaction already serialises writers) and would refuse FOR UPDATE.
// - INSERT OR IGNORE / ON CONFLICT DO NOTHING: `.onConflict((oc) => oc.doNothing())` (or `.columns([…]).doUpdateSet`)
//   compiles to ON CONFLICT on both (SQLite ≥ 3.24); never `.orIgnore()` (SQLite only).
// - The new row's id: `.returning("id")` on both (SQLite ≥ 3.35), never lastInsertRowid / insertId (SQLite only).
// - json_extract(x, '$.a') (SQLite) vs (x::json ->> 'a') (PostgreSQL), group_concat(x, ',') vs string_agg(x, ','):
//   a small `sql` fragment chosen by engine in the builder; json_each(?) for a list vs `= any(?)`, likewise.
// - Values: integers and REALs read as numbers on both (openPostgres parses int8), text as strings, NULL as null;
//   but SUM/AVG of an integer column is `numeric` on PostgreSQL, read as a string: cast it
//   (`sql<number>\`cast(sum(x) as double precision)\``, or `eb.cast(…, "real")` reads alike on both).
// - Time is ISO text in both schemas: compare strings, never the engine's own clock functions.

import { AsyncLocalStorage } from "node:async_hooks";
import type { DatabaseConnection, TransactionSettings } from "kysely";
import {
  CompiledQuery,
  Kysely,
  PostgresDialect,
  type SqliteDatabase,
  SqliteDialect,
  SqliteDriver,
  sql,
  type Transaction,
} from "kysely";
import { type Db, openDb } from "../open.ts";
import { migratePostgres } from "../postgres/migrate.ts";
import { connectionError, openPostgres } from "../postgres/pool.ts";
import { prepared } from "../statements.ts";
import { namedStatements } from "./namedStatements.ts";
import type { Database } from "./schema.ts";

export type Engine = "sqlite" | "postgres";

export type StoreOptions =
  | { engine: "sqlite"; path: string }
  | {
      engine: "postgres";
      url: string;
      /** Most connections the pool opens (openPostgres's default 10). */
      max?: number | undefined;
      /** Hears about an idle pooled connection that failed (a logger); see openPostgres. */
      onIdleError?: ((err: Error) => void) | undefined;
    };

/** What a query runs on: the store, or a transaction of it. compiled() queries take either. */
export interface Queryable {
  readonly engine: Engine;
  readonly db: Kysely<Database>;
}

export interface TransactionOptions {
  /** Only reads: SQLite's deferred BEGIN (no write lock), PostgreSQL's READ ONLY. */
  readOnly?: boolean | undefined;
}

export interface Store extends Queryable {
  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws (and rethrown). */
  transaction<T>(
    work: (tx: Queryable & { readonly db: Transaction<Database> }) => Promise<T>,
    options?: TransactionOptions,
  ): Promise<T>;
  /** Closes the database (SQLite) or ends the pool (PostgreSQL). */
  close(): Promise<void>;
}

/**
 * `db` as Kysely's SqliteDatabase, each SQL text prepared once per connection (prepared(): Kysely's driver prepares
 * on every call). Safe with Kysely's SqliteConnection: it reads `reader`, then `all(params)` or `run(params)`, all
 * synchronous, so nothing else runs on the statement in between; its stream uses `iterate(params)`, during which
 * the kept statement is busy and prepared() gives anyone else a fresh one; statements are kept in the "rows" mode
 * only (a pluck() or raw() caller has its own). Closing it closes `db`.
 */
export function keptStatements(db: Db): SqliteDatabase {
  return { prepare: (sql) => prepared(db, sql), close: () => db.close() };
}

/** Kysely's SQLite driver with BEGIN IMMEDIATE for every transaction that may write (see the file's head). */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(
    connection: DatabaseConnection,
    settings?: TransactionSettings,
  ): Promise<void> {
    await connection.executeQuery(
      CompiledQuery.raw(settings?.accessMode === "read only" ? "begin" : "begin immediate"),
    );
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #database: SqliteDatabase;
  constructor(database: SqliteDatabase) {
    super({ database });
    this.#database = database;
  }
  override createDriver() {
    return new ImmediateSqliteDriver({ database: this.#database });
  }
}

/**
 * Which store's transaction the running code is inside. A store transaction opened inside another of the same
 * store would wait for a connection the outer one holds (SQLite has one, behind Kysely's mutex; a pool can run
 * dry) and never end: it is refused instead, loudly. Run the inner work on the outer `tx`.
 */
const openTransaction = new AsyncLocalStorage<Kysely<Database>>();

export class NestedTransactionError extends Error {
  constructor() {
    super(
      "store.transaction() inside a transaction of the same store: run the work on the outer transaction",
    );
    this.name = "NestedTransactionError";
  }
}

function storeOver(engine: Engine, db: Kysely<Database>): Store {
  return {
    engine,
    db,
    transaction(work, options = {}) {
      if (openTransaction.getStore() === db) return Promise.reject(new NestedTransactionError());
      const builder = db.transaction();
      return openTransaction.run(db, () =>
        (options.readOnly ? builder.setAccessMode("read only") : builder).execute((trx) =>
          work({ engine, db: trx }),
        ),
      );
    },
    close: () => db.destroy(),
  };
}

/** The one store of each open better-sqlite3 connection (see sqliteStore). */
const storesOf = new WeakMap<Db, Store>();

/**
 * The store over an open better-sqlite3 connection (openDb's: its pragmas set, migrated): always the same one for
 * the same connection, because a Kysely SQLite driver serialises its connection with a mutex of its own, and two
 * stores over one connection would run one's statements inside the other's transaction. Its statements and
 * transactions are the connection's: while repositories are converted one by one, the old synchronous ones and
 * the converted ones share one connection. Mind that a synchronous statement run while a store transaction is
 * open (between its awaits) runs inside that transaction. Closing it closes `db`.
 */
export function sqliteStore(db: Db): Store {
  let store = storesOf.get(db);
  if (store === undefined) {
    store = storeOver(
      "sqlite",
      new Kysely<Database>({ dialect: new ImmediateSqliteDialect(keptStatements(db)) }),
    );
    storesOf.set(db, store);
  }
  return store;
}

/** Opens the store and migrates it to the latest version (creating the SQLite file, ":memory:" for tests). */
export async function openStore(options: StoreOptions): Promise<Store> {
  if (options.engine === "sqlite") return sqliteStore(openDb(options.path));
  const pool = openPostgres(options.url, { max: options.max, onIdleError: options.onIdleError });
  try {
    await migratePostgres(pool);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw connectionError(err, options.url) ?? err;
  }
  return storeOver(
    "postgres",
    new Kysely<Database>({ dialect: new PostgresDialect({ pool: namedStatements(pool) }) }),
  );
}

/**
 * The readiness probe's trivial query (/readyz): true when the database answers it within `ms`. Never throws: a
 * closed store, a refused connection or a pool that does not answer in time is false.
 */
export async function databaseAnswers(on: Queryable, ms = 2_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const answered = sql<{ one: number }>`select 1 as one`
      .execute(on.db)
      .then((r) => Number(r.rows[0]?.one) === 1);
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
      timer.unref();
    });
    return await Promise.race([answered.catch(() => false), late]);
  } finally {
    clearTimeout(timer);
  }
}
