// One "bot process" for the two-process outbox test: opens the database file it is given, says "ready", and on "go"
// (a line on stdin) drains the outbox with its own poster until nothing is left unposted, printing "posted <id>" for
// each notice it posted, then "done". The poster takes a few milliseconds, like Discord, so the drains overlap.
import { createInterface } from "node:readline";
import { openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { Notifier } from "../../src/notices/notifier.ts";

const [path, holder] = process.argv.slice(2);
if (!path || !holder) throw new Error("usage: drainer.ts <db file> <holder>");
const db = openDb(path);
const notifier = new Notifier({
  store: sqliteStore(db),
  holder,
  batch: 20,
  perGuild: 5,
  sender: {
    async send(n) {
      await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * 3));
      process.stdout.write(`posted ${n.id}\n`);
      return { messageId: `${holder}-m${n.id}` };
    },
  },
});
const unposted = db.prepare("SELECT COUNT(*) FROM outbox WHERE posted_at IS NULL").pluck();
const lines = createInterface({ input: process.stdin });
process.stdout.write("ready\n");
for await (const line of lines) {
  if (line !== "go") continue;
  while ((unposted.get() as number) > 0) {
    const { posted } = await notifier.drain();
    if (posted === 0) await new Promise((resolve) => setTimeout(resolve, 2)); // every guild is the other's
  }
  break;
}
lines.close();
db.close();
process.stdout.write("done\n");
