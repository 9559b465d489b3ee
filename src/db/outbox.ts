// Repository for the outbox: notices written in the same transaction as the change they announce,
// posted later by the notifier. The dedupe key makes enqueueing idempotent; `revision` lets a notice be
// updated in place (progress) and re-posted as an edit of the same message. A process posts only the notices it
// claimed (claim/renew/markPosted/markFailed, migration 015), so of several processes on one database exactly one
// posts each notice.
import { type Expression, type SqlBool, sql } from "kysely";
import type { NewNotice, NoticeKind, NoticePayloads } from "../domain/notices.ts";
import { compiled, type Param } from "./query/compiled.ts";
import type { Engine, Queryable, Store } from "./query/store.ts";

export interface OutboxRow {
  id: number;
  guildId: string;
  channelId: string | null;
  kind: NoticeKind;
  payload: unknown;
  dedupeKey: string;
  revision: number;
  createdAt: string;
  updatedAt: string;
  postedAt: string | null;
  messageId: string | null;
  attempts: number;
  lastError: string | null;
  /** The process posting it right now (see claim), and until when (ms since the epoch); null when nobody is. */
  claimHolder: string | null;
  claimExpiresAt: number | null;
}

export type { NewNotice };

/**
 * How long a claim on a notice lasts unless its holder renews it (the notifier renews before each post). Longer
 * than one notice's post at its worst: discord.js gives a request 15 s and retries it 3 times (about a minute),
 * and a notice is an edit and a post at most. Short enough that a crashed process's notices are posted by another
 * within a couple of minutes; and should a post outlive its claim anyway, its nonce (enforce_nonce) keeps a repeated
 * create one message for the few minutes Discord remembers it.
 */
export const OUTBOX_CLAIM_MS = 2 * 60_000;

/** Which notices a claim takes: one guild's, or every guild's but some with a per-guild share. */
export type ClaimSelection = { limit: number; maxAttempts?: number | undefined } & (
  | { guildId: string }
  | { exceptGuildIds?: string[] | undefined; perGuild?: number | undefined }
);

const COLUMNS = [
  "id",
  "guild_id as guildId",
  "channel_id as channelId",
  "kind",
  "payload",
  "dedupe_key as dedupeKey",
  "revision",
  "created_at as createdAt",
  "updated_at as updatedAt",
  "posted_at as postedAt",
  "message_id as messageId",
  "attempts",
  "last_error as lastError",
  "claim_holder as claimHolder",
  "claim_expires_at as claimExpiresAt",
] as const;

type RawRow = Omit<OutboxRow, "payload" | "kind"> & { kind: string; payload: string };
const fromRaw = (r: RawRow): OutboxRow => ({
  ...r,
  kind: r.kind as NoticeKind,
  payload: JSON.parse(r.payload) as unknown,
});

/** `column` is (or with `not`, is not) among the values of the JSON array `list`, by engine. */
function inJsonList(
  engine: Engine,
  column: string,
  list: string,
  as: "text" | "bigint",
  not = false,
): Expression<SqlBool> {
  const values =
    engine === "postgres"
      ? sql`(select cast(v as ${sql.raw(as)}) from jsonb_array_elements_text(cast(${list} as jsonb)) as v)`
      : sql`(select value from json_each(${list}))`;
  return sql<SqlBool>`${sql.ref(column)} ${sql.raw(not ? "not in" : "in")} ${values}`;
}

const insertOnce = compiled(
  (
    db,
    p: Param<{
      guildId: string;
      channelId: string | null;
      kind: string;
      payload: string;
      dedupeKey: string;
      at: string;
    }>,
  ) =>
    db
      .insertInto("outbox")
      .values({
        guild_id: p("guildId"),
        channel_id: p("channelId"),
        kind: p("kind"),
        payload: p("payload"),
        dedupe_key: p("dedupeKey"),
        created_at: p("at"),
        updated_at: p("at"),
      })
      .onConflict((oc) => oc.column("dedupe_key").doNothing()),
);

const insertOrReplace = compiled(
  (
    db,
    p: Param<{
      guildId: string;
      channelId: string | null;
      kind: string;
      payload: string;
      dedupeKey: string;
      at: string;
    }>,
  ) =>
    db
      .insertInto("outbox")
      .values({
        guild_id: p("guildId"),
        channel_id: p("channelId"),
        kind: p("kind"),
        payload: p("payload"),
        dedupe_key: p("dedupeKey"),
        created_at: p("at"),
        updated_at: p("at"),
      })
      .onConflict((oc) =>
        oc.column("dedupe_key").doUpdateSet((eb) => ({
          payload: eb.ref("excluded.payload"),
          updated_at: eb.ref("excluded.updated_at"),
          revision: sql<number>`outbox.revision + 1`,
          posted_at: null,
          attempts: 0,
          last_error: null,
        })),
      ),
);

