// The daily privacy sweep: retention deletes exactly what is past DATA_RETENTION_DAYS (usage folded first into
// anonymous daily totals that /usage still reports), it runs once a day by the time recorded in SQLite (across a
// restart), datasets follow DATASET_RETENTION_DAYS but never one a job still needs, and a server that removed the
// bot loses its data after the grace period, unless it came back.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { UsageService } from "../../src/classroom/usage.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { UsageRepository } from "../../src/db/usage.ts";
import { type PrivacyConfig, PrivacyService } from "../../src/privacy/service.ts";
import { GUILD, OTHER_GUILD, STUDENT, seedPerson, userIdCells } from "./helpers.ts";

const DAY = 86_400_000;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDb(): { path: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "classtune-privacy-"));
  dirs.push(dir);
  return { path: join(dir, "classtune.db"), dir };
}

const config: PrivacyConfig = { dataRetentionDays: 30, datasetRetentionDays: undefined, guildGraceDays: 30 };

function service(db: Db, now: () => Date, over: Partial<PrivacyConfig> = {}, forgotten: string[] = []) {
  return new PrivacyService({
    store: sqliteStore(db),
    config: { ...config, ...over },
    cache: {
      forget: (guildId) => {
        forgotten.push(guildId);
        return 0;
      },
    },
    rewriteDataset: async () => undefined,
    now,
  });
}

function insertActivity(db: Db, guild: string, user: string, iso: string, extra: { error?: string } = {}) {
  db.prepare(
    `INSERT INTO ask_usage (guild_id, channel_id, user_id, model, provider, prompt_tokens, completion_tokens, cost_usd,
       cache_hit, error, created_at) VALUES (?, 'c', ?, 'gpt-4o-mini', 'sandbox', 100, 50, 0.25, 0, ?, ?)`,
  ).run(guild, user, extra.error ?? null, iso);
  const answer = db
    .prepare(
      `INSERT INTO answers (guild_id, channel_id, user_id, question, answer, model, system_prompt, public, created_at)
       VALUES (?, 'c', ?, ?, 'a', 'gpt-4o-mini', 's', 1, ?)`,
    )
    .run(guild, user, `asked at ${iso}`, iso).lastInsertRowid;
  db.prepare(
    `INSERT INTO answer_votes (answer_id, guild_id, user_id, value, created_at) VALUES (?, ?, ?, 1, ?)`,
  ).run(answer, guild, "200000000000000009", iso);
}

