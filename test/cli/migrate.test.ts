// `classtune migrate --to postgres://…`: a school's SQLite database, written through the real repositories, copied
// into a fresh PostgreSQL database and compared row by row, field by field; then refused as non-empty, rolled back
// on a row-count mismatch, and an unreachable target reported plainly. The password is never printed.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import type pg from "pg";
import { AnswerRepository } from "../../src/db/answers.ts";
import { ChannelSettingsRepository } from "../../src/db/channels.ts";
import { DatasetExportRepository } from "../../src/db/datasetExports.ts";
import { DatasetRepository } from "../../src/db/datasets.ts";
import { GuildSettingsRepository } from "../../src/db/guildSettings.ts";
import { HostingRepository } from "../../src/db/hosting.ts";
import { JobIntentRepository } from "../../src/db/jobIntents.ts";
import { JobMetricsRepository, JobRepository } from "../../src/db/jobs.ts";
import { LeaderLeaseRepository } from "../../src/db/leaderLease.ts";
import { ModelRepository } from "../../src/db/models.ts";
import { ModerationRepository } from "../../src/db/moderation.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { OutboxRepository } from "../../src/db/outbox.ts";
import { migratePostgres } from "../../src/db/postgres/migrate.ts";
import { openPostgres } from "../../src/db/postgres/pool.ts";
import { PrivacyRepository } from "../../src/db/privacy.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { UsageRepository } from "../../src/db/usage.ts";
import { migrateSandbox } from "../../src/sandbox/store.ts";
import { runCliCaptured, spawnCli } from "../helpers/cli.ts";
import { freshPostgresDatabase, skipWithoutPostgres } from "../helpers/postgres.ts";
import { GUILD, seedPerson } from "../privacy/helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "classtune-migrate-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Built from parts: never a realistic literal secret. */
const PASSWORD = ["pw", "only", "for", "tests"].join("-");

/** The target's URL with a password (the suite's cluster trusts loopback, so it is sent and ignored). */
const withPassword = (url: string): string => {
  const u = new URL(url);
  u.password = PASSWORD;
  return u.toString();
};

const STUDENT = "200000000000000009";
const TEACHER = "200000000000000010";
const CHANNEL = "300000000000000009";
/** More ask_usage rows than one INSERT batch takes (500), so the copy batches. */
const USAGE_ROWS = 1_203;

