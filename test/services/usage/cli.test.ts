import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { runCli } from "../../../src/cli/io.ts";
import { openDb } from "../../../src/db/open.ts";
import { UsageRepository } from "../../../src/db/usage.ts";

function capture() {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on("data", (c) => chunks.push(String(c)));
  return { out, text: () => chunks.join("") };
}

describe("classtune usage", () => {
  it("prints the summary, as JSON too, and writes the chart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "classtune-usage-"));
    const dbPath = join(dir, "t.db");
    const db = openDb(dbPath);
    const repo = new UsageRepository(db);
    const now = new Date();
    for (const userId of ["u1", "u1", "u2"]) {
      repo.insert({
        guildId: "g1",
        channelId: "c",
        userId,
        model: "gpt-4o-mini-2024-07-18",
        provider: "sandbox",
        promptTokens: 10,
        completionTokens: 5,
        latencyMs: 3,
        costUsd: 0,
        cacheHit: false,
        error: null,
        createdAt: now.toISOString(),
      });
    }
    db.close();
    const env = { DATABASE_PATH: dbPath };
    const stdout = capture();
    const stderr = capture();
    const chart = join(dir, "u.png");
    const code = await runCli(["usage", "--days", "3", "--chart", chart], {
      stdout: stdout.out,
      stderr: stderr.out,
      isTTY: false,
      env,
    });
    assert.equal(code, 0, stderr.text());
    assert.match(stdout.text(), /Usage for guild g1/);
    assert.match(stdout.text(), /Questions 3 · answered 3/);
    assert.equal(readFileSync(chart).readUInt32BE(16), 800);

    const json = capture();
    assert.equal(
      await runCli(["usage", "--guild", "g1", "--json"], {
        stdout: json.out,
        stderr: stderr.out,
        isTTY: false,
        env,
      }),
      0,
    );
    const summary = JSON.parse(json.text()) as { questions: number; topAskers: { userId: string }[] };
    assert.equal(summary.questions, 3);
    assert.equal(summary.topAskers[0]?.userId, "u1");

    const bad = capture();
    assert.equal(
      await runCli(["usage", "--days", "x"], { stdout: json.out, stderr: bad.out, isTTY: false, env }),
      2,
    );
    assert.match(bad.text(), /--days must be a whole number/);
  });
});
