// ReviewService over real SQLite: pages (newest first, stable while new answers arrive), the channel, student
// and days filters, votes and corrections on each row, flagged-only (nothing until moderation verdicts exist),
// and guild isolation in SQL.
import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { REVIEW_PAGE_SIZE, ReviewService } from "../../src/classroom/review.ts";
import { AnswerRepository } from "../../src/db/answers.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { ReviewRepository } from "../../src/db/review.ts";

const G = "100000000000000001";
const OTHER_G = "100000000000000002";
const CLASS = "200000000000000001";
const HALL = "200000000000000002";
const SAM = "300000000000000001";
const ANA = "300000000000000002";
const TEACHER = "300000000000000009";
const NOW = Date.parse("2026-11-25T10:00:00Z");
const DAY = 86_400_000;

let db: Db;
let answers: AnswerRepository;
let review: ReviewService;

async function answer(
  over: { guildId?: string; channelId?: string; userId?: string; at?: number; q?: string } = {},
): Promise<number> {
  return await answers.insert({
    guildId: over.guildId ?? G,
    channelId: over.channelId ?? CLASS,
    userId: over.userId ?? SAM,
    question: over.q ?? "What is a cell?",
    answer: "A cell is the smallest unit of life.",
    model: "gpt-4o-mini-2024-07-18",
    systemPrompt: "You teach biology.",
    public: (over.channelId ?? CLASS) === CLASS,
    createdAt: new Date(over.at ?? NOW - 60_000).toISOString(),
  });
}

beforeEach(async () => {
  db = openDb(":memory:");
  answers = new AnswerRepository(sqliteStore(db));
  review = new ReviewService({ review: new ReviewRepository(sqliteStore(db)), now: () => NOW });
});

describe("ReviewService pages", () => {
  it("pages more answers than fit, newest first, and clamps a page past the end to the last", async () => {
    const ids: number[] = [];
    for (let i = 0; i < 12; i++) ids.push(await answer({ q: `Question ${i}?` }));
    const first = await review.page(G, { days: 7 });
    assert.equal(first.total, 12);
    assert.equal(first.pageCount, 3);
    assert.equal(first.size, REVIEW_PAGE_SIZE);
    assert.deepEqual(
      first.rows.map((r) => r.answerId),
      ids.slice(-5).reverse(),
    );
    const second = await review.page(G, { days: 7 }, { page: 2, anchor: first.anchor });
    assert.deepEqual(
      second.rows.map((r) => r.answerId),
      ids.slice(2, 7).reverse(),
    );
    const last = await review.page(G, { days: 7 }, { page: 3, anchor: first.anchor });
    assert.deepEqual(
      last.rows.map((r) => r.answerId),
      ids.slice(0, 2).reverse(),
    );
    const past = await review.page(G, { days: 7 }, { page: 99, anchor: first.anchor });
    assert.equal(past.page, 3, "a forged page past the end shows the last page");
    assert.deepEqual(past.rows, last.rows);
  });

  it("keeps pages in place when new answers arrive after the review was opened", async () => {
    for (let i = 0; i < 6; i++) await answer();
    const first = await review.page(G, { days: 7 });
    const newer = await answer({ q: "A question asked while the teacher reads" });
    const second = await review.page(G, { days: 7 }, { page: 2, anchor: first.anchor });
    assert.equal(second.total, 6);
    assert.ok(!second.rows.some((r) => r.answerId === newer));
    assert.equal((await review.page(G, { days: 7 })).rows[0]?.answerId, newer, "a fresh view shows it");
  });

  it("says there is nothing on one empty page", async () => {
    const p = await review.page(G, { days: 7 });
    assert.deepEqual([p.total, p.page, p.pageCount, p.rows.length], [0, 1, 1, 0]);
  });

  it("refuses bad pages and filters with what is wrong", async () => {
    await assert.rejects(
      async () => await review.page(G, { days: 7 }, { page: 0 }),
      /page must be a whole number/,
    );
    await assert.rejects(
      async () => await review.page(G, { days: 0 }),
      /Days must be a whole number from 1 to 90/,
    );
    await assert.rejects(async () => await review.page(G, { days: 91 }), /Days must be/);
    await assert.rejects(
      async () => await review.page(G, { days: 7, studentId: "sam" }),
      /student must be a Discord id/,
    );
    await assert.rejects(
      async () => await review.export(G, { days: 7, channelId: "1 OR 1=1" }),
      /channel must be a Discord id/,
    );
  });
});

