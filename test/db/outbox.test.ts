// OutboxRepository on both engines (issue 14): every method on SQLite and PostgreSQL. The claims' contract (only the
// taker's rows, a guild's notices one holder at a time, round-robin shares, expiry, renewal) holds on each; on
// PostgreSQL, claimers racing in transactions of their own never take one notice twice nor split one guild.
import assert from "node:assert/strict";
import { it } from "node:test";
import { OUTBOX_CLAIM_MS, OutboxRepository } from "../../src/db/outbox.ts";
import type { JobNoticeBase, JobProgressPayload } from "../../src/domain/notices.ts";
import { forEachEngine } from "../helpers/engines.ts";

const notice = (guildId: string, key: string, extra: Record<string, unknown> = {}) => ({
  guildId,
  channelId: `${guildId}-notices`,
  kind: "job_progress" as const,
  // A partial payload is enough here: the repository stores payloads as they are.
  payload: { jobId: 1, ...extra } as unknown as JobNoticeBase & JobProgressPayload,
  dedupeKey: key,
});

const AT = new Date("2026-12-03T10:00:00.000Z");

forEachEngine("OutboxRepository", (open) => {
  it("enqueues once per dedupe key; upsert replaces the payload, bumps the revision and re-arms it", async (t) => {
    const outbox = new OutboxRepository(await open(t));
    assert.equal(await outbox.enqueue(notice("g1", "k"), AT), true);
    assert.equal(await outbox.enqueue(notice("g1", "k", { step: 9 }), AT), false);
    const first = await outbox.getByKey("g1", "k");
    assert.equal(first?.revision, 1);
    assert.deepEqual(first?.payload, { jobId: 1 });
    assert.equal(first?.channelId, "g1-notices");
    assert.equal(first?.createdAt, AT.toISOString());
    assert.equal(first?.postedAt, null);
    assert.equal(first?.claimHolder, null);
    assert.equal(first?.claimExpiresAt, null);
    assert.equal(await outbox.getByKey("g2", "k"), undefined, "another guild's key is not found");

    const now = Date.now();
    const [taken] = await outbox.claim("A", { guildId: "g1", limit: 1 }, now);
    assert.equal(await outbox.markFailed(taken?.id ?? 0, "A", "boom"), true);
    const later = new Date("2026-12-03T11:00:00.000Z");
    await outbox.upsert(notice("g1", "k", { step: 2 }), later);
    const second = await outbox.getByKey("g1", "k");
    assert.equal(second?.revision, 2);
    assert.deepEqual(second?.payload, { jobId: 1, step: 2 });
    assert.equal(second?.updatedAt, later.toISOString());
    assert.equal(second?.createdAt, AT.toISOString(), "created_at kept");
    assert.equal(second?.attempts, 0);
    assert.equal(second?.lastError, null);
    await outbox.upsert(notice("g1", "fresh"), later);
    assert.equal((await outbox.getByKey("g1", "fresh"))?.revision, 1, "upsert of a new key enqueues it");
  });

  it("payloadOf reads a notice of the asked kind only; list is one guild's, oldest first, up to the limit", async (t) => {
    const outbox = new OutboxRepository(await open(t));
    await outbox.enqueue(notice("g1", "a", { step: 1 }));
    await outbox.enqueue(notice("g2", "b"));
    await outbox.enqueue(notice("g1", "c"));
    assert.deepEqual(await outbox.payloadOf("g1", "a", "job_progress"), { jobId: 1, step: 1 });
    assert.equal(await outbox.payloadOf("g1", "a", "job_failed"), undefined);
    assert.equal(await outbox.payloadOf("g1", "missing", "job_progress"), undefined);
    assert.deepEqual(
      (await outbox.list("g1")).map((r) => r.dedupeKey),
      ["a", "c"],
    );
    assert.deepEqual(
      (await outbox.list("g1", 1)).map((r) => r.dedupeKey),
      ["a"],
    );
  });

  it("returns only the notices this holder took; a holder's records are refused for a notice it does not hold", async (t) => {
    const store = await open(t);
    const a = new OutboxRepository(store);
    const b = new OutboxRepository(store);
    for (let g = 0; g < 4; g++) await a.enqueue(notice(`g${g}`, `n${g}`));
    const now = Date.now();
    const tookA = await a.claim("A", { limit: 2 }, now);
    const tookB = await b.claim("B", { limit: 10 }, now);
    assert.deepEqual(
      tookA.map((r) => r.guildId),
      ["g0", "g1"],
    );
    assert.deepEqual(
      tookB.map((r) => r.guildId),
      ["g2", "g3"],
    );
    assert.deepEqual(await b.claim("B", { limit: 10 }, now), [], "nothing left untaken");
    assert.equal(tookA[0]?.claimHolder, "A");
    assert.equal(tookA[0]?.claimExpiresAt, now + OUTBOX_CLAIM_MS);
    assert.equal((await a.getByKey("g0", "n0"))?.claimExpiresAt, now + OUTBOX_CLAIM_MS, "stored as returned");
    const first = tookA[0]?.id ?? 0;
    assert.equal(await b.markPosted(first, "B", 1, "m"), false, "B does not hold it");
    assert.equal(await b.markFailed(first, "B", "oops"), false);
    assert.equal((await a.getByKey("g0", "n0"))?.attempts, 0);
    assert.equal(await a.markPosted(first, "A", 1, "m", AT), true);
    const done = await a.getByKey("g0", "n0");
    assert.equal(done?.claimHolder, null);
    assert.equal(done?.postedAt, AT.toISOString());
    assert.equal(done?.messageId, "m");
    assert.equal(done?.attempts, 1);
    assert.equal(await a.release("A", [tookA[1]?.id ?? 0]), 1);
    assert.equal(await a.release("A", []), 0);
    assert.deepEqual(
      (await b.claim("B", { limit: 10 }, now)).map((r) => r.guildId),
      ["g1"],
      "a released notice is free at once",
    );
  });

  it("a post of an older revision keeps the message id and leaves the newer one to post", async (t) => {
    const outbox = new OutboxRepository(await open(t));
    await outbox.upsert(notice("g1", "p", { step: 1 }));
    const [row] = await outbox.claim("A", { limit: 5 }, Date.now());
    await outbox.upsert(notice("g1", "p", { step: 2 }));
    assert.equal(await outbox.markPosted(row?.id ?? 0, "A", 1, "msg-1"), true);
    const after = await outbox.getByKey("g1", "p");
    assert.equal(after?.postedAt, null, "revision 2 still to post");
    assert.equal(after?.messageId, "msg-1");
    const [again] = await outbox.claim("A", { limit: 5 }, Date.now());
    assert.equal(again?.revision, 2);
    assert.equal(await outbox.markPosted(again?.id ?? 0, "A", 2, null), true);
    const posted = await outbox.getByKey("g1", "p");
    assert.ok(posted?.postedAt);
    assert.equal(posted?.messageId, "msg-1", "a null message id keeps the one it had");
  });

  it("one holder per guild at a time; across guilds a round-robin share, unfailed first; exceptions and parking", async (t) => {
    const outbox = new OutboxRepository(await open(t));
    for (let i = 0; i < 3; i++) await outbox.enqueue(notice("busy", `busy:${i}`));
    await outbox.enqueue(notice("calm", "calm:0"));
    await outbox.enqueue(notice("cli", "cli:0"));
    const now = Date.now();
    // busy's oldest failed once: among the lanes' firsts, the unfailed go first.
    const [firstBusy] = await outbox.claim("X", { guildId: "busy", limit: 1 }, now);
    assert.equal(firstBusy?.dedupeKey, "busy:0");
    assert.equal(await outbox.markFailed(firstBusy?.id ?? 0, "X", "503"), true);
    const taken = await outbox.claim("A", { limit: 10, perGuild: 2, exceptGuildIds: ["cli"] }, now);
    assert.deepEqual(
      taken.map((r) => r.dedupeKey),
      ["calm:0", "busy:0", "busy:1"],
      "every lane's first before any second, the failed one after; two of busy's; cli left alone",
    );
    assert.deepEqual(
      await outbox.claim("B", { guildId: "busy", limit: 5 }, now),
      [],
      "busy is A's while A holds any of it",
    );
    assert.deepEqual(
      (await outbox.claim("B", { guildId: "cli", limit: 5 }, now)).map((r) => r.dedupeKey),
      ["cli:0"],
    );
    // Parked: attempts at maxAttempts.
    await outbox.release(
      "A",
      taken.map((r) => r.id),
    );
    assert.deepEqual(
      (await outbox.claim("C", { guildId: "busy", limit: 5, maxAttempts: 1 }, now)).map((r) => r.dedupeKey),
      ["busy:1", "busy:2"],
      "the notice that failed once is parked under maxAttempts 1",
    );
  });

  it("rearm gives a guild's unposted notices fresh attempts", async (t) => {
    const outbox = new OutboxRepository(await open(t));
    await outbox.enqueue(notice("g1", "a"));
    await outbox.enqueue(notice("g1", "b"));
    await outbox.enqueue(notice("g2", "c"));
    const now = Date.now();
    const rows = await outbox.claim("A", { limit: 10 }, now);
    for (const r of rows) assert.equal(await outbox.markFailed(r.id, "A", "no channel"), true);
    assert.equal(await outbox.rearm("g1"), 2);
    assert.equal((await outbox.getByKey("g1", "a"))?.attempts, 0);
    assert.equal((await outbox.getByKey("g2", "c"))?.attempts, 1, "another guild's keep theirs");
    assert.equal(await outbox.rearm("g1"), 0);
  });

  it("a renewal keeps a claim past its first expiry; a claim lapsed and taken is no longer renewed", async (t) => {
    const store = await open(t);
    const a = new OutboxRepository(store);
    const b = new OutboxRepository(store);
    await a.enqueue(notice("g1", "n"));
    const t0 = Date.now();
    const [row] = await a.claim("A", { guildId: "g1", limit: 1 }, t0, 1_000);
    const id = row?.id ?? 0;
    assert.deepEqual([...(await a.renew("A", [id], t0 + 900, 1_000))], [id]);
    assert.deepEqual([...(await a.renew("A", [], t0 + 900, 1_000))], []);
    assert.deepEqual(await b.claim("B", { limit: 1 }, t0 + 1_500, 1_000), [], "renewed until t0 + 1900");
    assert.equal((await b.claim("B", { limit: 1 }, t0 + 1_900, 1_000)).length, 1, "lapsed: B takes it");
    assert.deepEqual([...(await a.renew("A", [id], t0 + 1_950, 1_000))], [], "A learns it lost it");
  });

  it("in(tx) writes inside the caller's transaction: rolled back with it", async (t) => {
    const store = await open(t);
    const outbox = new OutboxRepository(store);
    await assert.rejects(
      store.transaction(async (tx) => {
        assert.equal(await outbox.in(tx).enqueue(notice("g1", "rolled back")), true);
        assert.ok(await outbox.in(tx).getByKey("g1", "rolled back"), "seen inside");
        throw new Error("the change it announces failed");
      }),
      /the change it announces failed/,
    );
    assert.equal(await outbox.getByKey("g1", "rolled back"), undefined);
  });

  it("claimers racing in transactions of their own take each notice once and never split a guild", async (t) => {
    const store = await open(t);
    const outbox = new OutboxRepository(store);
    for (let i = 0; i < 60; i++) await outbox.enqueue(notice(`g${i % 6}`, `n:${i}`));
    const now = Date.now();
    const takes = await Promise.all(
      ["a", "b", "c", "d"].map((holder) => outbox.claim(holder, { limit: 8, perGuild: 4 }, now)),
    );
    const ids = takes.flat().map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length, "no notice taken twice");
    const holderOf = new Map<string, string>();
    for (const [i, rows] of takes.entries()) {
      for (const r of rows) {
        const holder = ["a", "b", "c", "d"][i] ?? "";
        assert.equal(holderOf.get(r.guildId) ?? holder, holder, `guild ${r.guildId} has one holder`);
        holderOf.set(r.guildId, holder);
        assert.equal((await outbox.getByKey(r.guildId, r.dedupeKey))?.claimHolder, holder);
      }
      // Each guild's take is its oldest notices, in order.
      for (const g of new Set(rows.map((r) => r.guildId))) {
        const mine = rows.filter((r) => r.guildId === g).map((r) => r.id);
        const oldest = (await outbox.list(g)).slice(0, mine.length).map((r) => r.id);
        assert.deepEqual(mine, oldest, `guild ${g}: its oldest`);
      }
    }
    assert.equal(holderOf.size, 6, "every guild was taken by someone");
  });
});
