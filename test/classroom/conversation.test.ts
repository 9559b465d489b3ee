// What a follow-up sends the model: the system prompt, the most recent earlier turns that the ASK_CONTEXT_TURNS
// cap and the model's context allow (the oldest go first), and the new question, which is never dropped.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type ChatMessage,
  type ConversationRequest,
  canFollowUp,
  conversationMessages,
  followUpLabel,
} from "../../src/classroom/conversation.ts";
import { promptTokensAtMost } from "../../src/classroom/prices.ts";
import { textCounter } from "../../src/datasets/tokens.ts";

const o200k = textCounter("o200k_base");
/** OpenAI's chat rule (3 per message + role + content, 3 to prime the answer) over the real tokenizer. */
const realTokens = (messages: readonly ChatMessage[]) =>
  3 + messages.reduce((n, m) => n + 3 + o200k.count(m.role) + o200k.count(m.content), 0);

const turns = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    question: `Question ${i + 1}: why does ice float on water?`,
    answer: `Answer ${i + 1}: ice is less dense than liquid water, because its molecules form an open lattice.`,
  }));

const request = (over: Partial<ConversationRequest> = {}): ConversationRequest => ({
  systemPrompt: "You are a patient physics tutor.",
  turns: turns(3),
  question: "And what about other substances?",
  maxTurns: 4,
  contextTokens: 128_000,
  reserveTokens: 500,
  countTokens: realTokens,
  ...over,
});

const questionsOf = (messages: ChatMessage[]) =>
  messages.filter((m) => m.role === "user").map((m) => m.content);

describe("conversationMessages", () => {
  it("sends the system prompt, the earlier turns in order and the new question last", () => {
    const result = conversationMessages(request({ turns: turns(2) }));
    assert.ok(result.fits);
    assert.deepEqual(
      result.messages.map((m) => m.role),
      ["system", "user", "assistant", "user", "assistant", "user"],
    );
    assert.equal(result.messages[0]?.content, "You are a patient physics tutor.");
    assert.equal(result.messages.at(-1)?.content, "And what about other substances?");
    assert.equal(result.messages[2]?.content, turns(2)[0]?.answer);
    assert.deepEqual([result.keptTurns, result.droppedTurns], [2, 0]);
    assert.equal(result.promptTokens, realTokens(result.messages));
  });

  it("holds at most maxTurns questions, the new one included, dropping the oldest", () => {
    const result = conversationMessages(request({ turns: turns(6), maxTurns: 4 }));
    assert.ok(result.fits);
    assert.deepEqual(
      questionsOf(result.messages).map((q) => q.slice(0, 10)),
      ["Question 4", "Question 5", "Question 6", "And what a"],
    );
    assert.deepEqual([result.keptTurns, result.droppedTurns], [3, 3]);
  });

  it("sends no earlier turn when follow-ups are off (maxTurns 1)", () => {
    const result = conversationMessages(request({ maxTurns: 1 }));
    assert.ok(result.fits);
    assert.deepEqual(
      result.messages.map((m) => m.role),
      ["system", "user"],
    );
    assert.equal(result.droppedTurns, 3);
  });

  it("drops the oldest turns until the prompt and the answer's max_tokens fit the context", () => {
    const all = conversationMessages(request());
    assert.ok(all.fits);
    const oneTurn = realTokens(all.messages.filter((_, i) => i === 0 || i >= 5));
    // Room for the system prompt, the most recent turn and the question, not for two turns.
    const result = conversationMessages(request({ contextTokens: oneTurn + 500, reserveTokens: 500 }));
    assert.ok(result.fits);
    assert.deepEqual(
      questionsOf(result.messages).map((q) => q.slice(0, 10)),
      ["Question 3", "And what a"],
    );
    assert.deepEqual([result.keptTurns, result.droppedTurns], [1, 2]);
    assert.ok(result.promptTokens + 500 <= oneTurn + 500);
  });

  it("keeps the system prompt and the question even when no earlier turn fits", () => {
    const bare = realTokens([
      { role: "system", content: "You are a patient physics tutor." },
      { role: "user", content: "And what about other substances?" },
    ]);
    const result = conversationMessages(request({ contextTokens: bare + 10, reserveTokens: 10 }));
    assert.ok(result.fits);
    assert.deepEqual([result.keptTurns, result.droppedTurns], [0, 3]);
    assert.equal(result.messages.length, 2);
  });

  it("says when even the system prompt and the question leave no room for the answer", () => {
    const result = conversationMessages(
      request({ question: "why? ".repeat(400), contextTokens: 1000, reserveTokens: 800 }),
    );
    assert.equal(result.fits, false);
    assert.ok(!result.fits && result.availableTokens === 200 && result.promptTokens > 200);
  });

  it("takes any counter: the byte upper bound keeps fewer turns than the real tokenizer", () => {
    const byBytes = (messages: readonly ChatMessage[]) => promptTokensAtMost(messages.map((m) => m.content));
    const all = conversationMessages(request());
    assert.ok(all.fits);
    const contextTokens = all.promptTokens + 500;
    const real = conversationMessages(request({ contextTokens }));
    const bound = conversationMessages(request({ contextTokens, countTokens: byBytes }));
    assert.ok(real.fits && bound.fits);
    assert.equal(real.keptTurns, 3);
    assert.ok(bound.keptTurns < 3, `kept ${bound.keptTurns}`);
  });
});

describe("follow-up positions", () => {
  it("allows a follow-up while the conversation holds fewer than maxTurns questions", () => {
    assert.deepEqual(
      [1, 2, 3, 4].map((turn) => canFollowUp(turn, 4)),
      [true, true, true, false],
    );
    assert.equal(canFollowUp(1, 1), false, "ASK_CONTEXT_TURNS=1: follow-ups off");
  });

  it("shows the conversation's length in questions, the first one counted", () => {
    assert.equal(followUpLabel(1, 4), undefined);
    assert.equal(followUpLabel(2, 4), "follow-up 2 of 4");
    assert.equal(followUpLabel(4, 4), "follow-up 4 of 4");
    assert.equal(followUpLabel(2, 1), undefined);
  });
});
