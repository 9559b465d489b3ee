// `npm run bench -- store` measures the query layers on the database work of one /ask question: that work must be
// the real one. The bench's sequence through today's repositories runs the statements a real AskService question
// runs (traced by better-sqlite3, values aside), the Kysely sequence visits the same tables in the same order and
// transaction, the PostgreSQL layers write the rows SQLite does, and the bench itself runs and prints its table.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import {
  buildEachTime,
  channelId,
  compiledOnce,
  fineTune,
  guildId,
  HANDLER_STATEMENTS,
  kyselyQuestion,
  POSTGRES_STAND_IN_DDL,
  questionFor,
  rawPgQuestion,
  repositoryQuestion,
  type StoreSchema,
  seed,
  seedSqliteJobs,
} from "../../bench/store-sequence.ts";
import type { QuestionSettings } from "../../src/classroom/settings.ts";
import { loadConfig } from "../../src/config.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { namedStatements } from "../../src/db/query/namedStatements.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { silentLogger } from "../../src/logger.ts";
import { buildServices } from "../../src/wire.ts";
import { startChatServer } from "../classroom/helpers.ts";
import { freshPostgresDatabase, skipWithoutPostgres } from "../helpers/postgres.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "classtune-store-bench-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A seeded bench database whose statements are collected in `trace` while `tracing` is on. */
async function tracedDatabase(name: string) {
  const t = { trace: [] as string[], tracing: false };
  const db = openDb(join(dir, name, "classtune.db"), {
    verbose: (s) => {
      if (t.tracing) t.trace.push(s);
    },
  });
  seedSqliteJobs(db);
  await seed(new Kysely<StoreSchema>({ dialect: new SqliteDialect({ database: db }) }));
  return { db, t };
}

async function traced<T>(t: { trace: string[]; tracing: boolean }, run: () => Promise<T>): Promise<string[]> {
  t.trace = [];
  t.tracing = true;
  try {
    await run();
  } finally {
    t.tracing = false;
  }
  return t.trace;
}

/** The statement without its values (better-sqlite3 traces them expanded, long strings cut). */
const shape = (s: string) =>
  s
    .replace(/'(?:[^']|'')*'(?:\/\*\+\d+ bytes\*\/)?/g, "?")
    .replace(/\b\d+(?:\.\d+)?(?:e[-+]?\d+)?\b/gi, "?")
    .replace(/\s+/g, " ")
    .trim();

/** What a statement does to which table: "select channel_settings", "insert answers", "begin". */
function touches(s: string): string {
  const text = s.trim().toLowerCase();
  const verb = /^\w+/.exec(text)?.[0] ?? text;
  const table = (verb === "update" ? /^update\s+"?(\w+)/ : /\b(?:from|into)\s+"?(\w+)/).exec(text)?.[1];
  return table ? `${verb} ${table}` : verb;
}

/** One question through each PostgreSQL layer leaves the rows one question leaves on SQLite. */
async function comparePostgres(pool: pg.Pool): Promise<void> {
  await pool.query(POSTGRES_STAND_IN_DDL);
  const k = new Kysely<StoreSchema>({ dialect: new PostgresDialect({ pool }) });
  await seed(k);
  const sqlite = await tracedDatabase("pg-compare");
  try {
    await compareRows(pool, k, sqlite.db);
  } finally {
    sqlite.db.close();
  }
}

async function compareRows(pool: pg.Pool, k: Kysely<StoreSchema>, sqliteDb: Db): Promise<void> {
  const now = new Date("2026-03-02T10:00:00.000Z");
  await repositoryQuestion(sqliteDb)(questionFor(3, now));
  await kyselyQuestion(k, buildEachTime)(questionFor(3, now));
  await kyselyQuestion(k, compiledOnce())(questionFor(3, now));
  const named = new Kysely<StoreSchema>({ dialect: new PostgresDialect({ pool: namedStatements(pool) }) });
  await kyselyQuestion(named, compiledOnce())(questionFor(3, now));
  await rawPgQuestion(pool)(questionFor(3, now));

  const rows = async (run: (text: string) => Promise<Record<string, unknown>[]>) => ({
    answers: await run(
      "SELECT guild_id, channel_id, user_id, question, answer, model, system_prompt, public, created_at, moderation, withheld, parent_id, turn FROM answers ORDER BY id",
    ),
    usage: await run(
      "SELECT guild_id, user_id, model, provider, prompt_tokens, cost_usd, cache_hit, error, created_at FROM ask_usage WHERE created_at = '2026-03-02T10:00:00.000Z' ORDER BY id",
    ),
    verdicts: await run(
      "SELECT answer_id, target, outcome, provider, model, categories, top_category, top_score, severe, created_at FROM moderation_verdicts ORDER BY id",
    ),
  });
  const onSqlite = await rows(async (text) => sqliteDb.prepare(text).all() as Record<string, unknown>[]);
  const onPostgres = await rows(async (text) =>
    (await pool.query(text)).rows.map((r: Record<string, unknown>) => ({
      ...r,
      ...("answer_id" in r ? { answer_id: Number(r.answer_id) } : {}),
    })),
  );
  // One question through each of the four layers.
  const each = <T>(xs: T[]) => [1, 2, 3, 4].flatMap(() => xs);
  assert.deepEqual(onPostgres.answers, each(onSqlite.answers));
  assert.deepEqual(onPostgres.usage, each(onSqlite.usage));
  // Each layer's verdicts point at its own answer: ids 1 to 4 on PostgreSQL.
  assert.deepEqual(
    onPostgres.verdicts,
    [1, 2, 3, 4].flatMap((id) => onSqlite.verdicts.map((v) => ({ ...v, answer_id: id }))),
  );
}

