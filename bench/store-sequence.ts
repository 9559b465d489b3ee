// The database work of ONE /ask question today, for `npm run bench -- store` (bench/store.ts), written four ways:
// (a) today's repositories (synchronous better-sqlite3 statements, or the query layer's where converted), (b/c) one
// Kysely query code for SQLite and PostgreSQL, (d) hand-written SQL for node-postgres with named (server-side
// prepared) statements.
//
// The sequence, as traced from a real question (test/bench/storeSequence.test.ts checks it against AskService):
// a student asks in a class channel routed to the school's own fine-tune at a paid provider, moderation on and
// passing, a cache miss. `await turn()` marks where the real question waits on the network, so questions in flight
// interleave there as they do in the bot.
//   commands/ask.ts answerQuestion  channel_settings, guild_settings (ClassroomSettings.question: the question's
//                                   settings, read once: public?, the teacher role, the moderation policy) … deferral
//   AskService.ask                  models (router.resolve; its base model gives the context size) … question moderation
//                                   ask_usage SUM (spend cap)                                   … the model, answer moderation
//   one transaction (record)        answers INSERT…SELECT, ask_usage INSERT, hosting_sessions UPDATE (onModelUsed),
//                                   moderation_verdicts INSERT (question), the same (answer)
// The rate buckets and the answer cache are in memory: no statement.
import { type Compilable, type CompiledQuery, type Kysely, PostgresAdapter, sql } from "kysely";
import type pg from "pg";
import { AnswerRepository } from "../src/db/answers.ts";
import { ChannelSettingsRepository } from "../src/db/channels.ts";
import { GuildSettingsRepository } from "../src/db/guildSettings.ts";
import { HostingRepository } from "../src/db/hosting.ts";
import { ModelRepository } from "../src/db/models.ts";
import { ModerationRepository } from "../src/db/moderation.ts";
import type { Db } from "../src/db/open.ts";
import { type CompiledStatement, compiled, type Param } from "../src/db/query/compiled.ts";
import type { Database } from "../src/db/query/schema.ts";
import { type Queryable as StoreQueryable, sqliteStore } from "../src/db/query/store.ts";
import { UsageRepository } from "../src/db/usage.ts";

/** Seeded guilds (each with its class channel, fine-tune and today's earlier usage); questions go round them. */
export const GUILDS = 50;
const STUDENTS = 40;
/** Earlier questions per guild: today's (summed by the spend cap) and yesterday's (the index skips them). */
const USAGE_TODAY = 100;
const USAGE_YESTERDAY = 200;
/** The statements commands/ask.ts runs before it calls the service (the rest are AskService's). */
export const HANDLER_STATEMENTS = 2;

const BASE_MODEL = "gpt-4o-mini-2024-07-18";
const PROVIDER = "openai";
const SYSTEM_PROMPT =
  "You are the Year 9 biology class's assistant. Answer in two or three short paragraphs a fourteen-year-old can " +
  "follow, use the words of the course, and when a question is not about biology, say so kindly.";
const ANSWER =
  "Photosynthesis is how plants make their own food. In the chloroplasts of their leaves, chlorophyll absorbs " +
  "light energy, which is used to turn carbon dioxide from the air and water from the soil into glucose. Oxygen " +
  "is released as a by-product.\n\nThe word equation is: carbon dioxide + water → glucose + oxygen.";

export const guildId = (g: number) => `10000000000000${String(g).padStart(4, "0")}`;
export const channelId = (g: number) => `20000000000000${String(g).padStart(4, "0")}`;
export const fineTune = (g: number) => `ft:${BASE_MODEL}:school-${g}:bio:b${String(g).padStart(5, "0")}`;

export interface Question {
  guildId: string;
  channelId: string;
  userId: string;
  question: string;
  answer: string;
  now: Date;
}

export function questionFor(i: number, now = new Date()): Question {
  const g = i % GUILDS;
  return {
    guildId: guildId(g),
    channelId: channelId(g),
    userId: `30000000000${String(g).padStart(4, "0")}${String(i % STUDENTS).padStart(3, "0")}`,
    question: `What does photosynthesis make, and where does it happen? (question ${i})`,
    answer: ANSWER,
    now,
  };
}