const count = (db: Db, table: string) =>
  (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;

describe("retention (DATA_RETENTION_DAYS)", () => {
  it("deletes exactly the days before the window, keeps their usage as anonymous totals /usage still reports", async () => {
    const { path } = tempDb();
    let db = openDb(path);
    const now = new Date("2026-12-03T12:00:00.000Z");
    // The window keeps 30 full days before today: 2026-11-03 on. The day before goes, to the millisecond.
    insertActivity(db, GUILD, STUDENT, "2026-11-02T23:59:59.999Z");
    insertActivity(db, GUILD, STUDENT, "2026-11-02T08:00:00.000Z", { error: "rate_limited" });
    insertActivity(db, GUILD, STUDENT, "2026-10-01T08:00:00.000Z");
    insertActivity(db, GUILD, STUDENT, "2026-11-03T00:00:00.000Z");
    insertActivity(db, OTHER_GUILD, STUDENT, "2026-12-02T10:00:00.000Z");
    const usage = (d: Db) =>
      new UsageService({ usage: new UsageRepository(sqliteStore(d)), now: () => now.getTime() });
    const before = await usage(db).summary(GUILD, 90);

    let clock = now;
    const counts = await service(db, () => clock).sweep();
    assert.ok(counts, "the first sweep is due");
    assert.deepEqual(counts.retention.deleted, { answer_votes: 3, answers: 3, ask_usage: 3 });
    assert.equal(counts.retention.folded, 3);
    assert.deepEqual(
      (db.prepare(`SELECT created_at AS t FROM answers ORDER BY t`).all() as { t: string }[]).map((r) => r.t),
      ["2026-11-03T00:00:00.000Z", "2026-12-02T10:00:00.000Z"],
    );
    const daily = db.prepare(`SELECT * FROM usage_daily ORDER BY day`).all() as Record<string, unknown>[];
    assert.deepEqual(
      daily.map((r) => [r.day, r.questions, r.errors]),
      [
        ["2026-10-01", 1, 0],
        ["2026-11-02", 2, 1],
      ],
    );
    assert.ok(
      daily.every((r) => !Object.values(r).includes(STUDENT)),
      "the aggregates hold no user id",
    );

    const afterPurge = await usage(db).summary(GUILD, 90);
    for (const k of ["questions", "errors", "totalTokens", "costUsd"] as const) {
      assert.equal(afterPurge[k], before[k], `${k} survives the purge`);
    }
    assert.deepEqual(afterPurge.byDay, before.byDay, "every day's figures survive");
    assert.deepEqual(afterPurge.byModel, before.byModel);
    assert.deepEqual(afterPurge.errorsByCode, before.errorsByCode);
    assert.equal(afterPurge.anonymousQuestions, 3);
    assert.deepEqual(
      afterPurge.topAskers,
      [{ userId: STUDENT, questions: 1 }],
      "askers only where rows remain",
    );

    // Durable: a restart reads the last run from SQLite; not due again until a day has passed.
    db.close();
    db = openDb(path);
    clock = new Date(now.getTime() + DAY - 1);
    assert.equal(
      await service(db, () => clock).sweep(),
      undefined,
      "not due within the day, after a restart",
    );
    insertActivity(db, GUILD, STUDENT, "2026-11-03T05:00:00.000Z");
    clock = new Date(now.getTime() + DAY);
    const next = await service(db, () => clock).sweep();
    assert.ok(next, "due once a day has passed");
    assert.equal(next.retention.folded, 2, "the next day (2026-11-03) is folded the next day");
    assert.equal((await usage(db).summary(GUILD, 90)).questions, before.questions + 1);
    db.close();
  });
});

describe("a server that removed the bot (GUILD_DATA_GRACE_DAYS)", () => {
  it("keeps its data through the grace period, then deletes all of it and only it", async () => {
    const { path } = tempDb();
    const db = openDb(path);
    await seedPerson(sqliteStore(db));
    // Finished work only: nothing billed or training holds the deletion back.
    db.prepare(`DELETE FROM job_intents`).run();
    const t0 = new Date("2026-12-03T12:00:00.000Z");
    let clock = t0;
    const forgotten: string[] = [];
    const privacy = service(db, () => clock, {}, forgotten);
    await privacy.guildLeft(GUILD);
    assert.equal((await privacy.scheduledDeletion(GUILD))?.deleteAfter, "2027-01-02T12:00:00.000Z");

    clock = new Date(t0.getTime() + 30 * DAY - 1);
    assert.deepEqual((await privacy.runSweep(clock)).guildsDeleted, []);
    assert.ok(
      userIdCells(db, STUDENT).some((c) => c.guildId === GUILD),
      "kept within the grace period",
    );

    clock = new Date(t0.getTime() + 30 * DAY);
    const swept = await privacy.runSweep(clock);
    assert.deepEqual(swept.guildsDeleted, [GUILD]);
    assert.deepEqual(forgotten, [GUILD], "its cached answers are forgotten too");
    for (const { name } of db
      .prepare(`SELECT name FROM pragma_table_list WHERE schema = 'main' AND name NOT LIKE 'sqlite_%'`)
      .all() as { name: string }[]) {
      const cols = (db.prepare(`SELECT name FROM pragma_table_info(?)`).all(name) as { name: string }[]).map(
        (c) => c.name,
      );
      if (!cols.includes("guild_id")) continue;
      const n = (
        db.prepare(`SELECT COUNT(*) AS n FROM "${name}" WHERE guild_id = ?`).get(GUILD) as { n: number }
      ).n;
      assert.equal(n, 0, `${name} holds nothing of the departed server`);
    }
    assert.equal(
      count(db, "job_metrics"),
      1,
      "the other server's loss points stay; the departed one's cascade",
    );
    assert.ok(
      userIdCells(db, STUDENT).some((c) => c.guildId === OTHER_GUILD),
      "another server is untouched",
    );
    db.close();
  });

  it("is cancelled when the bot is invited back, and waits while billed hosting still runs", async () => {
    const { path } = tempDb();
    const db = openDb(path);
    await seedPerson(sqliteStore(db));
    db.prepare(`DELETE FROM job_intents`).run();
    const t0 = new Date("2026-12-03T12:00:00.000Z");
    const privacy = service(db, () => t0);
    await privacy.guildLeft(GUILD);
    assert.equal(await privacy.guildJoined(GUILD), true);
    const later = new Date(t0.getTime() + 40 * DAY);
    assert.deepEqual((await privacy.runSweep(later)).guildsDeleted, []);
    assert.ok(
      userIdCells(db, STUDENT).some((c) => c.guildId === GUILD),
      "nothing deleted after a re-invite",
    );

    await privacy.guildLeft(GUILD);
    db.prepare(`UPDATE hosting_sessions SET stopped_at = NULL WHERE guild_id = ?`).run(GUILD);
    const waiting = await privacy.runSweep(new Date(t0.getTime() + 31 * DAY));
    assert.deepEqual([waiting.guildsDeleted, waiting.guildsWaiting], [[], [GUILD]]);
    db.close();
  });
});

describe("dataset retention (DATASET_RETENTION_DAYS)", () => {
  it("keeps datasets by default; when set, deletes old ones and their files, never one a running job or a live model needs", async () => {
    const { path, dir } = tempDb();
    const db = openDb(path);
    mkdirSync(join(dir, "datasets"));
    const insert = (name: string, createdAt: string) => {
      const file = join(dir, "datasets", `${name}.jsonl`);
      writeFileSync(file, "{}\n");
      const id = db
        .prepare(
          `INSERT INTO datasets (guild_id, uploader_id, file_name, sha256, bytes, format, examples, valid, invalid,
             total_tokens, base_model, fine_tunable, report_json, stored_path, cleaned_path, created_at)
           VALUES (?, 't', ?, ?, 1, 'chat', 10, 10, 0, 100, 'b', 1, '{}', ?, NULL, ?)`,
        )
        .run(GUILD, name, name, file, createdAt).lastInsertRowid;
      return { id: Number(id), file };
    };
    const job = (datasetId: number, status: string) =>
      db
        .prepare(
          `INSERT INTO jobs (tag, guild_id, provider, remote_id, dataset_id, requester_id, base_model, hyperparameters,
             training_file_id, status, raw_status, created_at, updated_at)
           VALUES (?, ?, 'sandbox', ?, ?, 't', 'b', '{}', 'f', ?, ?, '2025-01-01', '2025-01-01')`,
        )
        .run(`ct-${datasetId}`, GUILD, `r-${datasetId}`, datasetId, status, status).lastInsertRowid;
    const old = insert("old", "2025-01-01T00:00:00.000Z");
    const oldFinished = insert("old-finished", "2025-01-01T00:00:00.000Z");
    const training = insert("training", "2025-01-01T00:00:00.000Z");
    const withModel = insert("with-model", "2025-01-01T00:00:00.000Z");
    const recent = insert("recent", "2026-12-01T00:00:00.000Z");
    job(oldFinished.id, "succeeded");
    job(training.id, "running");
    const served = job(withModel.id, "succeeded");
    db.prepare(
      `INSERT INTO models (guild_id, name, provider, base_model, job_id, created_at) VALUES (?, 'ft:x', 'sandbox', 'b', ?, '2025-01-02')`,
    ).run(GUILD, served);
    const now = new Date("2026-12-03T12:00:00.000Z");

    assert.equal((await service(db, () => now).runSweep(now)).datasetsDeleted, 0, "kept forever by default");
    const swept = await service(db, () => now, { datasetRetentionDays: 365 }).runSweep(now);
    assert.equal(swept.datasetsDeleted, 2);
    const left = (db.prepare(`SELECT file_name AS f FROM datasets ORDER BY id`).all() as { f: string }[]).map(
      (r) => r.f,
    );
    assert.deepEqual(left, ["training", "with-model", "recent"]);
    assert.deepEqual(
      [existsSync(old.file), existsSync(oldFinished.file)],
      [false, false],
      "their files are deleted",
    );
    assert.deepEqual([existsSync(training.file), existsSync(recent.file)], [true, true]);
    db.close();
  });
});
