// Claims (issue 14: outbox rows claimed with FOR UPDATE SKIP LOCKED on PostgreSQL): one compiled claim query,
// `UPDATE … WHERE id IN (SELECT … [FOR UPDATE SKIP LOCKED]) RETURNING id` (the outbox's contract), raced by many
// claimers on either engine never takes one row twice; on PostgreSQL two open transactions each get their own rows,
// and the second never waits for the first.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sql } from "kysely";
import { compiled, type Param } from "../../../src/db/query/compiled.ts";
import { openStore, type Store } from "../../../src/db/query/store.ts";
import { forEachEngine } from "../../helpers/engines.ts";
import { freshPostgresDatabase, skipWithoutPostgres } from "../../helpers/postgres.ts";

const AT = "2026-12-03T10:00:00.000Z";

/** Takes up to `limit` unclaimed outbox rows for `holder`: row locks skipped on PostgreSQL (SQLite has none). */
const claim = compiled((db, p: Param<{ holder: string; limit: number }>, engine) =>
  db
    .updateTable("outbox")
    .set({ claim_holder: p("holder") })
    .where("id", "in", (eb) =>
      eb
        .selectFrom("outbox")
        .select("id")
        .where("claim_holder", "is", null)
        .orderBy("id")
        .limit(p("limit"))
        .$if(engine === "postgres", (q) => q.forUpdate().skipLocked()),
    )
    .returning("id"),
);

async function seed(store: Store, n: number): Promise<void> {
  await store.db
    .insertInto("outbox")
    .values(
      Array.from({ length: n }, (_, i) => ({
        guild_id: `g${i % 3}`,
        kind: "job_card",
        payload: "{}",
        dedupe_key: `k${i}`,
        created_at: AT,
        updated_at: AT,
      })),
    )
    .execute();
}

const ids = (rows: { id: number }[]) => rows.map((r) => r.id).sort((a, b) => a - b);

forEachEngine("claiming outbox rows", (open) => {
  it("many claimers racing in transactions never take one row twice, and take every row", async (t) => {
    const store = await open(t);
    await seed(store, 60);
    const taken = await Promise.all(
      ["a", "b", "c", "d"].map(async (holder) => {
        const mine: number[] = [];
        for (;;) {
          const got = await store.transaction(async (tx) => claim.execute(tx, { holder, limit: 2 }));
          if (got.length === 0) return mine.sort((x, y) => x - y);
          mine.push(...got.map((r) => r.id));
        }
      }),
    );
    assert.deepEqual(
      taken.flat().sort((x, y) => x - y),
      Array.from({ length: 60 }, (_, i) => i + 1),
      "each row once",
    );
    const rows = await store.db.selectFrom("outbox").select(["id", "claim_holder"]).orderBy("id").execute();
    for (const [i, holder] of ["a", "b", "c", "d"].entries()) {
      assert.deepEqual(
        rows.filter((r) => r.claim_holder === holder).map((r) => r.id),
        taken[i],
      );
    }
  });
});

describe("FOR UPDATE SKIP LOCKED (PostgreSQL)", { skip: skipWithoutPostgres }, () => {
  it("two open transactions each claim their own rows, the second while the first holds its locks", async (t) => {
    let store: Store | undefined;
    t.after(() => store?.close());
    store = await openStore({ engine: "postgres", url: await freshPostgresDatabase(t) });
    const s = store;
    await seed(s, 10);
    let firstClaimed: () => void = () => undefined;
    const claimedByFirst = new Promise<void>((resolve) => {
      firstClaimed = resolve;
    });
    let secondDone: () => void = () => undefined;
    const doneBySecond = new Promise<void>((resolve) => {
      secondDone = resolve;
    });
    const first = s.transaction(async (tx) => {
      const rows = await claim.execute(tx, { holder: "first", limit: 3 });
      firstClaimed();
      await doneBySecond; // hold the row locks until the second has claimed
      return rows;
    });
    const second = (async () => {
      await claimedByFirst;
      try {
        return await s.transaction(async (tx) => {
          // Waiting on the first's row locks fails this claim (lock_not_available) instead of hanging the test.
          await sql`SET LOCAL lock_timeout = '2s'`.execute(tx.db);
          return claim.execute(tx, { holder: "second", limit: 3 });
        });
      } finally {
        secondDone();
      }
    })();
    const [a, b] = await Promise.all([first, second]);
    assert.deepEqual(ids(a), [1, 2, 3]);
    assert.deepEqual(ids(b), [4, 5, 6]);
  });
});
