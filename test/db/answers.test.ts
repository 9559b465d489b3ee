// Follow-up conversations in the answers table (migration 013): the turn is the stored parent's + 1, a chain is
// read only wholly in its asker's scope (guild, channel, person), the walk is bounded, and deleting a turn (a
// student's /privacy delete, the retention sweep) takes the turns that continue it with it, never leaving a
// follow-up pointing at nothing.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { AnswerRepository, type NewAnswer } from "../../src/db/answers.ts";
import { appMigrationsDir, loadMigrations, migrate } from "../../src/db/migrate.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { PrivacyRepository, privacyCoverageProblems } from "../../src/db/privacy.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { forEachEngine } from "../helpers/engines.ts";

const G = "guild-1";
const C = "chan-1";
const U = "student-1";

const answer = (over: Partial<NewAnswer> = {}): NewAnswer => ({
  guildId: G,
  channelId: C,
  userId: U,
  question: "What is a prime?",
  answer: "A number with exactly two divisors.",
  model: "m",
  systemPrompt: "You are a tutor.",
  public: true,
  createdAt: "2026-12-01T10:00:00.000Z",
  ...over,
});

/** A conversation of `n` turns by `over`'s person; returns the ids, oldest first. */
async function conversation(
  repo: AnswerRepository,
  n: number,
  over: Partial<NewAnswer> = {},
): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 1; i <= n; i++) {
    ids.push(
      await repo.insert(
        answer({ question: `question ${i}`, answer: `answer ${i}`, ...over, parentId: ids.at(-1) }),
      ),
    );
  }
  return ids;
}

const foreignKeyProblems = (db: Db) => db.pragma("foreign_key_check") as unknown[];

describe("migration 016 (withheld answers)", () => {
  it("marks the answers moderation flagged as withheld, and no other", () => {
    const db = new Database(":memory:");
    const all = loadMigrations(appMigrationsDir);
    migrate(
      db,
      all.filter((m) => m.version < 16),
    );
    const insert =
      db.prepare(`INSERT INTO answers (id, guild_id, channel_id, user_id, question, answer, model,
        system_prompt, public, created_at, moderation) VALUES (?, 'g', 'c', 'u', 'q', 'a', 'm', 's', 0, '2026-11-01', ?)`);
    insert.run(1, "flagged");
    insert.run(2, "passed");
    insert.run(3, "unchecked");
    assert.deepEqual(
      migrate(
        db,
        all.filter((m) => m.version <= 16),
      ),
      [16],
    );
    assert.deepEqual(
      db
        .prepare("SELECT id, withheld FROM answers ORDER BY id")
        .all()
        .map((r) => ({ ...(r as object) })),
      [
        { id: 1, withheld: 1 },
        { id: 2, withheld: 0 },
        { id: 3, withheld: 0 },
      ],
    );
  });
});

describe("migration 013 (follow-ups)", () => {
  it("keeps every earlier answer as a first question and indexes the parent", () => {
    const db = new Database(":memory:");
    db.pragma("foreign_keys = ON");
    const all = loadMigrations(appMigrationsDir);
    migrate(
      db,
      all.filter((m) => m.version < 13),
    );
    db.exec(`INSERT INTO answers (id, guild_id, channel_id, user_id, question, answer, model, system_prompt, public,
        created_at) VALUES (7, 'g', 'c', 'u', 'q', 'a', 'm', 's', 1, '2026-11-01')`);
    assert.deepEqual(
      migrate(
        db,
        all.filter((m) => m.version <= 13),
      ),
      [13],
    );
    assert.deepEqual(db.prepare("SELECT parent_id AS parentId, turn FROM answers WHERE id = 7").get(), {
      parentId: null,
      turn: 1,
    });
    const indexes = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'answers'")
      .pluck();
    assert.ok(indexes.all().includes("answers_parent"));
    assert.throws(() => db.prepare("UPDATE answers SET turn = 0 WHERE id = 7").run(), /CHECK/);
    assert.throws(() => db.prepare("UPDATE answers SET parent_id = 999 WHERE id = 7").run(), /FOREIGN KEY/);
    assert.deepEqual(privacyCoverageProblems(db), [], "the new columns need no privacy entry of their own");
    db.close();
  });
});

