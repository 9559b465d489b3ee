// Follow-up questions on the real AskService and SQLite, the model a loopback chat endpoint that records what it
// is sent: a follow-up carries the conversation so far, is capped by ASK_CONTEXT_TURNS and trimmed oldest first to
// the model's context, is scoped to the student and the channel, is never served from the cache, and each turn is
// an answer row continuing the one before.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import type { AskRequest } from "../../src/classroom/ask.ts";
import {
  addModel,
  answered,
  buildHarness,
  type ChatServer,
  type Harness,
  refused,
  startChatServer,
} from "./helpers.ts";

const G = "100000000000000001";
const OTHER_GUILD = "100000000000000002";
const CLASS = "200000000000000001";
const HALL = "200000000000000002";
const ANA = "300000000000000001";
const BEN = "300000000000000002";

describe("/ask follow-ups", () => {
  let chat: ChatServer;
  let h: Harness;
  const ask = (question: string, extra: Partial<AskRequest> = {}) =>
    h.ask.ask({ guildId: G, channelId: CLASS, userId: ANA, isTeacher: false, question, ...extra });
  const sent = () => chat.requests.at(-1)?.messages ?? [];

  before(async () => {
    chat = await startChatServer("sandbox", ["gpt-4o-mini-2024-07-18"]);
  });
  after(() => chat.close());
  beforeEach(() => {
    chat.requests.length = 0;
    h = buildHarness({ fineTuning: { name: "sandbox", url: chat.url } });
  });

  it("sends the conversation so far with the next question, and numbers the turns", async () => {
    const first = answered(await ask("What is a cell?"));
    assert.equal(first.turn, 1);
    assert.equal(first.maxTurns, 4);
    const second = answered(await ask("What is inside it?", { followUpOf: first.answerId }));
    assert.equal(second.turn, 2);
    assert.deepEqual(
      sent().map((m) => [m.role, m.content]),
      [
        ["system", "You are a helpful educational assistant."],
        ["user", "What is a cell?"],
        ["assistant", first.answer],
        ["user", "What is inside it?"],
      ],
    );
    const row = await h.answers.get(G, second.answerId);
    assert.equal(row?.parentId, first.answerId);
    assert.equal(row?.turn, 2);
  });

  it("stops at ASK_CONTEXT_TURNS questions, and says to start a new /ask", async () => {
    let r = answered(await ask("Q1?"));
    for (let turn = 2; turn <= 4; turn++) {
      r = answered(await ask(`Q${turn}?`, { followUpOf: r.answerId }));
      assert.equal(r.turn, turn);
    }
    assert.equal(
      sent().filter((m) => m.role === "user").length,
      4,
      "the fourth question carries the three before it",
    );
    const calls = chat.requests.length;
    const over = refused(await ask("Q5?", { followUpOf: r.answerId }));
    assert.equal(over.reason, "follow_up_limit");
    assert.match(over.message, /reached 4 questions.*\/ask/);
    assert.equal(chat.requests.length, calls, "the model was not asked");
  });

  it("trims the oldest turns first when the conversation outgrows the model's context", async () => {
    const long = "word ".repeat(1000); // 5,000 bytes an answer: two earlier turns do not fit 8,192 - 500 together
    await chat.close();
    chat = await startChatServer("sandbox", ["gpt-4o-mini-2024-07-18"], { answerFor: () => long });
    h = buildHarness({ fineTuning: { name: "sandbox", url: chat.url } });
    const a = answered(await ask("First?"));
    const b = answered(await ask("Second?", { followUpOf: a.answerId }));
    answered(await ask("Third?", { followUpOf: b.answerId }));
    const users = sent()
      .filter((m) => m.role === "user")
      .map((m) => m.content);
    assert.deepEqual(users, ["Second?", "Third?"], "the oldest turn went first; the newest were kept");
  });

  it("another student, another channel or another server cannot continue a conversation", async () => {
    const first = answered(await ask("What is a cell?"));
    const calls = chat.requests.length;
    for (const other of [
      { userId: BEN },
      { channelId: HALL },
      { guildId: OTHER_GUILD },
      { followUpOf: first.answerId + 1000 },
    ]) {
      const r = refused(await ask("And then?", { followUpOf: first.answerId, ...other }));
      assert.equal(r.reason, "follow_up_not_found", JSON.stringify(other));
    }
    assert.equal(chat.requests.length, calls, "nothing reached the model");
  });

  it("never answers a follow-up from the cache, though its first question is cached", async () => {
    const first = answered(await ask("What is a cell?"));
    const again = answered(await ask("What is a cell?", { userId: BEN }));
    assert.equal(again.cached, true, "the first question is cacheable");
    const f1 = answered(await ask("Why?", { followUpOf: first.answerId }));
    const f2 = answered(await ask("Why?", { followUpOf: first.answerId }));
    assert.equal(f1.cached, false);
    assert.equal(f2.cached, false);
  });

  it("a conversation deleted while its follow-up was answered: the student is told, and the tokens are counted", async () => {
    let deleteParent = () => undefined as unknown;
    const deleting = await startChatServer("sandbox", ["gpt-4o-mini-2024-07-18"], {
      answerFor: (q) => {
        if (q === "And then?") deleteParent(); // a /privacy delete or the retention sweep, mid-answer
        return undefined;
      },
    });
    try {
      h = buildHarness({ fineTuning: { name: "sandbox", url: deleting.url, free: false } });
      const first = answered(await ask("What is a cell?"));
      deleteParent = () => h.db.prepare("DELETE FROM answers WHERE id = ?").run(first.answerId);
      const r = refused(await ask("And then?", { followUpOf: first.answerId }));
      assert.equal(r.reason, "follow_up_not_found");
      assert.match(r.message, /\/ask/);
      const rows = h.db
        .prepare("SELECT completion_tokens AS completion, cost_usd AS cost, error FROM ask_usage ORDER BY id")
        .all() as { completion: number; cost: number; error: string | null }[];
      assert.equal(rows.length, 2);
      assert.ok((rows[1]?.completion ?? 0) > 0 && (rows[1]?.cost ?? 0) > 0, "the answer was paid for");
      assert.equal(rows[1]?.error, "follow_up_not_found");
      assert.equal((await h.answers.withScores(G, "")).length, 0, "no orphaned follow-up was stored");
    } finally {
      await deleting.close();
    }
  });

  it("goes on with the channel's model when the conversation's model is gone, instead of refusing", async () => {
    chat.models.add("ft:gpt-4o-mini:school:bio:1");
    await addModel(h, G, { name: "ft:gpt-4o-mini:school:bio:1", provider: "sandbox" });
    const first = answered(await ask("What is a cell?", { model: "ft:gpt-4o-mini:school:bio:1" }));
    assert.equal(first.model, "ft:gpt-4o-mini:school:bio:1");
    const same = answered(await ask("And its parts?", { followUpOf: first.answerId }));
    assert.equal(
      same.model,
      "ft:gpt-4o-mini:school:bio:1",
      "a follow-up stays with the conversation's model",
    );
    await h.models.remove(G, "ft:gpt-4o-mini:school:bio:1");
    const next = answered(await ask("And the nucleus?", { followUpOf: same.answerId }));
    assert.equal(next.model, "gpt-4o-mini-2024-07-18", "the channel's model answered the next turn");
    assert.equal(next.turn, 3);
  });

  it("never continues an answer the student was not shown (withheld while moderation was down)", async () => {
    // As AskService stores it under MODERATION_FAIL=closed with moderation down: unchecked, yet withheld.
    const id = await h.answers.insert({
      guildId: G,
      channelId: CLASS,
      userId: ANA,
      question: "What is a cell?",
      answer: "words nobody checked",
      model: "gpt-4o-mini-2024-07-18",
      systemPrompt: "You are a helpful educational assistant.",
      public: false,
      createdAt: new Date(h.clock.now).toISOString(),
      moderation: "unchecked",
      withheld: true,
    });
    const calls = chat.requests.length;
    const r = refused(await ask("And then?", { followUpOf: id }));
    assert.equal(r.reason, "follow_up_not_found");
    assert.match(r.message, /held back/);
    assert.equal(chat.requests.length, calls, "the unchecked words never reached the model");
  });

  it("applies the rate limit to every turn", async () => {
    h = buildHarness({
      fineTuning: { name: "sandbox", url: chat.url },
      limits: { userPerMinute: 2, userBurst: 2 },
    });
    const first = answered(await ask("Q1?"));
    answered(await ask("Q2?", { followUpOf: first.answerId }));
    const r = refused(await ask("Q3?", { followUpOf: first.answerId }));
    assert.equal(r.reason, "rate_limited");
  });
});
