// Repositories for answers and answer_votes: what /ask answered, students' 👍/👎, teachers' corrections.
import { sql } from "kysely";
import { compiled, type Param } from "./query/compiled.ts";
import type { Queryable } from "./query/store.ts";

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

/** An answer's columns, camelCased as AnswerRow (booleans as the stored 0/1: fromRaw turns them). */
const COLUMNS = [
  "a.id",
  "a.guild_id as guildId",
  "a.channel_id as channelId",
  "a.user_id as userId",
  "a.question",
  "a.answer",
  "a.model",
  "a.system_prompt as systemPrompt",
  "a.public",
  "a.corrected_answer as correctedAnswer",
  "a.corrected_by as correctedBy",
  "a.corrected_at as correctedAt",
  "a.created_at as createdAt",
  "a.moderation",
  "a.parent_id as parentId",
  "a.turn",
  "a.withheld",
] as const;

type Raw<T> = Omit<T, "public" | "withheld" | "moderation"> & {
  public: number;
  withheld: number;
  moderation: string;
};
const fromRaw = <T extends { public: boolean; withheld: boolean }>(r: Raw<T>): T =>
  ({ ...r, public: r.public === 1, withheld: r.withheld === 1 }) as unknown as T;

/** How many of the votes `v` are up (1) or down (-1): 0 when there are none (a count reads as a number on both). */
const upVotes = sql<number>`count(case when v.value = 1 then 1 end)`;
const downVotes = sql<number>`count(case when v.value = -1 then 1 end)`;

type InsertValues = {
  guildId: string;
  channelId: string;
  userId: string;
  question: string;
  answer: string;
  model: string;
  systemPrompt: string;
  public: number;
  createdAt: string;
  moderation: AnswerModeration;
  withheld: number;
  parentId: number | null;
};

// The parent is looked up in the new row's own scope (guild, channel, person): a forged or foreign parent id matches
// nothing, and then nothing is inserted. The turn comes from the stored parent, in the same statement. PostgreSQL
// cannot type a bare parameter beside IS NULL or an integer one in a select list: hence the casts.
const insertAnswer = compiled((db, p: Param<InsertValues>) =>
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
            .on("p.id", "=", sql<number>`cast(${p("parentId")} as bigint)`)
            .on("p.guild_id", "=", p("guildId"))
            .on("p.channel_id", "=", p("channelId"))
            .on("p.user_id", "=", p("userId")),
        )
        .select((s) => [
          s.val(p("guildId")).as("guild_id"),
          s.val(p("channelId")).as("channel_id"),
          s.val(p("userId")).as("user_id"),
          s.val(p("question")).as("question"),
          s.val(p("answer")).as("answer"),
          s.val(p("model")).as("model"),
          s.val(p("systemPrompt")).as("system_prompt"),
          s.cast<number>(s.val(p("public")), "integer").as("public"),
          s.val(p("createdAt")).as("created_at"),
          s.val(p("moderation")).as("moderation"),
          s.cast<number>(s.val(p("withheld")), "integer").as("withheld"),
          "p.id as parent_id",
          sql<number>`coalesce(p.turn + 1, 1)`.as("turn"),
        ])
        .where((w) =>
          w.or([w(sql`cast(${p("parentId")} as bigint)`, "is", null), w("p.id", "is not", null)]),
        ),
    )
    .returning("id"),
);

// Up from the answer by parent_id (the primary key), each step in scope, never deeper than maxTurns.
const chainOf = compiled(
  (
    db,
    p: Param<{ guildId: string; channelId: string; userId: string; answerId: number; maxTurns: number }>,
  ) =>
    db
      .withRecursive("walk(id, parent_id, depth)", (w) =>
        w
          .selectFrom("answers")
          .select(["id", "parent_id", sql<number>`1`.as("depth")])
          .where("id", "=", p("answerId"))
          .where("guild_id", "=", p("guildId"))
          .where("channel_id", "=", p("channelId"))
          .where("user_id", "=", p("userId"))
          .unionAll((u) =>
            u
              .selectFrom("walk as w")
              .innerJoin("answers as p", "p.id", "w.parent_id")
              .select(["p.id", "p.parent_id", sql<number>`w.depth + 1`.as("depth")])
              .where("w.depth", "<", p("maxTurns"))
              .where("p.guild_id", "=", p("guildId"))
              .where("p.channel_id", "=", p("channelId"))
              .where("p.user_id", "=", p("userId")),
          ),
      )
      .selectFrom("walk as w")
      .innerJoin("answers as a", "a.id", "w.id")
      .select(COLUMNS)
      .orderBy("w.depth", "desc"),
);

const byId = compiled((db, p: Param<{ guildId: string; id: number }>) =>
  db
    .selectFrom("answers as a")
    .select(COLUMNS)
    .where("a.guild_id", "=", p("guildId"))
    .where("a.id", "=", p("id")),
);

const correction = compiled(
  (db, p: Param<{ guildId: string; id: number; text: string; teacherId: string; at: string }>) =>
    db
      .updateTable("answers")
      .set({ corrected_answer: p("text"), corrected_by: p("teacherId"), corrected_at: p("at") })
      .where("guild_id", "=", p("guildId"))
      .where("id", "=", p("id")),
);

const upsertVote = compiled(
  (db, p: Param<{ guildId: string; answerId: number; userId: string; value: number; at: string }>) =>
    db
      .insertInto("answer_votes")
      .values({
        answer_id: p("answerId"),
        guild_id: p("guildId"),
        user_id: p("userId"),
        value: p("value"),
        created_at: p("at"),
      })
      .onConflict((oc) =>
        oc.columns(["answer_id", "user_id"]).doUpdateSet((eb) => ({
          value: eb.ref("excluded.value"),
          created_at: eb.ref("excluded.created_at"),
        })),
      ),
);

