// One "bot process" for the two-process leadership test: opens the database file it is given (migrating it, as
// start-up does), contends for the scheduler lease on the real clock with a short lease, and prints each role it
// takes ("role leader" / "role follower"). SIGTERM is a graceful shutdown (stop() releases the lease); SIGKILL a crash.
import { openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { SqliteLeadership } from "../../src/leadership/leadership.ts";

const [path, leaseMs, renewEveryMs] = process.argv.slice(2);
if (!path) throw new Error("usage: contender.ts <db file> <lease ms> <renew ms>");
const db = openDb(path);
const leadership = new SqliteLeadership({
  store: sqliteStore(db),
  leaseMs: Number(leaseMs),
  renewEveryMs: Number(renewEveryMs),
});
leadership.onChange((role) => process.stdout.write(`role ${role}\n`));
await leadership.start();
process.stdout.write(`started ${leadership.role()}\n`);
// The leadership's timer is unref'd (the bot's gateway keeps it alive); here this one does.
const alive = setInterval(() => undefined, 60_000);
process.on("SIGTERM", () => {
  void leadership.stop().then(() => {
    clearInterval(alive);
    db.close();
    process.stdout.write("stopped\n");
  });
});
