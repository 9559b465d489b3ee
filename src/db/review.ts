// The teachers' review of the class's Q&A (/review, `classtune review`): answers with their 👍/👎 counts, the
// teacher's correction and the moderation flags, filtered and paged in SQL, always within one guild.
import { type RawBuilder, type SqlBool, sql } from "kysely";
import { compiled, type Param } from "./query/compiled.ts";
import type { Engine, Queryable } from "./query/store.ts";

/**
 * The moderation flags of answer `a`: the categories of its flagged verdicts (migration 009: the question's and the
 * answer's checks both link to the answer), as one comma-separated text, or NULL when it is not flagged. The one
 * place the review reads moderation verdicts; guild-scoped like every query here. The verdict's categories are a
 * JSON array of text: json_each on SQLite, jsonb_array_elements on PostgreSQL.
 */
export function flagsSql(engine: Engine): RawBuilder<string | null> {
  return engine === "postgres"
    ? sql<string | null>`(SELECT string_agg(DISTINCT c.value ->> 'category', ',')
        FROM moderation_verdicts m, jsonb_array_elements(m.categories::jsonb) c
        WHERE m.guild_id = a.guild_id AND m.answer_id = a.id AND m.outcome = 'flagged')`
    : sql<string | null>`(SELECT group_concat(DISTINCT json_extract(c.value, '$.category'))
        FROM moderation_verdicts m, json_each(m.categories) c
        WHERE m.guild_id = a.guild_id AND m.answer_id = a.id AND m.outcome = 'flagged')`;
}

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

type Filter = {
  guildId: string;
  sinceIso: string;
  maxId: number;
  channelId: string | null;
  userId: string | null;
  flaggedOnly: number;
};

/** The review's filter on answers `a` (an absent channel or person: any; PostgreSQL types the NULL by its cast). */
const filtered = (p: Param<Filter>, engine: Engine) =>
  sql<SqlBool>`a.guild_id = ${p("guildId")} AND a.created_at >= ${p("sinceIso")} AND a.id <= ${p("maxId")}
    AND (cast(${p("channelId")} as text) IS NULL OR a.channel_id = ${p("channelId")})
    AND (cast(${p("userId")} as text) IS NULL OR a.user_id = ${p("userId")})
    AND (${p("flaggedOnly")} = 0 OR ${flagsSql(engine)} IS NOT NULL)`;

const maxIdOf = compiled((db, p: Param<{ guildId: string }>) =>
  db
    .selectFrom("answers")
    .select((eb) => eb.fn.coalesce(eb.fn.max("id"), sql<number>`0`).as("maxId"))
    .where("guild_id", "=", p("guildId")),
);

const countOf = compiled((db, p: Param<Filter>, engine) =>
  db
    .selectFrom("answers as a")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where(filtered(p, engine)),
);

const votes = (value: 1 | -1) =>
  sql<number>`(SELECT COUNT(*) FROM answer_votes v WHERE v.guild_id = a.guild_id AND v.answer_id = a.id
    AND v.value = ${sql.lit(value)})`;

const pageOf = compiled((db, p: Param<Filter & { limit: number; offset: number }>, engine) =>
  db
    .selectFrom("answers as a")
    .select([
      "a.id as answerId",
      "a.channel_id as channelId",
      "a.user_id as userId",
      "a.question",
      "a.answer",
      "a.model",
      "a.public",
      "a.corrected_answer as correctedAnswer",
      "a.corrected_by as correctedBy",
      "a.corrected_at as correctedAt",
      "a.created_at as createdAt",
      votes(1).as("up"),
      votes(-1).as("down"),
      flagsSql(engine).as("flags"),
    ])
    .where(filtered(p, engine))
    .orderBy("a.id", "desc")
    .limit(p("limit"))
    .offset(p("offset")),
);

const params = (q: ReviewQuery): Filter => ({
  guildId: q.guildId,
  sinceIso: q.sinceIso,
  maxId: q.maxId,
  channelId: q.channelId ?? null,
  userId: q.userId ?? null,
  flaggedOnly: q.flaggedOnly ? 1 : 0,
});

export class ReviewRepository {
  constructor(private readonly on: Queryable) {}

  /** The same repository over a transaction of its store (store.transaction's `tx`). */
  in(tx: Queryable): ReviewRepository {
    return new ReviewRepository(tx);
  }

  /** The guild's newest answer id (0 when it has none). */
  async maxId(guildId: string): Promise<number> {
    return (await maxIdOf.executeTakeFirst(this.on, { guildId }))?.maxId ?? 0;
  }

  async count(q: ReviewQuery): Promise<number> {
    return (await countOf.executeTakeFirst(this.on, params(q)))?.n ?? 0;
  }

  /** Newest first. */
  async page(q: ReviewQuery, limit: number, offset: number): Promise<ReviewRow[]> {
    const rows = (await pageOf.execute(this.on, { ...params(q), limit, offset })) as RawRow[];
    return rows.map((r) => {
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
