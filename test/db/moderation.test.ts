// ModerationRepository on both engines (issue 14): verdicts written and read back (categories as JSON, severe as a
// boolean), newest first or per answer, a teacher's first word on a flagged alert standing, and /usage's counts
// of flags and outages summed in SQL; in(tx) writes inside the caller's transaction.
import assert from "node:assert/strict";
import { it } from "node:test";
import { ModerationRepository, type NewVerdict } from "../../src/db/moderation.ts";
import type { Store } from "../../src/db/query/store.ts";
import { forEachEngine } from "../helpers/engines.ts";

const G = "guild-1";
const OTHER = "guild-2";

const verdict = (over: Partial<NewVerdict> = {}): NewVerdict => ({
  guildId: G,
  channelId: "chan-1",
  userId: "student-1",
  answerId: null,
  target: "question",
  outcome: "passed",
  provider: "openai",
  model: "omni-moderation-latest",
  categories: [],
  topCategory: "harassment",
  topScore: 0.0004,
  severe: false,
  error: null,
  flaggedText: null,
  createdAt: "2026-12-01T10:00:00.000Z",
  ...over,
});

const FLAGGED = verdict({
  outcome: "flagged",
  categories: [
    { category: "violence", score: 0.97 },
    { category: "harassment", score: 0.6 },
  ],
  topCategory: "violence",
  topScore: 0.97,
  severe: true,
  flaggedText: "a question never answered",
});

/** An answers row for verdicts to point at (answer_id references it); its id. */
async function answerRow(store: Store, guildId = G): Promise<number> {
  const row = await store.db
    .insertInto("answers")
    .values({
      guild_id: guildId,
      channel_id: "chan-1",
      user_id: "student-1",
      question: "What is DNA?",
      answer: "A molecule.",
      model: "m",
      system_prompt: "",
      public: 1,
      corrected_answer: null,
      corrected_by: null,
      corrected_at: null,
      created_at: "2026-12-01T10:00:00.000Z",
      parent_id: null,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return row.id;
}

const unreviewed = { reviewStatus: null, reviewedBy: null, reviewedAt: null };

forEachEngine("ModerationRepository", (open) => {
  it("inserts verdicts and reads them back by id, newest first, and per answer", async (t) => {
    const store = await open(t);
    const repo = new ModerationRepository(store);
    const answerId = await answerRow(store);
    const otherAnswer = await answerRow(store, OTHER);
    const flagged = await repo.insert(FLAGGED);
    const q = await repo.insert(verdict({ answerId, createdAt: "2026-12-01T10:01:00.000Z" }));
    const a = await repo.insert(
      verdict({ answerId, target: "answer", topCategory: null, topScore: null, model: null }),
    );
    const down = await repo.insert(
      verdict({ outcome: "unavailable", error: "http_503", topCategory: null, topScore: null, model: null }),
    );
    await repo.insert(verdict({ guildId: OTHER, answerId: otherAnswer }));
    assert.ok(flagged < q && q < a && a < down, `ids ${[flagged, q, a, down]}`);

    assert.deepEqual(await repo.get(G, flagged), { ...FLAGGED, id: flagged, ...unreviewed });
    assert.equal(await repo.get(OTHER, flagged), undefined, "another guild's id finds nothing");
    assert.equal(await repo.get(G, 999), undefined);

    assert.deepEqual(
      (await repo.list(G)).map((v) => v.id),
      [down, a, q, flagged],
    );
    assert.deepEqual(
      (await repo.list(G, 2)).map((v) => v.id),
      [down, a],
    );
    const [last] = await repo.list(G);
    assert.equal(last?.error, "http_503");
    assert.equal(last?.severe, false);
    assert.deepEqual(last?.categories, []);

    assert.deepEqual(
      (await repo.forAnswer(G, answerId)).map((v) => [v.id, v.target, v.answerId, v.topScore]),
      [
        [q, "question", answerId, 0.0004],
        [a, "answer", answerId, null],
      ],
    );
    assert.deepEqual(await repo.forAnswer(G, otherAnswer), [], "another guild's answer");
  });

  it("takes a teacher's first word on a flagged verdict, and no other", async (t) => {
    const repo = new ModerationRepository(await open(t));
    const flagged = await repo.insert(FLAGGED);
    const passed = await repo.insert(verdict());
    const at = new Date("2026-12-02T09:00:00.000Z");
    assert.equal(await repo.review(OTHER, flagged, "reviewed", "teacher-9", at), false, "another guild's");
    assert.equal(await repo.review(G, passed, "reviewed", "teacher-1", at), false, "not flagged");
    assert.equal(await repo.review(G, flagged, "false_alarm", "teacher-1", at), true);
    assert.equal(
      await repo.review(G, flagged, "reviewed", "teacher-2", new Date("2026-12-02T10:00:00.000Z")),
      false,
      "the first word stands",
    );
    const v = await repo.get(G, flagged);
    assert.deepEqual(
      [v?.reviewStatus, v?.reviewedBy, v?.reviewedAt],
      ["false_alarm", "teacher-1", "2026-12-02T09:00:00.000Z"],
    );
    assert.equal((await repo.get(G, passed))?.reviewStatus, null);
  });

  it("counts the window's flagged questions, flagged answers and outages as numbers", async (t) => {
    const store = await open(t);
    const repo = new ModerationRepository(store);
    const none = await repo.counts(G, "2026-12-01T00:00:00.000Z", "2026-12-02T00:00:00.000Z");
    assert.deepEqual(none, { flaggedQuestions: 0, flaggedAnswers: 0, unavailable: 0 });
    await repo.insert(FLAGGED);
    await repo.insert({ ...FLAGGED, createdAt: "2026-12-01T11:00:00.000Z" });
    await repo.insert({ ...FLAGGED, target: "answer", answerId: await answerRow(store) });
    await repo.insert(verdict({ outcome: "unavailable", error: "timeout" }));
    await repo.insert(verdict());
    await repo.insert({ ...FLAGGED, createdAt: "2026-12-02T00:00:00.000Z" }); // the window's end: out
    await repo.insert({ ...FLAGGED, guildId: OTHER });
    assert.deepEqual(await repo.counts(G, "2026-12-01T00:00:00.000Z", "2026-12-02T00:00:00.000Z"), {
      flaggedQuestions: 2,
      flaggedAnswers: 1,
      unavailable: 1,
    });
    assert.deepEqual(await repo.counts(G, "2026-12-01T10:30:00.000Z", "2026-12-03T00:00:00.000Z"), {
      flaggedQuestions: 2,
      flaggedAnswers: 0,
      unavailable: 0,
    });
  });

  it("writes inside the caller's transaction with in(tx): committed with it, rolled back with it", async (t) => {
    const store = await open(t);
    const repo = new ModerationRepository(store);
    const kept = await store.transaction(async (tx) => repo.in(tx).insert(FLAGGED));
    await assert.rejects(
      store.transaction(async (tx) => {
        await repo.in(tx).insert(verdict());
        throw new Error("rolled back");
      }),
      /rolled back/,
    );
    assert.deepEqual(
      (await repo.list(G)).map((v) => v.id),
      [kept],
    );
  });
});
