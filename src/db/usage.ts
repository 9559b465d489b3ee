// Repository for ask_usage: one row per /ask that reached a model or the cache. Feeds the spend cap and /usage.
import { type Expression, type RawBuilder, sql } from "kysely";
import { compiled, type Param } from "./query/compiled.ts";
import type { Queryable, Store } from "./query/store.ts";

export interface UsageRow {
  id: number;
  guildId: string;
  channelId: string;
  userId: string;
  model: string;
  provider: string;
  promptTokens: number;
  completionTokens: number;
  latencyMs: number;
  costUsd: number;
  cacheHit: boolean;
  /** A short error code ("rate_limited", "model_not_found", …) when the question was not answered. */
  error: string | null;
  createdAt: string;
  /** The model stopped at max_tokens (finish_reason "length"): the answer was cut. */
  truncated: boolean;
}

export type NewUsage = Omit<UsageRow, "id" | "truncated"> & { truncated?: boolean | undefined };

/** A window's usage summed in SQL (GROUP BY), so /usage over 90 busy days never loads the rows. */
export interface UsageAggregate {
  questions: number;
  errors: number;
  cacheHits: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  /** Median latency of answers that reached a model (no error, not cached); 0 when none. */
  p50LatencyMs: number;
  /** Days with any usage: YYYY-MM-DD (UTC). */
  byDay: { day: string; questions: number; tokens: number; costUsd: number; errors: number }[];
  /** Per model: `truncated` counts the answers cut at max_tokens. */
  byModel: {
    model: string;
    provider: string;
    questions: number;
    tokens: number;
    costUsd: number;
    truncated: number;
  }[];
  /** The five most active askers, most active first. */
  topAskers: { userId: string; questions: number }[];
  errorsByCode: { code: string; count: number }[];
  /**
   * Of `questions`, those counted from the anonymous daily aggregates (usage_daily): days whose rows the retention
   * sweep folded and deleted. They have no askers (not in topAskers) and no latency (not in p50LatencyMs).
   */
  anonymousQuestions: number;
}

interface DailyRow {
  day: string;
  model: string;
  provider: string;
  questions: number;
  errors: number;
  cacheHits: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  truncated: number;
}

/** An integer column's SUM as a number on both engines (PostgreSQL's SUM of a bigint is numeric, read as text). */
const sumInt = (x: Expression<unknown>): RawBuilder<number> =>
  sql<number>`cast(coalesce(sum(${x}), 0) as bigint)`;
/** A REAL column's SUM as a number on both engines. */
const sumReal = (x: Expression<unknown>): RawBuilder<number> =>
  sql<number>`cast(coalesce(sum(${x}), 0) as double precision)`;
/** COUNT as a number on both engines (PostgreSQL's is a bigint). */
const count = (x: Expression<unknown> | "*"): RawBuilder<number> =>
  x === "*" ? sql<number>`count(*)` : sql<number>`count(${x})`;

type Window = { guildId: string; since: string; until: string };

const insertRow = compiled(
  (
    db,
    p: Param<{
      guildId: string;
      channelId: string;
      userId: string;
      model: string;
      provider: string;
      promptTokens: number;
      completionTokens: number;
      latencyMs: number;
      costUsd: number;
      cacheHit: number;
      error: string | null;
      createdAt: string;
      truncated: number;
    }>,
  ) =>
    db
      .insertInto("ask_usage")
      .values({
        guild_id: p("guildId"),
        channel_id: p("channelId"),
        user_id: p("userId"),
        model: p("model"),
        provider: p("provider"),
        prompt_tokens: p("promptTokens"),
        completion_tokens: p("completionTokens"),
        latency_ms: p("latencyMs"),
        cost_usd: p("costUsd"),
        cache_hit: p("cacheHit"),
        error: p("error"),
        created_at: p("createdAt"),
        truncated: p("truncated"),
      })
      .returning("id"),
);

const spent = compiled((db, p: Param<{ guildId: string; since: string }>) =>
  db
    .selectFrom("ask_usage")
    .select((eb) => sumReal(eb.ref("cost_usd")).as("spent"))
    .where("guild_id", "=", p("guildId"))
    .where("created_at", ">=", p("since")),
);