/** What the paid answer's usage row records (the service computes them from the provider's reply and the prices). */
const PROMPT_TOKENS = 96;
const COMPLETION_TOKENS = 88;
const LATENCY_MS = 640;
const COST_USD = 0.00006;
const MODERATOR = { provider: "openai", model: "omni-moderation-latest", top: "harassment", score: 0.0004 };

/** Where the real question waits on the network (Discord, the moderator, the model): others run meanwhile. */
export const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

const dayStartIso = (now: Date) =>
  new Date(Math.floor(now.getTime() / 86_400_000) * 86_400_000).toISOString();

// ---------------------------------------------------------------------------------------------------------------
// (a) Today: the real repositories over better-sqlite3 (the converted ones through its store, sqliteStore).

export function repositoryQuestion(db: Db): (q: Question) => Promise<number> {
  const channels = new ChannelSettingsRepository(sqliteStore(db));
  const guildSettings = new GuildSettingsRepository(sqliteStore(db));
  const models = new ModelRepository(sqliteStore(db));
  const usage = new UsageRepository(sqliteStore(db));
  const answers = new AnswerRepository(sqliteStore(db));
  const hosting = new HostingRepository(sqliteStore(db));
  const verdicts = new ModerationRepository(sqliteStore(db));
  const verdict = async (
    tx: StoreQueryable,
    q: Question,
    answerId: number,
    target: "question" | "answer",
  ) => {
    await verdicts.in(tx).insert({
      guildId: q.guildId,
      channelId: q.channelId,
      userId: q.userId,
      answerId,
      target,
      outcome: "passed",
      provider: MODERATOR.provider,
      model: MODERATOR.model,
      categories: [],
      topCategory: MODERATOR.top,
      topScore: MODERATOR.score,
      severe: false,
      error: null,
      flaggedText: null,
      createdAt: q.now.toISOString(),
    });
  };
  return async (q) => {
    const channel = await channels.get(q.guildId, q.channelId);
    await guildSettings.get(q.guildId);
    if (!channel) throw new Error("the seeded channel is missing");
    await turn();
    const model = await models.get(q.guildId, channel.model);
    if (!model) throw new Error("the seeded model is missing");
    await turn();
    await usage.spentSince(q.guildId, dayStartIso(q.now));
    await turn();
    const createdAt = q.now.toISOString();
    // The store's transaction, as /ask's record (BEGIN IMMEDIATE), with the repositories' statements inside it.
    return sqliteStore(db).transaction(async (tx) => {
      const answerId = await answers.in(tx).insert({
        guildId: q.guildId,
        channelId: q.channelId,
        userId: q.userId,
        question: q.question,
        answer: q.answer,
        model: model.name,
        systemPrompt: channel.systemPrompt,
        public: channel.isClass,
        createdAt,
        moderation: "passed",
        withheld: false,
      });
      await usage.in(tx).insert({
        guildId: q.guildId,
        channelId: q.channelId,
        userId: q.userId,
        model: model.name,
        provider: model.provider,
        promptTokens: PROMPT_TOKENS,
        completionTokens: COMPLETION_TOKENS,
        latencyMs: LATENCY_MS,
        costUsd: COST_USD,
        cacheHit: false,
        error: null,
        createdAt,
        truncated: false,
      });
      await hosting.in(tx).touch(q.guildId, model.name, q.now);
      await verdict(tx, q, answerId, "question");
      await verdict(tx, q, answerId, "answer");
      return answerId;
    });
  };
}

// ---------------------------------------------------------------------------------------------------------------
// (b, c) One Kysely query code for both engines.

/** The tables one question touches, as the query layer types them (src/db/query/schema.ts: one home). */
export type StoreSchema = Pick<
  Database,
  | "guild_settings"
  | "channel_settings"
  | "models"
  | "ask_usage"
  | "answers"
  | "hosting_sessions"
  | "moderation_verdicts"
>;

