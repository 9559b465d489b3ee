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

  /** Guilds with any usage (for the CLI, which has no guild of its own). */
  guilds(limit = 100): string[] {
    return (
      this.db.prepare(`SELECT DISTINCT guild_id AS g FROM ask_usage ORDER BY g LIMIT ?`).all(limit) as {
        g: string;
      }[]
    ).map((r) => r.g);
  }
}
