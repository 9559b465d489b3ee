// The privacy registry against the real schema: every table is listed and every column that can hold a user id
// (the naming rule USER_ID_COLUMN) is covered, so a table added by a later migration cannot be forgotten by
// /privacy delete, retention or a server's deletion. Then PrivacyRepository on both engines: /privacy delete over
// rows in every table, retention with its usage fold, a server's deletion, dataset retention and the sweeps' records.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { openDb } from "../../src/db/open.ts";
import {
  ANONYMOUS_USER,
  coverageProblems,
  PRIVACY_TABLES,
  PrivacyRepository,
  privacyCoverageProblems,
  schemaTables,
  scrubUserId,
  storeTables,
} from "../../src/db/privacy.ts";
import type { Store } from "../../src/db/query/store.ts";
import { forEachEngine } from "../helpers/engines.ts";
import { GUILD, OTHER_GUILD, STUDENT, seedPerson, userIdCellsIn } from "../privacy/helpers.ts";

describe("the privacy registry (src/db/privacy.ts)", () => {
  it("covers every table and every user-id column of the migrated schema", () => {
    const db = openDb(":memory:");
    assert.deepEqual(privacyCoverageProblems(db), []);
    db.close();
  });

  it("fails for a table added later with a user column, until it is listed", () => {
    const db = openDb(":memory:");
    db.exec(`CREATE TABLE homework_feedback (id INTEGER PRIMARY KEY, guild_id TEXT NOT NULL,
      answer_id INTEGER, student_user_id TEXT, reviewed_by TEXT, created_at TEXT NOT NULL)`);
    db.exec(`ALTER TABLE answers ADD COLUMN flagged_by TEXT`);
    const problems = privacyCoverageProblems(db);
    assert.ok(
      problems.some((p) => /homework_feedback is not listed/.test(p)),
      problems.join("\n"),
    );
    assert.ok(
      problems.some((p) => /answers\.flagged_by looks like a user id/.test(p)),
      problems.join("\n"),
    );
    db.close();
  });

  it("scrubs an id only where it stands alone, never inside a longer id", () => {
    assert.equal(
      scrubUserId('{"by":"u.1","who":"u.10 au.1"}', "u.1"),
      `{"by":"${ANONYMOUS_USER}","who":"u.10 au.1"}`,
    );
    assert.equal(
      scrubUserId('{"requesterId":"123456789012345678","other":"1234567890123456789"}', "123456789012345678"),
      `{"requesterId":"${ANONYMOUS_USER}","other":"1234567890123456789"}`,
    );
  });
});

const AT = "2026-12-01T10:00:00.000Z";

forEachEngine("the store's schema (storeTables)", (open) => {
  it("is covered by the registry, and reads as SQLite's own schema does", async (t) => {
    const store = await open(t);
    const tables = await storeTables(store);
    assert.deepEqual(coverageProblems(tables), []);
    const sqlite = openDb(":memory:");
    t.after(() => sqlite.close());
    const names = (list: { table: string; columns: string[] }[]) =>
      list.map((x) => `${x.table}(${[...x.columns].sort().join(",")})`);
    assert.deepEqual(
      names(tables),
      names(schemaTables(sqlite)),
      "the same tables and columns, in the same order",
    );
  });
});

forEachEngine("PrivacyRepository.personalRows", (open) => {
  it("never shows another person's id, even in a row that is also the caller's (an answer they corrected)", async (t) => {
    const store = await open(t);
    const ids = await seedPerson(store);
    await store.db
      .insertInto("answers")
      .values({
        guild_id: ids.guild,
        channel_id: "c",
        user_id: ids.classmate,
        question: "A classmate asks?",
        answer: "a",
        model: "m",
        system_prompt: "s",
        public: 1,
        corrected_answer: "Fixed.",
        corrected_by: ids.student,
        corrected_at: "2026-12-01",
        created_at: "2026-12-01",
      })
      .execute();
    const rows = await new PrivacyRepository(store).personalRows(ids.guild, ids.student);
    const json = JSON.stringify(rows);
    assert.ok(json.includes("A classmate asks?"), "the correction is the caller's");
    assert.ok(!json.includes(ids.classmate), "the classmate's id is not shown");
    assert.ok(!json.includes(ids.otherGuild), "nor anything of another server");
    const answers = rows.find((r) => r.table === "answers" && r.column === "user_id");
    assert.equal(answers?.rows.length, 1, "the caller's own question");
    assert.equal(answers?.action, "delete");
  });
});