type K = Kysely<StoreSchema>;
/** Every value a statement takes, by name (so a statement compiled once can be given new values). */
type Params = Record<string, string | number | null>;

const GUILD_COLUMNS = [
  "guild_id as guildId",
  "notify_channel_id as notifyChannelId",
  "teacher_role_id as teacherRoleId",
  "default_model as defaultModel",
  "safety_categories as safetyCategories",
  "safety_threshold as safetyThreshold",
  "safety_channel_id as safetyChannelId",
  "safety_role_id as safetyRoleId",
  "updated_at as updatedAt",
] as const;
const CHANNEL_COLUMNS = [
  "guild_id as guildId",
  "channel_id as channelId",
  "model",
  "system_prompt as systemPrompt",
  "fallback_model as fallbackModel",
  "temperature",
  "max_tokens as maxTokens",
  "is_class as isClass",
  "updated_by as updatedBy",
  "updated_at as updatedAt",
] as const;
const MODEL_COLUMNS = [
  "id",
  "guild_id as guildId",
  "name",
  "provider",
  "base_model as baseModel",
  "job_id as jobId",
  "label",
  "created_at as createdAt",
  "shutdown_date as shutdownDate",
  "serving_status as servingStatus",
  "served_as as servedAs",
  "deployment_name as deploymentName",
  "deploy_attempt as deployAttempt",
  "serving_error as servingError",
  "serving_updated_at as servingUpdatedAt",
] as const;

const str = (v: unknown) => v as string;
const num = (v: unknown) => v as number;

/** The statements of a question in Kysely's builder, each from its values: the repositories as they would be written. */
export const kyselyStatements = {
  channel: (db: K, p: Params) =>
    db
      .selectFrom("channel_settings")
      .select(CHANNEL_COLUMNS)
      .where("guild_id", "=", str(p.guildId))
      .where("channel_id", "=", str(p.channelId)),
  guild: (db: K, p: Params) =>
    db.selectFrom("guild_settings").select(GUILD_COLUMNS).where("guild_id", "=", str(p.guildId)),
  model: (db: K, p: Params) =>
    db
      .selectFrom("models")
      .select(MODEL_COLUMNS)
      .where("guild_id", "=", str(p.guildId))
      .where("name", "=", str(p.model)),
  spent: (db: K, p: Params) =>
    db
      .selectFrom("ask_usage")
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>("cost_usd"), sql<number>`0`).as("spent"))
      .where("guild_id", "=", str(p.guildId))
      .where("created_at", ">=", str(p.since)),
  // The parent looked up in the new row's scope, the turn from it, as AnswerRepository.insert does. PostgreSQL cannot
  // type a bare parameter in a select list or beside IS NULL: the casts are what one query for both engines costs.
  answer: (db: K, p: Params) =>
    db
      .insertInto("answers")
      .columns([
        "guild_id",
        "channel_id",
        "user_id",
        "question",
        "answer",
        "model",
        "system_prompt",
        "public",
        "created_at",
        "moderation",
        "withheld",
        "parent_id",
        "turn",
      ])
      .expression((eb) =>
        eb
          .selectFrom(sql<{ one: number }>`(select 1)`.as("one"))
          .leftJoin("answers as p", (join) =>
            join
              .on("p.id", "=", sql<number>`cast(${p.parentId} as bigint)`)
              .on("p.guild_id", "=", str(p.guildId))
              .on("p.channel_id", "=", str(p.channelId))
              .on("p.user_id", "=", str(p.userId)),
          )
          .select((s) => [
            s.val(str(p.guildId)).as("guild_id"),
            s.val(str(p.channelId)).as("channel_id"),
            s.val(str(p.userId)).as("user_id"),
            s.val(str(p.question)).as("question"),
            s.val(str(p.answer)).as("answer"),
            s.val(str(p.model)).as("model"),
            s.val(str(p.systemPrompt)).as("system_prompt"),
            s.cast<number>(s.val(num(p.public)), "integer").as("public"),
            s.val(str(p.createdAt)).as("created_at"),
            s.val(str(p.moderation)).as("moderation"),
            s.cast<number>(s.val(num(p.withheld)), "integer").as("withheld"),
            "p.id as parent_id",
            sql<number>`coalesce(p.turn + 1, 1)`.as("turn"),
          ])
          .where((w) => w.or([w(sql`cast(${p.parentId} as bigint)`, "is", null), w("p.id", "is not", null)])),
      )
      .returning("id"),
  usage: (db: K, p: Params) =>
    db.insertInto("ask_usage").values({
      guild_id: str(p.guildId),
      channel_id: str(p.channelId),
      user_id: str(p.userId),
      model: str(p.model),
      provider: str(p.provider),
      prompt_tokens: num(p.promptTokens),
      completion_tokens: num(p.completionTokens),
      latency_ms: num(p.latencyMs),
      cost_usd: num(p.costUsd),
      cache_hit: num(p.cacheHit),
      error: p.error as string | null,
      created_at: str(p.createdAt),
      truncated: num(p.truncated),
    }),
  touch: (db: K, p: Params) =>
    db
      .updateTable("hosting_sessions")
      .set({ last_asked_at: str(p.at) })
      .where("guild_id", "=", str(p.guildId))
      .where("model_name", "=", str(p.model))
      .where("stopped_at", "is", null)
      .where("stop_requested_at", "is", null),
  verdict: (db: K, p: Params) =>
    db.insertInto("moderation_verdicts").values({
      guild_id: str(p.guildId),
      channel_id: str(p.channelId),
      user_id: str(p.userId),
      answer_id: num(p.answerId),
      target: str(p.target),
      outcome: str(p.outcome),
      provider: str(p.provider),
      model: p.model as string | null,
      categories: str(p.categories),
      top_category: p.topCategory as string | null,
      top_score: p.topScore as number | null,
      severe: num(p.severe),
      error: p.error as string | null,
      flagged_text: p.flaggedText as string | null,
      created_at: str(p.createdAt),
    }),
} satisfies Record<string, (db: K, p: Params) => Compilable<unknown>>;