const rowsBetween = compiled((db, p: Param<Window>) =>
  db
    .selectFrom("ask_usage")
    .select([
      "id",
      "guild_id as guildId",
      "channel_id as channelId",
      "user_id as userId",
      "model",
      "provider",
      "prompt_tokens as promptTokens",
      "completion_tokens as completionTokens",
      "latency_ms as latencyMs",
      "cost_usd as costUsd",
      "cache_hit as cacheHit",
      "error",
      "created_at as createdAt",
      "truncated",
    ])
    .where("guild_id", "=", p("guildId"))
    .where("created_at", ">=", p("since"))
    .where("created_at", "<", p("until"))
    .orderBy("id"),
);

/** ask_usage rows of the window (a statement's WHERE). */
const heldIn = (p: Param<Window>) =>
  sql<boolean>`guild_id = ${p("guildId")} and created_at >= ${p("since")} and created_at < ${p("until")}`;

/** usage_daily / usage_daily_errors rows of the folded days in the window. */
const foldedIn = (p: Param<Window>) =>
  sql<boolean>`guild_id = ${p("guildId")} and day || 'T00:00:00.000Z' >= ${p("since")} and day || 'T00:00:00.000Z' < ${p("until")}`;

const totals = compiled((db, p: Param<Window>) =>
  db
    .selectFrom("ask_usage")
    .select((eb) => [
      count("*").as("questions"),
      count(eb.ref("error")).as("errors"),
      sumInt(sql`case when error is null and cache_hit = 1 then 1 else 0 end`).as("cacheHits"),
      sumInt(eb.ref("prompt_tokens")).as("promptTokens"),
      sumInt(eb.ref("completion_tokens")).as("completionTokens"),
      sumReal(eb.ref("cost_usd")).as("costUsd"),
    ])
    .where(heldIn(p)),
);

/** Answers that reached a model (no error, not cached): the ones with a latency. */
const answeredByModel = (p: Param<Window>) => sql<boolean>`${heldIn(p)} and error is null and cache_hit = 0`;

const timedCount = compiled((db, p: Param<Window>) =>
  db.selectFrom("ask_usage").select(count("*").as("n")).where(answeredByModel(p)),
);

const latencyAt = compiled((db, p: Param<Window & { offset: number }>) =>
  db
    .selectFrom("ask_usage")
    .select("latency_ms as l")
    .where(answeredByModel(p))
    .orderBy("latency_ms")
    .limit(1)
    .offset(p("offset")),
);

const byDay = compiled((db, p: Param<Window>) =>
  db
    .selectFrom("ask_usage")
    .select((eb) => [
      sql<string>`substr(created_at, 1, 10)`.as("day"),
      count("*").as("questions"),
      sumInt(sql`prompt_tokens + completion_tokens`).as("tokens"),
      sumReal(eb.ref("cost_usd")).as("costUsd"),
      count(eb.ref("error")).as("errors"),
    ])
    .where(heldIn(p))
    .groupBy(sql`substr(created_at, 1, 10)`)
    .orderBy("day"),
);

const byModel = compiled((db, p: Param<Window>) =>
  db
    .selectFrom("ask_usage")
    .select((eb) => [
      "model",
      "provider",
      count("*").as("questions"),
      sumInt(sql`prompt_tokens + completion_tokens`).as("tokens"),
      sumReal(eb.ref("cost_usd")).as("costUsd"),
      sumInt(eb.ref("truncated")).as("truncated"),
    ])
    .where(heldIn(p))
    .groupBy(["provider", "model"])
    .orderBy("questions", "desc")
    .orderBy("model"),
);

const topAskers = compiled((db, p: Param<Window>) =>
  db
    .selectFrom("ask_usage")
    .select(["user_id as userId", count("*").as("questions")])
    .where(heldIn(p))
    .groupBy("user_id")
    .orderBy("questions", "desc")
    .orderBy("user_id")
    .limit(5),
);