forEachEngine("PrivacyRepository reads of a person", (open) => {
  it("lists their last questions, all their questions and the datasets their answers were exported into", async (t) => {
    const store = await open(t);
    await seedPerson(store);
    const repo = new PrivacyRepository(store);
    await store.db
      .insertInto("answers")
      .values({
        guild_id: GUILD,
        channel_id: "c",
        user_id: STUDENT,
        question: "Later?",
        answer: "a",
        model: "m",
        system_prompt: "s",
        public: 1,
        created_at: "2026-12-02T10:00:00.000Z",
      })
      .execute();
    assert.deepEqual(await repo.lastQuestions(GUILD, STUDENT, 5), [
      { question: "Later?", createdAt: "2026-12-02T10:00:00.000Z" },
      { question: `Question 1 of ${STUDENT}?`, createdAt: AT },
    ]);
    assert.deepEqual(await repo.lastQuestions(GUILD, STUDENT, 1), [
      { question: "Later?", createdAt: "2026-12-02T10:00:00.000Z" },
    ]);
    assert.deepEqual(
      (await repo.questions(GUILD, STUDENT)).sort(),
      [`Question 1 of ${STUDENT}?`, "Later?"].sort(),
    );
    assert.deepEqual(await repo.exportedAnswers(GUILD, STUDENT), [
      { datasetId: 1, fileName: "lesson.jsonl", exportedBy: STUDENT, lines: 1 },
    ]);
    assert.deepEqual(await repo.exportedAnswers(GUILD, "nobody"), []);
  });
});

forEachEngine("PrivacyRepository.deletePerson", (open) => {
  it("leaves no cell holding the person's id in this server but the kept exports; others and other servers untouched", async (t) => {
    const store = await open(t);
    const ids = await seedPerson(store);
    const repo = new PrivacyRepository(store);
    const seeded = new Set((await userIdCellsIn(store, ids.student)).map((c) => `${c.table}.${c.column}`));
    for (const spec of PRIVACY_TABLES) {
      for (const column of [...Object.keys(spec.users), ...(spec.scrub ?? [])]) {
        assert.ok(
          seeded.has(`${spec.table}.${column}`),
          `the seed puts the person in ${spec.table}.${column}`,
        );
      }
    }
    const otherBefore = await userIdCellsIn(store, ids.classmate);
    const otherServerBefore = (await userIdCellsIn(store, ids.student)).filter(
      (c) => c.guildId === ids.otherGuild,
    );

    const touched = await repo.deletePerson(ids.guild, ids.student);

    assert.deepEqual(touched, {
      answer_votes: 1,
      dataset_exports: 1,
      // The seed's person also corrected and reviewed their own rows: those rows are deleted, not anonymised.
      moderation_verdicts: 1,
      answers: 1,
      ask_usage: 1,
      outbox: 2,
      hosting_sessions: 2,
      job_intents: 1,
      jobs: 1,
      datasets: 1,
      channel_settings: 1,
    });
    const left = await userIdCellsIn(store, ids.student);
    assert.deepEqual(
      left.filter((c) => c.guildId === ids.guild).map((c) => `${c.table}.${c.column}`),
      ["dataset_exports.student_id"],
      "only what a teacher exported stays (and the student is told)",
    );
    assert.deepEqual(
      left.filter((c) => c.guildId === ids.otherGuild),
      otherServerBefore,
      "another server's rows are untouched",
    );
    assert.deepEqual(
      await userIdCellsIn(store, ids.classmate),
      otherBefore,
      "another person's rows are untouched",
    );
    const alerts = await store.db
      .selectFrom("outbox")
      .select("payload")
      .where("guild_id", "=", ids.guild)
      .where("kind", "=", "moderation_flagged")
      .execute();
    assert.ok(
      alerts.every((a) => !a.payload.includes(`question of ${ids.student}`)),
      "an alert with the student's question is deleted",
    );
    assert.equal(alerts.length, 1, "the classmate's alert stays");
    const usage = await store.db
      .selectFrom("ask_usage")
      .select("user_id as u")
      .where("guild_id", "=", ids.guild)
      .execute();
    assert.ok(
      usage.some((r) => r.u === ANONYMOUS_USER),
      "usage rows stay, anonymised, so the totals stay",
    );
    assert.deepEqual(
      await repo.deletePerson(ids.guild, ids.student),
      {},
      "nothing left to touch the second time",
    );
  });
});

