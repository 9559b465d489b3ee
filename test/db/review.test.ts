// The teachers' review query on both engines: votes counted, corrections shown, moderation flags read from the
// verdicts (json_each on SQLite, jsonb_array_elements on PostgreSQL), filters, pages that stay put, one guild.
import assert from "node:assert/strict";
import { it } from "node:test";
import { AnswerRepository, type NewAnswer } from "../../src/db/answers.ts";
import { ModerationRepository, type NewVerdict } from "../../src/db/moderation.ts";
import { ReviewRepository } from "../../src/db/review.ts";
import { forEachEngine } from "../helpers/engines.ts";

const SINCE = "2026-11-01T00:00:00.000Z";
const answer = (over: Partial<NewAnswer> = {}): NewAnswer => ({
  guildId: "A",
  channelId: "c1",
  userId: "s1",
  question: "What is a cell?",
  answer: "The smallest unit of life.",
  model: "m",
  systemPrompt: "You are a tutor.",
  public: true,
  createdAt: "2026-12-01T10:00:00.000Z",
  ...over,
});
const verdict = (answerId: number, over: Partial<NewVerdict> = {}): NewVerdict => ({
  guildId: "A",
  channelId: "c1",
  userId: "s1",
  answerId,
  target: "answer",
  outcome: "flagged",
  provider: "sandbox",
  model: null,
  categories: [
    { category: "violence", score: 0.9 },
    { category: "harassment", score: 0.6 },
  ],
  topCategory: "violence",
  topScore: 0.9,
  severe: false,
  error: null,
  flaggedText: null,
  createdAt: "2026-12-01T10:00:01.000Z",
  ...over,
});

forEachEngine("ReviewRepository", (open) => {
  it("pages newest first with votes, corrections and flags, filtered, within one guild", async (t) => {
    const store = await open(t);
    const answers = new AnswerRepository(store);
    const verdicts = new ModerationRepository(store);
    const review = new ReviewRepository(store);
    assert.equal(await review.maxId("A"), 0, "no answers yet");
    const old = await answers.insert(answer({ createdAt: "2026-10-01T10:00:00.000Z" }));
    const plain = await answers.insert(answer());
    const flagged = await answers.insert(answer({ channelId: "c2", userId: "s2", public: false }));
    const theirs = await answers.insert(answer({ guildId: "B" }));
    await answers.vote("A", plain, "s1", 1, SINCE);
    await answers.vote("A", plain, "s2", 1, SINCE);
    await answers.vote("A", plain, "s3", -1, SINCE);
    await answers.correct(
      "A",
      plain,
      "A cell is the basic unit of life.",
      "teacher",
      "2026-12-02T09:00:00.000Z",
    );
    await verdicts.insert(verdict(flagged));
    await verdicts.insert(
      verdict(flagged, { target: "question", categories: [{ category: "violence", score: 1 }] }),
    );
    await verdicts.insert(verdict(plain, { outcome: "passed", categories: [] }));
    await verdicts.insert(verdict(theirs, { guildId: "B" }));

    const maxId = await review.maxId("A");
    assert.equal(maxId, flagged);
    const q = { guildId: "A", sinceIso: SINCE, maxId };
    assert.equal(await review.count(q), 2, "the October answer is before the window, B's is another guild's");
    const page = await review.page(q, 10, 0);
    assert.deepEqual(
      page.map((r) => r.answerId),
      [flagged, plain],
    );
    const [f, p] = page;
    assert.equal(p?.up, 2);
    assert.equal(p?.down, 1);
    assert.equal(p?.correctedAnswer, "A cell is the basic unit of life.");
    assert.equal(p?.correctedBy, "teacher");
    assert.equal(p?.public, true);
    assert.deepEqual(p?.flags, []);
    assert.equal(p?.flagged, false, "a passed verdict is not a flag");
    assert.equal(f?.public, false);
    assert.equal(f?.up, 0);
    assert.deepEqual([...(f?.flags ?? [])].sort(), ["harassment", "violence"], "each category once");
    assert.equal(f?.flagged, true);

    assert.deepEqual(
      (await review.page({ ...q, flaggedOnly: true }, 10, 0)).map((r) => r.answerId),
      [flagged],
    );
    assert.equal(await review.count({ ...q, flaggedOnly: true }), 1);
    assert.deepEqual(
      (await review.page({ ...q, channelId: "c1" }, 10, 0)).map((r) => r.answerId),
      [plain],
    );
    assert.deepEqual(
      (await review.page({ ...q, userId: "s2" }, 10, 0)).map((r) => r.answerId),
      [flagged],
    );
    assert.deepEqual(
      (await review.page(q, 1, 1)).map((r) => r.answerId),
      [plain],
      "the second page",
    );
    // A page opened earlier stays put when new answers arrive.
    await answers.insert(answer());
    assert.equal(await review.count(q), 2);
    assert.equal(await review.count({ ...q, maxId: await review.maxId("A") }), 3);
    assert.equal(await review.count({ ...q, guildId: "B", maxId: await review.maxId("B") }), 1);
    assert.ok(old < plain);
  });
});
