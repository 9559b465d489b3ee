// The two ways to run the bot (`npm start`, `npm run start:sharded`) read the configuration the same way: every
// problem in one message (exit 2), and without a token the set-up steps (exit 1) — as a new user first sees them.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";

const dir = mkdtempSync(join(tmpdir(), "classtune-entry-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(entry: string, env: Record<string, string>) {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("DISCORD_") && !k.startsWith("SHARD")),
  );
  return spawnSync(process.execPath, ["scripts/run.js", entry], {
    encoding: "utf8",
    timeout: 60_000,
    cwd: process.cwd(),
    env: { ...clean, DATA_DIR: dir, LOG_LEVEL: "silent", ...env },
  });
}

describe("the bot's entry points", () => {
  it("src/main.ts: a DATABASE_URL no PostgreSQL answers on is named, without its password, and the bot stops", () => {
    const r = run("src/main.ts", {
      DISCORD_TOKEN: "token-for-this-test",
      DATABASE_URL: "postgres://classtune:s3cret-pw@127.0.0.1:1/ct",
      LOG_LEVEL: "fatal",
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout + r.stderr, /cannot reach PostgreSQL at 127\.0\.0\.1:1/);
    assert.doesNotMatch(r.stdout + r.stderr, /s3cret-pw/);
  });

  for (const entry of ["src/main.ts", "src/sharded.ts"]) {
    it(`${entry}: without a token, says what to set and exits 1`, () => {
      const r = run(entry, {});
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /DISCORD_TOKEN is not set/);
      assert.match(r.stderr, /Create an application at https:\/\/discord\.com\/developers\/applications/);
    });

    it(`${entry}: a bad setting is named, with exit 2`, () => {
      const r = run(entry, { ASK_STREAM: "maybe" });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /ASK_STREAM: must be true or false, got "maybe"/);
    });
  }
});