async function usage(store: Store, rows: { guild: string; at: string; error?: string; cacheHit?: number }[]) {
  await store.db
    .insertInto("ask_usage")
    .values(
      rows.map((r) => ({
        guild_id: r.guild,
        channel_id: "c",
        user_id: STUDENT,
        model: "m",
        provider: "sandbox",
        prompt_tokens: 100,
        completion_tokens: 50,
        cost_usd: 0.25,
        cache_hit: r.cacheHit ?? 0,
        error: r.error ?? null,
        truncated: 1,
        created_at: r.at,
      })),
    )
    .execute();
}

forEachEngine("PrivacyRepository.purgeBefore", (open) => {
  it("folds the usage before the cut-off into daily totals (additively) and deletes the activity before it", async (t) => {
    const store = await open(t);
    const repo = new PrivacyRepository(store);
    await usage(store, [
      { guild: GUILD, at: "2026-11-01T08:00:00.000Z" },
      { guild: GUILD, at: "2026-11-01T09:00:00.000Z", error: "rate_limited" },
      { guild: GUILD, at: "2026-11-01T10:00:00.000Z", cacheHit: 1 },
      { guild: OTHER_GUILD, at: "2026-11-01T10:00:00.000Z", error: "rate_limited" },
      { guild: GUILD, at: "2026-11-02T00:00:00.000Z" },
    ]);
    await store.db
      .insertInto("answers")
      .values(
        ["2026-11-01T23:59:59.999Z", "2026-11-02T00:00:00.000Z"].map((at) => ({
          guild_id: GUILD,
          channel_id: "c",
          user_id: STUDENT,
          question: `asked at ${at}`,
          answer: "a",
          model: "m",
          system_prompt: "s",
          public: 1,
          created_at: at,
        })),
      )
      .execute();

    assert.deepEqual(await repo.purgeBefore("2026-11-02T00:00:00.000Z"), {
      deleted: { answers: 1, ask_usage: 4 },
      folded: 4,
    });
    const daily = () =>
      store.db
        .selectFrom("usage_daily")
        .select([
          "guild_id",
          "day",
          "questions",
          "errors",
          "cache_hits",
          "prompt_tokens",
          "completion_tokens",
          "cost_usd",
          "truncated",
        ])
        .orderBy("guild_id")
        .orderBy("day")
        .execute();
    assert.deepEqual(await daily(), [
      {
        guild_id: GUILD,
        day: "2026-11-01",
        questions: 3,
        errors: 1,
        cache_hits: 1,
        prompt_tokens: 300,
        completion_tokens: 150,
        cost_usd: 0.75,
        truncated: 3,
      },
      {
        guild_id: OTHER_GUILD,
        day: "2026-11-01",
        questions: 1,
        errors: 1,
        cache_hits: 0,
        prompt_tokens: 100,
        completion_tokens: 50,
        cost_usd: 0.25,
        truncated: 1,
      },
    ]);
    assert.deepEqual(
      await store.db
        .selectFrom("usage_daily_errors")
        .select(["guild_id", "day", "code", "count"])
        .orderBy("guild_id")
        .execute(),
      [
        { guild_id: GUILD, day: "2026-11-01", code: "rate_limited", count: 1 },
        { guild_id: OTHER_GUILD, day: "2026-11-01", code: "rate_limited", count: 1 },
      ],
    );
    const left = await store.db.selectFrom("answers").select("created_at").execute();
    assert.deepEqual(
      left.map((r) => r.created_at),
      ["2026-11-02T00:00:00.000Z"],
    );

    // A day folded again (a late row of 2026-11-01) adds up.
    await usage(store, [{ guild: GUILD, at: "2026-11-01T11:00:00.000Z", error: "rate_limited" }]);
    assert.deepEqual(await repo.purgeBefore("2026-11-02T00:00:00.000Z"), {
      deleted: { ask_usage: 1 },
      folded: 1,
    });
    const again = await daily();
    assert.deepEqual([again[0]?.questions, again[0]?.errors, again[0]?.prompt_tokens], [4, 2, 400]);
    assert.equal(
      (
        await store.db
          .selectFrom("usage_daily_errors")
          .select("count")
          .where("guild_id", "=", GUILD)
          .executeTakeFirst()
      )?.count,
      2,
    );
    assert.deepEqual(await repo.purgeBefore("2026-11-02T00:00:00.000Z"), { deleted: {}, folded: 0 });
  });
});

