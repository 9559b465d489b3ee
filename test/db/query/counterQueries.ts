// A read-modify-write in one store transaction, for test/db/query/sqliteTransactions.test.ts and its child: adds 1
// to outbox row 1's attempts, pausing between the read and the write.
import { setTimeout as sleep } from "node:timers/promises";
import { compiled, type Param } from "../../../src/db/query/compiled.ts";
import type { Store } from "../../../src/db/query/store.ts";

const read = compiled((db) => db.selectFrom("outbox").select("attempts").where("id", "=", 1));
const write = compiled((db, p: Param<{ attempts: number }>) =>
  db
    .updateTable("outbox")
    .set({ attempts: p("attempts") })
    .where("id", "=", 1),
);

export async function addOne(store: Store, log?: (event: string) => void): Promise<void> {
  await store.transaction(async (tx) => {
    log?.("begin");
    const row = await read.executeTakeFirst(tx, {});
    if (row === undefined) throw new Error("outbox row 1 is missing");
    await sleep(1);
    await write.execute(tx, { attempts: row.attempts + 1 });
    log?.("end");
  });
}

export async function attempts(store: Store): Promise<number | undefined> {
  return (await read.executeTakeFirst(store, {}))?.attempts;
}
