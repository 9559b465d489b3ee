// Real processes on one database file (test/notices/drainer.ts under tsx): two bot processes drain one outbox of
// 200 notices at once, each with its own poster; every notice is posted by exactly one of them.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { openDb } from "../../src/db/open.ts";
import { OutboxRepository } from "../../src/db/outbox.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import type { JobNoticeBase } from "../../src/domain/notices.ts";
import { readLines } from "../helpers/childLines.ts";

const WAIT_MS = 30_000;
const script = fileURLToPath(new URL("./drainer.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "classtune-two-drainers-"));
const path = join(dir, "classtune.db");
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

interface Drainer {
  child: ChildProcess;
  lines: string[];
  ready: Promise<void>;
  exited: Promise<number | null>;
}

function drainer(holder: string): Drainer {
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), script, path, holder], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  children.push(child);
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  const lines = readLines(child.stdout, (line) => {
    if (line === "ready") onReady();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, lines, ready, exited };
}

const within = <T>(p: Promise<T>, what: string): Promise<T> =>
  Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), WAIT_MS).unref()),
  ]);

test("two processes draining one outbox at once post each of 200 notices exactly once", async () => {
  const db = openDb(path);
  const outbox = new OutboxRepository(sqliteStore(db));
  for (let i = 0; i < 200; i++) {
    await outbox.enqueue({
      guildId: `g${i % 9}`,
      channelId: `c${i % 9}`,
      kind: "job_cancelled",
      payload: { jobId: i } as unknown as JobNoticeBase,
      dedupeKey: `job:${i}:cancelled`,
    });
  }
  const ids = (db.prepare("SELECT id FROM outbox ORDER BY id").pluck().all() as number[]).map(String);
  const pair = [drainer("process-1"), drainer("process-2")];
  await within(Promise.all(pair.map((d) => d.ready)), "both ready");
  for (const d of pair) d.child.stdin?.write("go\n");
  assert.deepEqual(await within(Promise.all(pair.map((d) => d.exited)), "both done"), [0, 0]);

  const postedBy = pair.map((d) => d.lines.filter((l) => l.startsWith("posted ")).map((l) => l.slice(7)));
  const all = postedBy.flat();
  assert.equal(all.length, 200, `posts: ${postedBy.map((p) => p.length).join(" + ")}`);
  assert.deepEqual(
    [...all].sort((x, y) => Number(x) - Number(y)),
    ids,
    "each notice posted once",
  );
  assert.ok(
    postedBy.every((p) => p.length > 0),
    `both processes posted some (${postedBy.map((p) => p.length).join(" + ")}): the drains overlapped`,
  );
  assert.equal(db.prepare("SELECT COUNT(*) FROM outbox WHERE posted_at IS NULL").pluck().get(), 0);
  db.close();
});