forEachEngine("PrivacyRepository: a server's deletion", (open) => {
  it("waits while hosting runs or a job is active, then deletes every row of the server and reports its orphan files", async (t) => {
    const store = await open(t);
    await seedPerson(store);
    const repo = new PrivacyRepository(store);
    assert.deepEqual(await repo.guildsWithData(), [GUILD, OTHER_GUILD]);
    assert.equal(
      await repo.guildBusy(GUILD),
      "2 fine-tuning job(s) still active",
      "two job intents in flight",
    );
    await store.db.deleteFrom("job_intents").execute();
    assert.equal(await repo.guildBusy(GUILD), undefined);
    await store.db
      .updateTable("hosting_sessions")
      .set({ stopped_at: null })
      .where("guild_id", "=", GUILD)
      .execute();
    assert.equal(await repo.guildBusy(GUILD), "2 billed hosting session(s) still running");
    await store.db.updateTable("hosting_sessions").set({ stopped_at: AT }).execute();
    await store.db.updateTable("jobs").set({ status: "running" }).where("guild_id", "=", GUILD).execute();
    assert.equal(await repo.guildBusy(GUILD), "2 fine-tuning job(s) still active");
    await store.db.updateTable("jobs").set({ status: "succeeded" }).execute();
    // The other server's dataset shares a file with this one's (files are content-addressed): it stays.
    await store.db
      .updateTable("datasets")
      .set({ cleaned_path: "/nowhere/3.jsonl" })
      .where("stored_path", "=", "/nowhere/2.jsonl")
      .execute();

    const purged = await repo.deleteGuild(GUILD);
    assert.deepEqual([...purged.orphanFiles].sort(), ["/nowhere/1.jsonl", "/nowhere/2.jsonl"]);
    assert.deepEqual(purged.deleted, {
      answer_votes: 2,
      dataset_exports: 2,
      moderation_verdicts: 2,
      answers: 2,
      ask_usage: 2,
      outbox: 4,
      models: 2,
      hosting_sessions: 2,
      jobs: 2,
      datasets: 2,
      channel_settings: 2,
      guild_settings: 1,
    });
    for (const { table, columns } of await storeTables(store)) {
      if (!columns.includes("guild_id")) continue;
      const { n } = await store.db
        // biome-ignore lint/suspicious/noExplicitAny: every table of the schema, by name
        .selectFrom(table as any)
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .where("guild_id", "=", GUILD)
        .executeTakeFirstOrThrow();
      assert.equal(Number(n), 0, `${table} holds nothing of the departed server`);
    }
    assert.deepEqual(await repo.guildsWithData(), [OTHER_GUILD]);
    assert.equal(await repo.fileInUse("/nowhere/3.jsonl"), true);
    assert.equal(await repo.fileInUse("/nowhere/1.jsonl"), false);
    assert.ok(
      (await userIdCellsIn(store, STUDENT)).some((c) => c.guildId === OTHER_GUILD),
      "another server stays",
    );
  });

  it("schedules a departure, moves it on a second departure, lists it once due, and cancels it", async (t) => {
    const store = await open(t);
    const repo = new PrivacyRepository(store);
    assert.equal(await repo.scheduledDeletion(GUILD), undefined);
    await repo.scheduleGuildDeletion(
      GUILD,
      new Date("2026-12-01T00:00:00.000Z"),
      new Date("2026-12-31T00:00:00.000Z"),
    );
    await repo.scheduleGuildDeletion(
      OTHER_GUILD,
      new Date("2026-11-01T00:00:00.000Z"),
      new Date("2026-12-20T00:00:00.000Z"),
    );
    await repo.scheduleGuildDeletion(
      GUILD,
      new Date("2026-12-02T00:00:00.000Z"),
      new Date("2027-01-01T00:00:00.000Z"),
    );
    assert.deepEqual(await repo.scheduledDeletion(GUILD), {
      leftAt: "2026-12-02T00:00:00.000Z",
      deleteAfter: "2027-01-01T00:00:00.000Z",
    });
    assert.deepEqual(await repo.dueGuildDeletions(new Date("2026-12-19T23:59:59.999Z")), []);
    assert.deepEqual(await repo.dueGuildDeletions(new Date("2026-12-20T00:00:00.000Z")), [OTHER_GUILD]);
    assert.deepEqual(await repo.dueGuildDeletions(new Date("2027-02-01T00:00:00.000Z")), [
      OTHER_GUILD,
      GUILD,
    ]);
    assert.equal(await repo.cancelGuildDeletion(GUILD), true);
    assert.equal(await repo.cancelGuildDeletion(GUILD), false);
    assert.equal(await repo.scheduledDeletion(GUILD), undefined);
    assert.deepEqual(await repo.guildsWithData(), [], "a departure alone is no data");
  });
});

