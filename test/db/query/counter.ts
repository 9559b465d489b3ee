// A child process for test/db/query/sqliteTransactions.test.ts: opens the store on the database file it is given,
// waits for "go" on stdin, then adds 1 to outbox row 1's attempts `times` times, each a read, a pause (other work
// runs, as between a repository's awaits) and a write in one store transaction. Prints "done", or the error and
// exits 1.
import { createInterface } from "node:readline";
import { openStore } from "../../../src/db/query/store.ts";
import { addOne } from "./counterQueries.ts";

const [path, times] = process.argv.slice(2);
if (!path || !times) throw new Error("usage: counter.ts <database file> <times>");
const store = await openStore({ engine: "sqlite", path });
process.stdout.write("ready\n");
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line === "go") break;
try {
  for (let i = 0; i < Number(times); i++) await addOne(store);
  process.stdout.write("done\n");
} catch (err) {
  process.stdout.write(`error ${(err as { code?: string }).code ?? ""} ${String(err)}\n`);
  process.exitCode = 1;
} finally {
  lines.close();
  await store.close();
}
