import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { UsageRepository } from "../../src/db/usage.ts";
import { runCliCaptured } from "../helpers/cli.ts";

describe("classtune usage", () => {
  it("reads PostgreSQL when DATABASE_URL is set, not the SQLite file, and names an unreachable one without its password", async () => {
    const dir = mkdtempSync(join(tmpdir(), "classtune-usage-"));
    const dbPath = join(dir, "t.db");
    openDb(dbPath).close();
    const r = await runCliCaptured(["usage"], {
      DATABASE_PATH: dbPath,
      DATABASE_URL: "postgres://classtune:s3cret-pw@127.0.0.1:1/ct",
    });
    assert.notEqual(r.code, 0);
    assert.match(r.err, /cannot reach PostgreSQL at 127\.0\.0\.1:1/);
    assert.doesNotMatch(r.out + r.err, /s3cret-pw/);
  });

  it("prints the summary, as JSON too, and writes the chart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "classtune-usage-"));
    const dbPath = join(dir, "t.db");
    const db = openDb(dbPath);
    const repo = new UsageRepository(sqliteStore(db));
    const now = new Date();
    for (const userId of ["u1", "u1", "u2"]) {
      await repo.insert({
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
    const chart = join(dir, "u.png");
    const text = await runCliCaptured(["usage", "--days", "3", "--chart", chart], env);
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /Usage for guild g1/);
    assert.match(text.out, /Questions 3 · answered 3/);
    assert.equal(readFileSync(chart).readUInt32BE(16), 800);

    const json = await runCliCaptured(["usage", "--guild", "g1", "--json"], env);
    assert.equal(json.code, 0, json.err);
    const summary = JSON.parse(json.out) as { questions: number; topAskers: { userId: string }[] };
    assert.equal(summary.questions, 3);
    assert.equal(summary.topAskers[0]?.userId, "u1");

    const bad = await runCliCaptured(["usage", "--days", "x"], env);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--days must be a whole number/);
  });
});

describe("classtune usage after retention", () => {
  it("still counts the purged days, from the anonymous daily totals, and finds a guild that has only those", async () => {
    const dir = mkdtempSync(join(tmpdir(), "classtune-usage-"));
    const dbPath = join(dir, "t.db");
    const db = openDb(dbPath);
    const day = new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10);
    db.prepare(
      `INSERT INTO usage_daily (guild_id, day, model, provider, questions, errors, cache_hits, prompt_tokens,
         completion_tokens, cost_usd) VALUES ('g9', ?, 'gpt-4o-mini-2024-07-18', 'sandbox', 4, 1, 0, 40, 20, 0.5)`,
    ).run(day);
    db.close();
    const env = { DATABASE_PATH: dbPath };
    const text = await runCliCaptured(["usage", "--days", "7"], env);
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /Usage for guild g9/);
    assert.match(text.out, /Questions 4 · answered 3 · errors 1/);
    assert.match(text.out, new RegExp(`${day} +4 questions +60 tokens`));
    assert.match(text.out, /4 question\(s\) are from days past the retention window/);
    const json = await runCliCaptured(["usage", "--guild", "g9", "--json"], env);
    const summary = JSON.parse(json.out) as { anonymousQuestions: number; topAskers: unknown[] };
    assert.deepEqual([summary.anonymousQuestions, summary.topAskers], [4, []]);
  });
});
