// Repository for ask_usage: one row per /ask that reached a model or the cache. Feeds the spend cap and /usage.
import type { Db } from "./open.ts";
import { prepared } from "./statements.ts";

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

/** A window's usage summed by SQLite (GROUP BY), so /usage over 90 busy days never loads the rows. */
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

const COLUMNS = `id, guild_id AS guildId, channel_id AS channelId, user_id AS userId, model, provider,
  prompt_tokens AS promptTokens, completion_tokens AS completionTokens, latency_ms AS latencyMs, cost_usd AS costUsd,
  cache_hit AS cacheHit, error, created_at AS createdAt, truncated`;

type RawRow = Omit<UsageRow, "cacheHit" | "truncated"> & { cacheHit: number; truncated: number };
const fromRaw = (r: RawRow): UsageRow => ({ ...r, cacheHit: r.cacheHit === 1, truncated: r.truncated === 1 });

export class UsageRepository {
  private readonly insertStmt;
  private readonly spentStmt;

  constructor(private readonly db: Db) {
    this.insertStmt = prepared(
      db,
      `INSERT INTO ask_usage (guild_id, channel_id, user_id, model, provider, prompt_tokens, completion_tokens,
         latency_ms, cost_usd, cache_hit, error, created_at, truncated)
       VALUES (@guildId, @channelId, @userId, @model, @provider, @promptTokens, @completionTokens, @latencyMs,
         @costUsd, @cacheHit, @error, @createdAt, @truncated)`,
    );
    this.spentStmt = prepared(
      db,
      `SELECT COALESCE(SUM(cost_usd), 0) AS spent FROM ask_usage WHERE guild_id = ? AND created_at >= ?`,
    );
  }

  insert(u: NewUsage): number {
    return Number(
      this.insertStmt.run({ ...u, cacheHit: u.cacheHit ? 1 : 0, truncated: u.truncated ? 1 : 0 })
        .lastInsertRowid,
    );
  }

  /** Estimated USD spent by the guild since `sinceIso` (inclusive). */
  spentSince(guildId: string, sinceIso: string): number {
    return (this.spentStmt.get(guildId, sinceIso) as { spent: number }).spent;
  }

  /** The guild's rows in [sinceIso, untilIso), oldest first. */
  between(guildId: string, sinceIso: string, untilIso: string): UsageRow[] {
    return (
      prepared(
        this.db,
        `SELECT ${COLUMNS} FROM ask_usage WHERE guild_id = ? AND created_at >= ? AND created_at < ? ORDER BY id`,
      ).all(guildId, sinceIso, untilIso) as RawRow[]
    ).map(fromRaw);
  }

  /**
   * The guild's usage in [sinceIso, untilIso), summed in SQL: the rows still held, plus the anonymous daily
   * aggregates of the days the retention sweep folded (a row is in one or the other, never both).
   */
  aggregate(guildId: string, sinceIso: string, untilIso: string): UsageAggregate {
    // One read transaction: every figure comes from the same snapshot while answers keep being recorded.
    return this.db.transaction(() =>
      withDaily(this.aggregateNow(guildId, sinceIso, untilIso), ...this.daily(guildId, sinceIso, untilIso)),
    )();
  }

  /** The folded days in the window: per day, model and provider, and errors per day and code. */
  private daily(
    guildId: string,
    sinceIso: string,
    untilIso: string,
  ): [DailyRow[], { code: string; count: number }[]] {
    const p = { guildId, since: sinceIso, until: untilIso };
    const inWindow =
      "guild_id = @guildId AND day || 'T00:00:00.000Z' >= @since AND day || 'T00:00:00.000Z' < @until";
    const rows = prepared(
      this.db,
      `SELECT day, model, provider, questions, errors, cache_hits AS cacheHits, prompt_tokens AS promptTokens,
           completion_tokens AS completionTokens, cost_usd AS costUsd, truncated
         FROM usage_daily WHERE ${inWindow} ORDER BY day, provider, model`,
    ).all(p) as DailyRow[];
    const errors = prepared(
      this.db,
      `SELECT code, SUM(count) AS count FROM usage_daily_errors WHERE ${inWindow} GROUP BY code ORDER BY code`,
    ).all(p) as { code: string; count: number }[];
    return [rows, errors];
  }

