// The preference (DPO) export: a teacher's correction over the model's answer, the better-rated of two public
// answers to one question over the other; written in OpenAI's preference format, round-tripped through the
// validator, stored as the guild's dataset, and never another guild's answers.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeEach, describe, it } from "node:test";
import { FeedbackService, type PreferenceLine, selectPreferencePairs } from "../../src/classroom/feedback.ts";
import { storeDataset } from "../../src/datasets/store.ts";
import { validateFile } from "../../src/datasets/validator.ts";
import { AnswerRepository, type NewAnswer } from "../../src/db/answers.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";

const G = "100000000000000001";
const OTHER_G = "100000000000000002";
const CLASS = "200000000000000001";
const OTHER_CLASS = "200000000000000003";
const HALL = "200000000000000002";
const TEACHER = "300000000000000009";
const ASKER = "300000000000000008";
const voters = Array.from({ length: 6 }, (_, i) => `30000000000000000${i + 1}`);
const BASE = "gpt-4o-mini-2024-07-18";
const PROMPT = "You teach biology.";

let db: Db;
let answers: AnswerRepository;
let feedback: FeedbackService;
let at = Date.parse("2026-11-25T10:00:00Z");

async function answer(a: Partial<NewAnswer> & { question: string; answer: string }): Promise<number> {
  at += 1000;
  return await answers.insert({
    guildId: G,
    channelId: CLASS,
    userId: ASKER,
    model: BASE,
    systemPrompt: PROMPT,
    public: true,
    createdAt: new Date(at).toISOString(),
    ...a,
  });
}

async function votes(guildId: string, id: number, ups: number, downs = 0): Promise<void> {
  for (const v of voters.slice(0, ups)) {
    await answers.vote(guildId, id, v, 1, new Date(at).toISOString());
  }
  for (const v of voters.slice(ups, ups + downs)) {
    await answers.vote(guildId, id, v, -1, new Date(at).toISOString());
  }
}

const readLines = (path: string): PreferenceLine[] =>
  readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as PreferenceLine);

beforeEach(async () => {
  db = openDb(":memory:");
  answers = new AnswerRepository(sqliteStore(db));
  const dataDir = mkdtempSync(join(tmpdir(), "classtune-preference-"));
  feedback = new FeedbackService({
    answers,
    storeDataset: (input) => storeDataset({ ...input, store: sqliteStore(db), dataDir }),
    defaultModel: BASE,
    now: () => at,
  });
});