const byKey = compiled((db, p: Param<{ guildId: string; dedupeKey: string }>) =>
  db
    .selectFrom("outbox")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .where("dedupe_key", "=", p("dedupeKey")),
);

const ofGuild = compiled((db, p: Param<{ guildId: string; limit: number }>) =>
  db
    .selectFrom("outbox")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .orderBy("id")
    .limit(p("limit")),
);

interface PendingParams {
  now: number;
  maxAttempts: number;
  guildId: string | null;
  /** JSON array of guild ids left alone. */
  except: string;
  perGuild: number;
  limit: number;
}

/** The notices a claim would take (see claim): each guild's oldest `perGuild` takeable ones, dealt round-robin. */
const pending = compiled((db, p: Param<PendingParams>, engine) =>
  db
    .selectFrom((eb) =>
      eb
        .selectFrom("outbox")
        .selectAll()
        .select((e) =>
          e.fn
            .agg<number>("row_number")
            .over((ob) => ob.partitionBy("guild_id").orderBy("id"))
            .as("lane_rank"),
        )
        .where("posted_at", "is", null)
        .where("attempts", "<", p("maxAttempts"))
        .where(
          sql<SqlBool>`(cast(${p("guildId")} as text) is null or guild_id = cast(${p("guildId")} as text))`,
        )
        .where(inJsonList(engine, "guild_id", p("except"), "text", true))
        .where("guild_id", "not in", (sub) =>
          sub
            .selectFrom("outbox")
            .select("guild_id")
            .where("claim_holder", "is not", null)
            .where("claim_expires_at", ">", p("now")),
        )
        .as("lanes"),
    )
    .select(COLUMNS)
    .where("lane_rank", "<=", p("perGuild"))
    .orderBy("lane_rank")
    .orderBy("attempts")
    .orderBy("id")
    .limit(p("limit")),
);

/**
 * PostgreSQL: of the guilds in `guilds` (a JSON array), the ones whose claim lock this transaction took (held to
 * its end; pg_try_ never waits): two claimers never take notices of one guild at once. Two-int keys, so never the
 * leadership's one-bigint advisory lock.
 */
const OUTBOX_GUILD_LOCK = 15; // migration 015's claims
const lockGuilds = compiled((db, p: Param<{ guilds: string }>) =>
  db
    .selectFrom(sql<{ g: string }>`jsonb_array_elements_text(cast(${p("guilds")} as jsonb))`.as("g"))
    .select(sql<string>`g`.as("guildId"))
    .where(sql<SqlBool>`pg_try_advisory_xact_lock(${sql.lit(OUTBOX_GUILD_LOCK)}, hashtext(g))`),
);

/**
 * PostgreSQL: the rows of `ids` (a JSON array) still takeable, now that their guilds' claim locks are held (a claim
 * committed since the candidates were read is seen here), locked FOR UPDATE SKIP LOCKED and read afresh.
 */
const lockTakeable = compiled((db, p: Param<{ ids: string; now: number; maxAttempts: number }>, engine) =>
  db
    .selectFrom("outbox")
    .select(COLUMNS)
    .where(inJsonList(engine, "id", p("ids"), "bigint"))
    .where("posted_at", "is", null)
    .where("attempts", "<", p("maxAttempts"))
    .where("guild_id", "not in", (sub) =>
      sub
        .selectFrom("outbox")
        .select("guild_id")
        .where("claim_holder", "is not", null)
        .where("claim_expires_at", ">", p("now")),
    )
    .$if(engine === "postgres", (q) => q.forUpdate().skipLocked()),
);

const take = compiled((db, p: Param<{ holder: string; until: number; ids: string }>, engine) =>
  db
    .updateTable("outbox")
    .set({ claim_holder: p("holder"), claim_expires_at: p("until") })
    .where(inJsonList(engine, "id", p("ids"), "bigint")),
);

const extend = compiled((db, p: Param<{ holder: string; until: number; ids: string }>, engine) =>
  db
    .updateTable("outbox")
    .set({ claim_expires_at: p("until") })
    .where("claim_holder", "=", p("holder"))
    .where(inJsonList(engine, "id", p("ids"), "bigint"))
    .returning("id"),
);

const giveBack = compiled((db, p: Param<{ holder: string; ids: string }>, engine) =>
  db
    .updateTable("outbox")
    .set({ claim_holder: null, claim_expires_at: null })
    .where("claim_holder", "=", p("holder"))
    .where(inJsonList(engine, "id", p("ids"), "bigint")),
);

