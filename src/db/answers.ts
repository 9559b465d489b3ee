// Repositories for answers and answer_votes: what /ask answered, students' 👍/👎, teachers' corrections.
import type { Db } from "./open.ts";
import { prepared } from "./statements.ts";

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
  /** The student was shown a message in place of this answer (flagged, or moderation down under closed). */
  withheld: boolean;
  /** The answer this one follows up (migration 013); null for a new question. */
  parentId: number | null;
  /** Its place in the conversation: 1 for a new question, its parent's turn + 1 for a follow-up. */
  turn: number;
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
> & {
  moderation?: AnswerModeration | undefined;
  withheld?: boolean | undefined;
  /**
   * The earlier answer this question follows up: it must be the same person's in the same guild and channel
   * (AnswerRepository.insert throws otherwise). The turn is computed from it, never taken from the caller.
   */
  parentId?: number | undefined;
};

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
  a.corrected_by AS correctedBy, a.corrected_at AS correctedAt, a.created_at AS createdAt, a.moderation,
  a.parent_id AS parentId, a.turn, a.withheld`;

type Raw<T> = Omit<T, "public" | "withheld"> & { public: number; withheld: number };
const fromRaw = <T extends { public: boolean; withheld: boolean }>(r: Raw<T>): T =>
  ({ ...r, public: r.public === 1, withheld: r.withheld === 1 }) as T;

/** AnswerRepository.insert: the follow-up's parent is not (or no longer) this person's answer in this channel. */
export class FollowUpParentGone extends Error {
  constructor(readonly parentId: number | undefined) {
    super(`answer ${String(parentId)} is not an answer of this person in this channel to follow up`);
    this.name = "FollowUpParentGone";
  }
}

export class AnswerRepository {
  private readonly insertStmt;
  private readonly chainStmt;

  constructor(private readonly db: Db) {
    // The parent is looked up in the new row's own scope (guild, channel, person): a forged or foreign parent id
    // matches nothing, and then nothing is inserted. The turn comes from the stored parent, in the same statement.
    this.insertStmt = prepared(
      db,
      `INSERT INTO answers (guild_id, channel_id, user_id, question, answer, model, system_prompt, public, created_at,
         moderation, withheld, parent_id, turn)
       SELECT @guildId, @channelId, @userId, @question, @answer, @model, @systemPrompt, @public, @createdAt,
         @moderation, @withheld, p.id, COALESCE(p.turn + 1, 1)
       FROM (SELECT 1) LEFT JOIN answers p
         ON p.id = @parentId AND p.guild_id = @guildId AND p.channel_id = @channelId AND p.user_id = @userId
       WHERE @parentId IS NULL OR p.id IS NOT NULL`,
    );
    // Up from the answer by parent_id (the primary key), each step in scope, never deeper than maxTurns.
    this.chainStmt = prepared(
      db,
      `WITH RECURSIVE walk (id, parent_id, depth) AS (
         SELECT id, parent_id, 1 FROM answers
         WHERE id = @answerId AND guild_id = @guildId AND channel_id = @channelId AND user_id = @userId
         UNION ALL
         SELECT p.id, p.parent_id, w.depth + 1 FROM walk w JOIN answers p ON p.id = w.parent_id
         WHERE w.depth < @maxTurns AND p.guild_id = @guildId AND p.channel_id = @channelId AND p.user_id = @userId
       )
       SELECT ${COLUMNS} FROM walk w JOIN answers a ON a.id = w.id ORDER BY w.depth DESC`,
    );
  }

  /**
   * Stores an answer and returns its id. A follow-up (`parentId`) whose parent is not this person's answer in this
   * guild and channel (never was, or was deleted meanwhile) is refused with FollowUpParentGone: check it with `chain`
   * first.
   */
  insert(a: NewAnswer): number {
    const result = this.insertStmt.run({
      ...a,
      public: a.public ? 1 : 0,
      moderation: a.moderation ?? "unchecked",
      withheld: a.withheld ? 1 : 0,
      parentId: a.parentId ?? null,
    });
    if (result.changes === 0) throw new FollowUpParentGone(a.parentId);
    return Number(result.lastInsertRowid);
  }

  /**
   * The conversation ending at `answerId`, oldest first: the answer and the turns before it, at most `maxTurns`
   * rows (the most recent ones when the chain is longer, e.g. after ASK_CONTEXT_TURNS was lowered). Undefined
   * unless every one of those turns is this person's in this guild and channel: another student's, channel's or
   * server's id, a forged one and a deleted one all look the same. The walk is a recursive CTE stopped at maxTurns.
   */
  chain(
    guildId: string,
    channelId: string,
    userId: string,
    answerId: number,
    maxTurns: number,
  ): AnswerRow[] | undefined {
    if (!Number.isInteger(maxTurns) || maxTurns < 1)
      throw new RangeError(`maxTurns must be ≥ 1, got ${maxTurns}`);
    const rows = this.chainStmt.all({ guildId, channelId, userId, answerId, maxTurns }) as Raw<AnswerRow>[];
    const oldest = rows[0];
    if (oldest === undefined) return undefined;
    // The walk stops at a parent out of scope: then the chain is not wholly this person's.
    if (oldest.parentId !== null && rows.length < maxTurns) return undefined;
    return rows.map((r) => fromRaw<AnswerRow>(r));
  }

  get(guildId: string, id: number): AnswerRow | undefined {
    const r = prepared(this.db, `SELECT ${COLUMNS} FROM answers a WHERE a.guild_id = ? AND a.id = ?`).get(
      guildId,
      id,
    ) as Raw<AnswerRow> | undefined;
    return r && fromRaw<AnswerRow>(r);
  }

  /** Records a teacher's correction (the latest one wins). False when the answer is not in this guild. */
  correct(guildId: string, id: number, text: string, teacherId: string, at: string): boolean {
    return (
      prepared(
        this.db,
        `UPDATE answers SET corrected_answer = ?, corrected_by = ?, corrected_at = ? WHERE guild_id = ? AND id = ?`,
      ).run(text, teacherId, at, guildId, id).changes > 0
    );
  }

  /** Sets (or replaces) one person's vote; false when the answer is not in this guild. */
  vote(guildId: string, answerId: number, userId: string, value: 1 | -1, at: string): boolean {
    if (!this.get(guildId, answerId)) return false;
    prepared(
      this.db,
      `INSERT INTO answer_votes (answer_id, guild_id, user_id, value, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (answer_id, user_id) DO UPDATE SET value = excluded.value, created_at = excluded.created_at`,
    ).run(answerId, guildId, userId, value, at);
    return true;
  }

  tally(guildId: string, answerId: number): VoteTally {
    const r = prepared(
      this.db,
      `SELECT COALESCE(SUM(value = 1), 0) AS up, COALESCE(SUM(value = -1), 0) AS down
         FROM answer_votes WHERE guild_id = ? AND answer_id = ?`,
    ).get(guildId, answerId) as { up: number; down: number };
    return { up: r.up, down: r.down, score: r.up - r.down };
  }

  /**
   * The guild's answers created at or after `sinceIso`, each with its export score, oldest first. The asker's
   * own vote is stored (and shown in the tally) but never scored: one student alone cannot push their Q&A
   * into the next training set.
   */
  withScores(guildId: string, sinceIso: string, limit = 100_000): AnswerWithScore[] {
    return (
      prepared(
        this.db,
        `SELECT ${COLUMNS}, COALESCE(SUM(v.value = 1), 0) AS up, COALESCE(SUM(v.value = -1), 0) AS down
           FROM answers a LEFT JOIN answer_votes v
             ON v.answer_id = a.id AND v.guild_id = a.guild_id AND v.user_id <> a.user_id
           WHERE a.guild_id = ? AND a.created_at >= ?
           GROUP BY a.id ORDER BY a.id LIMIT ?`,
      ).all(guildId, sinceIso, limit) as (Raw<AnswerRow> & { up: number; down: number })[]
    ).map((r) => ({ ...fromRaw<AnswerRow & { up: number; down: number }>(r), score: r.up - r.down }));
  }
}