/** A school's database, written the way the bot writes it (plus the privacy tests' seed of every user column). */
async function buildSchool(db: Db): Promise<void> {
  await seedPerson(sqliteStore(db));
  migrateSandbox(db); // the embedded sandbox's own tables share the file: they are not classtune's to copy
  const dataset = await new DatasetRepository(sqliteStore(db)).insert({
    guildId: GUILD,
    uploaderId: TEACHER,
    fileName: "biology – week 1 “cells” 🧬.jsonl",
    sha256: "ab".repeat(32),
    bytes: 12_345,
    format: "chat",
    examples: 40,
    valid: 39,
    invalid: 1,
    totalTokens: 9_876,
    baseModel: "gpt-4o-mini-2024-07-18",
    fineTunable: true,
    reportJson: JSON.stringify({ problems: [{ line: 7, message: 'it\'s "empty"\n' }] }),
    storedPath: "/data/datasets/ab.jsonl",
    cleanedPath: null,
    createdAt: "2026-11-02T08:00:00.000Z",
  });
  const jobs = new JobRepository(sqliteStore(db));
  const job = await jobs.insert({
    tag: "ct-migrate-1",
    guildId: GUILD,
    provider: "sandbox",
    providerKind: "sandbox",
    providerEndpoint: "sandbox:embedded",
    remoteId: "ftjob-migrate-1",
    datasetId: dataset.id,
    requesterId: TEACHER,
    baseModel: "gpt-4o-mini-2024-07-18",
    suffix: "bio",
    hyperparameters: { nEpochs: 3, seed: 42 },
    trainingFileId: "file-1",
    status: "running",
    rawStatus: "running",
    estimatedCostUsd: 0.1234567890123,
    notifyChannelId: CHANNEL,
    testQuestions: [{ question: "What is a cell?", expected: null }],
    createdAt: "2026-11-02T08:01:00.000Z",
  });
  await jobs.update(
    GUILD,
    job.id,
    { status: "succeeded", fineTunedModel: "ft:gpt-4o-mini:bio", trainedTokens: 29_628, progress: null },
    new Date("2026-11-02T09:00:00.000Z"),
  );
  await new JobMetricsRepository(sqliteStore(db)).add(job.id, [
    { step: 1, trainLoss: 2.5, validLoss: null, trainAccuracy: 0.125, createdAt: "2026-11-02T08:10:00.000Z" },
    {
      step: 2,
      trainLoss: 1.0 / 3,
      validLoss: 1e-7,
      trainAccuracy: null,
      createdAt: "2026-11-02T08:20:00.000Z",
    },
  ]);
  await new ModelRepository(sqliteStore(db)).register({
    guildId: GUILD,
    name: "ft:gpt-4o-mini:bio",
    provider: "sandbox",
    baseModel: "gpt-4o-mini-2024-07-18",
    jobId: job.id,
    label: "Biology",
    createdAt: "2026-11-02T09:00:00.000Z",
  });
  await new JobIntentRepository<{ requesterId: string }>(sqliteStore(db)).insert({
    tag: "ct-migrate-2",
    guildId: GUILD,
    provider: "sandbox",
    input: { requesterId: TEACHER },
    createdAt: "2026-11-03T08:00:00.000Z",
  });

  const answers = new AnswerRepository(sqliteStore(db));
  const first = await answers.insert({
    guildId: GUILD,
    channelId: CHANNEL,
    userId: STUDENT,
    question: "What does the mitochondrion do?",
    answer: "It makes ATP — the cell's energy.",
    model: "ft:gpt-4o-mini:bio",
    systemPrompt: "You are a helpful educational assistant.",
    public: true,
    moderation: "passed",
    createdAt: "2026-12-02T10:00:00.000Z",
  });
  const followUp = await answers.insert({
    guildId: GUILD,
    channelId: CHANNEL,
    userId: STUDENT,
    question: "And the second one?",
    answer: "Chloroplasts, in plants.",
    model: "ft:gpt-4o-mini:bio",
    systemPrompt: "You are a helpful educational assistant.",
    public: false,
    parentId: first,
    createdAt: "2026-12-02T10:01:00.000Z",
  });
  await answers.vote(GUILD, first, TEACHER, 1, "2026-12-02T10:05:00.000Z");
  await answers.vote(GUILD, followUp, TEACHER, -1, "2026-12-02T10:06:00.000Z");
  await answers.correct(
    GUILD,
    followUp,
    "Chloroplasts make sugar by photosynthesis.",
    TEACHER,
    "2026-12-02T11:00:00.000Z",
  );
  await new ModerationRepository(sqliteStore(db)).insert({
    guildId: GUILD,
    channelId: CHANNEL,
    userId: STUDENT,
    answerId: followUp,
    target: "answer",
    outcome: "passed",
    provider: "sandbox",
    model: "omni-moderation-latest",
    categories: [],
    topCategory: "violence",
    topScore: 0.000123,
    severe: false,
    error: null,
    flaggedText: null,
    createdAt: "2026-12-02T10:01:01.000Z",
  });

  const usage = new UsageRepository(sqliteStore(db));
  for (let i = 0; i < USAGE_ROWS; i++) {
    // The first 200 are from January: the retention purge below folds them into the anonymous daily tables.
    const day = i < 200 ? `2026-01-${String(1 + (i % 28)).padStart(2, "0")}` : "2026-12-02";
    await usage.insert({
      guildId: GUILD,
      channelId: CHANNEL,
      userId: i % 2 === 0 ? STUDENT : TEACHER,
      model: "ft:gpt-4o-mini:bio",
      provider: "sandbox",
      promptTokens: 100 + i,
      completionTokens: i % 7,
      latencyMs: 20 + (i % 13),
      costUsd: i * 0.000_001_5,
      cacheHit: i % 5 === 0,
      error: i % 50 === 0 ? "rate_limited" : null,
      truncated: i % 11 === 0,
      createdAt: `${day}T12:${String(i % 60).padStart(2, "0")}:00.000Z`,
    });
  }
  const privacy = new PrivacyRepository(sqliteStore(db));
  await privacy.purgeBefore("2026-06-01T00:00:00.000Z");
  await privacy.recordRun("retention", new Date("2026-12-02T03:00:00.000Z"), { deleted: 200 });
  await privacy.scheduleGuildDeletion(
    "100000000000000077",
    new Date("2026-12-01T00:00:00.000Z"),
    new Date("2026-12-31"),
  );

  await new OutboxRepository(sqliteStore(db)).enqueue(
    {
      guildId: GUILD,
      channelId: CHANNEL,
      kind: "job_created",
      payload: {
        jobId: job.id,
        remoteId: job.remoteId,
        provider: "sandbox",
        sandbox: true,
        baseModel: job.baseModel,
        suffix: "bio",
        datasetId: dataset.id,
        datasetName: dataset.fileName,
        requesterId: TEACHER,
        estimatedCostUsd: 0.12,
        nEpochs: 3,
        examples: 39,
      },
      dedupeKey: `job:${job.id}:created`,
    },
    new Date("2026-11-02T08:01:00.000Z"),
  );
  await new ChannelSettingsRepository(sqliteStore(db)).upsert({
    guildId: GUILD,
    channelId: CHANNEL,
    model: "ft:gpt-4o-mini:bio",
    systemPrompt: "Answer like a biology teacher.",
    fallbackModel: null,
    temperature: 0.3,
    maxTokens: 800,
    isClass: true,
    updatedBy: TEACHER,
    updatedAt: "2026-11-05T08:00:00.000Z",
  });
  await new GuildSettingsRepository(sqliteStore(db)).update(
    "100000000000000003",
    { safetyCategories: ["self_harm"], safetyThreshold: 0.35, safetyRoleId: "400000000000000009" },
    new Date("2026-11-06T08:00:00.000Z"),
  );
  await new HostingRepository(sqliteStore(db)).open(
    {
      guildId: GUILD,
      modelName: "ft:gpt-4o-mini:bio",
      provider: "sandbox",
      deploymentName: "ct-bio-1",
      hardware: "1x_nvidia_h100_80gb_sxm",
      usdPerHour: 3.99,
      priceSource: "catalog",
      startedBy: "auto",
    },
    new Date("2026-11-02T09:01:00.000Z"),
  );
  await new DatasetExportRepository(sqliteStore(db)).record(
    [
      { datasetId: dataset.id, guildId: GUILD, line: 1, studentId: STUDENT, exportedBy: TEACHER },
      { datasetId: dataset.id, guildId: GUILD, line: 2, studentId: STUDENT, exportedBy: TEACHER },
    ],
    "2026-12-02T12:00:00.000Z",
  );
  await new LeaderLeaseRepository(sqliteStore(db)).acquire(
    "scheduler",
    "host-a:123",
    1_796_000_000_000,
    30_000,
  );
}

