import assert from "node:assert/strict";
import { test } from "node:test";
import { openDb } from "../../src/db/open.ts";
import { OutboxRepository } from "../../src/db/outbox.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import type { JobNoticeBase, JobProgressPayload, OutboxNotice } from "../../src/domain/notices.ts";
import { type NoticeSender, Notifier } from "../../src/notices/notifier.ts";

function memorySender() {
  const sent: OutboxNotice[] = [];
  const sender: NoticeSender & { failNext: number } = {
    failNext: 0,
    async send(n) {
      if (sender.failNext > 0) {
        sender.failNext -= 1;
        throw new Error("503 from Discord");
      }
      sent.push(n);
      return { messageId: n.messageId ?? `m${n.id}` };
    },
  };
  return { sent, sender };
}

const notice = (key: string, extra: Record<string, unknown> = {}) => ({
  guildId: "g1",
  channelId: "c1",
  kind: "job_cancelled" as const,
  // A partial payload is enough here: the notifier passes payloads through untouched.
  payload: { jobId: 1, ...extra } as unknown as JobNoticeBase & JobProgressPayload,
  dedupeKey: key,
});

test("a notice is enqueued once per dedupe key and posted once", async () => {
  const db = openDb(":memory:");
  const outbox = new OutboxRepository(sqliteStore(db));
  assert.equal(await outbox.enqueue(notice("job:1:cancelled")), true);
  assert.equal(await outbox.enqueue(notice("job:1:cancelled")), false);
  const { sent, sender } = memorySender();
  const notifier = new Notifier({ store: sqliteStore(db), sender });
  assert.deepEqual(await notifier.drain(), { posted: 1, failed: 0 });
  assert.deepEqual(await notifier.drain(), { posted: 0, failed: 0 });
  assert.equal(sent.length, 1);
  assert.equal(sent[0]?.nonce, `ct${sent[0]?.id}r1`);
  assert.ok((await outbox.getByKey("g1", "job:1:cancelled"))?.postedAt);
});

test("a failed post is retried on a later drain, with attempts and the error kept; order per channel holds", async () => {
  const db = openDb(":memory:");
  const outbox = new OutboxRepository(sqliteStore(db));
  await outbox.enqueue(notice("a"));
  await outbox.enqueue(notice("b"));
  const { sent, sender } = memorySender();
  sender.failNext = 1;
  const notifier = new Notifier({ store: sqliteStore(db), sender });
  assert.deepEqual(await notifier.drain(), { posted: 0, failed: 1 });
  const a = await outbox.getByKey("g1", "a");
  assert.equal(a?.attempts, 1);
  assert.equal(a?.lastError, "503 from Discord");
  assert.equal(a?.postedAt, null);
  assert.equal((await outbox.getByKey("g1", "b"))?.postedAt, null, "b waits behind a");
  assert.deepEqual(await notifier.drain(), { posted: 2, failed: 0 });
  assert.deepEqual(
    sent.map((n) => n.payload),
    [{ jobId: 1 }, { jobId: 1 }],
  );
  assert.equal((await outbox.getByKey("g1", "a"))?.lastError, null);
});

test("a notice written before a crash is posted exactly once after the restart", async () => {
  const { mkdtemp, rm } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const dir = await mkdtemp(join(tmpdir(), "classtune-outbox-"));
  const path = join(dir, "db.sqlite");
  const first = openDb(path);
  await new OutboxRepository(sqliteStore(first)).enqueue(notice("job:9:succeeded"));
  first.close(); // the process dies before the notifier ran
  const db = openDb(path);
  const { sent, sender } = memorySender();
  await new Notifier({ store: sqliteStore(db), sender }).drain();
  await new Notifier({ store: sqliteStore(db), sender }).drain();
  assert.equal(sent.length, 1);
  db.close();
  await rm(dir, { recursive: true, force: true });
});

