// Real processes contending for the scheduled work. On one SQLite file (test/leadership/contender.ts under tsx):
// started at once on a new file, both migrate it and exactly one leads; a graceful stop hands over at once; a
// SIGKILL'd leader is replaced once its lease has expired. On one PostgreSQL database (pgContender.ts): one leads;
// SIGTERM and SIGKILL alike hand over at the follower's next attempt, since the lock dies with the session.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { readLines } from "../helpers/childLines.ts";
import { freshPostgresDatabase, skipWithoutPostgres } from "../helpers/postgres.ts";

const LEASE_MS = 3_000;
const RENEW_MS = 200;
const WAIT_MS = 20_000;
const script = fileURLToPath(new URL("./contender.ts", import.meta.url));
const pgScript = fileURLToPath(new URL("./pgContender.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "classtune-two-processes-"));
const path = join(dir, "classtune.db");
const children: Contender[] = [];
after(() => {
  for (const c of children) if (c.child.exitCode === null) c.child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

interface Contender {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first line (from now) that `match` accepts. */
  next(match: (line: string) => boolean): Promise<string>;
  exited: Promise<number | null>;
}

/** A child running `args` (default: the SQLite contender on this file's database). */
function contender(args = [script, path, String(LEASE_MS), String(RENEW_MS)]): Contender {
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const waiters: Array<{ match: (line: string) => boolean; resolve: (line: string) => void }> = [];
  const lines = readLines(child.stdout, (line) => {
    for (const w of [...waiters]) {
      if (w.match(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const c: Contender = {
    child,
    lines,
    next: (match) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no such line; got: ${lines.join(" | ")}`)), WAIT_MS);
        waiters.push({
          match,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
      }),
    exited,
  };
  children.push(c);
  return c;
}

const started = (c: Contender) => c.next((l) => l.startsWith("started "));

/** Two contenders started at once: exactly one says it leads. Returns [leader, follower]. */
async function oneLeads(make: () => Contender): Promise<[Contender, Contender]> {
  const p1 = make();
  const p2 = make();
  const roles = await Promise.all([started(p1), started(p2)]);
  assert.deepEqual([...roles].sort(), ["started follower", "started leader"], roles.join(", "));
  return roles[0] === "started leader" ? [p1, p2] : [p2, p1];
}

describe("leadership across real processes", () => {
  test("one leads; SIGTERM hands over at once; SIGKILL is taken over after the lease", async () => {
    // Both at once on a file that does not exist yet: the migrations must apply once between them.
    const [leader, follower] = await oneLeads(contender);

    // Graceful stop: the lease is released, so the follower leads at its next attempt (every RENEW_MS), long
    // before the lease would have expired.
    const promoted = follower.next((l) => l === "role leader");
    const t0 = performance.now();
    leader.child.kill("SIGTERM");
    await leader.next((l) => l === "stopped");
    await promoted;
    const handover = performance.now() - t0;
    assert.ok(handover < LEASE_MS - RENEW_MS, `handed over in ${Math.round(handover)} ms`);
    assert.equal(await leader.exited, 0);

    // A third process joins as a follower; then the leader crashes and never releases.
    const p3 = contender();
    assert.equal(await started(p3), "started follower");
    const takeover = p3.next((l) => l === "role leader");
    const t1 = performance.now();
    follower.child.kill("SIGKILL");
    await takeover;
    const waited = performance.now() - t1;
    assert.ok(waited >= LEASE_MS / 3, `took over after ${Math.round(waited)} ms: it waited for the lease`);
    p3.child.kill("SIGTERM");
    assert.equal(await p3.exited, 0);
  });
});

describe("leadership across real processes on PostgreSQL", { skip: skipWithoutPostgres }, () => {
  test("one leads; SIGTERM and SIGKILL both hand over at the follower's next attempt", async (t) => {
    // Long enough that a missing unlock shows: PostgreSQL itself ends a silent session only after 3 intervals.
    const PG_RENEW_MS = 1_000;
    // Killed before the database is dropped (after hooks run in order).
    t.after(() => {
      for (const c of children) if (c.child.exitCode === null) c.child.kill("SIGKILL");
    });
    const url = await freshPostgresDatabase(t);
    const pgContender = () => contender([pgScript, url, String(PG_RENEW_MS)]);
    const [leader, follower] = await oneLeads(pgContender);

    // Graceful stop: unlocked, so the follower leads at its next attempt.
    const promoted = follower.next((l) => l === "role leader");
    const t0 = performance.now();
    leader.child.kill("SIGTERM");
    await leader.next((l) => l === "stopped");
    await promoted;
    const handover = performance.now() - t0;
    assert.equal(
      leader.child.exitCode,
      null,
      "it led while the old process still ran: stop() released the lock",
    );
    t.diagnostic(`SIGTERM: the follower led ${Math.round(handover)} ms later (interval ${PG_RENEW_MS} ms)`);
    assert.ok(handover < PG_RENEW_MS * 1.5, `handed over in ${Math.round(handover)} ms`);
    assert.equal(await leader.exited, 0);

    // A crash: nothing is released, but the session dies with the process, and PostgreSQL frees its lock with it.
    const p3 = pgContender();
    assert.equal(await started(p3), "started follower");
    const takeover = p3.next((l) => l === "role leader");
    const t1 = performance.now();
    follower.child.kill("SIGKILL");
    await takeover;
    const waited = performance.now() - t1;
    t.diagnostic(`SIGKILL: the follower led ${Math.round(waited)} ms later (interval ${PG_RENEW_MS} ms)`);
    assert.ok(
      waited < PG_RENEW_MS * 1.5,
      `took over in ${Math.round(waited)} ms: within one attempt, no lease`,
    );
    assert.ok(!follower.lines.includes("stopped"), "the killed one never stopped gracefully");
    p3.child.kill("SIGTERM");
    assert.equal(await p3.exited, 0);
  });
});