describe("ReviewService filters", () => {
  it("filters by channel, by student and by days (today included, UTC)", async () => {
    const inClass = await answer({ channelId: CLASS, userId: SAM });
    const inHall = await answer({ channelId: HALL, userId: ANA });
    const anaInClass = await answer({ channelId: CLASS, userId: ANA });
    // 2026-11-19 is the first day of a 7-day window ending on the 25th; the 18th is outside it.
    const sixDaysAgo = await answer({ at: Date.parse("2026-11-19T00:00:00Z") });
    const sevenDaysAgo = await answer({ at: Date.parse("2026-11-18T23:59:59Z") });
    const ids = async (f: Parameters<ReviewService["page"]>[1]) =>
      (await review.export(G, f)).rows.map((r) => r.answerId);
    assert.deepEqual(await ids({ days: 7, channelId: HALL }), [inHall]);
    assert.deepEqual(await ids({ days: 7, studentId: ANA }), [anaInClass, inHall]);
    assert.deepEqual(await ids({ days: 7, channelId: CLASS, studentId: ANA }), [anaInClass]);
    assert.deepEqual(await ids({ days: 7 }), [sixDaysAgo, anaInClass, inHall, inClass]);
    assert.deepEqual(await ids({ days: 8 }), [sevenDaysAgo, sixDaysAgo, anaInClass, inHall, inClass]);
    assert.deepEqual(await ids({ days: 1 }), [anaInClass, inHall, inClass]);
    const longAgo = await answer({ at: NOW - 100 * DAY });
    assert.ok(!(await ids({ days: 90 })).includes(longAgo));
    assert.equal((await ids({ days: 90 })).length, 5);
  });

  it("shows private answers too, marked, with every vote and the teacher's correction", async () => {
    const id = await answer();
    const hidden = await answer({ channelId: HALL });
    await answers.vote(G, id, ANA, 1, new Date(NOW).toISOString());
    await answers.vote(G, id, TEACHER, 1, new Date(NOW).toISOString());
    await answers.vote(G, id, SAM, -1, new Date(NOW).toISOString());
    await answers.correct(G, id, "A cell is life's smallest unit.", TEACHER, new Date(NOW).toISOString());
    const [priv, row] = (await review.page(G, { days: 7 })).rows;
    assert.equal(priv?.answerId, hidden);
    assert.equal(priv?.public, false);
    assert.equal(row?.public, true);
    assert.deepEqual([row?.up, row?.down], [2, 1]);
    assert.equal(row?.correctedAnswer, "A cell is life's smallest unit.");
    assert.equal(row?.correctedBy, TEACHER);
    assert.deepEqual([row?.flagged, row?.flags], [false, []]);
  });

  it("shows an answer's flagged moderation categories, and flagged-only finds only those, in this guild", async () => {
    const clean = await answer({ q: "What is a cell?" });
    const flagged = await answer({ q: "A question that was flagged?" });
    assert.equal((await review.page(G, { days: 7, flaggedOnly: true })).total, 0, "no verdicts yet");
    const verdict = db.prepare(
      `INSERT INTO moderation_verdicts (guild_id, channel_id, user_id, answer_id, target, outcome, provider, categories,
         created_at) VALUES (@guild, @channel, @user, @answer, @target, @outcome, 'sandbox', @categories, @at)`,
    );
    const at = new Date(NOW).toISOString();
    const base = { guild: G, channel: CLASS, user: SAM, at };
    verdict.run({ ...base, answer: clean, target: "question", outcome: "passed", categories: "[]" });
    verdict.run({
      ...base,
      answer: flagged,
      target: "answer",
      outcome: "flagged",
      categories: JSON.stringify([
        { category: "violence", score: 0.91 },
        { category: "harassment", score: 0.6 },
      ]),
    });
    // A verdict recorded under another guild never flags this guild's answer.
    verdict.run({
      ...base,
      guild: OTHER_G,
      answer: clean,
      target: "answer",
      outcome: "flagged",
      categories: JSON.stringify([{ category: "hate", score: 0.9 }]),
    });
    const page = await review.page(G, { days: 7, flaggedOnly: true });
    assert.deepEqual(
      page.rows.map((r) => [r.answerId, r.flagged, [...r.flags].sort()]),
      [[flagged, true, ["harassment", "violence"]]],
    );
    const all = await review.page(G, { days: 7 });
    assert.equal(all.total, 2);
    assert.deepEqual(all.rows.find((r) => r.answerId === clean)?.flags, []);
  });
});

describe("ReviewService guild isolation", () => {
  it("never returns another server's answers or counts its votes, whatever the filter or cursor", async () => {
    const ours = await answer();
    const theirs = await answer({ guildId: OTHER_G, userId: SAM, channelId: CLASS });
    // A vote row claiming our answer from the other guild (it cannot happen through the service) is not counted.
    db.prepare(
      "INSERT INTO answer_votes (answer_id, guild_id, user_id, value, created_at) VALUES (?, ?, ?, 1, ?)",
    ).run(ours, OTHER_G, ANA, new Date(NOW).toISOString());
    assert.deepEqual(
      (await review.export(G, { days: 7 })).rows.map((r) => [r.answerId, r.up]),
      [[ours, 0]],
    );
    const forged = await review.page(
      OTHER_G,
      { days: 7, channelId: CLASS, studentId: SAM },
      { page: 1, anchor: ours + 100 },
    );
    assert.deepEqual(
      forged.rows.map((r) => r.answerId),
      [theirs],
    );
    assert.equal((await review.page("100000000000000003", { days: 90 })).total, 0);
  });
});
