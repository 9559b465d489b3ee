// SQLite's store transactions are BEGIN IMMEDIATE: concurrent write transactions, in one process or in two
// processes on one database file (test/db/query/counter.ts under tsx), serialise (each read-modify-write sees the
// one before it) instead of failing with SQLITE_BUSY. With Kysely's own deferred BEGIN, the second process's write
// fails with SQLITE_BUSY_SNAPSHOT.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { openStore, type Store } from "../../../src/db/query/store.ts";
import { readLines } from "../../helpers/childLines.ts";
import { addOne, attempts } from "./counterQueries.ts";

const WAIT_MS = 30_000;
const TIMES = 40;
const script = fileURLToPath(new URL("./counter.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "classtune-store-tx-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function storeWithCounter(name: string): Promise<Store> {
  const store = await openStore({ engine: "sqlite", path: join(dir, name) });
  const at = "2026-12-03T10:00:00.000Z";
  await store.db
    .insertInto("outbox")
    .values({
      id: 1,
      guild_id: "g",
      kind: "job_card",
      payload: "{}",
      dedupe_key: "k",
      created_at: at,
      updated_at: at,
    })
    .execute();
  return store;
}

const within = <T>(p: Promise<T>, what: string): Promise<T> =>
  Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), WAIT_MS).unref()),
  ]);

describe("SQLite store transactions", () => {
  it("in one process, run one after another: neither sees the other half-done", async () => {
    const store = await storeWithCounter("one.db");
    try {
      const events: string[] = [];
      await Promise.all(
        ["a", "b", "c"].map(async (who) => {
          for (let i = 0; i < 5; i++) await addOne(store, (e) => events.push(`${who} ${e}`));
        }),
      );
      assert.equal(await attempts(store), 15);
      for (let i = 0; i < events.length; i += 2) {
        assert.equal(
          events[i]?.replace(/ begin$/, " end"),
          events[i + 1],
          `interleaved at ${i}: ${events.join(", ")}`,
        );
      }
    } finally {
      await store.close();
    }
  });

  it("in two processes on one file, serialise without SQLITE_BUSY: every increment counts", async () => {
    const path = "two.db";
    const store = await storeWithCounter(path);
    await store.close();
    const children = [0, 1].map(() => {
      const child = spawn(
        process.execPath,
        ["--import", import.meta.resolve("tsx"), script, join(dir, path), String(TIMES)],
        { stdio: ["pipe", "pipe", "inherit"] },
      );
      let onReady: () => void = () => undefined;
      const ready = new Promise<void>((resolve) => {
        onReady = resolve;
      });
      const lines = readLines(child.stdout, (line) => {
        if (line === "ready") onReady();
      });
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      return { child, lines, ready, exited };
    });
    try {
      await within(Promise.all(children.map((c) => c.ready)), "both ready");
      for (const c of children) c.child.stdin?.write("go\n");
      const codes = await within(Promise.all(children.map((c) => c.exited)), "both done");
      assert.deepEqual(codes, [0, 0], children.map((c) => c.lines.join(" | ")).join("\n"));
      const after = await openStore({ engine: "sqlite", path: join(dir, path) });
      assert.equal(await attempts(after), 2 * TIMES);
      await after.close();
    } finally {
      for (const c of children) if (c.child.exitCode === null) c.child.kill("SIGKILL");
    }
  });
});