export type StatementName = keyof typeof kyselyStatements;

/** Runs a statement (built from its values, or compiled once and given them) on db or a transaction. */
export type Runner = (db: K, name: StatementName, p: Params) => Promise<Record<string, unknown>[]>;

/** As a repository written in Kysely runs it: the builder and the compiler on every call (what execute() does). */
export const buildEachTime: Runner = async (db, name, p) => {
  const query: CompiledQuery = kyselyStatements[name](db, p).compile();
  return (await db.executeQuery(query)).rows as Record<string, unknown>[];
};

/**
 * Each statement compiled once per engine by the query layer's compiled() (src/db/query/compiled.ts: a stand-in for
 * every value, later replaced by the call's values), as the repositories will run them: what "compile the queries
 * once" saves of Kysely's own cost.
 */
export function compiledOnce(): Runner {
  const cache = new Map<StatementName, CompiledStatement<Params, Record<string, unknown>>>();
  return async (db, name, p) => {
    let statement = cache.get(name);
    if (!statement) {
      statement = compiled((k, param: Param<Params>) =>
        kyselyStatements[name](
          k as unknown as K,
          new Proxy({} as Params, { get: (_t, key) => param(String(key)) }),
        ),
      ) as CompiledStatement<Params, Record<string, unknown>>;
      cache.set(name, statement);
    }
    const engine = db.getExecutor().adapter instanceof PostgresAdapter ? "postgres" : "sqlite";
    return statement.execute({ engine, db: db as unknown as Kysely<Database> }, p);
  };
}

function first<T>(rows: Record<string, unknown>[], what: string): T {
  const row = rows[0];
  if (row === undefined) throw new Error(`the seeded ${what} is missing`);
  return row as T;
}