/** The real `classtune` command in a process of its own (test/helpers/cli.ts), in this file's temp folder. */
const classtune = (args: string[], env: NodeJS.ProcessEnv) => spawnCli(args, { cwd: dir, env });

/** classtune's tables in the SQLite file (schema_migrations and the sandbox's left out), each with its key. */
function applicationTables(db: Db): string[] {
  return db
    .prepare(
      `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
         AND name <> 'schema_migrations' AND name NOT LIKE 'sandbox_%' ORDER BY name`,
    )
    .pluck()
    .all() as string[];
}

/** A cell compared across engines: integers and reals as numbers, BLOBs (Buffers) as hex, NULL as null. */
const normal = (v: unknown): unknown =>
  Buffer.isBuffer(v) ? `blob:${v.toString("hex")}` : typeof v === "bigint" ? Number(v) : v;

const normalRows = (rows: Record<string, unknown>[]): Record<string, unknown>[] =>
  rows
    .map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, normal(v)])))
    .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));

const sqliteRows = (db: Db, table: string) =>
  normalRows(db.prepare(`SELECT * FROM "${table}"`).all() as Record<string, unknown>[]);

const postgresRows = async (pool: pg.Pool, table: string) =>
  normalRows((await pool.query<Record<string, unknown>>(`SELECT * FROM "${table}"`)).rows);

async function postgresCounts(pool: pg.Pool, tables: string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const t of tables) {
    counts[t] = (await pool.query<{ n: number }>(`SELECT count(*) AS n FROM "${t}"`)).rows[0]?.n ?? -1;
  }
  return counts;
}

