// PostgresLeadership against a real PostgreSQL: two instances on one database (each with its own session, as two
// processes have) lead one at a time, and pg_locks agrees with what they say; a stopped leader hands over at the
// other's next attempt; a killed session demotes its leader at once; a leader cut off by a half-dead network (a
// loopback relay that black-holes its bytes) steps down within about an interval, and the other leads once
// PostgreSQL has ended the silent session. At no moment do two say "leader" (a sampler watches every millisecond).
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, type TestContext, test } from "node:test";
import pg from "pg";
import { intervalOf, type Role, SCHEDULER_LEASE } from "../../src/leadership/leadership.ts";
import {
  advisoryLockKey,
  PostgresLeadership,
  type PostgresLeadershipOptions,
} from "../../src/leadership/postgres.ts";
import { createLogger } from "../../src/logger.ts";
import { freshPostgresDatabase, skipWithoutPostgres } from "../helpers/postgres.ts";
import { startTcpRelay } from "../helpers/tcpRelay.ts";

const KEY = advisoryLockKey(SCHEDULER_LEASE).toString();
/** Attempts in these tests are the test's own calls, so the default interval (10 s) only bounds each query. */
const noSchedule = () => () => undefined;

interface Contender {
  leadership: PostgresLeadership;
  /** Each onChange, in order. */
  roles: Role[];
}

/** A database of this test's own, and contenders on it whose sessions are named by their ids (in pg_stat_activity). */
async function setUp(t: TestContext) {
  const started: PostgresLeadership[] = [];
  // Registered before the database's drop, so the sessions end first.
  t.after(() => Promise.all(started.map((l) => l.stop())));
  const url = await freshPostgresDatabase(t);
  const contender = (
    id: string,
    o: Partial<PostgresLeadershipOptions> = {},
  ): Contender & { pid: () => Promise<number> } => {
    const roles: Role[] = [];
    const leadership = new PostgresLeadership({
      url,
      id,
      every: noSchedule,
      newClient: (config) => new pg.Client({ ...config, application_name: id }),
      ...o,
    });
    leadership.onChange((role) => roles.push(role));
    started.push(leadership);
    return { leadership, roles, pid: () => pidOf(id) };
  };
  const query = async <R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end();
    }
  };
  /** Whose sessions hold the scheduler's lock in this database, by pg_locks (not by what the instances say). */
  const holders = async (): Promise<string[]> =>
    (
      await query<{ holder: string }>(
        `SELECT a.application_name AS holder FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
           AND ((l.classid::bigint << 32) | l.objid::bigint) = $1::bigint
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
         ORDER BY 1`,
        [KEY],
      )
    ).map((r) => r.holder);
  const pidOf = async (id: string): Promise<number> => {
    const rows = await query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
      [id],
    );
    assert.equal(rows.length, 1, `one session named ${id}`);
    return (rows[0] as { pid: number }).pid;
  };
  const sessions = async (id: string): Promise<number> =>
    (
      await query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
        [id],
      )
    )[0]?.n ?? 0;
  return { url, contender, query, holders, sessions };
}

const leaders = (...cs: Contender[]) => cs.filter((c) => c.leadership.isLeader()).map((c) => c.leadership.id);

/** Checks every millisecond (and on demand) that at most one of `cs` says it leads, until stop() or the test's end. */
function neverTwoLeaders(t: TestContext, ...cs: Contender[]): { check(): void; stop(): void } {
  const seen: string[] = [];
  const sample = () => {
    const now = leaders(...cs);
    if (now.length > 1) seen.push(now.join("+"));
  };
  const timer = setInterval(sample, 1);
  t.after(() => clearInterval(timer));
  return {
    check() {
      sample();
      assert.deepEqual(seen, [], "two said leader at once");
    },
    stop() {
      clearInterval(timer);
      this.check();
    },
  };
}

/** Resolves with the milliseconds until `c` next reports `role`; rejects after `withinMs`. */
function nextRole(c: Contender, role: Role, withinMs: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`${c.leadership.id} did not become ${role} within ${withinMs} ms`));
    }, withinMs);
    const off = c.leadership.onChange((r) => {
      if (r !== role) return;
      clearTimeout(timer);
      off();
      resolve(performance.now() - t0);
    });
  });
}

describe("the advisory lock key", () => {
  test("is a fixed signed 64-bit integer per lease name, the same in every process and release", () => {
    assert.equal(advisoryLockKey("scheduler"), -7317100423084642217n);
    assert.notEqual(advisoryLockKey("other"), advisoryLockKey("scheduler"));
    for (const name of ["scheduler", "other", ""]) {
      const key = advisoryLockKey(name);
      assert.ok(key >= -(2n ** 63n) && key < 2n ** 63n);
    }
  });
});

