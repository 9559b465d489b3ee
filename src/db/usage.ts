// Repository for ask_usage: one row per /ask that reached a model or the cache. Feeds the spend cap and /usage.
import type { Db } from "./open.ts";

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
}

export type NewUsage = Omit<UsageRow, "id">;

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
  byModel: { model: string; provider: string; questions: number; tokens: number; costUsd: number }[];
  /** The five most active askers, most active first. */
  topAskers: { userId: string; questions: number }[];
  errorsByCode: { code: string; count: number }[];
}

const COLUMNS = `id, guild_id AS guildId, channel_id AS channelId, user_id AS userId, model, provider,
  prompt_tokens AS promptTokens, completion_tokens AS completionTokens, latency_ms AS latencyMs, cost_usd AS costUsd,
  cache_hit AS cacheHit, error, created_at AS createdAt`;

type RawRow = Omit<UsageRow, "cacheHit"> & { cacheHit: number };
const fromRaw = (r: RawRow): UsageRow => ({ ...r, cacheHit: r.cacheHit === 1 });

export class UsageRepository {
  private readonly insertStmt;
  private readonly spentStmt;

  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO ask_usage (guild_id, channel_id, user_id, model, provider, prompt_tokens, completion_tokens,
         latency_ms, cost_usd, cache_hit, error, created_at)
       VALUES (@guildId, @channelId, @userId, @model, @provider, @promptTokens, @completionTokens, @latencyMs,
         @costUsd, @cacheHit, @error, @createdAt)`,
    );
    this.spentStmt = db.prepare(
      `SELECT COALESCE(SUM(cost_usd), 0) AS spent FROM ask_usage WHERE guild_id = ? AND created_at >= ?`,
    );
  }

  insert(u: NewUsage): number {
    return Number(this.insertStmt.run({ ...u, cacheHit: u.cacheHit ? 1 : 0 }).lastInsertRowid);
  }

  /** Estimated USD spent by the guild since `sinceIso` (inclusive). */
  spentSince(guildId: string, sinceIso: string): number {
    return (this.spentStmt.get(guildId, sinceIso) as { spent: number }).spent;
  }

  /** The guild's rows in [sinceIso, untilIso), oldest first. */
  between(guildId: string, sinceIso: string, untilIso: string): UsageRow[] {
    return (
      this.db
        .prepare(
          `SELECT ${COLUMNS} FROM ask_usage WHERE guild_id = ? AND created_at >= ? AND created_at < ? ORDER BY id`,
        )
        .all(guildId, sinceIso, untilIso) as RawRow[]
    ).map(fromRaw);
  }

  /** The guild's usage in [sinceIso, untilIso), summed in SQL. */
  aggregate(guildId: string, sinceIso: string, untilIso: string): UsageAggregate {
    // One read transaction: every figure comes from the same snapshot while answers keep being recorded.
    return this.db.transaction(() => this.aggregateNow(guildId, sinceIso, untilIso))();
  }

  private aggregateNow(guildId: string, sinceIso: string, untilIso: string): UsageAggregate {
    const where = "guild_id = @guildId AND created_at >= @since AND created_at < @until";
    const p = { guildId, since: sinceIso, until: untilIso };
    const totals = this.db
      .prepare(
        `SELECT COUNT(*) AS questions, COUNT(error) AS errors,
           COALESCE(SUM(CASE WHEN error IS NULL AND cache_hit = 1 THEN 1 ELSE 0 END), 0) AS cacheHits,
           COALESCE(SUM(prompt_tokens), 0) AS promptTokens, COALESCE(SUM(completion_tokens), 0) AS completionTokens,
           COALESCE(SUM(cost_usd), 0) AS costUsd
         FROM ask_usage WHERE ${where}`,
      )
      .get(p) as Omit<UsageAggregate, "p50LatencyMs" | "byDay" | "byModel" | "topAskers" | "errorsByCode">;
    const answeredByModel = `${where} AND error IS NULL AND cache_hit = 0`;
    const timed = (
      this.db.prepare(`SELECT COUNT(*) AS n FROM ask_usage WHERE ${answeredByModel}`).get(p) as {
        n: number;
      }
    ).n;
    const median =
      timed === 0
        ? 0
        : ((
            this.db
              .prepare(
                `SELECT latency_ms AS l FROM ask_usage WHERE ${answeredByModel} ORDER BY latency_ms LIMIT 1 OFFSET @offset`,
              )
              .get({ ...p, offset: Math.floor((timed - 1) / 2) }) as { l: number } | undefined
          )?.l ?? 0);
    return {
      ...totals,
      p50LatencyMs: median,
      byDay: this.db
        .prepare(
          `SELECT substr(created_at, 1, 10) AS day, COUNT(*) AS questions,
             SUM(prompt_tokens + completion_tokens) AS tokens, SUM(cost_usd) AS costUsd, COUNT(error) AS errors
           FROM ask_usage WHERE ${where} GROUP BY day ORDER BY day`,
        )
        .all(p) as UsageAggregate["byDay"],
      byModel: this.db
        .prepare(
          `SELECT model, provider, COUNT(*) AS questions, SUM(prompt_tokens + completion_tokens) AS tokens,
             SUM(cost_usd) AS costUsd
           FROM ask_usage WHERE ${where} GROUP BY provider, model ORDER BY questions DESC, model`,
        )
        .all(p) as UsageAggregate["byModel"],
      topAskers: this.db
        .prepare(
          `SELECT user_id AS userId, COUNT(*) AS questions FROM ask_usage WHERE ${where}
           GROUP BY user_id ORDER BY questions DESC, user_id LIMIT 5`,
        )
        .all(p) as UsageAggregate["topAskers"],
      errorsByCode: this.db
        .prepare(
          `SELECT error AS code, COUNT(*) AS count FROM ask_usage WHERE ${where} AND error IS NOT NULL
           GROUP BY error ORDER BY count DESC, code`,
        )
        .all(p) as UsageAggregate["errorsByCode"],
    };
  }

  /** Guilds with any usage (for the CLI, which has no guild of its own). */
  guilds(limit = 100): string[] {
    return (
      this.db.prepare(`SELECT DISTINCT guild_id AS g FROM ask_usage ORDER BY g LIMIT ?`).all(limit) as {
        g: string;
      }[]
    ).map((r) => r.g);
  }
}