describe("preference export", () => {
  it("prefers a teacher's correction over the model's answer, private answers included, in OpenAI's format", async () => {
    for (let i = 1; i <= 10; i++) {
      const id = await answer({
        question: `Question ${i}: what does a ribosome do?`,
        answer: `It stores energy (${i}).`,
        public: i % 2 === 0,
        channelId: i % 2 === 0 ? CLASS : HALL,
      });
      await answers.correct(
        G,
        id,
        `It builds proteins from amino acids (${i}).`,
        TEACHER,
        new Date(at).toISOString(),
      );
    }
    const result = await feedback.exportDataset({ guildId: G, requesterId: TEACHER, format: "preference" });
    assert.equal(result.format, "preference");
    assert.deepEqual([result.examples, result.fromCorrections, result.fromVotes], [10, 10, 0]);
    assert.equal(result.row.format, "preference");
    assert.equal(result.report.format, "preference");
    assert.equal(result.report.invalid, 0);
    assert.equal(result.report.fineTunable, true, "ten pairs meet OpenAI's minimum of 10");
    assert.match(result.row.fileName, /^classroom-preference-\d{4}-\d{2}-\d{2}\.jsonl$/);

    const [first] = readLines(result.row.storedPath);
    assert.deepEqual(first, {
      input: {
        messages: [
          { role: "system", content: PROMPT },
          { role: "user", content: "Question 1: what does a ribosome do?" },
        ],
      },
      preferred_output: [{ role: "assistant", content: "It builds proteins from amino acids (1)." }],
      non_preferred_output: [{ role: "assistant", content: "It stores energy (1)." }],
    });
    // The stored file round-trips: validated again on its own, it is the same preference dataset.
    const again = await validateFile(result.row.storedPath, { model: BASE });
    assert.deepEqual([again.format, again.valid, again.invalid], ["preference", 10, 0]);
    assert.equal(again.billingTokens, result.report.billingTokens);
  });

  it("prefers the better-rated of two public answers to one question (same system prompt, normalised text)", async () => {
    const good = await answer({ question: "What is osmosis?", answer: "Water moving across a membrane." });
    const bad = await answer({
      question: "  what is OSMOSIS ",
      answer: "A kind of rock.",
      channelId: OTHER_CLASS,
    });
    await votes(G, good, 3);
    await votes(G, bad, 0, 1);
    // Same question, another system prompt: another question.
    const elsewhere = await answer({
      question: "What is osmosis?",
      answer: "Osmosis!",
      systemPrompt: "You teach art.",
    });
    await votes(G, elsewhere, 0, 3);
    // Two answers with the same net votes: no preference between them.
    const tieA = await answer({ question: "What is a gene?", answer: "A unit of heredity." });
    const tieB = await answer({ question: "What is a gene?", answer: "A stretch of DNA." });
    await votes(G, tieA, 1);
    await votes(G, tieB, 1);
    // A private answer has no votes: it never loses a vote pair to a public one.
    const publicOne = await answer({ question: "Is a virus alive?", answer: "It is debated." });
    await answer({ question: "Is a virus alive?", answer: "No.", public: false, channelId: HALL });
    await votes(G, publicOne, 2);

    const { lines, fromVotes, fromCorrections } = selectPreferencePairs(
      await answers.withScores(G, "0000"),
      1,
    );
    assert.deepEqual([fromVotes, fromCorrections], [1, 0]);
    assert.deepEqual(lines, [
      {
        input: {
          messages: [
            { role: "system", content: PROMPT },
            { role: "user", content: "What is osmosis?" },
          ],
        },
        preferred_output: [{ role: "assistant", content: "Water moving across a membrane." }],
        non_preferred_output: [{ role: "assistant", content: "A kind of rock." }],
      },
    ]);
    // min-score is the margin the better answer needs: 4 here (3 − (−1)), so 5 finds nothing.
    assert.equal(selectPreferencePairs(await answers.withScores(G, "0000"), 4).lines.length, 1);
    assert.equal(selectPreferencePairs(await answers.withScores(G, "0000"), 5).lines.length, 0);
  });

  it("uses the teacher's correction of the better-rated answer, never the text it replaced", async () => {
    const liked = await answer({ question: "What is mitosis?", answer: "Cell division, roughly." });
    const disliked = await answer({ question: "What is mitosis?", answer: "A disease." });
    await votes(G, liked, 2);
    await votes(G, disliked, 0, 2);
    await answers.correct(
      G,
      liked,
      "Division into two identical cells.",
      TEACHER,
      new Date(at).toISOString(),
    );
    const { lines } = selectPreferencePairs(await answers.withScores(G, "0000"), 1);
    assert.deepEqual(
      lines.map((l) => [l.preferred_output[0]?.content, l.non_preferred_output[0]?.content]),
      [
        ["Division into two identical cells.", "Cell division, roughly."],
        ["Division into two identical cells.", "A disease."],
      ],
    );
  });

  it("does not count the asker's own vote, and skips a pair whose two texts are the same", async () => {
    await answer({ question: "What is DNA?", answer: "A molecule." });
    const b = await answer({ question: "What is DNA?", answer: "Deoxyribonucleic acid." });
    await answers.vote(G, b, ASKER, 1, new Date(at).toISOString());
    assert.equal(selectPreferencePairs(await answers.withScores(G, "0000"), 1).lines.length, 0);
    await votes(G, b, 1);
    assert.equal(selectPreferencePairs(await answers.withScores(G, "0000"), 1).lines.length, 1);
    const same = await answer({ question: "Why?", answer: "Because." });
    await answers.correct(G, same, " Because. ", TEACHER, new Date(at).toISOString());
    assert.equal(selectPreferencePairs(await answers.withScores(G, "0000"), 1).fromCorrections, 0);
  });

  it("exports only this guild's answers, and says plainly when there is nothing to pair", async () => {
    const other = await answer({
      guildId: OTHER_G,
      question: "Other school's secret?",
      answer: "Model text.",
    });
    await answers.correct(OTHER_G, other, "Other school's correction.", TEACHER, new Date(at).toISOString());
    const mine = await answer({ question: "What is a cell?", answer: "A room." });
    await answers.correct(G, mine, "The smallest unit of life.", TEACHER, new Date(at).toISOString());
    await assert.rejects(
      feedback.exportDataset({ guildId: "100000000000000077", requesterId: TEACHER, format: "preference" }),
      /Nothing to export as preference pairs yet: no teacher corrected an answer, and no question has two public answers/,
    );
    const result = await feedback.exportDataset({ guildId: G, requesterId: TEACHER, format: "preference" });
    const text = readFileSync(result.row.storedPath, "utf8");
    assert.doesNotMatch(text, /Other school/);
    assert.match(text, /smallest unit of life/);
    assert.equal(result.row.guildId, G);
    assert.equal(result.report.fineTunable, false, "one pair is stored, but is not enough to train on");
    // The other guild's own export holds only its own pair.
    const theirs = await feedback.exportDataset({
      guildId: OTHER_G,
      requesterId: TEACHER,
      format: "preference",
    });
    assert.doesNotMatch(readFileSync(theirs.row.storedPath, "utf8"), /smallest unit/);
  });

  it("refuses a format it does not know", async () => {
    await assert.rejects(
      feedback.exportDataset({ guildId: G, requesterId: TEACHER, format: "dpo" as never }),
      /"dpo" is no export format: use supervised or preference/,
    );
  });
});
