// The leader_lease table (migration 014): who holds a named lease and until when. Each acquire or renew is one
// BEGIN IMMEDIATE transaction (the write lock is taken before the row is read), so of two processes on one
// database file exactly one sees the lease free and takes it; the other waits (busy_timeout) and then sees it held.
import type { Db } from "./open.ts";
import { prepared } from "./statements.ts";

export interface LeaseRow {
  name: string;
  holder: string;
  /** Milliseconds since the epoch, as the holder's clock read them. */
  acquiredAt: number;
  renewedAt: number;
  expiresAt: number;
}

interface RawLease {
  name: string;
  holder: string;
  acquired_at: number;
  renewed_at: number;
  expires_at: number;
}

const fromRaw = (r: RawLease): LeaseRow => ({
  name: r.name,
  holder: r.holder,
  acquiredAt: r.acquired_at,
  renewedAt: r.renewed_at,
  expiresAt: r.expires_at,
});

export class LeaderLeaseRepository {
  constructor(private readonly db: Db) {}

  get(name: string): LeaseRow | undefined {
    const row = prepared(this.db, "SELECT * FROM leader_lease WHERE name = ?").get(name) as
      | RawLease
      | undefined;
    return row ? fromRaw(row) : undefined;
  }

  /**
   * Takes the lease for `holder` until `nowMs + leaseMs` when it is free, expired or already `holder`'s (a renewal);
   * returns the row as it stands afterwards: held by `holder` when it won, else by whoever holds it.
   */
  acquire(name: string, holder: string, nowMs: number, leaseMs: number): LeaseRow {
    return this.db
      .transaction((): LeaseRow => {
        const current = this.get(name);
        if (current && current.holder !== holder && current.expiresAt > nowMs) return current;
        const acquiredAt = current?.holder === holder ? current.acquiredAt : nowMs;
        const row: LeaseRow = { name, holder, acquiredAt, renewedAt: nowMs, expiresAt: nowMs + leaseMs };
        prepared(
          this.db,
          `INSERT INTO leader_lease (name, holder, acquired_at, renewed_at, expires_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, acquired_at = excluded.acquired_at,
               renewed_at = excluded.renewed_at, expires_at = excluded.expires_at`,
        ).run(name, holder, acquiredAt, nowMs, row.expiresAt);
        return row;
      })
      .immediate();
  }

  /** Gives the lease up when `holder` holds it (a successor need not wait for it to expire); true when it did. */
  release(name: string, holder: string): boolean {
    return (
      prepared(this.db, "DELETE FROM leader_lease WHERE name = ? AND holder = ?").run(name, holder)
        .changes === 1
    );
  }
}