test("an updated progress card is posted again as an edit of the same message", async () => {
  const db = openDb(":memory:");
  const outbox = new OutboxRepository(sqliteStore(db));
  const { sent, sender } = memorySender();
  const notifier = new Notifier({ store: sqliteStore(db), sender });
  await outbox.upsert({ ...notice("job:1:progress", { step: 1 }), kind: "job_progress" });
  await notifier.drain();
  await outbox.upsert({ ...notice("job:1:progress", { step: 2 }), kind: "job_progress" });
  await notifier.drain();
  assert.equal(sent.length, 2);
  assert.equal(sent[0]?.messageId, null);
  assert.equal(sent[1]?.messageId, `m${sent[0]?.id}`);
  assert.deepEqual(sent[1]?.payload, { jobId: 1, step: 2 });
  assert.equal(sent[1]?.nonce, `ct${sent[0]?.id}r2`);
});

test("an update that lands while a post is in flight is not lost", async () => {
  const db = openDb(":memory:");
  const outbox = new OutboxRepository(sqliteStore(db));
  await outbox.upsert({ ...notice("p", { step: 1 }), kind: "job_progress" });
  const sent: OutboxNotice[] = [];
  const notifier = new Notifier({
    store: sqliteStore(db),
    sender: {
      async send(n) {
        sent.push(n);
        if (sent.length === 1) await outbox.upsert({ ...notice("p", { step: 2 }), kind: "job_progress" });
        return { messageId: "m1" };
      },
    },
  });
  await notifier.drain();
  assert.equal((await outbox.getByKey("g1", "p"))?.postedAt, null, "revision 2 still pending");
  await notifier.drain();
  assert.deepEqual(sent[1]?.payload, { jobId: 1, step: 2 });
  assert.equal(sent[1]?.messageId, "m1");
  assert.ok((await outbox.getByKey("g1", "p"))?.postedAt);
});

test("a notice that keeps failing is parked after maxAttempts and stops crowding the batch", async () => {
  const db = openDb(":memory:");
  const outbox = new OutboxRepository(sqliteStore(db));
  await outbox.enqueue({ ...notice("dead"), channelId: "gone" });
  await outbox.enqueue(notice("alive"));
  const sent: OutboxNotice[] = [];
  const notifier = new Notifier({
    store: sqliteStore(db),
    maxAttempts: 2,
    batch: 1,
    sender: {
      async send(n) {
        if (n.channelId === "gone") throw new Error("Unknown Channel");
        sent.push(n);
        return {};
      },
    },
  });
  await notifier.drain();
  await notifier.drain();
  assert.equal(sent.length, 0, "batch of 1 was taken by the failing notice");
  await notifier.drain();
  assert.equal(sent.length, 1);
  const dead = await outbox.getByKey("g1", "dead");
  assert.equal(dead?.attempts, 2);
  assert.equal(dead?.lastError, "Unknown Channel");
  assert.equal(dead?.postedAt, null);
});

test("the bot's drain leaves the terminal's notices alone; the terminal drains only its own", async () => {
  const db = openDb(":memory:");
  const outbox = new OutboxRepository(sqliteStore(db));
  await outbox.enqueue({ ...notice("cli-1"), guildId: "cli" });
  await outbox.enqueue(notice("g1-1"));
  const bot = memorySender();
  await new Notifier({ store: sqliteStore(db), sender: bot.sender }).drain();
  assert.deepEqual(
    bot.sent.map((n) => n.guildId),
    ["g1"],
  );
  const terminal = memorySender();
  await new Notifier({ store: sqliteStore(db), sender: terminal.sender, guildId: "cli" }).drain();
  assert.deepEqual(
    terminal.sent.map((n) => n.guildId),
    ["cli"],
  );
});

