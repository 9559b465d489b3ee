// Repositories for answers and answer_votes: what /ask answered, students' 👍/👎, teachers' corrections.
import type { Db } from "./open.ts";

/** An answer's moderation (migration 009): checked and passed, flagged (withheld), or never checked. */
export type AnswerModeration = "passed" | "flagged" | "unchecked";

export interface AnswerRow {
  id: number;
  guildId: string;
  channelId: string;
  userId: string;
  question: string;
  answer: string;
  model: string;
  systemPrompt: string;
  public: boolean;
  correctedAnswer: string | null;
  correctedBy: string | null;
  correctedAt: string | null;
  createdAt: string;
  moderation: AnswerModeration;
}

export type NewAnswer = Pick<
  AnswerRow,
  | "guildId"
  | "channelId"
  | "userId"
  | "question"
  | "answer"
  | "model"
  | "systemPrompt"
  | "public"
  | "createdAt"
> & { moderation?: AnswerModeration | undefined };

export interface AnswerWithScore extends AnswerRow {
  /** Votes of people other than the asker. */
  up: number;
  down: number;
  score: number;
}

export interface VoteTally {
  up: number;
  down: number;
  score: number;
}

const COLUMNS = `a.id, a.guild_id AS guildId, a.channel_id AS channelId, a.user_id AS userId, a.question, a.answer,
  a.model, a.system_prompt AS systemPrompt, a.public, a.corrected_answer AS correctedAnswer,
  a.corrected_by AS correctedBy, a.corrected_at AS correctedAt, a.created_at AS createdAt, a.moderation`;

type Raw<T> = Omit<T, "public"> & { public: number };
const fromRaw = <T extends { public: boolean }>(r: Raw<T>): T => ({ ...r, public: r.public === 1 }) as T;

export class AnswerRepository {
  private readonly insertStmt;

  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO answers (guild_id, channel_id, user_id, question, answer, model, system_prompt, public, created_at,
         moderation)
       VALUES (@guildId, @channelId, @userId, @question, @answer, @model, @systemPrompt, @public, @createdAt,
         @moderation)`,
    );
  }

  insert(a: NewAnswer): number {
    return Number(
      this.insertStmt.run({ ...a, public: a.public ? 1 : 0, moderation: a.moderation ?? "unchecked" })
        .lastInsertRowid,
    );
  }

  get(guildId: string, id: number): AnswerRow | undefined {
    const r = this.db
      .prepare(`SELECT ${COLUMNS} FROM answers a WHERE a.guild_id = ? AND a.id = ?`)
      .get(guildId, id) as Raw<AnswerRow> | undefined;
    return r && fromRaw<AnswerRow>(r);
  }

  /** Records a teacher's correction (the latest one wins). False when the answer is not in this guild. */
  correct(guildId: string, id: number, text: string, teacherId: string, at: string): boolean {
    return (
      this.db
        .prepare(
          `UPDATE answers SET corrected_answer = ?, corrected_by = ?, corrected_at = ? WHERE guild_id = ? AND id = ?`,
        )
        .run(text, teacherId, at, guildId, id).changes > 0
    );
  }

  /** Sets (or replaces) one person's vote; false when the answer is not in this guild. */
  vote(guildId: string, answerId: number, userId: string, value: 1 | -1, at: string): boolean {
    if (!this.get(guildId, answerId)) return false;
    this.db
      .prepare(
        `INSERT INTO answer_votes (answer_id, guild_id, user_id, value, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (answer_id, user_id) DO UPDATE SET value = excluded.value, created_at = excluded.created_at`,
      )
      .run(answerId, guildId, userId, value, at);
    return true;
  }

  tally(guildId: string, answerId: number): VoteTally {
    const r = this.db
      .prepare(
        `SELECT COALESCE(SUM(value = 1), 0) AS up, COALESCE(SUM(value = -1), 0) AS down
         FROM answer_votes WHERE guild_id = ? AND answer_id = ?`,
      )
      .get(guildId, answerId) as { up: number; down: number };
    return { up: r.up, down: r.down, score: r.up - r.down };
  }

  /**
   * The guild's answers created at or after `sinceIso`, each with its export score, oldest first. The asker's
   * own vote is stored (and shown in the tally) but never scored: one student alone cannot push their Q&A
   * into the next training set.
   */
  withScores(guildId: string, sinceIso: string, limit = 100_000): AnswerWithScore[] {
    return (
      this.db
        .prepare(
          `SELECT ${COLUMNS}, COALESCE(SUM(v.value = 1), 0) AS up, COALESCE(SUM(v.value = -1), 0) AS down
           FROM answers a LEFT JOIN answer_votes v
             ON v.answer_id = a.id AND v.guild_id = a.guild_id AND v.user_id <> a.user_id
           WHERE a.guild_id = ? AND a.created_at >= ?
           GROUP BY a.id ORDER BY a.id LIMIT ?`,
        )
        .all(guildId, sinceIso, limit) as (Raw<AnswerRow> & { up: number; down: number })[]
    ).map((r) => ({ ...fromRaw<AnswerRow & { up: number; down: number }>(r), score: r.up - r.down }));
  }
}