describe("leadership on PostgreSQL", { skip: skipWithoutPostgres }, () => {
  test("of two on one database exactly one leads, as pg_locks shows; its stop() hands over at the other's next attempt", async (t) => {
    const db = await setUp(t);
    const a = db.contender("a");
    const b = db.contender("b");
    await a.leadership.start();
    await b.leadership.start();
    const watch = neverTwoLeaders(t, a, b);
    assert.deepEqual(leaders(a, b), ["a"]);
    assert.deepEqual(await db.holders(), ["a"]);
    for (let i = 0; i < 5; i++) {
      // The leader's check does not stack the lock; the follower's try does not take it.
      assert.equal(await b.leadership.attempt(), "follower");
      assert.equal(await a.leadership.attempt(), "leader");
    }
    assert.deepEqual(await db.holders(), ["a"]);
    const [lock] = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1",
    );
    assert.equal(lock?.n, 1, "one lock, taken once");

    await a.leadership.stop();
    watch.check();
    assert.deepEqual(leaders(a, b), []);
    assert.deepEqual(await db.holders(), [], "unlocked");
    assert.equal(await db.sessions("a"), 0, "and its session ended");
    const t0 = performance.now();
    assert.equal(await b.leadership.attempt(), "leader");
    t.diagnostic(
      `handover after stop(): ${Math.round(performance.now() - t0)} ms from the follower's attempt`,
    );
    assert.deepEqual(await db.holders(), ["b"]);
    // The stopped one never takes it back; stopping again does nothing.
    assert.equal(await a.leadership.attempt(), "follower");
    await a.leadership.stop();
    assert.deepEqual(leaders(a, b), ["b"]);
    assert.deepEqual(a.roles, ["leader", "follower"]);
    assert.deepEqual(b.roles, ["leader"]);

    // A follower's stop just ends its session; the leader leads on.
    const c = db.contender("c");
    await c.leadership.start();
    assert.equal(c.leadership.role(), "follower");
    assert.equal(await db.sessions("c"), 1);
    await c.leadership.stop();
    assert.equal(await db.sessions("c"), 0);
    assert.deepEqual(c.roles, []);
    assert.equal(await b.leadership.attempt(), "leader");
    watch.stop();
  });

  test("a leader whose session is terminated demotes itself at once; the other leads at its next attempt", async (t) => {
    const db = await setUp(t);
    const a = db.contender("a");
    const b = db.contender("b");
    await a.leadership.start();
    await b.leadership.start();
    const watch = neverTwoLeaders(t, a, b);
    assert.deepEqual(leaders(a, b), ["a"]);

    // The interval is 10 s: a learns it from its client's 'error', not from a check.
    const demoted = nextRole(a, "follower", 2_000);
    await db.query("SELECT pg_terminate_backend($1)", [await a.pid()]);
    const demotedMs = await demoted;
    t.diagnostic(`demoted ${Math.round(demotedMs)} ms after pg_terminate_backend`);
    watch.check();
    assert.equal(a.leadership.isLeader(), false);
    assert.equal(await b.leadership.attempt(), "leader");
    assert.deepEqual(await db.holders(), ["b"]);
    watch.check();

    // a's next attempt opens a new session, as a follower.
    assert.equal(await a.leadership.attempt(), "follower");
    assert.equal(await db.sessions("a"), 1);
    watch.check();
    // The same for a follower's own session: terminated, it reconnects at its next attempt, and leads once free.
    await db.query("SELECT pg_terminate_backend($1)", [await a.pid()]);
    const bDemoted = nextRole(b, "follower", 2_000);
    await db.query("SELECT pg_terminate_backend($1)", [await b.pid()]);
    await bDemoted;
    watch.check();
    assert.equal(await a.leadership.attempt(), "leader");
    assert.deepEqual(await db.holders(), ["a"]);
    assert.equal(await b.leadership.attempt(), "follower");
    assert.deepEqual(a.roles, ["leader", "follower", "leader"]);
    assert.deepEqual(b.roles, ["leader", "follower"]);
    watch.stop();
  });

  test("a leader cut off by a half-dead network steps down within about an interval; the other leads once PostgreSQL ends the silent session", async (t) => {
    const RENEW_MS = 300;
    const db = await setUp(t);
    const target = new URL(db.url);
    const relay = await startTcpRelay({ host: target.hostname, port: Number(target.port || 5432) });
    t.after(() => relay.close());
    const viaRelay = new URL(db.url);
    viaRelay.port = String(relay.port);
    // Both on the real interval this time.
    const a = db.contender("a", { url: viaRelay.toString(), renewEveryMs: RENEW_MS, every: intervalOf });
    await a.leadership.start();
    const b = db.contender("b", { renewEveryMs: RENEW_MS, every: intervalOf });
    await b.leadership.start();
    const watch = neverTwoLeaders(t, a, b);
    assert.deepEqual(leaders(a, b), ["a"]);
    // Checked a few times over the relay: it leads on.
    await new Promise((resolve) => setTimeout(resolve, RENEW_MS * 3));
    assert.deepEqual(leaders(a, b), ["a"]);

    const demoted = nextRole(a, "follower", RENEW_MS * 6);
    const promoted = nextRole(b, "leader", RENEW_MS * 12);
    relay.blackHole();
    const demotedMs = await demoted;
    // Its next check goes out within an interval and times out after one more.
    assert.ok(demotedMs <= 2 * RENEW_MS + 250, `stepped down after ${Math.round(demotedMs)} ms`);
    assert.deepEqual(await db.holders(), ["a"], "PostgreSQL still counts the silent session as the holder");
    const promotedMs = await promoted;
    t.diagnostic(
      `half-dead network: stepped down after ${Math.round(demotedMs)} ms, the other led after ${Math.round(promotedMs)} ms (interval ${RENEW_MS} ms)`,
    );
    // PostgreSQL ends the session 3 intervals after its last query; b tries every interval.
    assert.ok(promotedMs > demotedMs, "no overlap");
    assert.ok(promotedMs <= 5 * RENEW_MS + 500, `took over after ${Math.round(promotedMs)} ms`);
    assert.deepEqual(await db.holders(), ["b"]);
    watch.stop();
  });

  test("a leader whose checks stop (a stalled process) stops leading by its own clock, before its lock is freed", async (t) => {
    const db = await setUp(t);
    let now = 1_000_000;
    const a = db.contender("a", { now: () => now, renewEveryMs: 10_000 });
    const b = db.contender("b");
    await a.leadership.start();
    await b.leadership.start();
    now += 2 * 10_000 - 1;
    assert.equal(a.leadership.isLeader(), true);
    now += 1;
    assert.equal(a.leadership.isLeader(), false, "two intervals without a confirmed check");
    // Until PostgreSQL ends a's session (after three), nobody leads: never two.
    assert.equal(await b.leadership.attempt(), "follower");
    assert.deepEqual(await db.holders(), ["a"]);
    // a's next check confirms its session again.
    assert.equal(await a.leadership.attempt(), "leader");
    assert.deepEqual(a.roles, ["leader"], "the lapse was never reported: no attempt saw it");
  });

  test("how long a check counts is measured on a monotonic clock: a wall clock set back does not stretch it", async (t) => {
    const db = await setUp(t);
    const RENEW_MS = 100;
    // The wall clock, as the machine's would be set back an hour (NTP, an operator) while the leader stalls.
    const wall = Date.now;
    let setBack = 0;
    Date.now = () => wall() - setBack;
    t.after(() => {
      Date.now = wall;
    });
    const a = db.contender("a", { renewEveryMs: RENEW_MS });
    await a.leadership.start();
    assert.equal(a.leadership.isLeader(), true);
    setBack = 3_600_000;
    await new Promise((resolve) => setTimeout(resolve, 2 * RENEW_MS + 50));
    assert.equal(a.leadership.isLeader(), false, "two intervals without a confirmed check have passed");
  });

  test("locks in different databases are apart: one leader in each", async (t) => {
    const one = await setUp(t);
    const two = await setUp(t);
    const a = one.contender("a");
    const b = two.contender("b");
    await a.leadership.start();
    await b.leadership.start();
    assert.deepEqual(leaders(a, b), ["a", "b"]);
    assert.deepEqual(await one.holders(), ["a"]);
    assert.deepEqual(await two.holders(), ["b"]);
  });

  test("an unreachable database: start() resolves as a follower, the schedule retries, and the password is never logged", async (t) => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const address = s.address();
        s.close(() => resolve(typeof address === "object" && address ? address.port : 0));
      });
    });
    const password = ["pw", "not", "a", "secret"].join("-");
    const lines: string[] = [];
    const leadership = new PostgresLeadership({
      url: `postgres://classtune:${password}@127.0.0.1:${port}/nowhere?password=${password}`,
      renewEveryMs: 50,
      logger: createLogger("warn", { write: (l: string) => void lines.push(l) }),
    });
    t.after(() => leadership.stop());
    await leadership.start();
    assert.equal(leadership.role(), "follower");
    await new Promise((resolve) => setTimeout(resolve, 400));
    const failures = lines.filter((l) => l.includes("could not try for the leader lock"));
    assert.ok(failures.length >= 3, `retried on schedule: ${failures.length} attempts logged`);
    assert.ok(
      lines.every((l) => !l.includes(password)),
      lines.join("\n"),
    );
    assert.match(failures[0] ?? "", /ECONNREFUSED/);
    assert.match(failures[0] ?? "", new RegExp(`127\\.0\\.0\\.1:${port}/nowhere`));
  });
});