const tallyOf = compiled((db, p: Param<{ guildId: string; answerId: number }>) =>
  db
    .selectFrom("answer_votes as v")
    .select([upVotes.as("up"), downVotes.as("down")])
    .where("v.guild_id", "=", p("guildId"))
    .where("v.answer_id", "=", p("answerId")),
);

const scored = compiled((db, p: Param<{ guildId: string; sinceIso: string; limit: number }>) =>
  db
    .selectFrom("answers as a")
    .leftJoin("answer_votes as v", (join) =>
      join
        .onRef("v.answer_id", "=", "a.id")
        .onRef("v.guild_id", "=", "a.guild_id")
        .onRef("v.user_id", "<>", "a.user_id"),
    )
    .select([...COLUMNS, upVotes.as("up"), downVotes.as("down")])
    .where("a.guild_id", "=", p("guildId"))
    .where("a.created_at", ">=", p("sinceIso"))
    .groupBy("a.id")
    .orderBy("a.id")
    .limit(p("limit")),
);

/** AnswerRepository.insert: the follow-up's parent is not (or no longer) this person's answer in this channel. */
export class FollowUpParentGone extends Error {
  constructor(readonly parentId: number | undefined) {
    super(`answer ${String(parentId)} is not an answer of this person in this channel to follow up`);
    this.name = "FollowUpParentGone";
  }
}

export class AnswerRepository {
  constructor(private readonly on: Queryable) {}

  /** The same repository over a transaction of its store (store.transaction's `tx`). */
  in(tx: Queryable): AnswerRepository {
    return new AnswerRepository(tx);
  }

  /**
   * Stores an answer and returns its id. A follow-up (`parentId`) whose parent is not this person's answer in this
   * guild and channel (never was, or was deleted meanwhile) is refused with FollowUpParentGone: check it with `chain`
   * first.
   */
  async insert(a: NewAnswer): Promise<number> {
    const row = await insertAnswer.executeTakeFirst(this.on, {
      guildId: a.guildId,
      channelId: a.channelId,
      userId: a.userId,
      question: a.question,
      answer: a.answer,
      model: a.model,
      systemPrompt: a.systemPrompt,
      public: a.public ? 1 : 0,
      createdAt: a.createdAt,
      moderation: a.moderation ?? "unchecked",
      withheld: a.withheld ? 1 : 0,
      parentId: a.parentId ?? null,
    });
    if (row === undefined) throw new FollowUpParentGone(a.parentId);
    return Number(row.id);
  }

  /**
   * The conversation ending at `answerId`, oldest first: the answer and the turns before it, at most `maxTurns`
   * rows (the most recent ones when the chain is longer, e.g. after ASK_CONTEXT_TURNS was lowered). Undefined
   * unless every one of those turns is this person's in this guild and channel: another student's, channel's or
   * server's id, a forged one and a deleted one all look the same. The walk is a recursive CTE stopped at maxTurns.
   */
  async chain(
    guildId: string,
    channelId: string,
    userId: string,
    answerId: number,
    maxTurns: number,
  ): Promise<AnswerRow[] | undefined> {
    if (!Number.isInteger(maxTurns) || maxTurns < 1)
      throw new RangeError(`maxTurns must be ≥ 1, got ${maxTurns}`);
    const rows = (await chainOf.execute(this.on, {
      guildId,
      channelId,
      userId,
      answerId,
      maxTurns,
    })) as Raw<AnswerRow>[];
    const oldest = rows[0];
    if (oldest === undefined) return undefined;
    // The walk stops at a parent out of scope: then the chain is not wholly this person's.
    if (oldest.parentId !== null && rows.length < maxTurns) return undefined;
    return rows.map((r) => fromRaw<AnswerRow>(r));
  }

  async get(guildId: string, id: number): Promise<AnswerRow | undefined> {
    const r = (await byId.executeTakeFirst(this.on, { guildId, id })) as Raw<AnswerRow> | undefined;
    return r && fromRaw<AnswerRow>(r);
  }

  /** Records a teacher's correction (the latest one wins). False when the answer is not in this guild. */
  async correct(guildId: string, id: number, text: string, teacherId: string, at: string): Promise<boolean> {
    return (await correction.executeChanges(this.on, { guildId, id, text, teacherId, at })) > 0;
  }

  /** Sets (or replaces) one person's vote; false when the answer is not in this guild. */
  async vote(guildId: string, answerId: number, userId: string, value: 1 | -1, at: string): Promise<boolean> {
    if (!(await this.get(guildId, answerId))) return false;
    await upsertVote.execute(this.on, { guildId, answerId, userId, value, at });
    return true;
  }

  async tally(guildId: string, answerId: number): Promise<VoteTally> {
    const r = await tallyOf.executeTakeFirst(this.on, { guildId, answerId });
    const up = r?.up ?? 0;
    const down = r?.down ?? 0;
    return { up, down, score: up - down };
  }

  /**
   * The guild's answers created at or after `sinceIso`, each with its export score, oldest first. The asker's
   * own vote is stored (and shown in the tally) but never scored: one student alone cannot push their Q&A
   * into the next training set.
   */
  async withScores(guildId: string, sinceIso: string, limit = 100_000): Promise<AnswerWithScore[]> {
    const rows = (await scored.execute(this.on, { guildId, sinceIso, limit })) as (Raw<AnswerRow> & {
      up: number;
      down: number;
    })[];
    return rows.map((r) => ({
      ...fromRaw<AnswerRow & { up: number; down: number }>(r),
      score: r.up - r.down,
    }));
  }
}