export function kyselyQuestion(db: K, run: Runner): (q: Question) => Promise<number> {
  return async (q) => {
    const g = { guildId: q.guildId };
    const where = { guildId: q.guildId, channelId: q.channelId };
    const channel = first<{ model: string; systemPrompt: string; isClass: number }>(
      await run(db, "channel", where),
      "channel",
    );
    await run(db, "guild", g);
    await turn();
    const model = first<{ name: string; provider: string }>(
      await run(db, "model", { ...g, model: channel.model }),
      "model",
    );
    await turn();
    await run(db, "spent", { ...g, since: dayStartIso(q.now) });
    await turn();
    const createdAt = q.now.toISOString();
    const who = { ...where, userId: q.userId };
    return db.transaction().execute(async (trx) => {
      const row = first<{ id: number | string }>(
        await run(trx, "answer", {
          ...who,
          question: q.question,
          answer: q.answer,
          model: model.name,
          systemPrompt: channel.systemPrompt,
          public: channel.isClass === 1 ? 1 : 0,
          createdAt,
          moderation: "passed",
          withheld: 0,
          parentId: null,
        }),
        "answer",
      );
      // node-postgres gives a bigint as a string.
      const answerId = Number(row.id);
      await run(trx, "usage", {
        ...who,
        model: model.name,
        provider: model.provider,
        promptTokens: PROMPT_TOKENS,
        completionTokens: COMPLETION_TOKENS,
        latencyMs: LATENCY_MS,
        costUsd: COST_USD,
        cacheHit: 0,
        error: null,
        createdAt,
        truncated: 0,
      });
      await run(trx, "touch", { ...g, model: model.name, at: createdAt });
      for (const target of ["question", "answer"]) {
        await run(trx, "verdict", {
          ...who,
          answerId,
          target,
          outcome: "passed",
          provider: MODERATOR.provider,
          model: MODERATOR.model,
          categories: "[]",
          topCategory: MODERATOR.top,
          topScore: MODERATOR.score,
          severe: 0,
          error: null,
          flaggedText: null,
          createdAt,
        });
      }
      return answerId;
    });
  };
}

// ---------------------------------------------------------------------------------------------------------------
// (d) Hand-written SQL for node-postgres, each a named statement: parsed and planned once per connection.

