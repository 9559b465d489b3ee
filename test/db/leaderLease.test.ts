// LeaderLeaseRepository on both engines (issue 14): acquire takes a free, expired or own lease in a transaction of
// its own and otherwise reports who holds it; release gives up only one's own.
import assert from "node:assert/strict";
import { it } from "node:test";
import { LeaderLeaseRepository } from "../../src/db/leaderLease.ts";
import { forEachEngine } from "../helpers/engines.ts";

const T0 = 1_796_000_000_000;

forEachEngine("LeaderLeaseRepository", (open) => {
  it("takes a free lease, renews its own, refuses a held one, takes an expired one", async (t) => {
    const leases = new LeaderLeaseRepository(await open(t));
    assert.equal(await leases.get("scheduler"), undefined);
    const a = await leases.acquire("scheduler", "a", T0, 30_000);
    assert.deepEqual(a, {
      name: "scheduler",
      holder: "a",
      acquiredAt: T0,
      renewedAt: T0,
      expiresAt: T0 + 30_000,
    });
    assert.deepEqual(await leases.get("scheduler"), a, "stored as returned (numbers on both engines)");
    const renewed = await leases.acquire("scheduler", "a", T0 + 10_000, 30_000);
    assert.deepEqual(renewed, {
      name: "scheduler",
      holder: "a",
      acquiredAt: T0,
      renewedAt: T0 + 10_000,
      expiresAt: T0 + 40_000,
    });
    assert.deepEqual(await leases.acquire("scheduler", "b", T0 + 39_999, 30_000), renewed, "still a's");
    const b = await leases.acquire("scheduler", "b", T0 + 40_000, 30_000);
    assert.equal(b.holder, "b", "expired: b takes it");
    assert.equal(b.acquiredAt, T0 + 40_000);
    assert.equal((await leases.get("scheduler"))?.holder, "b");
    assert.equal(await leases.get("other"), undefined, "leases are per name");
  });

  it("release gives up only the holder's lease", async (t) => {
    const leases = new LeaderLeaseRepository(await open(t));
    await leases.acquire("scheduler", "a", T0, 30_000);
    assert.equal(await leases.release("scheduler", "b"), false);
    assert.equal((await leases.get("scheduler"))?.holder, "a");
    assert.equal(await leases.release("scheduler", "a"), true);
    assert.equal(await leases.get("scheduler"), undefined);
    assert.equal((await leases.acquire("scheduler", "b", T0 + 1, 30_000)).holder, "b", "free at once");
  });

  it("contenders racing for a free lease: exactly one wins, and all agree who", async (t) => {
    const leases = new LeaderLeaseRepository(await open(t));
    const rows = await Promise.all(
      ["a", "b", "c", "d", "e"].map((holder) => leases.acquire("scheduler", holder, T0, 30_000)),
    );
    const winners = new Set(rows.map((r) => r.holder));
    assert.equal(winners.size, 1);
    assert.equal((await leases.get("scheduler"))?.holder, [...winners][0]);
  });
});