forEachEngine("AnswerRepository follow-ups", (open) => {
  it("numbers each turn from its stored parent, whatever the caller says", async (t) => {
    const repo = new AnswerRepository(await open(t));
    const [first, second, third] = await conversation(repo, 3);
    const turns: unknown[] = [];
    for (const id of [first, second, third]) {
      const row = await repo.get(G, id as number);
      turns.push([row?.parentId, row?.turn]);
    }
    assert.deepEqual(turns, [
      [null, 1],
      [first, 2],
      [second, 3],
    ]);
    const forged = { ...answer({ parentId: first }), turn: 9 } as NewAnswer;
    assert.equal((await repo.get(G, await repo.insert(forged)))?.turn, 2, "a turn passed in is ignored");
  });

  it("refuses to continue an answer of another student, channel or server, or one that does not exist", async (t) => {
    const repo = new AnswerRepository(await open(t));
    const [mine] = await conversation(repo, 1);
    for (const over of [{ userId: "student-2" }, { channelId: "chan-2" }, { guildId: "guild-2" }]) {
      await assert.rejects(repo.insert(answer({ ...over, parentId: mine })), /not an answer of this person/);
    }
    await assert.rejects(repo.insert(answer({ parentId: 12345 })), /not an answer of this person/);
    assert.equal((await repo.withScores(G, "0000")).length, 1, "nothing was inserted");
  });

  it("reads the conversation ending at an answer, oldest first", async (t) => {
    const repo = new AnswerRepository(await open(t));
    const ids = await conversation(repo, 3);
    await conversation(repo, 2, { question: "unrelated" });
    const chain = await repo.chain(G, C, U, ids[2] as number, 10);
    assert.deepEqual(
      chain?.map((a) => [a.id, a.question, a.turn]),
      [
        [ids[0], "question 1", 1],
        [ids[1], "question 2", 2],
        [ids[2], "question 3", 3],
      ],
    );
    assert.deepEqual(
      (await repo.chain(G, C, U, ids[1] as number, 10))?.map((a) => a.id),
      ids.slice(0, 2),
      "from the middle: only the turns before it",
    );
  });

  it("gives another student, channel or server, and a forged id, nothing at all", async (t) => {
    const repo = new AnswerRepository(await open(t));
    const ids = await conversation(repo, 2);
    const last = ids[1] as number;
    assert.ok(await repo.chain(G, C, U, last, 4));
    assert.equal(await repo.chain(G, C, "student-2", last, 4), undefined, "another student");
    assert.equal(await repo.chain(G, "chan-2", U, last, 4), undefined, "another channel");
    assert.equal(await repo.chain("guild-2", C, U, last, 4), undefined, "another server");
    assert.equal(await repo.chain(G, C, U, 98765, 4), undefined, "an id that never existed");
  });

  it("refuses a chain that leaves the asker's scope part-way (a row moved by hand), rather than a part of it", async (t) => {
    const store = await open(t);
    const repo = new AnswerRepository(store);
    const ids = await conversation(repo, 3);
    await store.db
      .updateTable("answers")
      .set({ user_id: "student-2" })
      .where("id", "=", ids[0] as number)
      .execute();
    assert.equal(await repo.chain(G, C, U, ids[2] as number, 10), undefined);
  });

  it("walks at most maxTurns rows: the most recent ones of a longer chain", async (t) => {
    const repo = new AnswerRepository(await open(t));
    const ids = await conversation(repo, 6);
    const chain = await repo.chain(G, C, U, ids[5] as number, 4);
    assert.deepEqual(
      chain?.map((a) => a.turn),
      [3, 4, 5, 6],
    );
    assert.deepEqual(
      (await repo.chain(G, C, U, ids[5] as number, 1))?.map((a) => a.id),
      [ids[5]],
    );
    await assert.rejects(repo.chain(G, C, U, ids[5] as number, 0), RangeError);
  });
});