const errorsByCode = compiled((db, p: Param<Window>) =>
  db
    .selectFrom("ask_usage")
    .select([sql<string>`error`.as("code"), count("*").as("count")])
    .where(heldIn(p))
    .where("error", "is not", null)
    .groupBy("error")
    .orderBy("count", "desc")
    .orderBy("code"),
);

const dailyRows = compiled((db, p: Param<Window>) =>
  db
    .selectFrom("usage_daily")
    .select([
      "day",
      "model",
      "provider",
      "questions",
      "errors",
      "cache_hits as cacheHits",
      "prompt_tokens as promptTokens",
      "completion_tokens as completionTokens",
      "cost_usd as costUsd",
      "truncated",
    ])
    .where(foldedIn(p))
    .orderBy("day")
    .orderBy("provider")
    .orderBy("model"),
);

const dailyErrors = compiled((db, p: Param<Window>) =>
  db
    .selectFrom("usage_daily_errors")
    .select((eb) => ["code", sumInt(eb.ref("count")).as("count")])
    .where(foldedIn(p))
    .groupBy("code")
    .orderBy("code"),
);

const guildsWithUsage = compiled((db, p: Param<{ limit: number }>) =>
  db
    .selectFrom("ask_usage")
    .select("guild_id as g")
    .union(db.selectFrom("usage_daily").select("guild_id as g"))
    .orderBy("g")
    .limit(p("limit")),
);

type RawRow = Omit<UsageRow, "cacheHit" | "truncated"> & { cacheHit: number; truncated: number };
const fromRaw = (r: RawRow): UsageRow => ({ ...r, cacheHit: r.cacheHit === 1, truncated: r.truncated === 1 });

export class UsageRepository {
  /**
   * Over a store (aggregate opens its own read transaction on it), or, through in(tx), over a transaction of it
   * (aggregate then reads inside that one).
   */
  constructor(
    private readonly store: Store,
    private readonly on: Queryable = store,
  ) {}

  /** The same repository over a transaction of its store (store.transaction's `tx`). */
  in(tx: Queryable): UsageRepository {
    return new UsageRepository(this.store, tx);
  }

  async insert(u: NewUsage): Promise<number> {
    const row = await insertRow.executeTakeFirst(this.on, {
      guildId: u.guildId,
      channelId: u.channelId,
      userId: u.userId,
      model: u.model,
      provider: u.provider,
      promptTokens: u.promptTokens,
      completionTokens: u.completionTokens,
      latencyMs: u.latencyMs,
      costUsd: u.costUsd,
      cacheHit: u.cacheHit ? 1 : 0,
      error: u.error,
      createdAt: u.createdAt,
      truncated: u.truncated ? 1 : 0,
    });
    return Number(row?.id);
  }

  /** Estimated USD spent by the guild since `sinceIso` (inclusive). */
  async spentSince(guildId: string, sinceIso: string): Promise<number> {
    return (await spent.executeTakeFirst(this.on, { guildId, since: sinceIso }))?.spent ?? 0;
  }

  /** The guild's rows in [sinceIso, untilIso), oldest first. */
  async between(guildId: string, sinceIso: string, untilIso: string): Promise<UsageRow[]> {
    return (await rowsBetween.execute(this.on, { guildId, since: sinceIso, until: untilIso })).map(fromRaw);
  }

  /**
   * The guild's usage in [sinceIso, untilIso), summed in SQL: the rows still held, plus the anonymous daily
   * aggregates of the days the retention sweep folded (a row is in one or the other, never both).
   */
  async aggregate(guildId: string, sinceIso: string, untilIso: string): Promise<UsageAggregate> {
    const w = { guildId, since: sinceIso, until: untilIso };
    // Inside the caller's transaction (in(tx)): its snapshot is the caller's to choose.
    if (this.on !== this.store) return aggregateOn(this.on, w);
    // One read transaction: every figure comes from the same snapshot while answers keep being recorded. On
    // PostgreSQL that takes REPEATABLE READ (READ COMMITTED gives each statement a snapshot of its own).
    return this.store.transaction(
      async (tx) => {
        if (tx.engine === "postgres")
          await sql`set transaction isolation level repeatable read`.execute(tx.db);
        return aggregateOn(tx, w);
      },
      { readOnly: true },
    );
  }

