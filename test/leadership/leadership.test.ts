// Two SqliteLeadership instances over one database FILE, each with its own better-sqlite3 connection (as two
// processes have), on one manual clock: exactly one leads; stop() hands over at once; a leader that stops renewing
// (a crash) is replaced once its lease has expired, and knows itself it no longer leads.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, beforeEach, describe, test } from "node:test";
import { LeaderLeaseRepository } from "../../src/db/leaderLease.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import {
  LEASE_MS,
  RENEW_EVERY_MS,
  type Role,
  SCHEDULER_LEASE,
  SqliteLeadership,
} from "../../src/leadership/leadership.ts";
import { type ManualClock, manualClock } from "../../src/sandbox/clock.ts";

const dir = mkdtempSync(join(tmpdir(), "classtune-leadership-"));
const dbs: Db[] = [];
after(() => {
  for (const db of dbs) if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

let file = 0;
let clock: ManualClock;
let path: string;
beforeEach(() => {
  file += 1;
  path = join(dir, `lease-${file}.db`);
  clock = manualClock();
});

/** A "process": its own connection to the file, renewing only when the test calls attempt(). */
function contender(id: string): { leadership: SqliteLeadership; db: Db; roles: Role[] } {
  const db = openDb(path);
  dbs.push(db);
  const roles: Role[] = [];
  const leadership = new SqliteLeadership({
    store: sqliteStore(db),
    id,
    now: clock.now,
    every: () => () => undefined,
  });
  leadership.onChange((role) => roles.push(role));
  return { leadership, db, roles };
}

const leaders = (...ps: Array<{ leadership: SqliteLeadership }>) =>
  ps.filter((p) => p.leadership.isLeader()).map((p) => p.leadership.id);

describe("leadership over one SQLite file", () => {
  test("the first to start leads at once; the second follows, and renewals keep it that way", async () => {
    const a = contender("a");
    const b = contender("b");
    await a.leadership.start();
    await b.leadership.start();
    assert.deepEqual(leaders(a, b), ["a"]);
    assert.equal(b.leadership.role(), "follower");
    for (let i = 0; i < 10; i++) {
      clock.advance(RENEW_EVERY_MS);
      // Alternate who tries first: the order of attempts never makes two leaders.
      if (i % 2 === 0) {
        await a.leadership.attempt();
        await b.leadership.attempt();
      } else {
        await b.leadership.attempt();
        await a.leadership.attempt();
      }
      assert.deepEqual(leaders(a, b), ["a"], `after renewal ${i + 1}`);
    }
    assert.deepEqual(a.roles, ["leader"]);
    assert.deepEqual(b.roles, []);
    const row = await new LeaderLeaseRepository(sqliteStore(b.db)).get(SCHEDULER_LEASE);
    assert.equal(row?.holder, "a");
    assert.equal(row?.expiresAt, clock.now() + LEASE_MS);
  });

  test("stop() releases the lease: the follower's next attempt leads, without waiting for the expiry", async () => {
    const a = contender("a");
    const b = contender("b");
    await a.leadership.start();
    await b.leadership.start();
    await a.leadership.stop();
    assert.deepEqual(leaders(a, b), []);
    assert.equal(
      await new LeaderLeaseRepository(sqliteStore(b.db)).get(SCHEDULER_LEASE),
      undefined,
      "the row is gone",
    );
    assert.equal(await b.leadership.attempt(), "leader");
    assert.deepEqual(leaders(a, b), ["b"]);
    assert.deepEqual(a.roles, ["leader", "follower"]);
    assert.deepEqual(b.roles, ["leader"]);
    // The stopped one does not take it back, even on an attempt of its own.
    clock.advance(LEASE_MS * 2);
    await b.leadership.attempt();
    await a.leadership.attempt();
    assert.deepEqual(leaders(a, b), ["b"]);
  });

  test("a leader that stops renewing (a crash) is replaced once its lease expires, and stops leading itself", async () => {
    const a = contender("a");
    const b = contender("b");
    await a.leadership.start();
    await b.leadership.start();
    // a never renews again. Until its lease runs out, b cannot take over.
    clock.advance(LEASE_MS - 1);
    assert.equal(await b.leadership.attempt(), "follower");
    assert.deepEqual(leaders(a, b), ["a"]);
    clock.advance(1);
    assert.equal(a.leadership.isLeader(), false, "by its own clock, a's lease has run out");
    assert.equal(await b.leadership.attempt(), "leader");
    assert.deepEqual(leaders(a, b), ["b"]);
    // a wakes up (a stalled event loop) and tries again: b holds a live lease, so a follows.
    assert.equal(await a.leadership.attempt(), "follower");
    assert.deepEqual(a.roles, ["leader", "follower"]);
    assert.deepEqual(leaders(a, b), ["b"]);
  });

  test("a leader whose database fails keeps leading only until its lease would expire", async () => {
    const a = contender("a");
    const b = contender("b");
    await a.leadership.start();
    await b.leadership.start();
    a.db.close();
    clock.advance(RENEW_EVERY_MS);
    assert.equal(await a.leadership.attempt(), "leader", "a failed renewal keeps the lease it still holds");
    clock.advance(LEASE_MS - RENEW_EVERY_MS);
    assert.equal(await a.leadership.attempt(), "follower");
    assert.equal(await b.leadership.attempt(), "leader");
  });

  test("start() schedules the renewals at RENEW_EVERY_MS and stop() cancels them", async () => {
    const db = openDb(path);
    dbs.push(db);
    const scheduled: number[] = [];
    let cancelled = 0;
    let renew: (() => void) | undefined;
    const leadership = new SqliteLeadership({
      store: sqliteStore(db),
      id: "solo",
      now: clock.now,
      every: (ms, attempt) => {
        scheduled.push(ms);
        renew = attempt;
        return () => {
          cancelled += 1;
        };
      },
    });
    await leadership.start();
    assert.deepEqual(scheduled, [RENEW_EVERY_MS]);
    clock.advance(LEASE_MS - 1);
    renew?.();
    await leadership.attempt(); // the scheduled renewal, under way: overlapping calls share one attempt
    clock.advance(LEASE_MS - 1);
    assert.equal(leadership.isLeader(), true, "the scheduled renewal moved the expiry on");
    await leadership.stop();
    assert.equal(cancelled, 1);
    assert.equal(leadership.isLeader(), false);
  });

  test("a lease renewed no more often than it lasts is refused", () => {
    const db = openDb(path);
    dbs.push(db);
    assert.throws(
      () => new SqliteLeadership({ store: sqliteStore(db), leaseMs: 10_000, renewEveryMs: 10_000 }),
      /renewed every/,
    );
  });
});