  private aggregateNow(guildId: string, sinceIso: string, untilIso: string): UsageAggregate {
    const where = "guild_id = @guildId AND created_at >= @since AND created_at < @until";
    const p = { guildId, since: sinceIso, until: untilIso };
    const totals = prepared(
      this.db,
      `SELECT COUNT(*) AS questions, COUNT(error) AS errors,
           COALESCE(SUM(CASE WHEN error IS NULL AND cache_hit = 1 THEN 1 ELSE 0 END), 0) AS cacheHits,
           COALESCE(SUM(prompt_tokens), 0) AS promptTokens, COALESCE(SUM(completion_tokens), 0) AS completionTokens,
           COALESCE(SUM(cost_usd), 0) AS costUsd
         FROM ask_usage WHERE ${where}`,
    ).get(p) as Omit<
      UsageAggregate,
      "p50LatencyMs" | "byDay" | "byModel" | "topAskers" | "errorsByCode" | "anonymousQuestions"
    >;
    const answeredByModel = `${where} AND error IS NULL AND cache_hit = 0`;
    const timed = (
      prepared(this.db, `SELECT COUNT(*) AS n FROM ask_usage WHERE ${answeredByModel}`).get(p) as {
        n: number;
      }
    ).n;
    const median =
      timed === 0
        ? 0
        : ((
            prepared(
              this.db,
              `SELECT latency_ms AS l FROM ask_usage WHERE ${answeredByModel} ORDER BY latency_ms LIMIT 1 OFFSET @offset`,
            ).get({ ...p, offset: Math.floor((timed - 1) / 2) }) as { l: number } | undefined
          )?.l ?? 0);
    return {
      ...totals,
      anonymousQuestions: 0,
      p50LatencyMs: median,
      byDay: prepared(
        this.db,
        `SELECT substr(created_at, 1, 10) AS day, COUNT(*) AS questions,
             SUM(prompt_tokens + completion_tokens) AS tokens, SUM(cost_usd) AS costUsd, COUNT(error) AS errors
           FROM ask_usage WHERE ${where} GROUP BY day ORDER BY day`,
      ).all(p) as UsageAggregate["byDay"],
      byModel: prepared(
        this.db,
        `SELECT model, provider, COUNT(*) AS questions, SUM(prompt_tokens + completion_tokens) AS tokens,
             SUM(cost_usd) AS costUsd, SUM(truncated) AS truncated
           FROM ask_usage WHERE ${where} GROUP BY provider, model ORDER BY questions DESC, model`,
      ).all(p) as UsageAggregate["byModel"],
      topAskers: prepared(
        this.db,
        `SELECT user_id AS userId, COUNT(*) AS questions FROM ask_usage WHERE ${where}
           GROUP BY user_id ORDER BY questions DESC, user_id LIMIT 5`,
      ).all(p) as UsageAggregate["topAskers"],
      errorsByCode: prepared(
        this.db,
        `SELECT error AS code, COUNT(*) AS count FROM ask_usage WHERE ${where} AND error IS NOT NULL
           GROUP BY error ORDER BY count DESC, code`,
      ).all(p) as UsageAggregate["errorsByCode"],
    };
  }

  /** Guilds with any usage, held in full or folded (for the CLI, which has no guild of its own). */
  guilds(limit = 100): string[] {
    return (
      prepared(
        this.db,
        `SELECT guild_id AS g FROM ask_usage UNION SELECT guild_id FROM usage_daily ORDER BY g LIMIT ?`,
      ).all(limit) as {
        g: string;
      }[]
    ).map((r) => r.g);
  }
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
