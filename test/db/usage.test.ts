// UsageRepository on both engines (issue 14): rows written and read back as numbers and booleans, the spend cap's
// sum, and /usage's aggregate summed in SQL (totals, the median latency, days, models, askers, error codes) with the
// retention sweep's anonymous daily aggregates added, in one read transaction of its own or inside the caller's.
import assert from "node:assert/strict";
import { it } from "node:test";
import type { Store } from "../../src/db/query/store.ts";
import { type NewUsage, UsageRepository } from "../../src/db/usage.ts";
import { forEachEngine } from "../helpers/engines.ts";

const G = "guild-1";
const OTHER = "guild-2";

const usage = (over: Partial<NewUsage> = {}): NewUsage => ({
  guildId: G,
  channelId: "chan-1",
  userId: "student-1",
  model: "gpt-4o-mini",
  provider: "openai",
  promptTokens: 100,
  completionTokens: 50,
  latencyMs: 400,
  costUsd: 0.25,
  cacheHit: false,
  error: null,
  createdAt: "2026-12-01T10:00:00.000Z",
  ...over,
});

/** A script of questions over two days in G, and one in OTHER. */
async function script(repo: UsageRepository): Promise<void> {
  // 2026-12-01: three answers by the model (latencies 300, 100, 200), one cut at max_tokens.
  await repo.insert(usage({ latencyMs: 300, createdAt: "2026-12-01T09:00:00.000Z" }));
  await repo.insert(usage({ latencyMs: 100, truncated: true, createdAt: "2026-12-01T09:30:00.000Z" }));
  await repo.insert(
    usage({ userId: "student-2", latencyMs: 200, costUsd: 0.5, createdAt: "2026-12-01T11:00:00.000Z" }),
  );
  // 2026-12-02: a cache hit (no latency counted), two errors, and another model's answer.
  await repo.insert(
    usage({
      userId: "student-2",
      cacheHit: true,
      promptTokens: 0,
      completionTokens: 0,
      latencyMs: 0,
      costUsd: 0,
      createdAt: "2026-12-02T08:00:00.000Z",
    }),
  );
  await repo.insert(
    usage({
      userId: "student-3",
      promptTokens: 0,
      completionTokens: 0,
      latencyMs: 5000,
      costUsd: 0,
      error: "timeout",
      createdAt: "2026-12-02T08:10:00.000Z",
    }),
  );
  await repo.insert(
    usage({
      userId: "student-3",
      promptTokens: 0,
      completionTokens: 0,
      latencyMs: 0,
      costUsd: 0,
      error: "rate_limited",
      createdAt: "2026-12-02T08:20:00.000Z",
    }),
  );
  await repo.insert(
    usage({
      model: "llama-3",
      provider: "sandbox",
      promptTokens: 10,
      completionTokens: 5,
      latencyMs: 900,
      costUsd: 0,
      createdAt: "2026-12-02T09:00:00.000Z",
    }),
  );
  await repo.insert(usage({ guildId: OTHER, costUsd: 9, createdAt: "2026-12-02T09:00:00.000Z" }));
}

const close = (a: number, b: number) => Math.abs(a - b) < 1e-9;

async function fold(store: Store): Promise<void> {
  // What the retention sweep leaves of a day it folded: anonymous totals per model, errors per code.
  await store.db
    .insertInto("usage_daily")
    .values([
      {
        guild_id: G,
        day: "2026-11-30",
        model: "gpt-4o-mini",
        provider: "openai",
        questions: 4,
        errors: 1,
        cache_hits: 1,
        prompt_tokens: 300,
        completion_tokens: 120,
        cost_usd: 0.75,
        truncated: 2,
      },
      {
        guild_id: G,
        day: "2026-12-01",
        model: "old-model",
        provider: "sandbox",
        questions: 2,
        errors: 0,
        cache_hits: 0,
        prompt_tokens: 20,
        completion_tokens: 10,
        cost_usd: 0,
        truncated: 0,
      },
      {
        guild_id: "guild-3",
        day: "2026-11-30",
        model: "m",
        provider: "p",
        questions: 1,
        errors: 0,
        cache_hits: 0,
        prompt_tokens: 1,
        completion_tokens: 1,
        cost_usd: 0,
        truncated: 0,
      },
    ])
    .execute();
  await store.db
    .insertInto("usage_daily_errors")
    .values([{ guild_id: G, day: "2026-11-30", code: "timeout", count: 1 }])
    .execute();
}