const posted = compiled(
  (db, p: Param<{ id: number; holder: string; revision: number; messageId: string | null; at: string }>) =>
    db
      .updateTable("outbox")
      .set({
        message_id: sql<string | null>`coalesce(cast(${p("messageId")} as text), message_id)`,
        attempts: sql<number>`attempts + 1`,
        last_error: null,
        posted_at: sql<
          string | null
        >`case when revision = ${p("revision")} then cast(${p("at")} as text) else null end`,
        claim_holder: null,
        claim_expires_at: null,
      })
      .where("id", "=", p("id"))
      .where("claim_holder", "=", p("holder")),
);

const rearmed = compiled((db, p: Param<{ guildId: string }>) =>
  db
    .updateTable("outbox")
    .set({ attempts: 0 })
    .where("guild_id", "=", p("guildId"))
    .where("posted_at", "is", null)
    .where("attempts", ">", 0),
);

const failed = compiled((db, p: Param<{ id: number; holder: string; error: string }>) =>
  db
    .updateTable("outbox")
    .set({
      attempts: sql<number>`attempts + 1`,
      last_error: p("error"),
      claim_holder: null,
      claim_expires_at: null,
    })
    .where("id", "=", p("id"))
    .where("claim_holder", "=", p("holder")),
);

export class OutboxRepository {
  /** `on` is the store, or a transaction of it (see in()). */
  constructor(
    private readonly store: Store,
    private readonly on: Queryable = store,
  ) {}

  /** The same repository over a transaction of its store (store.transaction's `tx`); claim() is not for it. */
  in(tx: Queryable): OutboxRepository {
    return new OutboxRepository(this.store, tx);
  }

  /** Enqueues once: a second notice with the same dedupe key is ignored. Returns whether it was new. */
  async enqueue<K extends NoticeKind>(n: NewNotice<K>, now = new Date()): Promise<boolean> {
    const at = now.toISOString();
    const changes = await insertOnce.executeChanges(this.on, {
      guildId: n.guildId,
      channelId: n.channelId,
      kind: n.kind,
      payload: JSON.stringify(n.payload),
      dedupeKey: n.dedupeKey,
      at,
    });
    return changes === 1;
  }

  /** Enqueues, or replaces the payload of the notice with this key and marks it for re-posting (an edit). */
  async upsert<K extends NoticeKind>(n: NewNotice<K>, now = new Date()): Promise<void> {
    await insertOrReplace.execute(this.on, {
      guildId: n.guildId,
      channelId: n.channelId,
      kind: n.kind,
      payload: JSON.stringify(n.payload),
      dedupeKey: n.dedupeKey,
      at: now.toISOString(),
    });
  }

  async getByKey(guildId: string, dedupeKey: string): Promise<OutboxRow | undefined> {
    const r = await byKey.executeTakeFirst(this.on, { guildId, dedupeKey });
    return r && fromRaw(r);
  }

  /** The payload of this guild's notice with `dedupeKey`, when it exists and is of `kind`. */
  async payloadOf<K extends NoticeKind>(
    guildId: string,
    dedupeKey: string,
    kind: K,
  ): Promise<NoticePayloads[K] | undefined> {
    const row = await this.getByKey(guildId, dedupeKey);
    return row?.kind === kind ? (row.payload as NoticePayloads[K]) : undefined;
  }

  async list(guildId: string, limit = 100): Promise<OutboxRow[]> {
    return (await ofGuild.execute(this.on, { guildId, limit })).map(fromRaw);
  }

  /**
   * Takes up to `selection.limit` pending notices for `holder` until `nowMs + ttlMs`, and returns them (only the
   * ones this call took). A notice is takeable when it is unposted, not parked (`attempts < maxAttempts`) and its
   * guild has no notice held by anyone right now (a live claim: `claim_expires_at > nowMs`): a guild's notices are
   * posted by one holder at a time, so they keep their order across processes. A claim that has expired (its
   * holder crashed) no longer holds anything. Across guilds (except `exceptGuildIds`), at most `perGuild` of each
   * guild's oldest are dealt round-robin (every guild's first before any guild's second, and among those the ones
   * that have not failed yet first), so a guild piling up undeliverable notices takes one guild's share, never the
   * whole batch. With `guildId`, that guild's oldest.
   *
   * One store transaction of its own (never inside a caller's). On SQLite it is BEGIN IMMEDIATE: the write lock is
   * taken before the rows are read, so of two processes on one database file the second sees the first's claims.
   * On PostgreSQL (READ COMMITTED, several claimers at once) the one-holder-per-guild rule is kept by a per-guild
   * advisory lock taken in the transaction (pg_try_advisory_xact_lock: a guild another claimer is claiming right
   * now is left to it), since row locks alone would let two claimers split one guild's notices; the candidates are
   * then checked again and locked FOR UPDATE SKIP LOCKED, and of each guild only the oldest run of them that all
   * could be locked is taken (a row skipped because someone is writing it is never posted after a newer one).
   */
  async claim(
    holder: string,
    selection: ClaimSelection,
    nowMs: number,
    ttlMs = OUTBOX_CLAIM_MS,
  ): Promise<OutboxRow[]> {
    const one = "guildId" in selection;
    const params: PendingParams = {
      now: nowMs,
      maxAttempts: selection.maxAttempts ?? Number.MAX_SAFE_INTEGER,
      guildId: one ? selection.guildId : null,
      except: JSON.stringify(one ? [] : (selection.exceptGuildIds ?? [])),
      perGuild: one ? selection.limit : (selection.perGuild ?? selection.limit),
      limit: selection.limit,
    };
    const until = nowMs + ttlMs;
    return this.store.transaction(async (tx): Promise<OutboxRow[]> => {
      let rows = (await pending.execute(tx, params)).map(fromRaw);
      if (rows.length > 0 && tx.engine === "postgres") rows = await lockedOf(tx, rows, params);
      if (rows.length > 0) {
        await take.execute(tx, { holder, until, ids: JSON.stringify(rows.map((r) => r.id)) });
      }
      return rows.map((r) => ({ ...r, claimHolder: holder, claimExpiresAt: until }));
    });
  }