forEachEngine("AnswerRepository votes, corrections and scores", (open) => {
  it("keeps one vote per person per answer, the latest, and counts every vote in the tally", async (t) => {
    const repo = new AnswerRepository(await open(t));
    const [id] = await conversation(repo, 1);
    const at = "2026-12-01T10:05:00.000Z";
    assert.deepEqual(await repo.tally(G, id as number), { up: 0, down: 0, score: 0 }, "no votes yet");
    assert.equal(await repo.vote(G, id as number, "student-2", 1, at), true);
    assert.equal(await repo.vote(G, id as number, "student-2", -1, at), true, "voting again replaces it");
    assert.equal(await repo.vote(G, id as number, "student-3", -1, at), true);
    assert.equal(await repo.vote(G, id as number, "student-4", 1, at), true);
    assert.equal(await repo.vote(G, id as number, U, 1, at), true, "the asker's own vote is stored");
    assert.deepEqual(await repo.tally(G, id as number), { up: 2, down: 2, score: 0 });
    assert.equal(
      await repo.vote("guild-2", id as number, "student-5", 1, at),
      false,
      "another guild's answer",
    );
    assert.deepEqual(await repo.tally("guild-2", id as number), { up: 0, down: 0, score: 0 });
  });

  it("records a teacher's correction, the latest winning, only in the answer's guild", async (t) => {
    const repo = new AnswerRepository(await open(t));
    const [id] = await conversation(repo, 1);
    assert.equal(
      await repo.correct("guild-2", id as number, "No.", "teacher", "2026-12-01T11:00:00.000Z"),
      false,
    );
    assert.equal(
      await repo.correct(G, id as number, "First.", "teacher-1", "2026-12-01T11:00:00.000Z"),
      true,
    );
    assert.equal(
      await repo.correct(G, id as number, "Second.", "teacher-2", "2026-12-01T12:00:00.000Z"),
      true,
    );
    const row = await repo.get(G, id as number);
    assert.deepEqual(
      [row?.correctedAnswer, row?.correctedBy, row?.correctedAt],
      ["Second.", "teacher-2", "2026-12-01T12:00:00.000Z"],
    );
    assert.equal(await repo.get("guild-2", id as number), undefined, "another guild reads nothing");
    assert.equal(await repo.correct(G, 98765, "No.", "teacher", "2026-12-01T11:00:00.000Z"), false);
  });

  it("reads back every column as it was written: booleans, moderation, withheld", async (t) => {
    const repo = new AnswerRepository(await open(t));
    const id = await repo.insert(answer({ public: false, moderation: "flagged", withheld: true }));
    const row = await repo.get(G, id);
    assert.deepEqual(row, {
      id,
      guildId: G,
      channelId: C,
      userId: U,
      question: "What is a prime?",
      answer: "A number with exactly two divisors.",
      model: "m",
      systemPrompt: "You are a tutor.",
      public: false,
      correctedAnswer: null,
      correctedBy: null,
      correctedAt: null,
      createdAt: "2026-12-01T10:00:00.000Z",
      moderation: "flagged",
      parentId: null,
      turn: 1,
      withheld: true,
    });
    assert.equal((await repo.get(G, await repo.insert(answer())))?.moderation, "unchecked", "the default");
  });

  it("scores the guild's answers since a time, oldest first, never counting the asker's own vote", async (t) => {
    const repo = new AnswerRepository(await open(t));
    const old = await repo.insert(answer({ createdAt: "2026-11-01T10:00:00.000Z" }));
    const a = await repo.insert(answer({ createdAt: "2026-12-01T10:00:00.000Z" }));
    const b = await repo.insert(answer({ createdAt: "2026-12-02T10:00:00.000Z" }));
    await repo.insert(answer({ guildId: "guild-2", createdAt: "2026-12-02T10:00:00.000Z" }));
    const at = "2026-12-02T11:00:00.000Z";
    await repo.vote(G, a, U, 1, at); // the asker's own: stored, never scored
    await repo.vote(G, a, "student-2", 1, at);
    await repo.vote(G, a, "student-3", 1, at);
    await repo.vote(G, a, "student-4", -1, at);
    await repo.vote(G, b, "student-2", -1, at);
    await repo.vote(G, old, "student-2", 1, at);
    const scored = await repo.withScores(G, "2026-12-01T00:00:00.000Z");
    assert.deepEqual(
      scored.map((r) => [r.id, r.up, r.down, r.score]),
      [
        [a, 2, 1, 1],
        [b, 0, 1, -1],
      ],
    );
    assert.equal(scored[0]?.public, true);
    assert.deepEqual(
      (await repo.withScores(G, "0000", 1)).map((r) => r.id),
      [old],
      "the limit keeps the oldest",
    );
    assert.deepEqual(
      await repo.tally(G, a),
      { up: 3, down: 1, score: 2 },
      "the tally counts the asker's vote",
    );
  });
});

describe("deleting a turn of a conversation", () => {
  it("/privacy delete of a student mid-conversation removes their whole conversations and nobody else's", async () => {
    const db = openDb(":memory:");
    const repo = new AnswerRepository(sqliteStore(db));
    const mine = await conversation(repo, 3);
    const classmate = await conversation(repo, 3, { userId: "student-2" });
    await repo.vote(G, classmate[1] as number, U, 1, "2026-12-01T10:05:00.000Z");
    await repo.vote(G, mine[1] as number, "student-2", 1, "2026-12-01T10:05:00.000Z");

    const touched = await new PrivacyRepository(sqliteStore(db)).deletePerson(G, U);

    assert.equal(touched.answers, 3);
    assert.deepEqual(foreignKeyProblems(db), []);
    assert.equal(await repo.chain(G, C, U, mine[2] as number, 4), undefined);
    assert.deepEqual(
      (await repo.chain(G, C, "student-2", classmate[2] as number, 4))?.map((a) => a.id),
      classmate,
      "the classmate's conversation is whole",
    );
    assert.equal((await repo.tally(G, classmate[1] as number)).up, 0, "the deleted student's vote went");
  });

  it("the retention sweep takes the follow-ups of a purged turn with it, and no later conversation", async () => {
    const db = openDb(":memory:");
    const repo = new AnswerRepository(sqliteStore(db));
    const old = await repo.insert(answer({ createdAt: "2026-01-01T10:00:00.000Z" }));
    const followUp = await repo.insert(answer({ createdAt: "2026-03-01T10:00:00.000Z", parentId: old }));
    const recent = await conversation(repo, 2, { createdAt: "2026-03-01T10:00:00.000Z" });

    await new PrivacyRepository(sqliteStore(db)).purgeBefore("2026-02-01T00:00:00.000Z");

    assert.deepEqual(foreignKeyProblems(db), []);
    assert.equal(
      await repo.get(G, followUp),
      undefined,
      "a follow-up without its question would be left meaningless",
    );
    assert.deepEqual(
      (await repo.withScores(G, "0000")).map((a) => a.id),
      recent,
    );
    const orphans = db
      .prepare(
        "SELECT COUNT(*) FROM answers c WHERE turn > 1 AND NOT EXISTS (SELECT 1 FROM answers p WHERE p.id = c.parent_id)",
      )
      .pluck()
      .get();
    assert.equal(orphans, 0);
  });
});