forEachEngine("PrivacyRepository: datasets and sweeps", (open) => {
  it("expires a dataset only when no active job or live model needs it, and deletes it with its finished jobs", async (t) => {
    const store = await open(t);
    await seedPerson(store);
    const repo = new PrivacyRepository(store);
    const before = "2027-01-01T00:00:00.000Z";
    assert.deepEqual(
      await repo.expiredDatasets(before),
      [],
      "every dataset trained a model still registered",
    );
    await store.db.deleteFrom("models").where("job_id", "in", [1, 2]).execute();
    await store.db.updateTable("jobs").set({ status: "running" }).where("dataset_id", "=", 2).execute();
    assert.deepEqual(await repo.expiredDatasets(before), [{ id: 1, guildId: GUILD }]);
    assert.deepEqual(await repo.expiredDatasets(AT), [], "none created before the cut-off");

    assert.deepEqual(await repo.deleteDataset(1), ["/nowhere/1.jsonl"]);
    assert.deepEqual(await repo.deleteDataset(1), [], "already gone");
    const datasets = await store.db.selectFrom("datasets").select("id").orderBy("id").execute();
    assert.deepEqual(
      datasets.map((d) => d.id),
      [2, 3],
    );
    const jobs = await store.db.selectFrom("jobs").select("dataset_id").orderBy("id").execute();
    assert.deepEqual(
      jobs.map((j) => j.dataset_id),
      [2, 3],
      "its finished job went with it",
    );
    const metrics = await store.db.selectFrom("job_metrics").select("job_id").orderBy("job_id").execute();
    assert.deepEqual(
      metrics.map((m) => m.job_id),
      [2, 3],
      "and its loss points",
    );
  });

  it("takes removed questions out of the held-out test questions of the dataset's jobs", async (t) => {
    const store = await open(t);
    await seedPerson(store);
    const repo = new PrivacyRepository(store);
    const held = JSON.stringify([{ question: "a" }, { question: "b" }, { question: "a" }]);
    await store.db.updateTable("jobs").set({ test_questions: held }).execute();
    assert.equal(await repo.forgetTestQuestions(GUILD, 1, new Set(["a", "c"])), 2);
    assert.equal(await repo.forgetTestQuestions(GUILD, 1, new Set(["a"])), 0, "already gone");
    const rows = await store.db
      .selectFrom("jobs")
      .select(["dataset_id", "test_questions"])
      .orderBy("id")
      .execute();
    assert.deepEqual(
      rows.map((r) => [r.dataset_id, JSON.parse(r.test_questions)]),
      [
        [1, [{ question: "b" }]],
        [2, JSON.parse(held)],
        [3, JSON.parse(held)],
      ],
      "another dataset's jobs keep theirs",
    );
  });

  it("records when a sweep last ran, the latest run replacing the one before", async (t) => {
    const store = await open(t);
    const repo = new PrivacyRepository(store);
    assert.equal(await repo.lastRun("daily"), undefined);
    await repo.recordRun("daily", new Date("2026-12-01T03:00:00.000Z"), { deleted: 1 });
    await repo.recordRun("daily", new Date("2026-12-02T03:00:00.000Z"), { deleted: 2 });
    await repo.recordRun("other", new Date("2026-11-01T03:00:00.000Z"), null);
    assert.equal((await repo.lastRun("daily"))?.toISOString(), "2026-12-02T03:00:00.000Z");
    const row = await store.db
      .selectFrom("privacy_sweeps")
      .select("last_result")
      .where("name", "=", "daily")
      .executeTakeFirst();
    assert.equal(row?.last_result, JSON.stringify({ deleted: 2 }));
  });
});
