// Repository for moderation_verdicts (migration 009): one row per check of a question or an answer.
import type { CategoryScore, ModerationOutcome, ModerationTarget } from "../domain/moderation.ts";
import type { Db } from "./open.ts";
import { prepared } from "./statements.ts";

export interface VerdictRow {
  id: number;
  guildId: string;
  channelId: string;
  userId: string;
  answerId: number | null;
  target: ModerationTarget;
  outcome: ModerationOutcome;
  provider: string;
  model: string | null;
  /** The categories that decided a flag, highest first. */
  categories: CategoryScore[];
  topCategory: string | null;
  topScore: number | null;
  severe: boolean;
  /** Why the moderator could not judge (outcome unavailable). */
  error: string | null;
  /** A question never answered: its text, for the teachers. */
  flaggedText: string | null;
  createdAt: string;
  /** What a teacher said of its alert (migration 011), by whom and when; null until then. */
  reviewStatus: ReviewStatus | null;
  reviewedBy: string | null;
  reviewedAt: string | null;
}

export type ReviewStatus = "reviewed" | "false_alarm";

export type NewVerdict = Omit<VerdictRow, "id" | "reviewStatus" | "reviewedBy" | "reviewedAt">;

/** /usage's moderation figures over a window. */
export interface ModerationCounts {
  flaggedQuestions: number;
  flaggedAnswers: number;
  unavailable: number;
}

const COLUMNS = `id, guild_id AS guildId, channel_id AS channelId, user_id AS userId, answer_id AS answerId, target,
  outcome, provider, model, categories, top_category AS topCategory, top_score AS topScore, severe, error,
  flagged_text AS flaggedText, created_at AS createdAt, review_status AS reviewStatus, reviewed_by AS reviewedBy,
  reviewed_at AS reviewedAt`;

type RawRow = Omit<VerdictRow, "categories" | "severe"> & { categories: string; severe: number };
const fromRaw = (r: RawRow): VerdictRow => ({
  ...r,
  categories: JSON.parse(r.categories) as CategoryScore[],
  severe: r.severe === 1,
});

export class ModerationRepository {
  private readonly insertStmt;

  constructor(private readonly db: Db) {
    this.insertStmt = prepared(
      db,
      `INSERT INTO moderation_verdicts (guild_id, channel_id, user_id, answer_id, target, outcome, provider, model,
         categories, top_category, top_score, severe, error, flagged_text, created_at)
       VALUES (@guildId, @channelId, @userId, @answerId, @target, @outcome, @provider, @model, @categories,
         @topCategory, @topScore, @severe, @error, @flaggedText, @createdAt)`,
    );
  }

  insert(v: NewVerdict): number {
    return Number(
      this.insertStmt.run({ ...v, categories: JSON.stringify(v.categories), severe: v.severe ? 1 : 0 })
        .lastInsertRowid,
    );
  }

  /** This guild's verdicts, newest first (a test's and, later, /review's view). */
  list(guildId: string, limit = 100): VerdictRow[] {
    return (
      prepared(
        this.db,
        `SELECT ${COLUMNS} FROM moderation_verdicts WHERE guild_id = ? ORDER BY id DESC LIMIT ?`,
      ).all(guildId, limit) as RawRow[]
    ).map(fromRaw);
  }

  get(guildId: string, id: number): VerdictRow | undefined {
    const row = prepared(
      this.db,
      `SELECT ${COLUMNS} FROM moderation_verdicts WHERE guild_id = ? AND id = ?`,
    ).get(guildId, id) as RawRow | undefined;
    return row ? fromRaw(row) : undefined;
  }

  /** A teacher's word on a flagged verdict's alert; the first word stands (false when it was already reviewed). */
  review(guildId: string, id: number, status: ReviewStatus, by: string, now: Date): boolean {
    return (
      prepared(
        this.db,
        `UPDATE moderation_verdicts SET review_status = ?, reviewed_by = ?, reviewed_at = ?
           WHERE guild_id = ? AND id = ? AND outcome = 'flagged' AND review_status IS NULL`,
      ).run(status, by, now.toISOString(), guildId, id).changes === 1
    );
  }

  forAnswer(guildId: string, answerId: number): VerdictRow[] {
    return (
      prepared(
        this.db,
        `SELECT ${COLUMNS} FROM moderation_verdicts WHERE guild_id = ? AND answer_id = ? ORDER BY id`,
      ).all(guildId, answerId) as RawRow[]
    ).map(fromRaw);
  }

  /** Flags and outages in [sinceIso, untilIso), counted in SQL. */
  counts(guildId: string, sinceIso: string, untilIso: string): ModerationCounts {
    return prepared(
      this.db,
      `SELECT COALESCE(SUM(outcome = 'flagged' AND target = 'question'), 0) AS flaggedQuestions,
           COALESCE(SUM(outcome = 'flagged' AND target = 'answer'), 0) AS flaggedAnswers,
           COALESCE(SUM(outcome = 'unavailable'), 0) AS unavailable
         FROM moderation_verdicts WHERE guild_id = ? AND created_at >= ? AND created_at < ?`,
    ).get(guildId, sinceIso, untilIso) as ModerationCounts;
  }
}
