// The leader_lease table (migration 014): who holds a named lease and until when. Each acquire or renew is one
// store transaction of its own; on SQLite it is BEGIN IMMEDIATE (the write lock is taken before the row is read), so
// of two processes on one database file exactly one sees the lease free and takes it; the other waits
// (busy_timeout) and then sees it held. (On PostgreSQL leadership is an advisory lock instead: src/leadership/
// postgres.ts; the table and this repository work there too, contenders serialised by an advisory lock.)
import { sql } from "kysely";
import { compiled, type Param } from "./query/compiled.ts";
import type { Queryable, Store } from "./query/store.ts";

export interface LeaseRow {
  name: string;
  holder: string;
  /** Milliseconds since the epoch, as the holder's clock read them. */
  acquiredAt: number;
  renewedAt: number;
  expiresAt: number;
}

const COLUMNS = [
  "name",
  "holder",
  "acquired_at as acquiredAt",
  "renewed_at as renewedAt",
  "expires_at as expiresAt",
] as const;

const byName = compiled((db, p: Param<{ name: string }>) =>
  db.selectFrom("leader_lease").select(COLUMNS).where("name", "=", p("name")),
);

/** The row, locked until the transaction's end on PostgreSQL (SQLite's IMMEDIATE transaction already is). */
const byNameLocked = compiled((db, p: Param<{ name: string }>, engine) =>
  db
    .selectFrom("leader_lease")
    .select(COLUMNS)
    .where("name", "=", p("name"))
    .$if(engine === "postgres", (q) => q.forUpdate()),
);

const put = compiled(
  (
    db,
    p: Param<{ name: string; holder: string; acquiredAt: number; renewedAt: number; expiresAt: number }>,
  ) =>
    db
      .insertInto("leader_lease")
      .values({
        name: p("name"),
        holder: p("holder"),
        acquired_at: p("acquiredAt"),
        renewed_at: p("renewedAt"),
        expires_at: p("expiresAt"),
      })
      .onConflict((oc) =>
        oc.column("name").doUpdateSet((eb) => ({
          holder: eb.ref("excluded.holder"),
          acquired_at: eb.ref("excluded.acquired_at"),
          renewed_at: eb.ref("excluded.renewed_at"),
          expires_at: eb.ref("excluded.expires_at"),
        })),
      ),
);

const drop = compiled((db, p: Param<{ name: string; holder: string }>) =>
  db.deleteFrom("leader_lease").where("name", "=", p("name")).where("holder", "=", p("holder")),
);

export class LeaderLeaseRepository {
  constructor(private readonly store: Store) {}

  async get(name: string): Promise<LeaseRow | undefined> {
    return byName.executeTakeFirst(this.store, { name });
  }

  /**
   * Takes the lease for `holder` until `nowMs + leaseMs` when it is free, expired or already `holder`'s (a renewal);
   * returns the row as it stands afterwards: held by `holder` when it won, else by whoever holds it.
   */
  async acquire(name: string, holder: string, nowMs: number, leaseMs: number): Promise<LeaseRow> {
    return this.store.transaction(async (tx: Queryable): Promise<LeaseRow> => {
      // PostgreSQL: FOR UPDATE locks no row while the lease has none yet, so contenders for a free lease would all
      // see it free; a transaction-scoped advisory lock on the lease's name serialises them (SQLite's IMMEDIATE
      // transaction already does).
      if (tx.engine === "postgres") {
        await sql`select pg_advisory_xact_lock(hashtext(${`leader_lease:${name}`}))`.execute(tx.db);
      }
      const current = await byNameLocked.executeTakeFirst(tx, { name });
      if (current && current.holder !== holder && current.expiresAt > nowMs) return current;
      const acquiredAt = current?.holder === holder ? current.acquiredAt : nowMs;
      const row: LeaseRow = { name, holder, acquiredAt, renewedAt: nowMs, expiresAt: nowMs + leaseMs };
      await put.execute(tx, row);
      return row;
    });
  }

  /** Gives the lease up when `holder` holds it (a successor need not wait for it to expire); true when it did. */
  async release(name: string, holder: string): Promise<boolean> {
    return (await drop.executeChanges(this.store, { name, holder })) === 1;
  }
}