  /**
   * Extends `holder`'s claims on `ids` to `nowMs + ttlMs` (the notifier does before each post, so a claim needs to
   * outlast one post, not a guild's whole share); returns the ids it still holds: one whose claim expired
   * and was taken by another process meanwhile is not among them.
   */
  async renew(
    holder: string,
    ids: readonly number[],
    nowMs: number,
    ttlMs = OUTBOX_CLAIM_MS,
  ): Promise<Set<number>> {
    if (ids.length === 0) return new Set();
    const held = await extend.execute(this.on, { holder, until: nowMs + ttlMs, ids: JSON.stringify(ids) });
    return new Set(held.map((r) => r.id));
  }

  /** Gives `holder`'s claims on `ids` back untouched (no attempt counted): notices it took but did not try. */
  async release(holder: string, ids: readonly number[]): Promise<number> {
    if (ids.length === 0) return 0;
    return giveBack.executeChanges(this.on, { holder, ids: JSON.stringify(ids) });
  }

  /**
   * Records a successful post by the notice's holder and releases its claim; false (nothing recorded) when `holder`
   * no longer holds it. If the notice was updated meanwhile (newer revision), only the message id is kept, so the
   * newer payload is posted next as an edit of that message. An update never releases a claim: the newer revision
   * waits for this post's message id instead of being posted beside it by another process.
   */
  async markPosted(
    id: number,
    holder: string,
    revision: number,
    messageId: string | null,
    now = new Date(),
  ): Promise<boolean> {
    const changes = await posted.executeChanges(this.on, {
      id,
      holder,
      revision,
      messageId,
      at: now.toISOString(),
    });
    return changes === 1;
  }

  /**
   * Gives a guild's unposted notices (parked ones too) a fresh set of attempts: called when the guild
   * chooses a notice channel, since notices parked while it had none would otherwise never be posted.
   */
  async rearm(guildId: string): Promise<number> {
    return rearmed.executeChanges(this.on, { guildId });
  }

  /** Records a failed post by the notice's holder (an attempt, the error) and releases its claim; false as markPosted. */
  async markFailed(id: number, holder: string, error: string): Promise<boolean> {
    return (await failed.executeChanges(this.on, { id, holder, error })) === 1;
  }
}

/**
 * PostgreSQL's half of claim(): of the candidates `rows`, those of guilds whose claim lock this transaction took,
 * still takeable and locked; per guild only the oldest run of them (in the candidates' order), read afresh.
 */
async function lockedOf(tx: Queryable, rows: OutboxRow[], params: PendingParams): Promise<OutboxRow[]> {
  const guilds = [...new Set(rows.map((r) => r.guildId))];
  const mine = new Set(
    (await lockGuilds.execute(tx, { guilds: JSON.stringify(guilds) })).map((r) => r.guildId),
  );
  const candidates = rows.filter((r) => mine.has(r.guildId));
  if (candidates.length === 0) return [];
  const locked = new Map(
    (
      await lockTakeable.execute(tx, {
        ids: JSON.stringify(candidates.map((r) => r.id)),
        now: params.now,
        maxAttempts: params.maxAttempts,
      })
    ).map((r) => [r.id, fromRaw(r)]),
  );
  const stopped = new Set<string>();
  const kept: OutboxRow[] = [];
  // Within a guild the candidates come oldest first (lane_rank follows id).
  for (const r of candidates) {
    const fresh = locked.get(r.id);
    if (stopped.has(r.guildId) || fresh === undefined) {
      stopped.add(r.guildId);
      continue;
    }
    kept.push(fresh);
  }
  return kept;
}