const PG = {
  channel: `SELECT guild_id AS "guildId", channel_id AS "channelId", model, system_prompt AS "systemPrompt",
    fallback_model AS "fallbackModel", temperature, max_tokens AS "maxTokens", is_class AS "isClass",
    updated_by AS "updatedBy", updated_at AS "updatedAt" FROM channel_settings WHERE guild_id = $1 AND channel_id = $2`,
  guild: `SELECT guild_id AS "guildId", notify_channel_id AS "notifyChannelId", teacher_role_id AS "teacherRoleId",
    default_model AS "defaultModel", safety_categories AS "safetyCategories", safety_threshold AS "safetyThreshold",
    safety_channel_id AS "safetyChannelId", safety_role_id AS "safetyRoleId", updated_at AS "updatedAt"
    FROM guild_settings WHERE guild_id = $1`,
  model: `SELECT id, guild_id AS "guildId", name, provider, base_model AS "baseModel", job_id AS "jobId", label,
    created_at AS "createdAt", shutdown_date AS "shutdownDate", serving_status AS "servingStatus",
    served_as AS "servedAs", deployment_name AS "deploymentName", deploy_attempt AS "deployAttempt",
    serving_error AS "servingError", serving_updated_at AS "servingUpdatedAt" FROM models WHERE guild_id = $1 AND name = $2`,
  spent: `SELECT COALESCE(SUM(cost_usd), 0) AS spent FROM ask_usage WHERE guild_id = $1 AND created_at >= $2`,
  answer: `INSERT INTO answers (guild_id, channel_id, user_id, question, answer, model, system_prompt, public,
      created_at, moderation, withheld, parent_id, turn)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8::integer, $9, $10, $11::integer, p.id, COALESCE(p.turn + 1, 1)
    FROM (SELECT 1) one LEFT JOIN answers p
      ON p.id = $12::bigint AND p.guild_id = $1 AND p.channel_id = $2 AND p.user_id = $3
    WHERE $12::bigint IS NULL OR p.id IS NOT NULL RETURNING id`,
  usage: `INSERT INTO ask_usage (guild_id, channel_id, user_id, model, provider, prompt_tokens, completion_tokens,
      latency_ms, cost_usd, cache_hit, error, created_at, truncated)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
  touch: `UPDATE hosting_sessions SET last_asked_at = $3
    WHERE guild_id = $1 AND model_name = $2 AND stopped_at IS NULL AND stop_requested_at IS NULL`,
  verdict: `INSERT INTO moderation_verdicts (guild_id, channel_id, user_id, answer_id, target, outcome, provider, model,
      categories, top_category, top_score, severe, error, flagged_text, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
} satisfies Record<StatementName, string>;

type Queryable = Pick<pg.Pool | pg.PoolClient, "query">;
const q1 = async <T>(db: Queryable, name: StatementName, values: unknown[]): Promise<T | undefined> =>
  (await db.query({ name: `store_${name}`, text: PG[name], values })).rows[0] as T | undefined;

export function rawPgQuestion(pool: pg.Pool): (q: Question) => Promise<number> {
  return async (q) => {
    const channel = await q1<{ model: string; systemPrompt: string; isClass: number }>(pool, "channel", [
      q.guildId,
      q.channelId,
    ]);
    await q1(pool, "guild", [q.guildId]);
    if (!channel) throw new Error("the seeded channel is missing");
    await turn();
    const model = await q1<{ name: string; provider: string }>(pool, "model", [q.guildId, channel.model]);
    if (!model) throw new Error("the seeded model is missing");
    await turn();
    await q1(pool, "spent", [q.guildId, dayStartIso(q.now)]);
    await turn();
    const createdAt = q.now.toISOString();
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const row = await q1<{ id: string }>(client, "answer", [
        q.guildId,
        q.channelId,
        q.userId,
        q.question,
        q.answer,
        model.name,
        channel.systemPrompt,
        channel.isClass === 1 ? 1 : 0,
        createdAt,
        "passed",
        0,
        null,
      ]);
      const answerId = Number(row?.id);
      await q1(client, "usage", [
        q.guildId,
        q.channelId,
        q.userId,
        model.name,
        model.provider,
        PROMPT_TOKENS,
        COMPLETION_TOKENS,
        LATENCY_MS,
        COST_USD,
        0,
        null,
        createdAt,
        0,
      ]);
      await q1(client, "touch", [q.guildId, model.name, createdAt]);
      for (const target of ["question", "answer"]) {
        await q1(client, "verdict", [
          q.guildId,
          q.channelId,
          q.userId,
          answerId,
          target,
          "passed",
          MODERATOR.provider,
          MODERATOR.model,
          "[]",
          MODERATOR.top,
          MODERATOR.score,
          0,
          null,
          null,
          createdAt,
        ]);
      }
      await client.query("COMMIT");
      return answerId;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The seed (the same rows on both engines) and the PostgreSQL tables.

/**
 * STAND-IN for the PostgreSQL migrations (written on another branch): the seven tables one question touches, with
 * the SQLite columns, their indexes and keys. INTEGER flags and counts are `integer` (node-postgres gives them as
 * numbers, as better-sqlite3 does), ids `bigint`, REAL `double precision`, TEXT `text`. Replace with the real
 * migrations when they land.
 */
export const POSTGRES_STAND_IN_DDL = `
CREATE TABLE guild_settings (
  guild_id text PRIMARY KEY, notify_channel_id text, teacher_role_id text, default_model text,
  updated_at text NOT NULL, safety_categories text,
  safety_threshold double precision CHECK (safety_threshold > 0 AND safety_threshold <= 1),
  safety_channel_id text, safety_role_id text);
CREATE TABLE channel_settings (
  guild_id text NOT NULL, channel_id text NOT NULL, model text NOT NULL,
  system_prompt text NOT NULL DEFAULT 'You are a helpful educational assistant.', fallback_model text,
  temperature double precision NOT NULL DEFAULT 0.7, max_tokens integer NOT NULL DEFAULT 500,
  is_class integer NOT NULL DEFAULT 0, updated_by text, updated_at text NOT NULL, PRIMARY KEY (guild_id, channel_id));
CREATE TABLE models (
  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, guild_id text NOT NULL, name text NOT NULL,
  provider text NOT NULL, base_model text NOT NULL, job_id bigint, label text, created_at text NOT NULL,
  shutdown_date text, serving_status text NOT NULL DEFAULT 'ready'
    CHECK (serving_status IN ('deploying', 'ready', 'failed', 'manual', 'asleep')),
  served_as text, deployment_name text, deploy_attempt integer NOT NULL DEFAULT 0, serving_error text,
  serving_updated_at text, UNIQUE (guild_id, name));
CREATE INDEX models_deploying ON models (provider) WHERE serving_status = 'deploying';
CREATE INDEX models_job ON models (job_id) WHERE job_id IS NOT NULL;
CREATE TABLE ask_usage (
  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, guild_id text NOT NULL, channel_id text NOT NULL,
  user_id text NOT NULL, model text NOT NULL, provider text NOT NULL, prompt_tokens integer NOT NULL DEFAULT 0,
  completion_tokens integer NOT NULL DEFAULT 0, latency_ms integer NOT NULL DEFAULT 0,
  cost_usd double precision NOT NULL DEFAULT 0, cache_hit integer NOT NULL DEFAULT 0, error text,
  created_at text NOT NULL, truncated integer NOT NULL DEFAULT 0);
CREATE INDEX ask_usage_guild_time ON ask_usage (guild_id, created_at);
CREATE TABLE answers (
  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, guild_id text NOT NULL, channel_id text NOT NULL,
  user_id text NOT NULL, question text NOT NULL, answer text NOT NULL, model text NOT NULL,
  system_prompt text NOT NULL, public integer NOT NULL, corrected_answer text, corrected_by text, corrected_at text,
  created_at text NOT NULL,
  moderation text NOT NULL DEFAULT 'unchecked' CHECK (moderation IN ('passed', 'flagged', 'unchecked')),
  parent_id bigint REFERENCES answers (id) ON DELETE CASCADE, turn integer NOT NULL DEFAULT 1 CHECK (turn >= 1),
  withheld integer NOT NULL DEFAULT 0 CHECK (withheld IN (0, 1)));
CREATE INDEX answers_guild_time ON answers (guild_id, created_at);
CREATE INDEX answers_parent ON answers (parent_id) WHERE parent_id IS NOT NULL;
CREATE TABLE hosting_sessions (
  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, guild_id text NOT NULL, model_name text NOT NULL,
  provider text NOT NULL, deployment_name text NOT NULL, hardware text,
  usd_per_hour double precision NOT NULL CHECK (usd_per_hour >= 0), price_source text NOT NULL,
  started_by text NOT NULL, started_at text NOT NULL, ready_at text, last_asked_at text,
  stop_reason text CHECK (stop_reason IN ('teacher', 'idle', 'budget', 'failed', 'gone')), stopped_by text,
  stop_requested_at text, stop_attempts integer NOT NULL DEFAULT 0, stop_error text, stopped_at text,
  UNIQUE (provider, deployment_name));
CREATE INDEX hosting_open ON hosting_sessions (guild_id) WHERE stopped_at IS NULL;
CREATE INDEX hosting_guild_time ON hosting_sessions (guild_id, started_at);
CREATE TABLE moderation_verdicts (
  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, guild_id text NOT NULL, channel_id text NOT NULL,
  user_id text NOT NULL, answer_id bigint REFERENCES answers (id) ON DELETE CASCADE,
  target text NOT NULL CHECK (target IN ('question', 'answer')),
  outcome text NOT NULL CHECK (outcome IN ('passed', 'flagged', 'unavailable')), provider text NOT NULL, model text,
  categories text NOT NULL DEFAULT '[]', top_category text, top_score double precision,
  severe integer NOT NULL DEFAULT 0, error text, flagged_text text, created_at text NOT NULL,
  review_status text CHECK (review_status IN ('reviewed', 'false_alarm')), reviewed_by text, reviewed_at text);
CREATE INDEX moderation_verdicts_guild_time ON moderation_verdicts (guild_id, created_at);
CREATE INDEX moderation_verdicts_answer ON moderation_verdicts (answer_id) WHERE answer_id IS NOT NULL;
`;

/**
 * The SQLite side of the fine-tunes' foreign key: the dataset and the job each guild's model was trained by (the
 * question never reads them; PostgreSQL's stand-in tables leave them out).
 */
export function seedSqliteJobs(db: Db, now = new Date()): void {
  const at = now.toISOString();
  const dataset = db.prepare(
    `INSERT INTO datasets (id, guild_id, uploader_id, file_name, sha256, bytes, format, examples, valid, invalid,
       total_tokens, base_model, fine_tunable, report_json, stored_path, created_at)
     VALUES (?, ?, 'teacher', 'biology.jsonl', ?, 52000, 'chat', 120, 120, 0, 18000, ?, 1, '{}', '/dev/null', ?)`,
  );
  const job = db.prepare(
    `INSERT INTO jobs (id, tag, guild_id, provider, remote_id, dataset_id, requester_id, base_model, hyperparameters,
       training_file_id, status, raw_status, fine_tuned_model, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, 'teacher', ?, '{}', ?, 'succeeded', 'succeeded', ?, ?, ?)`,
  );
  db.transaction(() => {
    for (let g = 0; g < GUILDS; g++) {
      dataset.run(g + 1, guildId(g), `${String(g).padStart(64, "0")}`, BASE_MODEL, at);
      job.run(
        g + 1,
        `bench-${g}`,
        guildId(g),
        PROVIDER,
        `ftjob-b${g}`,
        g + 1,
        BASE_MODEL,
        `file-b${g}`,
        fineTune(g),
        at,
        at,
      );
    }
  })();
}

/** The rows the question reads, the same on both engines: settings, the class channel, the fine-tune, earlier usage. */
export async function seed(db: K, now = new Date()): Promise<void> {
  const at = now.toISOString();
  const today = new Date(Math.floor(now.getTime() / 86_400_000) * 86_400_000);
  for (let g = 0; g < GUILDS; g++) {
    await db
      .insertInto("guild_settings")
      .values({
        guild_id: guildId(g),
        notify_channel_id: `29000000000000${String(g).padStart(4, "0")}`,
        teacher_role_id: `28000000000000${String(g).padStart(4, "0")}`,
        default_model: null,
        safety_categories: null,
        safety_threshold: null,
        safety_channel_id: null,
        safety_role_id: null,
        updated_at: at,
      })
      .execute();
    await db
      .insertInto("channel_settings")
      .values({
        guild_id: guildId(g),
        channel_id: channelId(g),
        model: fineTune(g),
        system_prompt: SYSTEM_PROMPT,
        fallback_model: BASE_MODEL,
        temperature: 0.7,
        max_tokens: 500,
        is_class: 1,
        updated_by: "teacher",
        updated_at: at,
      })
      .execute();
    await db
      .insertInto("models")
      .values({
        id: g + 1,
        guild_id: guildId(g),
        name: fineTune(g),
        provider: PROVIDER,
        base_model: BASE_MODEL,
        job_id: g + 1,
        label: "Year 9 biology",
        created_at: at,
        shutdown_date: null,
        serving_status: "ready",
        served_as: fineTune(g),
        deployment_name: null,
        deploy_attempt: 0,
        serving_error: null,
        serving_updated_at: at,
      })
      .execute();
    const rows = Array.from({ length: USAGE_TODAY + USAGE_YESTERDAY }, (_, i) => {
      const t = today.getTime() + (i < USAGE_TODAY ? i * 1000 : -3_600_000 - i * 1000);
      return {
        guild_id: guildId(g),
        channel_id: channelId(g),
        user_id: `student-${i % STUDENTS}`,
        model: fineTune(g),
        provider: PROVIDER,
        prompt_tokens: PROMPT_TOKENS,
        completion_tokens: COMPLETION_TOKENS,
        latency_ms: LATENCY_MS,
        cost_usd: COST_USD,
        cache_hit: 0,
        error: null,
        created_at: new Date(t).toISOString(),
        truncated: 0,
      };
    });
    await db.insertInto("ask_usage").values(rows).execute();
  }
}
