// HostingRepository on both engines (issue 14): a session opened once per deployment, the billing window's
// sessions and their minutes and cost, the idle clock, and a stop requested once, confirmed once, retried with its
// error kept. billedMinutes and totalsOf are pure (tested in test/finetuning/hosting.test.ts and below).
import assert from "node:assert/strict";
import { it } from "node:test";
import { HostingRepository, type NewHostingSession, totalsOf } from "../../src/db/hosting.ts";
import { forEachEngine } from "../helpers/engines.ts";

const G = "100000000000000001";
const OTHER = "100000000000000002";
const MODEL = "ft:meta-llama/Llama-3.1-8B-Instruct:school:bio";
const T0 = new Date("2026-12-04T09:00:00.000Z");
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);

const session = (o: Partial<NewHostingSession> = {}): NewHostingSession => ({
  guildId: G,
  modelName: MODEL,
  provider: "together",
  deploymentName: "ct-bio-1",
  hardware: "1x_nvidia_h100_80gb_sxm",
  usdPerHour: 3.99,
  priceSource: "catalog (as of 2026-11-01)",
  startedBy: "teacher-1",
  ...o,
});

forEachEngine("HostingRepository", (open) => {
  it("opens a session once per deployment, every field read back, NULLs as null", async (t) => {
    const repo = new HostingRepository(await open(t));
    const first = await repo.open(session(), T0);
    assert.deepEqual(first, {
      id: 1,
      ...session(),
      startedAt: T0.toISOString(),
      readyAt: null,
      lastAskedAt: null,
      stopReason: null,
      stoppedBy: null,
      stopRequestedAt: null,
      stopAttempts: 0,
      stopError: null,
      stoppedAt: null,
    });
    const again = await repo.open(session({ startedBy: "auto", usdPerHour: 9 }), at(5));
    assert.deepEqual(again, first, "the same deployment: the first's row");
    const other = await repo.open(session({ deploymentName: "ct-bio-2", hardware: null }), at(1));
    // A new id (PostgreSQL's identity may skip the one the refused insert drew: ids are distinct, not dense).
    assert.ok(other.id > first.id, String(other.id));
    assert.equal(other.hardware, null);
    assert.deepEqual(await repo.byDeployment("together", "ct-bio-1"), first);
    assert.equal(await repo.byDeployment("fireworks", "ct-bio-1"), undefined);
    assert.deepEqual(await repo.get(G, first.id), first);
    assert.equal(await repo.get(OTHER, first.id), undefined, "another guild's session is not found");
  });

  it("current: the model's newest session not yet stopped; listOpen: every open one, or one guild's", async (t) => {
    const repo = new HostingRepository(await open(t));
    const a = await repo.open(session({ deploymentName: "d1" }), T0);
    const b = await repo.open(session({ deploymentName: "d2" }), at(1));
    const c = await repo.open(session({ guildId: OTHER, deploymentName: "d3" }), at(2));
    assert.equal((await repo.current(G, MODEL))?.id, b.id, "the newest");
    await repo.markStopped(b.id, at(3));
    assert.equal((await repo.current(G, MODEL))?.id, a.id, "a stopped session is not current");
    assert.equal(await repo.current(G, "another-model"), undefined);
    assert.deepEqual(
      (await repo.listOpen()).map((s) => s.id),
      [a.id, c.id],
    );
    assert.deepEqual(
      (await repo.listOpen(OTHER)).map((s) => s.id),
      [c.id],
    );
    await repo.requestStop(a.id, "teacher", "teacher-1", at(4));
    assert.deepEqual(
      (await repo.listOpen(G)).map((s) => s.id),
      [a.id],
      "a requested but unconfirmed stop still bills",
    );
  });

  it("lists the sessions that billed within [from, to), and sums their minutes and cost per model", async (t) => {
    const repo = new HostingRepository(await open(t));
    // Before the window, stopped at its start: not in it.
    const early = await repo.open(session({ deploymentName: "early" }), at(-120));
    await repo.markStopped(early.id, at(0));
    // Started before the window, stopped in it: 30 minutes of it.
    const spans = await repo.open(session({ deploymentName: "spans" }), at(-60));
    await repo.markStopped(spans.id, at(30));
    // Started in it, still running at its end: 60 minutes at 1.5/h.
    await repo.open(session({ modelName: "cheap", deploymentName: "cheap", usdPerHour: 1.5 }), at(60));
    // After the window, and another guild's: not in it.
    await repo.open(session({ deploymentName: "late" }), at(120));
    await repo.open(session({ guildId: OTHER, deploymentName: "theirs" }), at(10));
    const from = at(0);
    const to = at(120);
    assert.deepEqual(
      (await repo.listBetween(G, from, to)).map((s) => s.deploymentName),
      ["spans", "cheap"],
    );
    const usage = await repo.usage(G, from, to);
    assert.equal(usage.minutes, 90);
    assert.ok(Math.abs(usage.costUsd - (3.99 / 2 + 1.5)) < 1e-9, String(usage.costUsd));
    assert.deepEqual(
      usage.byModel.map((m) => [m.model, m.provider, m.minutes]),
      [
        [MODEL, "together", 30],
        ["cheap", "together", 60],
      ],
      "most expensive first",
    );
    assert.deepEqual(totalsOf(await repo.listBetween(G, from, to), to, from), {
      minutes: usage.minutes,
      costUsd: usage.costUsd,
    });
    assert.deepEqual(await repo.usage(G, at(-600), at(-300)), { minutes: 0, costUsd: 0, byModel: [] });
  });

  it("marks ready once, and restarts the idle clock only while nothing stopped it", async (t) => {
    const repo = new HostingRepository(await open(t));
    const s = await repo.open(session(), T0);
    await repo.markReady(s.id, at(5));
    await repo.markReady(s.id, at(9));
    assert.equal((await repo.get(G, s.id))?.readyAt, at(5).toISOString(), "the first ready stays");
    await repo.touch(G, MODEL, at(10));
    await repo.touch(OTHER, MODEL, at(11));
    assert.equal(
      (await repo.get(G, s.id))?.lastAskedAt,
      at(10).toISOString(),
      "another guild's touch: not ours",
    );
    await repo.requestStop(s.id, "idle", "classtune", at(20));
    await repo.touch(G, MODEL, at(21));
    assert.equal((await repo.get(G, s.id))?.lastAskedAt, at(10).toISOString(), "stopping: the clock stays");
  });

  it("requests a stop once; markStopped keeps the request's reason, or fills it in", async (t) => {
    const repo = new HostingRepository(await open(t));
    const s = await repo.open(session(), T0);
    assert.equal(await repo.requestStop(s.id, "idle", "classtune", at(30)), true);
    assert.equal(await repo.requestStop(s.id, "teacher", "teacher-1", at(31)), false, "once");
    await repo.markStopped(s.id, at(32), "failed");
    const stopped = await repo.get(G, s.id);
    assert.equal(stopped?.stopReason, "idle");
    assert.equal(stopped?.stoppedBy, "classtune");
    assert.equal(stopped?.stopRequestedAt, at(30).toISOString());
    assert.equal(stopped?.stoppedAt, at(32).toISOString());
    await repo.markStopped(s.id, at(40));
    assert.equal((await repo.get(G, s.id))?.stoppedAt, at(32).toISOString(), "stopped once");
    assert.equal(await repo.requestStop(s.id, "teacher", "teacher-1", at(41)), false, "not after the stop");

    const failed = await repo.open(session({ deploymentName: "ct-bio-2" }), T0);
    await repo.markStopped(failed.id, at(3), "failed");
    const f = await repo.get(G, failed.id);
    assert.equal(f?.stopReason, "failed");
    assert.equal(f?.stopRequestedAt, at(3).toISOString(), "the stop counts as requested when it happened");
    assert.equal(f?.stoppedBy, null);

    const plain = await repo.open(session({ deploymentName: "ct-bio-3" }), T0);
    await repo.markStopped(plain.id, at(4));
    assert.equal((await repo.get(G, plain.id))?.stopReason, null, "no reason given, none made up");
  });

  it("counts unconfirmed stops with their error (cut at 500 characters), cleared once confirmed", async (t) => {
    const repo = new HostingRepository(await open(t));
    const s = await repo.open(session(), T0);
    await repo.requestStop(s.id, "budget", "classtune", at(1));
    await repo.stopFailed(s.id, "provider said 503");
    await repo.stopFailed(s.id, "x".repeat(800));
    const failing = await repo.get(G, s.id);
    assert.equal(failing?.stopAttempts, 2);
    assert.equal(failing?.stopError, "x".repeat(500));
    await repo.markStopped(s.id, at(10));
    await repo.stopFailed(s.id, "late failure");
    const stopped = await repo.get(G, s.id);
    assert.equal(stopped?.stopError, null, "confirmed: the error is cleared");
    assert.equal(stopped?.stopAttempts, 2, "a stopped session counts no more failures");
  });

  it("runs on a transaction with in(tx): rolled back with it", async (t) => {
    const store = await open(t);
    const repo = new HostingRepository(store);
    const s = await repo.open(session(), T0);
    await assert.rejects(
      store.transaction(async (tx) => {
        assert.equal(await repo.in(tx).requestStop(s.id, "teacher", "teacher-1", at(1)), true);
        await repo.in(tx).open(session({ deploymentName: "ct-bio-2" }), at(1));
        throw new Error("roll back");
      }),
      /roll back/,
    );
    assert.equal((await repo.get(G, s.id))?.stopRequestedAt, null);
    assert.deepEqual(
      (await repo.listOpen(G)).map((x) => x.deploymentName),
      ["ct-bio-1"],
    );
  });
});