forEachEngine("UsageRepository", (open) => {
  it("inserts rows and reads them back in a window, oldest first, with numbers and booleans", async (t) => {
    const store = await open(t);
    const repo = new UsageRepository(store);
    const a = await repo.insert(usage({ createdAt: "2026-12-01T10:00:00.000Z", truncated: true }));
    const b = await repo.insert(usage({ createdAt: "2026-12-01T11:00:00.000Z", cacheHit: true, error: "x" }));
    await repo.insert(usage({ createdAt: "2026-12-01T12:00:00.000Z" }));
    await repo.insert(usage({ guildId: OTHER, createdAt: "2026-12-01T10:30:00.000Z" }));
    assert.ok(Number.isInteger(a) && b > a, `ids ${a}, ${b}`);
    const rows = await repo.between(G, "2026-12-01T10:00:00.000Z", "2026-12-01T12:00:00.000Z");
    assert.deepEqual(rows, [
      { ...usage({ createdAt: "2026-12-01T10:00:00.000Z" }), id: a, truncated: true },
      {
        ...usage({ createdAt: "2026-12-01T11:00:00.000Z", cacheHit: true, error: "x" }),
        id: b,
        truncated: false,
      },
    ]);
  });

  it("sums the guild's spend since an instant (inclusive), 0 when there is none", async (t) => {
    const store = await open(t);
    const repo = new UsageRepository(store);
    assert.equal(await repo.spentSince(G, "2026-12-01T00:00:00.000Z"), 0);
    await script(repo);
    assert.ok(close(await repo.spentSince(G, "2026-12-01T00:00:00.000Z"), 1));
    assert.ok(close(await repo.spentSince(G, "2026-12-01T11:00:00.000Z"), 0.5), "from the instant on");
    assert.equal(await repo.spentSince(G, "2026-12-03T00:00:00.000Z"), 0);
    assert.equal(await repo.spentSince(OTHER, "2026-12-01T00:00:00.000Z"), 9);
  });

  it("aggregates a window in SQL: totals, median latency, days, models, askers and error codes", async (t) => {
    const store = await open(t);
    const repo = new UsageRepository(store);
    await script(repo);
    const agg = await repo.aggregate(G, "2026-12-01T00:00:00.000Z", "2026-12-03T00:00:00.000Z");
    assert.equal(typeof agg.promptTokens, "number", "sums read as numbers, not numeric text");
    assert.ok(close(agg.costUsd, 1), `cost ${agg.costUsd}`);
    assert.deepEqual(
      { ...agg, costUsd: 0, byDay: [], byModel: [] },
      {
        questions: 7,
        errors: 2,
        cacheHits: 1,
        promptTokens: 310,
        completionTokens: 155,
        costUsd: 0,
        // Answers by a model: 100, 200, 300, 900 → the lower middle.
        p50LatencyMs: 200,
        byDay: [],
        byModel: [],
        topAskers: [
          { userId: "student-1", questions: 3 },
          { userId: "student-2", questions: 2 },
          { userId: "student-3", questions: 2 },
        ],
        errorsByCode: [
          { code: "rate_limited", count: 1 },
          { code: "timeout", count: 1 },
        ],
        anonymousQuestions: 0,
      },
    );
    assert.deepEqual(
      agg.byDay.map((d) => ({ ...d, costUsd: Math.round(d.costUsd * 100) / 100 })),
      [
        { day: "2026-12-01", questions: 3, tokens: 450, costUsd: 1, errors: 0 },
        { day: "2026-12-02", questions: 4, tokens: 15, costUsd: 0, errors: 2 },
      ],
    );
    assert.deepEqual(
      agg.byModel.map((m) => ({ ...m, costUsd: Math.round(m.costUsd * 100) / 100 })),
      [
        { model: "gpt-4o-mini", provider: "openai", questions: 6, tokens: 450, costUsd: 1, truncated: 1 },
        { model: "llama-3", provider: "sandbox", questions: 1, tokens: 15, costUsd: 0, truncated: 0 },
      ],
    );

    const oneDay = await repo.aggregate(G, "2026-12-02T00:00:00.000Z", "2026-12-02T08:15:00.000Z");
    assert.equal(oneDay.questions, 2, "the window's end is exclusive");
    assert.equal(oneDay.p50LatencyMs, 0, "no answer by a model: no latency");

    const empty = await repo.aggregate(G, "2027-01-01T00:00:00.000Z", "2027-02-01T00:00:00.000Z");
    assert.deepEqual(empty, {
      questions: 0,
      errors: 0,
      cacheHits: 0,
      promptTokens: 0,
      completionTokens: 0,
      costUsd: 0,
      p50LatencyMs: 0,
      byDay: [],
      byModel: [],
      topAskers: [],
      errorsByCode: [],
      anonymousQuestions: 0,
    });
  });

  it("adds the folded days' anonymous aggregates of the window, and no askers for them", async (t) => {
    const store = await open(t);
    const repo = new UsageRepository(store);
    await script(repo);
    await fold(store);
    const agg = await repo.aggregate(G, "2026-11-30T00:00:00.000Z", "2026-12-03T00:00:00.000Z");
    assert.equal(agg.questions, 7 + 6);
    assert.equal(agg.anonymousQuestions, 6);
    assert.equal(agg.errors, 3);
    assert.equal(agg.cacheHits, 2);
    assert.equal(agg.promptTokens, 310 + 320);
    assert.equal(agg.completionTokens, 155 + 130);
    assert.ok(close(agg.costUsd, 1.75), `cost ${agg.costUsd}`);
    assert.equal(agg.p50LatencyMs, 200, "folded days have no latency");
    assert.equal(agg.topAskers.length, 3, "folded days have no askers");
    assert.deepEqual(
      agg.byDay.map((d) => [d.day, d.questions, d.tokens, d.errors]),
      [
        ["2026-11-30", 4, 420, 1],
        ["2026-12-01", 5, 480, 0],
        ["2026-12-02", 4, 15, 2],
      ],
    );
    assert.deepEqual(
      agg.byModel.map((m) => [m.model, m.provider, m.questions, m.tokens, m.truncated]),
      [
        ["gpt-4o-mini", "openai", 10, 870, 3],
        ["old-model", "sandbox", 2, 30, 0],
        ["llama-3", "sandbox", 1, 15, 0],
      ],
    );
    assert.deepEqual(agg.errorsByCode, [
      { code: "timeout", count: 2 },
      { code: "rate_limited", count: 1 },
    ]);
    const later = await repo.aggregate(G, "2026-12-01T00:00:00.000Z", "2026-12-03T00:00:00.000Z");
    assert.equal(later.anonymousQuestions, 2, "a folded day counts from its first instant");
  });

  it("reads the aggregate inside the caller's transaction with in(tx), seeing its uncommitted rows", async (t) => {
    const store = await open(t);
    const repo = new UsageRepository(store);
    await script(repo);
    const seen = await store.transaction(async (tx) => {
      await repo.in(tx).insert(usage({ createdAt: "2026-12-02T12:00:00.000Z" }));
      return repo.in(tx).aggregate(G, "2026-12-01T00:00:00.000Z", "2026-12-03T00:00:00.000Z");
    });
    assert.equal(seen.questions, 8);
    assert.equal(
      (await repo.aggregate(G, "2026-12-01T00:00:00.000Z", "2026-12-03T00:00:00.000Z")).questions,
      8,
    );
    await assert.rejects(
      store.transaction(async (tx) => {
        await repo.in(tx).insert(usage({ createdAt: "2026-12-02T13:00:00.000Z" }));
        throw new Error("rolled back");
      }),
      /rolled back/,
    );
    assert.equal((await repo.between(G, "2026-12-02T13:00:00.000Z", "2026-12-02T14:00:00.000Z")).length, 0);
  });

  it("lists the guilds with usage, held or folded, in order, up to the limit", async (t) => {
    const store = await open(t);
    const repo = new UsageRepository(store);
    assert.deepEqual(await repo.guilds(), []);
    await script(repo);
    await fold(store);
    assert.deepEqual(await repo.guilds(), [G, OTHER, "guild-3"]);
    assert.deepEqual(await repo.guilds(2), [G, OTHER]);
  });
});