  /** Guilds with any usage, held in full or folded (for the CLI, which has no guild of its own). */
  async guilds(limit = 100): Promise<string[]> {
    return (await guildsWithUsage.execute(this.on, { limit })).map((r) => r.g);
  }
}

/** The window's aggregate, every statement on `on`: the held rows', with the folded days added. */
async function aggregateOn(on: Queryable, w: Window): Promise<UsageAggregate> {
  const held = await aggregateHeld(on, w);
  // The folded days in the window: per day, model and provider, and errors per day and code.
  const daily = await dailyRows.execute(on, w);
  const errors = await dailyErrors.execute(on, w);
  return withDaily(held, daily, errors);
}

async function aggregateHeld(on: Queryable, w: Window): Promise<UsageAggregate> {
  const sums = await totals.executeTakeFirst(on, w);
  const timed = (await timedCount.executeTakeFirst(on, w))?.n ?? 0;
  const median =
    timed === 0
      ? 0
      : ((await latencyAt.executeTakeFirst(on, { ...w, offset: Math.floor((timed - 1) / 2) }))?.l ?? 0);
  return {
    questions: sums?.questions ?? 0,
    errors: sums?.errors ?? 0,
    cacheHits: sums?.cacheHits ?? 0,
    promptTokens: sums?.promptTokens ?? 0,
    completionTokens: sums?.completionTokens ?? 0,
    costUsd: sums?.costUsd ?? 0,
    anonymousQuestions: 0,
    p50LatencyMs: median,
    byDay: await byDay.execute(on, w),
    byModel: await byModel.execute(on, w),
    topAskers: await topAskers.execute(on, w),
    errorsByCode: await errorsByCode.execute(on, w),
  };
}

/** Pure: the held rows' aggregate with the folded days added (totals, days, models, error codes; no askers). */
export function withDaily(
  agg: UsageAggregate,
  daily: DailyRow[],
  errors: { code: string; count: number }[],
): UsageAggregate {
  if (daily.length === 0 && errors.length === 0) return agg;
  const out: UsageAggregate = {
    ...agg,
    byDay: agg.byDay.map((d) => ({ ...d })),
    byModel: agg.byModel.map((m) => ({ ...m })),
    errorsByCode: agg.errorsByCode.map((e) => ({ ...e })),
  };
  for (const r of daily) {
    out.questions += r.questions;
    out.anonymousQuestions += r.questions;
    out.errors += r.errors;
    out.cacheHits += r.cacheHits;
    out.promptTokens += r.promptTokens;
    out.completionTokens += r.completionTokens;
    out.costUsd += r.costUsd;
    const tokens = r.promptTokens + r.completionTokens;
    const day = out.byDay.find((d) => d.day === r.day);
    if (day) {
      day.questions += r.questions;
      day.tokens += tokens;
      day.costUsd += r.costUsd;
      day.errors += r.errors;
    } else {
      out.byDay.push({ day: r.day, questions: r.questions, tokens, costUsd: r.costUsd, errors: r.errors });
    }
    const model = out.byModel.find((m) => m.model === r.model && m.provider === r.provider);
    if (model) {
      model.questions += r.questions;
      model.tokens += tokens;
      model.costUsd += r.costUsd;
      model.truncated += r.truncated;
    } else {
      out.byModel.push({
        model: r.model,
        provider: r.provider,
        questions: r.questions,
        tokens,
        costUsd: r.costUsd,
        truncated: r.truncated,
      });
    }
  }
  for (const e of errors) {
    const code = out.errorsByCode.find((c) => c.code === e.code);
    if (code) code.count += e.count;
    else out.errorsByCode.push({ ...e });
  }
  out.byDay.sort((a, b) => a.day.localeCompare(b.day));
  out.byModel.sort((a, b) => b.questions - a.questions || a.model.localeCompare(b.model));
  out.errorsByCode.sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));
  return out;
}
