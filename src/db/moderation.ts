// Repository for moderation_verdicts (migration 009): one row per check of a question or an answer.

import { type RawBuilder, sql } from "kysely";
import type { CategoryScore, ModerationOutcome, ModerationTarget } from "../domain/moderation.ts";
import { compiled, type Param } from "./query/compiled.ts";
import type { Queryable } from "./query/store.ts";

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

const COLUMNS = [
  "id",
  "guild_id as guildId",
  "channel_id as channelId",
  "user_id as userId",
  "answer_id as answerId",
  "target",
  "outcome",
  "provider",
  "model",
  "categories",
  "top_category as topCategory",
  "top_score as topScore",
  "severe",
  "error",
  "flagged_text as flaggedText",
  "created_at as createdAt",
  "review_status as reviewStatus",
  "reviewed_by as reviewedBy",
  "reviewed_at as reviewedAt",
] as const;

type RawRow = Omit<VerdictRow, "categories" | "severe"> & { categories: string; severe: number };
const fromRaw = (r: RawRow): VerdictRow => ({
  ...r,
  categories: JSON.parse(r.categories) as CategoryScore[],
  severe: r.severe === 1,
});

type RawNew = Omit<NewVerdict, "categories" | "severe"> & { categories: string; severe: number };

const insertRow = compiled((db, p: Param<RawNew>) =>
  db
    .insertInto("moderation_verdicts")
    .values({
      guild_id: p("guildId"),
      channel_id: p("channelId"),
      user_id: p("userId"),
      answer_id: p("answerId"),
      target: p("target"),
      outcome: p("outcome"),
      provider: p("provider"),
      model: p("model"),
      categories: p("categories"),
      top_category: p("topCategory"),
      top_score: p("topScore"),
      severe: p("severe"),
      error: p("error"),
      flagged_text: p("flaggedText"),
      created_at: p("createdAt"),
    })
    .returning("id"),
);

const listOf = compiled((db, p: Param<{ guildId: string; limit: number }>) =>
  db
    .selectFrom("moderation_verdicts")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .orderBy("id", "desc")
    .limit(p("limit")),
);

const byId = compiled((db, p: Param<{ guildId: string; id: number }>) =>
  db
    .selectFrom("moderation_verdicts")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .where("id", "=", p("id")),
);

const reviewOne = compiled(
  (db, p: Param<{ guildId: string; id: number; status: ReviewStatus; by: string; at: string }>) =>
    db
      .updateTable("moderation_verdicts")
      .set({ review_status: p("status"), reviewed_by: p("by"), reviewed_at: p("at") })
      .where("guild_id", "=", p("guildId"))
      .where("id", "=", p("id"))
      .where("outcome", "=", "flagged")
      .where("review_status", "is", null),
);

const ofAnswer = compiled((db, p: Param<{ guildId: string; answerId: number }>) =>
  db
    .selectFrom("moderation_verdicts")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .where("answer_id", "=", p("answerId"))
    .orderBy("id"),
);

/** How many rows of the window match `when`, as a number on both engines (SUM of a bigint is numeric on PostgreSQL). */
const countWhere = (when: RawBuilder<unknown>) =>
  sql<number>`cast(coalesce(sum(case when ${when} then 1 else 0 end), 0) as bigint)`;

const countsOf = compiled((db, p: Param<{ guildId: string; since: string; until: string }>) =>
  db
    .selectFrom("moderation_verdicts")
    .select([
      countWhere(sql`outcome = 'flagged' and target = 'question'`).as("flaggedQuestions"),
      countWhere(sql`outcome = 'flagged' and target = 'answer'`).as("flaggedAnswers"),
      countWhere(sql`outcome = 'unavailable'`).as("unavailable"),
    ])
    .where("guild_id", "=", p("guildId"))
    .where("created_at", ">=", p("since"))
    .where("created_at", "<", p("until")),
);

export class ModerationRepository {
  constructor(private readonly on: Queryable) {}

  /** The same repository over a transaction of its store (store.transaction's `tx`). */
  in(tx: Queryable): ModerationRepository {
    return new ModerationRepository(tx);
  }

  async insert(v: NewVerdict): Promise<number> {
    const row = await insertRow.executeTakeFirst(this.on, {
      guildId: v.guildId,
      channelId: v.channelId,
      userId: v.userId,
      answerId: v.answerId,
      target: v.target,
      outcome: v.outcome,
      provider: v.provider,
      model: v.model,
      categories: JSON.stringify(v.categories),
      topCategory: v.topCategory,
      topScore: v.topScore,
      severe: v.severe ? 1 : 0,
      error: v.error,
      flaggedText: v.flaggedText,
      createdAt: v.createdAt,
    });
    return Number(row?.id);
  }

  /** This guild's verdicts, newest first (a test's and, later, /review's view). */
  async list(guildId: string, limit = 100): Promise<VerdictRow[]> {
    return ((await listOf.execute(this.on, { guildId, limit })) as RawRow[]).map(fromRaw);
  }

  async get(guildId: string, id: number): Promise<VerdictRow | undefined> {
    const row = (await byId.executeTakeFirst(this.on, { guildId, id })) as RawRow | undefined;
    return row ? fromRaw(row) : undefined;
  }

  /** A teacher's word on a flagged verdict's alert; the first word stands (false when it was already reviewed). */
  async review(guildId: string, id: number, status: ReviewStatus, by: string, now: Date): Promise<boolean> {
    return (
      (await reviewOne.executeChanges(this.on, { guildId, id, status, by, at: now.toISOString() })) === 1
    );
  }

  async forAnswer(guildId: string, answerId: number): Promise<VerdictRow[]> {
    return ((await ofAnswer.execute(this.on, { guildId, answerId })) as RawRow[]).map(fromRaw);
  }

  /** Flags and outages in [sinceIso, untilIso), counted in SQL. */
  async counts(guildId: string, sinceIso: string, untilIso: string): Promise<ModerationCounts> {
    const row = await countsOf.executeTakeFirst(this.on, { guildId, since: sinceIso, until: untilIso });
    return {
      flaggedQuestions: row?.flaggedQuestions ?? 0,
      flaggedAnswers: row?.flaggedAnswers ?? 0,
      unavailable: row?.unavailable ?? 0,
    };
  }
}
