// The teachers' review of the class's Q&A (/review, `classtune review`): answers with their 👍/👎 counts, the
// teacher's correction and the moderation flags, filtered and paged in SQL, always within one guild.
import type { Db } from "./open.ts";
import { prepared } from "./statements.ts";

/**
 * The moderation flags of answer `a`: the categories of its flagged verdicts (migration 009: the question's and the
 * answer's checks both link to the answer), as one comma-separated text, or NULL when it is not flagged. The one
 * place the review reads moderation verdicts; guild-scoped like every query here.
 */
export const FLAGS_SQL = `(SELECT group_concat(DISTINCT json_extract(c.value, '$.category'))
  FROM moderation_verdicts m, json_each(m.categories) c
  WHERE m.guild_id = a.guild_id AND m.answer_id = a.id AND m.outcome = 'flagged')`;

export interface ReviewQuery {
  guildId: string;
  /** ISO instant: answers created at or after it. */
  sinceIso: string;
  /** Only answers with an id at most this (the newest id when the review was opened: pages stay put). */
  maxId: number;
  channelId?: string | undefined;
  userId?: string | undefined;
  flaggedOnly?: boolean | undefined;
}

export interface ReviewRow {
  answerId: number;
  channelId: string;
  userId: string;
  question: string;
  answer: string;
  model: string;
  /** Shown to the class (a class channel) or only to the asker. */
  public: boolean;
  /** Every vote, the asker's included (what the answer's buttons show). */
  up: number;
  down: number;
  correctedAnswer: string | null;
  correctedBy: string | null;
  correctedAt: string | null;
  createdAt: string;
  /** Moderation categories that flagged it; empty when not flagged (always, until verdicts are stored). */
  flags: string[];
  flagged: boolean;
}

interface RawRow extends Omit<ReviewRow, "public" | "flags" | "flagged"> {
  public: number;
  flags: string | null;
}

const WHERE = `a.guild_id = @guildId AND a.created_at >= @sinceIso AND a.id <= @maxId
  AND (@channelId IS NULL OR a.channel_id = @channelId)
  AND (@userId IS NULL OR a.user_id = @userId)
  AND (@flaggedOnly = 0 OR (${FLAGS_SQL}) IS NOT NULL)`;

const params = (q: ReviewQuery) => ({
  guildId: q.guildId,
  sinceIso: q.sinceIso,
  maxId: q.maxId,
  channelId: q.channelId ?? null,
  userId: q.userId ?? null,
  flaggedOnly: q.flaggedOnly ? 1 : 0,
});

export class ReviewRepository {
  private readonly countStmt;
  private readonly pageStmt;
  private readonly maxIdStmt;

  constructor(db: Db) {
    this.maxIdStmt = prepared(db, "SELECT COALESCE(MAX(id), 0) FROM answers WHERE guild_id = ?", "pluck");
    this.countStmt = prepared(db, `SELECT COUNT(*) FROM answers a WHERE ${WHERE}`, "pluck");
    this.pageStmt = prepared(
      db,
      `SELECT a.id AS answerId, a.channel_id AS channelId, a.user_id AS userId, a.question, a.answer, a.model,
         a.public, a.corrected_answer AS correctedAnswer, a.corrected_by AS correctedBy,
         a.corrected_at AS correctedAt, a.created_at AS createdAt,
         (SELECT COUNT(*) FROM answer_votes v WHERE v.guild_id = a.guild_id AND v.answer_id = a.id AND v.value = 1) AS up,
         (SELECT COUNT(*) FROM answer_votes v WHERE v.guild_id = a.guild_id AND v.answer_id = a.id AND v.value = -1) AS down,
         (${FLAGS_SQL}) AS flags
       FROM answers a WHERE ${WHERE}
       ORDER BY a.id DESC LIMIT @limit OFFSET @offset`,
    );
  }

  /** The guild's newest answer id (0 when it has none). */
  maxId(guildId: string): number {
    return this.maxIdStmt.get(guildId) as number;
  }

  count(q: ReviewQuery): number {
    return this.countStmt.get(params(q)) as number;
  }

  /** Newest first. */
  page(q: ReviewQuery, limit: number, offset: number): ReviewRow[] {
    return (this.pageStmt.all({ ...params(q), limit, offset }) as RawRow[]).map((r) => {
      const flags =
        r.flags === null
          ? []
          : r.flags
              .split(",")
              .map((f) => f.trim())
              .filter(Boolean);
      return { ...r, public: r.public === 1, flags, flagged: r.flags !== null };
    });
  }
}
