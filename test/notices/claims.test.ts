// Issue 14's "every notice is posted exactly once across processes": notifiers of two processes (here two
// connections to one database file, each with its own poster) drain the outbox side by side; each notice is posted
// by one of them, a crashed holder's notices are posted by the other once its claim expires, and a notice updated
// while it is being posted still ends with its latest revision posted, as an edit of the one message.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { type Db, openDb } from "../../src/db/open.ts";
import { OUTBOX_CLAIM_MS, OutboxRepository } from "../../src/db/outbox.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import type { JobNoticeBase, JobProgressPayload, OutboxNotice } from "../../src/domain/notices.ts";
import { type NoticeSender, Notifier } from "../../src/notices/notifier.ts";

const dir = mkdtempSync(join(tmpdir(), "classtune-outbox-claims-"));
const opened: Db[] = [];
after(() => {
  for (const db of opened) db.close();
  rmSync(dir, { recursive: true, force: true });
});

let files = 0;
/** Two connections to one new database file: what two processes on one machine have. */
function twoProcesses(): [Db, Db] {
  const path = join(dir, `db-${++files}.sqlite`);
  const pair: [Db, Db] = [openDb(path), openDb(path)];
  opened.push(...pair);
  return pair;
}

const notice = (guildId: string, key: string, extra: Record<string, unknown> = {}) => ({
  guildId,
  channelId: `${guildId}-notices`,
  kind: "job_progress" as const,
  // A partial payload is enough here: the notifier passes payloads through untouched.
  payload: { jobId: 1, ...extra } as unknown as JobNoticeBase & JobProgressPayload,
  dedupeKey: key,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A poster that takes a little while, like Discord, and records who posted what when. */
function slowPoster(name: string, log: Array<{ by: string; id: number; guildId: string }>): NoticeSender {
  return {
    async send(n) {
      await sleep(Math.random() * 2);
      log.push({ by: name, id: n.id, guildId: n.guildId });
      return { messageId: n.messageId ?? `${name}-m${n.id}` };
    },
  };
}

/** A poster whose post hangs until released (a slow Discord, or a process frozen mid-post). */
function heldPoster() {
  const sent: OutboxNotice[] = [];
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const sender: NoticeSender = {
    async send(n) {
      sent.push(n);
      await held;
      return { messageId: n.messageId ?? `held-m${n.id}` };
    },
  };
  return { sent, sender, release };
}

function recordingPoster() {
  const sent: OutboxNotice[] = [];
  const sender: NoticeSender = {
    async send(n) {
      sent.push(n);
      return { messageId: n.messageId ?? `m${n.id}` };
    },
  };
  return { sent, sender };
}

const unposted = (db: Db) =>
  db.prepare("SELECT COUNT(*) FROM outbox WHERE posted_at IS NULL").pluck().get() as number;

describe("outbox claims across processes", () => {
  // Two holders on one connection: their claims' transactions interleave at every await. Two connections in one
  // process cannot race async transactions on SQLite (a BEGIN IMMEDIATE waiting out busy_timeout blocks the thread the
  // lock holder needs); real processes on one file do, in test/notices/twoProcesses.test.ts.
  it("two holders draining side by side post each of 200 notices exactly once, each guild's in order", async () => {
    const [dbA] = twoProcesses();
    const dbB = dbA;
    const outbox = new OutboxRepository(sqliteStore(dbA));
    for (let i = 0; i < 200; i++) await outbox.enqueue(notice(`g${i % 7}`, `n:${i}`));
    const log: Array<{ by: string; id: number; guildId: string }> = [];
    const a = new Notifier({
      store: sqliteStore(dbA),
      sender: slowPoster("A", log),
      holder: "A",
      batch: 20,
      perGuild: 5,
    });
    const b = new Notifier({
      store: sqliteStore(dbB),
      sender: slowPoster("B", log),
      holder: "B",
      batch: 20,
      perGuild: 5,
    });
    const drainUntilEmpty = async (n: Notifier, db: Db) => {
      for (let round = 0; unposted(db) > 0; round++) {
        assert.ok(round < 1_000, "the outbox drains");
        const { posted } = await n.drain();
        if (posted === 0) await sleep(1); // every guild is the other's right now
      }
    };
    await Promise.all([drainUntilEmpty(a, dbA), drainUntilEmpty(b, dbB)]);

    const ids = log.map((p) => p.id).sort((x, y) => x - y);
    assert.equal(ids.length, 200, "200 posts in all");
    assert.equal(new Set(ids).size, 200, "no notice posted twice");
    assert.ok(
      log.some((p) => p.by === "A") && log.some((p) => p.by === "B"),
      "both processes posted some: the drains overlapped",
    );
    for (let g = 0; g < 7; g++) {
      const order = log.filter((p) => p.guildId === `g${g}`).map((p) => p.id);
      assert.deepEqual(
        order,
        [...order].sort((x, y) => x - y),
        `guild g${g}'s notices in order`,
      );
    }
    assert.equal(
      dbA.prepare("SELECT COUNT(*) FROM outbox WHERE claim_holder IS NOT NULL").pluck().get(),
      0,
      "no claim left behind",
    );
  });

  it("a process that crashed holding notices: another posts them, once, after the claim expires", async () => {
    const [dbA, dbB] = twoProcesses();
    await new OutboxRepository(sqliteStore(dbA)).enqueue(notice("g1", "job:1:created"));
    let now = Date.parse("2026-12-03T12:00:00Z");
    const clock = () => now;
    // A claims the notice and freezes mid-post: it never marks it, never releases it.
    const crashed = heldPoster();
    void new Notifier({ store: sqliteStore(dbA), sender: crashed.sender, holder: "A", now: clock }).drain();
    await sleep(5);
    assert.equal(crashed.sent.length, 1, "A was posting it");

    const b = recordingPoster();
    const notifierB = new Notifier({ store: sqliteStore(dbB), sender: b.sender, holder: "B", now: clock });
    now += OUTBOX_CLAIM_MS - 1;
    assert.deepEqual(await notifierB.drain(), { posted: 0, failed: 0 }, "A's claim still holds");
    now += 1;
    assert.deepEqual(await notifierB.drain(), { posted: 1, failed: 0 }, "expired: B takes it over");
    assert.deepEqual(await notifierB.drain(), { posted: 0, failed: 0 });
    assert.equal(b.sent.length, 1);
    const row = await new OutboxRepository(sqliteStore(dbB)).getByKey("g1", "job:1:created");
    assert.ok(row?.postedAt, "posted");
    assert.equal(row?.messageId, `m${row?.id}`, "B's message");
    assert.equal(row?.claimHolder, null);
    // Were A to come back and finish, its record is refused: the notice is B's.
    assert.equal(
      await new OutboxRepository(sqliteStore(dbA)).markPosted(row?.id ?? 0, "A", 1, "A-late"),
      false,
    );
    assert.equal(
      (await new OutboxRepository(sqliteStore(dbB)).getByKey("g1", "job:1:created"))?.messageId,
      `m${row?.id}`,
    );
  });

  it("a notice updated while one process posts it ends with its latest revision posted, as an edit of that message", async () => {
    const [dbA, dbB] = twoProcesses();
    const outbox = new OutboxRepository(sqliteStore(dbA));
    await outbox.upsert(notice("g1", "job:1:progress", { step: 1 }));
    const a = heldPoster();
    const drainingA = new Notifier({ store: sqliteStore(dbA), sender: a.sender, holder: "A" }).drain();
    await sleep(5);
    assert.deepEqual(a.sent[0]?.payload, { jobId: 1, step: 1 });

    // The poller updates the card meanwhile; B (a follower after a command) drains at once.
    await new OutboxRepository(sqliteStore(dbB)).upsert(notice("g1", "job:1:progress", { step: 2 }));
    const b = recordingPoster();
    const notifierB = new Notifier({ store: sqliteStore(dbB), sender: b.sender, holder: "B" });
    assert.deepEqual(
      await notifierB.drain(),
      { posted: 0, failed: 0 },
      "revision 2 waits for A's post: posted beside it, it would be a second message",
    );

    await a.release();
    assert.deepEqual(await drainingA, { posted: 1, failed: 0 });
    const afterA = await outbox.getByKey("g1", "job:1:progress");
    assert.equal(afterA?.postedAt, null, "revision 2 still to post");
    assert.equal(afterA?.messageId, `held-m${afterA?.id}`, "A's message id kept");
    assert.equal(afterA?.claimHolder, null, "A's claim released");

    assert.deepEqual(await notifierB.drain(), { posted: 1, failed: 0 });
    assert.equal(b.sent.length, 1);
    assert.deepEqual(b.sent[0]?.payload, { jobId: 1, step: 2 }, "the latest revision");
    assert.equal(b.sent[0]?.messageId, `held-m${afterA?.id}`, "as an edit of A's message");
    assert.equal(b.sent[0]?.nonce, `ct${afterA?.id}r2`);
    assert.ok((await outbox.getByKey("g1", "job:1:progress"))?.postedAt);
  });

  it("while one process posts a guild's notices, another posts other guilds' but not that one's newer notice", async () => {
    const [dbA, dbB] = twoProcesses();
    const outbox = new OutboxRepository(sqliteStore(dbA));
    await outbox.enqueue(notice("g1", "first"));
    const a = heldPoster();
    const drainingA = new Notifier({ store: sqliteStore(dbA), sender: a.sender, holder: "A" }).drain();
    await sleep(5);
    await outbox.enqueue(notice("g1", "second"));
    await outbox.enqueue(notice("g2", "other"));
    const b = recordingPoster();
    const notifierB = new Notifier({ store: sqliteStore(dbB), sender: b.sender, holder: "B" });
    assert.deepEqual(await notifierB.drain(), { posted: 1, failed: 0 });
    assert.deepEqual(
      b.sent.map((n) => n.guildId),
      ["g2"],
      "g1's second notice is not posted ahead of its first",
    );
    await a.release();
    await drainingA;
    assert.deepEqual(await notifierB.drain(), { posted: 1, failed: 0 });
    assert.deepEqual(
      b.sent.map((n) => n.guildId),
      ["g2", "g1"],
    );
  });

  it("notices a drain took but did not try (behind a failed one) are released at once, with no attempt counted", async () => {
    const [dbA, dbB] = twoProcesses();
    const outbox = new OutboxRepository(sqliteStore(dbA));
    await outbox.enqueue(notice("g1", "a"));
    await outbox.enqueue(notice("g1", "b"));
    const failing: NoticeSender = {
      async send() {
        throw new Error("503 from Discord");
      },
    };
    assert.deepEqual(await new Notifier({ store: sqliteStore(dbA), sender: failing, holder: "A" }).drain(), {
      posted: 0,
      failed: 1,
    });
    assert.equal((await outbox.getByKey("g1", "b"))?.claimHolder, null);
    assert.equal((await outbox.getByKey("g1", "b"))?.attempts, 0);
    const b = recordingPoster();
    assert.deepEqual(await new Notifier({ store: sqliteStore(dbB), sender: b.sender, holder: "B" }).drain(), {
      posted: 2,
      failed: 0,
    });
  });
});