test("a server whose notices cannot be posted holds back no other server's: the healthy one is posted in the first drain", async () => {
  const db = openDb(":memory:");
  const outbox = new OutboxRepository(sqliteStore(db));
  // The stuck server has no notice channel: 120 notices that fail, all older than the healthy server's.
  for (let i = 0; i < 120; i++) {
    await outbox.enqueue({ ...notice(`stuck:${i}`), guildId: "stuck", channelId: null });
  }
  await outbox.enqueue({ ...notice("job:1:created"), guildId: "healthy" });
  const tried: string[] = [];
  const posted: OutboxNotice[] = [];
  const notifier = new Notifier({
    store: sqliteStore(db),
    sender: {
      async send(n) {
        tried.push(n.guildId);
        if (n.guildId === "stuck") throw new Error("guild stuck has no notice channel yet");
        posted.push(n);
        return {};
      },
    },
  });
  assert.deepEqual(await notifier.drain(), { posted: 1, failed: 1 });
  assert.deepEqual(
    posted.map((n) => n.guildId),
    ["healthy"],
  );
  assert.ok((await outbox.getByKey("healthy", "job:1:created"))?.postedAt);
  assert.equal(tried.filter((g) => g === "stuck").length, 1, "the stuck server costs one attempt per drain");
  assert.equal((await outbox.getByKey("stuck", "stuck:0"))?.attempts, 1);
  assert.equal(
    (await outbox.getByKey("stuck", "stuck:1"))?.attempts,
    0,
    "its later notices keep their attempts",
  );
});

test("a new notice of a healthy server is posted ahead of servers whose oldest notice keeps failing", async () => {
  const db = openDb(":memory:");
  const outbox = new OutboxRepository(sqliteStore(db));
  // More stuck servers than one drain handles, each with a notice that failed before.
  for (let g = 0; g < 6; g++) {
    await outbox.enqueue({ ...notice(`stuck:${g}`), guildId: `stuck-${g}` });
    const [taken] = await outbox.claim("an earlier drain", { guildId: `stuck-${g}`, limit: 1 }, Date.now());
    await outbox.markFailed(taken?.id ?? 0, "an earlier drain", "Missing Permissions");
  }
  await outbox.enqueue({ ...notice("job:1:created"), guildId: "healthy" });
  const posted: string[] = [];
  const notifier = new Notifier({
    store: sqliteStore(db),
    batch: 3,
    sender: {
      async send(n) {
        if (n.guildId.startsWith("stuck")) throw new Error("Missing Permissions");
        posted.push(n.guildId);
        return {};
      },
    },
  });
  await notifier.drain();
  assert.deepEqual(posted, ["healthy"]);
});

test("servers are drained side by side: one whose post hangs does not delay another's", async () => {
  const db = openDb(":memory:");
  const outbox = new OutboxRepository(sqliteStore(db));
  await outbox.enqueue({ ...notice("slow"), guildId: "slow" });
  await outbox.enqueue({ ...notice("fast"), guildId: "fast" });
  let release: () => void = () => undefined;
  const hanging = new Promise<void>((resolve) => {
    release = resolve;
  });
  const posted: string[] = [];
  const notifier = new Notifier({
    store: sqliteStore(db),
    sender: {
      async send(n) {
        if (n.guildId === "slow") await hanging;
        posted.push(n.guildId);
        return {};
      },
    },
  });
  const drained = notifier.drain();
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(posted, ["fast"], "the fast server's notice is out while the slow post is pending");
  release();
  assert.deepEqual(await drained, { posted: 2, failed: 0 });
});

test("drainFresh posts a notice written while another drain was in flight; drain alone would miss it", async () => {
  const db = openDb(":memory:");
  const outbox = new OutboxRepository(sqliteStore(db));
  const sent: string[] = [];
  let release: () => void = () => undefined;
  const held = new Promise<void>((r) => {
    release = r;
  });
  const notifier = new Notifier({
    store: sqliteStore(db),
    sender: {
      async send(n) {
        if (sent.length === 0) await held;
        sent.push(String(n.id));
        return {};
      },
    },
  });
  await outbox.enqueue(notice("first"));
  const inFlight = notifier.drain();
  await outbox.enqueue(notice("second"));
  const joined = notifier.drain();
  const fresh = notifier.drainFresh();
  release();
  assert.deepEqual(await inFlight, { posted: 1, failed: 0 });
  assert.equal(await joined, await inFlight, "a plain drain joins the one in flight");
  assert.deepEqual(await fresh, { posted: 1, failed: 0 }, "the fresh drain read the outbox after it");
  assert.equal(sent.length, 2);
});