describe("the store bench's question", () => {
  it("runs the statements of a real /ask question, the command handler's two first, and reads each row once", async (t) => {
    const chat = await startChatServer("openai", [fineTune(0)]);
    t.after(() => chat.close());
    const real = await tracedDatabase("real");
    const config = loadConfig({
      DATA_DIR: join(dir, "real"),
      LOG_LEVEL: "silent",
      OPENAI_API_KEY: ["sk", "test", "store"].join("-"),
      OPENAI_BASE_URL: chat.url,
      // The seeded fine-tunes' provider.
      PROVIDER_NAME: "openai",
      MODERATION_PROVIDER: "sandbox",
    });
    const services = await buildServices({
      config,
      database: { store: sqliteStore(real.db), sqlite: real.db },
      logger: silentLogger,
      sender: () => ({ send: async () => ({ messageId: "m" }) }),
    });
    t.after(async () => {
      await services.close();
      real.db.close();
    });
    // As commands/ask.ts asks: the question's settings read once (public? a teacher?), then the service under them.
    const settingsOf = () => services.classroom.settings.question(guildId(0), channelId(0));
    const ask = (question: string, settings: QuestionSettings) =>
      services.classroom.ask({
        guildId: guildId(0),
        channelId: channelId(0),
        userId: "300000000000000001",
        isTeacher: false,
        question,
        settings,
      });
    const first = await ask("What is a cell wall made of?", await settingsOf());
    assert.ok(first.ok && first.costUsd > 0 && first.moderation === "passed", JSON.stringify(first));
    let settings: QuestionSettings | undefined;
    const handler = await traced(real.t, async () => {
      settings = await settingsOf();
    });
    const service = await traced(real.t, async () => {
      assert.ok(settings);
      const r = await ask("What does photosynthesis make?", settings);
      assert.ok(r.ok && !r.cached);
    });

    const bench = await tracedDatabase("bench");
    t.after(() => bench.db.close());
    const benchQuestion = repositoryQuestion(bench.db);
    const sequence = await traced(bench.t, () => benchQuestion(questionFor(0)));

    assert.equal(handler.length, HANDLER_STATEMENTS);
    assert.deepEqual(sequence.map(shape), [...handler, ...service].map(shape));
    // The spend cap's read is there: the question took the paid path.
    assert.ok(service.some((s) => /sum\("?cost_usd"?\)/i.test(s)));
    // Each row is read once a question: guild_settings again (the moderation policy, in the transaction), the
    // channel again in the service or the model row again (its context size) would be a repeat here.
    const reads = [...handler, ...service].map(touches).filter((s) => s.startsWith("select "));
    assert.deepEqual(
      reads.filter((s, i) => reads.indexOf(s) !== i),
      [],
      `read twice in one question: ${reads.join(", ")}`,
    );
    assert.deepEqual(reads, [
      "select channel_settings",
      "select guild_settings",
      "select models",
      "select ask_usage",
    ]);
  });

  it("is the same in Kysely: the same tables, in the same order, the same transaction", async (t) => {
    const raw = await tracedDatabase("kysely-raw");
    const viaKysely = await tracedDatabase("kysely");
    const k = new Kysely<StoreSchema>({ dialect: new SqliteDialect({ database: viaKysely.db }) });
    t.after(async () => {
      raw.db.close();
      await k.destroy();
    });
    const expected = (await traced(raw.t, () => repositoryQuestion(raw.db)(questionFor(1)))).map(touches);
    assert.equal(expected.filter((s) => s === "begin").length, 1);
    for (const run of [buildEachTime, compiledOnce()]) {
      const question = kyselyQuestion(k, run);
      // Twice: a statement compiled once is run again with new values.
      for (const i of [1, 2]) {
        assert.deepEqual((await traced(viaKysely.t, () => question(questionFor(i)))).map(touches), expected);
      }
    }
    assert.equal(
      (viaKysely.db.prepare("SELECT COUNT(*) AS n FROM answers").get() as { n: number }).n,
      4,
      "every question stored its answer",
    );
  });

  it("writes on PostgreSQL the rows it writes on SQLite", { skip: skipWithoutPostgres }, async (t) => {
    const url = await freshPostgresDatabase(t);
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    try {
      await comparePostgres(pool);
    } finally {
      await pool.end();
    }
  });

  it("`bench -- store --quick` runs its SQLite rows and prints the table, skipping PostgreSQL with --no-postgres", async () => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? "" };
    const child = spawn(
      process.execPath,
      ["scripts/run.js", "bench/index.ts", "store", "--quick", "--no-postgres"],
      {
        cwd: ROOT,
        env,
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (c) => {
      out += c;
    });
    child.stderr.on("data", (c) => {
      err += c;
    });
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 0, err);
    assert.match(out, /^machine: \d+ cores .* node v\d+.*load average at start/m);
    assert.match(out, /^PostgreSQL: skipped/m);
    for (const layer of ["(a) today", "(b) Kysely", "(b') Kysely"]) {
      assert.match(
        out,
        new RegExp(`^${layer.replace(/[()]/g, "\\$&")}.*\\s\\d+\\.\\d\\s+\\d+\\.\\d\\d / \\d+\\.\\d\\d`, "m"),
      );
    }
    assert.doesNotMatch(out, /^\(c\)/m);
    assert.match(out, /^verdict: Kysely\/raw on SQLite \d+\.\d\d×/m);
  });
});
