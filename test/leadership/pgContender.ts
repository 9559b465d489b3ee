// One "bot process" for the two-process PostgreSQL leadership test: contends for the scheduler's advisory lock on
// the database it is given, on the real clock, and prints each role it takes ("role leader" / "role follower").
// SIGTERM is a graceful shutdown (stop() unlocks and ends the session; the process then lingers a moment, so a
// takeover before it exits shows stop() released the lock, not the exit); SIGKILL a crash.
import { PostgresLeadership } from "../../src/leadership/postgres.ts";

const [url, renewEveryMs] = process.argv.slice(2);
if (!url) throw new Error("usage: pgContender.ts <database url> <renew ms>");
const leadership = new PostgresLeadership({ url, renewEveryMs: Number(renewEveryMs) });
leadership.onChange((role) => process.stdout.write(`role ${role}\n`));
await leadership.start();
process.stdout.write(`started ${leadership.role()}\n`);
// The leadership's timer is unref'd (the bot's gateway keeps it alive); here this one does.
const alive = setInterval(() => undefined, 60_000);
process.on("SIGTERM", () => {
  void leadership.stop().then(() => {
    clearInterval(alive);
    process.stdout.write("stopped\n");
    setTimeout(() => undefined, 2_500);
  });
});
