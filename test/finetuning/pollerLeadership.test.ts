// Two bots' pollers over one database file (each its own connection and leadership, as two processes have) and one
// provider (the sandbox over loopback): whatever both tick, each due job is polled once per tick overall, by the
// leader; when the leader stops, the other takes over at once; when it crashes, after its lease expired. Each job
// ends with exactly one notice and one registered model.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { JobRepository, type JobRow } from "../../src/db/jobs.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { JobPoller, type TickResult } from "../../src/finetuning/poller.ts";
import { LEASE_MS, SqliteLeadership } from "../../src/leadership/leadership.ts";
import { Notifier } from "../../src/notices/notifier.ts";
import { type Harness, harness } from "./jobs.fixture.ts";

interface Bot {
  name: string;
  db: Db;
  leadership: SqliteLeadership;
  poller: JobPoller;
  /** A crashed bot neither renews nor ticks. */
  crashed: boolean;
}

let h: Harness;
let dbB: Db;
const bots: Bot[] = [];

function bot(name: string, db: Db, notifier: Notifier): Bot {
  const leadership = new SqliteLeadership({
    store: sqliteStore(db),
    id: name,
    now: h.clock.now,
    every: () => () => undefined,
  });
  const poller = new JobPoller({
    store: sqliteStore(db),
    providers: h.providers,
    notifier,
    leadership,
    now: () => new Date(h.clock.now()),
    progressNoticeIntervalMs: 0,
  });
  return { name, db, leadership, poller, crashed: false };
}

before(async () => {
  h = await harness();
  dbB = openDb(h.dbPath);
  bots.push(bot("a", h.db, h.notifier));
  bots.push(bot("b", dbB, new Notifier({ store: sqliteStore(dbB), sender: h.sender })));
});
after(async () => {
  for (const b of bots) await b.poller.stop();
  dbB.close();
  await h.close();
});

const [a, b] = [() => bots[0] as Bot, () => bots[1] as Bot];

/** One round: the clock moves, every live bot renews (as its interval would) and ticks, all at once. */
async function round(): Promise<{ results: Map<string, TickResult>; listCalls: number }> {
  h.clock.advance(5_000);
  const live = bots.filter((x) => !x.crashed);
  for (const x of live) await x.leadership.attempt();
  const before = h.calls.length;
  const results = await Promise.all(live.map((x) => x.poller.tick()));
  const listCalls = h.calls.slice(before).filter((c) => c === "GET /fine_tuning/jobs").length;
  return { results: new Map(live.map((x, i) => [x.name, results[i] as TickResult])), listCalls };
}

function assertPolledOnceBy(r: Awaited<ReturnType<typeof round>>, leader: string, tracked: number): void {
  const polled = [...r.results].filter(([, t]) => !t.follower).map(([name]) => name);
  assert.deepEqual(polled, [leader], "only the leader's tick ran");
  assert.equal(r.results.get(leader)?.tracked, tracked, "it visited every unfinished job");
  assert.equal(r.listCalls, tracked > 0 ? 1 : 0, "one listing for the whole round");
  for (const [name, t] of r.results) {
    if (name !== leader) assert.equal(t.tracked + t.listCalls + t.retrieveCalls + t.eventCalls, 0, name);
  }
}

describe("two pollers over one database", () => {
  test("each due job is polled once per tick overall, through a hand-over and a crash, and ends once", async () => {
    const jobs: JobRow[] = [];
    for (let i = 0; i < 2; i++) {
      const dataset = await h.dataset(12);
      jobs.push(await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1" }));
    }
    const repo = new JobRepository(sqliteStore(h.db));
    const unfinished = async () => {
      let n = 0;
      for (const j of jobs) if ((await repo.get("g1", j.id))?.status !== "succeeded") n += 1;
      return n;
    };
    await a().leadership.start();
    await b().leadership.start();

    // a started first and leads.
    for (let i = 0; i < 2; i++) assertPolledOnceBy(await round(), "a", await unfinished());

    // a shuts down (as app.close() does: its poller first, then the lease): b leads from its next attempt.
    await a().poller.stop();
    await a().leadership.stop();
    for (let i = 0; i < 2; i++) assertPolledOnceBy(await round(), "b", await unfinished());

    // a comes back as a follower; then b crashes: nothing is polled until b's lease has expired, then a polls.
    await a().leadership.start();
    assert.equal(a().leadership.isLeader(), false);
    b().crashed = true;
    const crashedAt = h.clock.now();
    while (h.clock.now() + 5_000 < crashedAt + LEASE_MS) {
      const r = await round();
      assert.equal(r.listCalls, 0, "b's lease still runs: a waits");
      assert.equal(r.results.get("a")?.follower, true);
    }
    for (let rounds = 0; (await unfinished()) > 0; rounds++) {
      assert.ok(rounds < 200, "the jobs finish");
      const tracked = await unfinished();
      assertPolledOnceBy(await round(), "a", tracked);
    }

    const succeeded = h.sent.filter((n) => n.kind === "job_succeeded");
    assert.deepEqual(
      succeeded.map((n) => (n.payload as { jobId: number }).jobId).sort(),
      jobs.map((j) => j.id).sort(),
    );
    const models = h.db.prepare("SELECT COUNT(*) FROM models WHERE guild_id = 'g1'").pluck().get();
    assert.equal(models, 2);
  });
});
