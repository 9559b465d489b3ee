import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { formatUsageText, UsageService } from "../../src/classroom/usage.ts";
import { addModel, buildHarness, type ChatServer, startChatServer } from "./helpers.ts";

const G = "100000000000000001";
const OTHER_G = "100000000000000002";
const CH = "200000000000000001";
const [A, B, C] = ["300000000000000001", "300000000000000002", "300000000000000003"];
const PAID = "gpt-4o-2024-08-06";

describe("UsageService.summary against a known script of questions", () => {
  let sandbox: ChatServer;
  let paid: ChatServer;
  before(async () => {
    sandbox = await startChatServer("sandbox", ["gpt-4o-mini-2024-07-18"]);
    paid = await startChatServer("paid", [PAID]);
  });
  after(async () => {
    await sandbox.close();
    await paid.close();
  });

  it("counts questions, tokens, cost, errors, cache hits, days and askers", async () => {
    const h = buildHarness({
      fineTuning: { name: "sandbox", url: sandbox.url },
      extra: [{ name: "openai", url: paid.url }],
    });
    await addModel(h, G, { name: PAID, provider: "openai" });
    const ask = (userId: string, question: string, model?: string, guildId = G) =>
      h.ask.ask({ guildId, channelId: CH, userId, isTeacher: false, question, model });

    h.clock.now = Date.parse("2026-11-24T10:00:00Z");
    await ask(A, "What is DNA?", PAID); // prompt 6+3, completion 6 words, paid
    await ask(B, "what is dna", PAID); // cache hit
    await ask(A, "Why is the sky blue?"); // sandbox: prompt 6+5, completion 8, free
    h.clock.now = Date.parse("2026-11-25T10:00:00Z");
    sandbox.failNext(503, { message: "overloaded", type: "server_error", code: null });
    await ask(C, "one"); // error
    await ask(A, "two"); // prompt 7, completion 4
    await ask(A, "not this guild", undefined, OTHER_G);

    const usage = new UsageService({ usage: h.usage, now: () => h.clock.now });
    const s = await usage.summary(G, 7);
    assert.equal(s.questions, 5);
    assert.equal(s.answered, 4);
    assert.equal(s.errors, 1);
    assert.equal(s.cacheHits, 1);
    assert.equal(s.errorRate, 0.2);
    assert.equal(s.cacheHitRate, 0.25);
    assert.equal(s.promptTokens, 27);
    assert.equal(s.completionTokens, 18);
    assert.equal(s.totalTokens, 45);
    assert.ok(Math.abs(s.costUsd - (9 * 2.5 + 6 * 10) / 1e6) < 1e-12, `cost ${s.costUsd}`);
    assert.equal(s.since, "2026-11-19");
    assert.deepEqual(
      s.byDay.map((d) => [d.day, d.questions, d.errors]),
      [
        ["2026-11-19", 0, 0],
        ["2026-11-20", 0, 0],
        ["2026-11-21", 0, 0],
        ["2026-11-22", 0, 0],
        ["2026-11-23", 0, 0],
        ["2026-11-24", 3, 0],
        ["2026-11-25", 2, 1],
      ],
    );
    assert.deepEqual(
      s.byModel.map((m) => [m.model, m.provider, m.questions, m.tokens]),
      [
        ["gpt-4o-mini-2024-07-18", "sandbox", 3, 30],
        [PAID, "openai", 2, 15],
      ],
    );
    assert.deepEqual(s.topAskers, [
      { userId: A, questions: 3 },
      { userId: B, questions: 1 },
      { userId: C, questions: 1 },
    ]);
    assert.deepEqual(s.errorsByCode, [{ code: "provider_unavailable", count: 1 }]);

    const today = await usage.summary(G, 1);
    assert.equal(today.questions, 2);
    assert.equal(today.byDay.length, 1);
    assert.equal((await usage.summary(OTHER_G, 7)).questions, 1);

    const text = formatUsageText(s);
    assert.match(text, /Questions 5 · answered 4 · errors 1 \(20\.0%\) · cache hits 1 \(25\.0%\)/);
    assert.match(text, /2026-11-24\s+3 questions/);
    await assert.rejects(usage.summary(G, 0), /Days must be/);
    await assert.rejects(usage.summary(G, 91), /Days must be/);
  });
});