describe("classtune migrate", { skip: skipWithoutPostgres }, async () => {
  const path = join(dir, "school.db");
  const db = openDb(path);
  let tables: string[] = [];
  before(async () => {
    await buildSchool(db);
    tables = applicationTables(db);
  });

  it("copies every row of every table, field by field, and new rows continue after the highest ids", async (t) => {
    const url = withPassword(await freshPostgresDatabase(t));
    for (const table of tables) {
      assert.ok(
        (db.prepare(`SELECT count(*) FROM "${table}"`).pluck().get() as number) > 0,
        `the school has rows in ${table} (a new table needs rows in buildSchool)`,
      );
    }

    const run = await runCliCaptured(["migrate", "--to", url, "--json"], { DATABASE_PATH: path });
    assert.equal(run.code, 0, run.err);
    const out = JSON.parse(run.out) as {
      from: string;
      to: string;
      tables: { table: string; rows: number }[];
      totalRows: number;
      skipped: string[];
    };
    assert.equal(out.from, path);
    assert.equal(out.to, url.replace(PASSWORD, "***"));
    assert.deepEqual(out.tables.map((x) => x.table).sort(), tables, "every application table is copied");
    for (const { table, rows } of out.tables) {
      assert.equal(rows, db.prepare(`SELECT count(*) FROM "${table}"`).pluck().get(), table);
    }
    assert.equal(
      out.totalRows,
      out.tables.reduce((n, x) => n + x.rows, 0),
    );
    assert.ok(
      out.tables.findIndex((x) => x.table === "datasets") < out.tables.findIndex((x) => x.table === "jobs"),
    );
    assert.ok(
      out.skipped.includes("sandbox_schema_migrations") && out.skipped.length > 1,
      out.skipped.join(),
    );
    assert.ok(!`${run.out}${run.err}`.includes(PASSWORD), "the password is never printed");

    const pool = openPostgres(url);
    t.after(() => pool.end());
    for (const table of tables) {
      assert.deepEqual(await postgresRows(pool, table), sqliteRows(db, table), `every row of ${table}`);
    }
    assert.ok(
      (await postgresRows(pool, "ask_usage")).length > 1_000,
      "the big table came in several batches",
    );
    const followUp = (
      await pool.query<{ parent_id: number; turn: number }>(
        "SELECT parent_id, turn FROM answers WHERE parent_id IS NOT NULL AND guild_id = $1",
        [GUILD],
      )
    ).rows;
    assert.deepEqual(
      followUp.map((r) => r.turn),
      [2],
      "the follow-up keeps its parent and turn",
    );

    const identities = (
      await pool.query<{ table_name: string; column_name: string }>(
        `SELECT table_name, column_name FROM information_schema.columns
          WHERE table_schema = current_schema() AND is_identity = 'YES' ORDER BY table_name`,
      )
    ).rows;
    assert.deepEqual(
      identities.map((r) => r.table_name).sort(),
      tables
        .filter((table) => {
          const pk = db.prepare("SELECT type FROM pragma_table_info(?) WHERE pk > 0").pluck().all(table);
          return pk.length === 1 && pk[0] === "INTEGER";
        })
        .sort(),
      "every rowid table's id is an identity",
    );
    for (const { table_name: table, column_name: column } of identities) {
      const max = db.prepare(`SELECT max("${column}") FROM "${table}"`).pluck().get() as number;
      const seq = await pool.query<{ name: string }>("SELECT pg_get_serial_sequence($1, $2) AS name", [
        table,
        column,
      ]);
      const state = await pool.query<{ last_value: number; is_called: boolean }>(
        `SELECT last_value, is_called FROM ${seq.rows[0]?.name}`,
      );
      const next = state.rows[0]?.is_called
        ? (state.rows[0]?.last_value ?? 0) + 1
        : state.rows[0]?.last_value;
      assert.equal(next, max + 1, `${table}'s next id`);
    }
    const maxAnswer = db.prepare("SELECT max(id) FROM answers").pluck().get() as number;
    const inserted = await pool.query<{ id: number }>(
      `INSERT INTO answers (guild_id, channel_id, user_id, question, answer, model, system_prompt, public, created_at)
       VALUES ('g-new', 'c', 'u', 'q', 'a', 'm', 's', 0, '2026-12-03T00:00:00.000Z') RETURNING id`,
    );
    assert.equal(
      inserted.rows[0]?.id,
      maxAnswer + 1,
      "an insert without id gets the next id after the copied ones",
    );
    await pool.query("DELETE FROM answers WHERE guild_id = 'g-new'");

    const before = await postgresCounts(pool, tables);
    const again = await runCliCaptured(["migrate", "--to", url], { DATABASE_PATH: path });
    assert.equal(again.code, 3, again.err);
    assert.match(again.err, /refused: the target database is not empty: .*answers \(\d+ row\(s\)\)/);
    assert.ok(!`${again.out}${again.err}`.includes(PASSWORD));
    assert.deepEqual(await postgresCounts(pool, tables), before, "nothing was written");
    const json = await runCliCaptured(["migrate", "--to", url, "--json"], { DATABASE_PATH: path });
    assert.equal(json.code, 3);
    const refused = JSON.parse(json.out) as { refused: string; tables: { table: string }[] };
    assert.equal(refused.refused, "target_not_empty");
    assert.ok(refused.tables.some((x) => x.table === "ask_usage"));
  });

  it("prints the per-table counts as text, from --from", async (t) => {
    const url = await freshPostgresDatabase(t);
    const run = await runCliCaptured(["migrate", "--to", url, "--from", path], {});
    assert.equal(run.code, 0, run.err);
    assert.match(
      run.out,
      new RegExp(`^Copied ${tables.length} table\\(s\\), \\d+ row\\(s\\), from ${path} to `),
    );
    const usage = db.prepare("SELECT count(*) FROM ask_usage").pluck().get() as number;
    assert.match(run.out, new RegExp(`\\n  ask_usage +${usage}\\n`));
    assert.match(run.out, /Row counts match on both sides/);
    assert.match(run.out, /Not copied \(the embedded sandbox's own store\): sandbox_/);
  });

  it("rolls back the whole copy when a table's row count differs", async (t) => {
    const url = await freshPostgresDatabase(t);
    const pool = openPostgres(url);
    t.after(() => pool.end());
    await migratePostgres(pool);
    // Something on the target that silently drops a row: the count check must catch it.
    await pool.query(`CREATE FUNCTION drop_one() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.id = 250 THEN RETURN NULL; END IF; RETURN NEW; END $$;
      CREATE TRIGGER drop_one BEFORE INSERT ON ask_usage FOR EACH ROW EXECUTE FUNCTION drop_one()`);
    const run = await runCliCaptured(["migrate", "--to", url], { DATABASE_PATH: path });
    assert.equal(run.code, 1, run.err);
    const expected = db.prepare("SELECT count(*) FROM ask_usage").pluck().get() as number;
    assert.match(
      run.err,
      new RegExp(
        `row counts differ \\(ask_usage: ${expected} in SQLite, ${expected - 1} in PostgreSQL\\); rolled back`,
      ),
    );
    assert.deepEqual(
      Object.values(await postgresCounts(pool, tables)).filter((n) => n > 0),
      [],
      "nothing was written",
    );
  });

  it("refuses someone else's database (rows of its own) before writing anything to it, classtune's schema included", async (t) => {
    const url = await freshPostgresDatabase(t);
    const pool = openPostgres(url);
    t.after(() => pool.end());
    // Another application's database: its own tables, and its own migration runner's schema_migrations.
    await pool.query(`CREATE TABLE invoices (id bigint PRIMARY KEY, total text);
      INSERT INTO invoices VALUES (1, '12.50'), (2, '99.00');
      CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL);
      INSERT INTO schema_migrations VALUES (1, false)`);
    const run = await runCliCaptured(["migrate", "--to", url, "--json"], { DATABASE_PATH: path });
    assert.equal(run.code, 3, run.err);
    assert.match(run.err, /refused: the target database is not empty: invoices \(2 row\(s\)\)/);
    const tablesThere = await pool.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1",
    );
    assert.deepEqual(
      tablesThere.rows.map((r) => r.table_name),
      ["invoices", "schema_migrations"],
      "no table of classtune's was created there",
    );
    const theirs = await pool.query("SELECT * FROM schema_migrations");
    assert.deepEqual(theirs.rows, [{ version: 1, dirty: false }], "their schema_migrations untouched");

    // Only their migration runner's table holds rows: not classtune's either, refused the same.
    await pool.query("DROP TABLE invoices");
    const again = await runCliCaptured(["migrate", "--to", url], { DATABASE_PATH: path });
    assert.equal(again.code, 3, again.err);
    assert.match(again.err, /not empty: schema_migrations \(1 row\(s\)\)/);
  });

  it("a target whose schema cannot be made classtune's: exit 2, one line saying so, nothing written", async (t) => {
    const url = await freshPostgresDatabase(t);
    const pool = openPostgres(url);
    t.after(() => pool.end());
    // Empty, but a table of someone else's holds a name of classtune's.
    await pool.query("CREATE TABLE datasets (x text)");
    const run = await runCliCaptured(["migrate", "--to", url], { DATABASE_PATH: path });
    assert.equal(run.code, 2, run.err);
    assert.equal(
      run.err,
      `classtune migrate: cannot create classtune's tables in the target: relation "datasets" already exists (migration 001_datasets; nothing was copied)\n`,
    );
    const tablesThere = await pool.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1",
    );
    assert.deepEqual(
      tablesThere.rows.map((r) => r.table_name),
      ["datasets", "schema_migrations"],
    );
  });

  it("a PostgreSQL that goes away mid-copy: exit 1, one line, rolled back (no crash on the lost connection)", async (t) => {
    const url = await freshPostgresDatabase(t);
    const pool = openPostgres(url);
    t.after(() => pool.end());
    await migratePostgres(pool);
    // The copy's own session is ended by the server while it inserts ask_usage's rows.
    await pool.query(`CREATE FUNCTION end_session() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.id = 250 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF; RETURN NEW; END $$;
      CREATE TRIGGER end_session BEFORE INSERT ON ask_usage FOR EACH ROW EXECUTE FUNCTION end_session()`);
    const run = await classtune(["migrate", "--to", withPassword(url)], { DATABASE_PATH: path });
    assert.equal(run.code, 1, run.err);
    assert.match(
      run.err,
      /^classtune migrate: copying ask_usage failed: terminating connection due to administrator command; rolled back, nothing was written\n$/,
    );
    assert.ok(!`${run.out}${run.err}`.includes(PASSWORD));
    assert.deepEqual(
      Object.values(await postgresCounts(pool, tables)).filter((n) => n > 0),
      [],
      "nothing was written",
    );
  });

  it("reports an unreachable target by host and port, without its password or a stack trace", async () => {
    const url = `postgres://classtune:${PASSWORD}@127.0.0.1:1/school`;
    const run = await runCliCaptured(["migrate", "--to", url], { DATABASE_PATH: path });
    assert.equal(run.code, 2);
    assert.equal(run.err, "classtune migrate: cannot reach PostgreSQL at 127.0.0.1:1: connection refused\n");
    assert.ok(!`${run.out}${run.err}`.includes(PASSWORD));
  });

  it("refuses a SQLite file that is not classtune's database, and leaves it as it was", async () => {
    const other = join(dir, "other.db");
    const foreign = new Database(other);
    foreign.exec(
      "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('hi')",
    );
    foreign.close();
    const tablesOf = (file: string): string[] => {
      const d = new Database(file, { readonly: true });
      try {
        return d
          .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
          .pluck()
          .all() as string[];
      } finally {
        d.close();
      }
    };
    const run = await runCliCaptured(["migrate", "--to", "postgres://127.0.0.1:1/x", "--from", other], {});
    assert.equal(run.code, 2, run.err);
    assert.equal(
      run.err,
      `classtune migrate: ${other} is not a classtune database (it has no schema_migrations table): give --from the bot's database (DATABASE_PATH, or DATA_DIR/classtune.db)\n`,
    );
    assert.deepEqual(tablesOf(other), ["notes"], "classtune's migrations were not applied to it");
  });

  it("refuses a missing SQLite file without creating it, and a --to that is not a postgres:// URL", async () => {
    const missing = join(dir, "nope", "school.db");
    const run = await runCliCaptured(["migrate", "--to", "postgres://127.0.0.1:1/x", "--from", missing], {});
    assert.equal(run.code, 2);
    assert.match(run.err, /no SQLite database at .*nope\/school\.db/);
    assert.ok(!existsSync(missing) && !existsSync(join(dir, "nope")));
    const notes = join(dir, "notes.txt");
    writeFileSync(notes, "not a database, just some notes\n".repeat(100));
    const notDb = await runCliCaptured(["migrate", "--to", "postgres://127.0.0.1:1/x", "--from", notes], {});
    assert.equal(notDb.code, 2);
    assert.match(notDb.err, /cannot open .*notes\.txt as a SQLite database: file is not a database/);
    const bad = await runCliCaptured(["migrate", "--to", `mysql://u:${PASSWORD}@h/db`], {
      DATABASE_PATH: path,
    });
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--to must be a postgres:\/\/ URL, got "mysql:\/\/u:\*\*\*@h\/db"/);
    const none = await runCliCaptured(["migrate"], { DATABASE_PATH: path });
    assert.equal(none.code, 2);
    assert.match(none.err, /--to is required/);
    const help = await runCliCaptured(["migrate", "--help"], {});
    assert.equal(help.code, 0);
    assert.match(
      help.out,
      /Exit status: 0 copied and verified; 1 .*\n2 .*; 3 refused: the target is not empty/,
    );
  });

  after(() => db.close());
});
