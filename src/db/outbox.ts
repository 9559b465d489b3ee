// Repository for the outbox: notices written in the same transaction as the change they announce,
// posted later by the notifier. The dedupe key makes enqueueing idempotent; `revision` lets a notice be
// updated in place (progress) and re-posted as an edit of the same message. A process posts only the notices it
// claimed (claim/renew/markPosted/markFailed, migration 015), so of several processes on one database exactly one
// posts each notice.
import type { NewNotice, NoticeKind, NoticePayloads } from "../domain/notices.ts";
import type { Db } from "./open.ts";
import { prepared } from "./statements.ts";

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

const COLUMNS = `id, guild_id AS guildId, channel_id AS channelId, kind, payload, dedupe_key AS dedupeKey, revision,
  created_at AS createdAt, updated_at AS updatedAt, posted_at AS postedAt, message_id AS messageId, attempts,
  last_error AS lastError, claim_holder AS claimHolder, claim_expires_at AS claimExpiresAt`;

type RawRow = Omit<OutboxRow, "payload"> & { payload: string };
const fromRaw = (r: RawRow): OutboxRow => ({ ...r, payload: JSON.parse(r.payload) as unknown });

export class OutboxRepository {
  constructor(private readonly db: Db) {}

  /** Enqueues once: a second notice with the same dedupe key is ignored. Returns whether it was new. */
  enqueue<K extends NoticeKind>(n: NewNotice<K>, now = new Date()): boolean {
    const at = now.toISOString();
    return (
      prepared(
        this.db,
        `INSERT INTO outbox (guild_id, channel_id, kind, payload, dedupe_key, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING`,
      ).run(n.guildId, n.channelId, n.kind, JSON.stringify(n.payload), n.dedupeKey, at, at).changes === 1
    );
  }

  /** Enqueues, or replaces the payload of the notice with this key and marks it for re-posting (an edit). */
  upsert<K extends NoticeKind>(n: NewNotice<K>, now = new Date()): void {
    const at = now.toISOString();
    prepared(
      this.db,
      `INSERT INTO outbox (guild_id, channel_id, kind, payload, dedupe_key, created_at, updated_at)
         VALUES (@guildId, @channelId, @kind, @payload, @dedupeKey, @at, @at)
         ON CONFLICT (dedupe_key) DO UPDATE SET payload = excluded.payload, updated_at = excluded.updated_at,
           revision = revision + 1, posted_at = NULL, attempts = 0, last_error = NULL`,
    ).run({ ...n, payload: JSON.stringify(n.payload), at });
  }

  getByKey(guildId: string, dedupeKey: string): OutboxRow | undefined {
    const r = prepared(this.db, `SELECT ${COLUMNS} FROM outbox WHERE guild_id = ? AND dedupe_key = ?`).get(
      guildId,
      dedupeKey,
    ) as RawRow | undefined;
    return r && fromRaw(r);
  }

  /** The payload of this guild's notice with `dedupeKey`, when it exists and is of `kind`. */
  payloadOf<K extends NoticeKind>(
    guildId: string,
    dedupeKey: string,
    kind: K,
  ): NoticePayloads[K] | undefined {
    const row = this.getByKey(guildId, dedupeKey);
    return row?.kind === kind ? (row.payload as NoticePayloads[K]) : undefined;
  }

  list(guildId: string, limit = 100): OutboxRow[] {
    return (
      prepared(this.db, `SELECT ${COLUMNS} FROM outbox WHERE guild_id = ? ORDER BY id LIMIT ?`).all(
        guildId,
        limit,
      ) as RawRow[]
    ).map(fromRaw);
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
   * One BEGIN IMMEDIATE transaction: the write lock is taken before the rows are read, so of two processes on one
   * database file the second sees the first's claims. On PostgreSQL the same contract is one
   * `UPDATE outbox SET claim_holder = $1, claim_expires_at = $2 WHERE id IN (SELECT id … FOR UPDATE SKIP LOCKED)
   * RETURNING …`, with the one-holder-per-guild rule kept by a per-guild lock taken in that transaction (e.g.
   * `pg_try_advisory_xact_lock`), since SKIP LOCKED alone would let two claimers split one guild's notices.
   */
  claim(holder: string, selection: ClaimSelection, nowMs: number, ttlMs = OUTBOX_CLAIM_MS): OutboxRow[] {
    const one = "guildId" in selection;
    const params = {
      now: nowMs,
      maxAttempts: selection.maxAttempts ?? Number.MAX_SAFE_INTEGER,
      guildId: one ? selection.guildId : null,
      except: JSON.stringify(one ? [] : (selection.exceptGuildIds ?? [])),
      perGuild: one ? selection.limit : (selection.perGuild ?? selection.limit),
      limit: selection.limit,
    };
    const take = prepared(
      this.db,
      "UPDATE outbox SET claim_holder = ?, claim_expires_at = ? WHERE id IN (SELECT value FROM json_each(?))",
    );
    return this.db
      .transaction((): OutboxRow[] => {
        const rows = (
          prepared(
            this.db,
            `SELECT ${COLUMNS} FROM (
                 SELECT *, ROW_NUMBER() OVER (PARTITION BY guild_id ORDER BY id) AS lane_rank FROM outbox
                 WHERE posted_at IS NULL AND attempts < @maxAttempts
                   AND (@guildId IS NULL OR guild_id = @guildId)
                   AND guild_id NOT IN (SELECT value FROM json_each(@except))
                   AND guild_id NOT IN (
                     SELECT guild_id FROM outbox WHERE claim_holder IS NOT NULL AND claim_expires_at > @now)
               ) WHERE lane_rank <= @perGuild ORDER BY lane_rank, attempts, id LIMIT @limit`,
          ).all(params) as RawRow[]
        ).map(fromRaw);
        const until = nowMs + ttlMs;
        if (rows.length > 0) take.run(holder, until, JSON.stringify(rows.map((r) => r.id)));
        return rows.map((r) => ({ ...r, claimHolder: holder, claimExpiresAt: until }));
      })
      .immediate();
  }

  /**
   * Extends `holder`'s claims on `ids` to `nowMs + ttlMs` (the notifier does before each post, so a claim needs to
   * outlast one post, not a guild's whole share); returns the ids it still holds: one whose claim expired
   * and was taken by another process meanwhile is not among them.
   */
  renew(holder: string, ids: readonly number[], nowMs: number, ttlMs = OUTBOX_CLAIM_MS): Set<number> {
    if (ids.length === 0) return new Set();
    const held = prepared(
      this.db,
      `UPDATE outbox SET claim_expires_at = ?
         WHERE claim_holder = ? AND id IN (SELECT value FROM json_each(?)) RETURNING id`,
      "pluck",
    ).all(nowMs + ttlMs, holder, JSON.stringify(ids)) as number[];
    return new Set(held);
  }

  /** Gives `holder`'s claims on `ids` back untouched (no attempt counted): notices it took but did not try. */
  release(holder: string, ids: readonly number[]): number {
    if (ids.length === 0) return 0;
    return prepared(
      this.db,
      `UPDATE outbox SET claim_holder = NULL, claim_expires_at = NULL
         WHERE claim_holder = ? AND id IN (SELECT value FROM json_each(?))`,
    ).run(holder, JSON.stringify(ids)).changes;
  }

  /**
   * Records a successful post by the notice's holder and releases its claim; false (nothing recorded) when `holder`
   * no longer holds it. If the notice was updated meanwhile (newer revision), only the message id is kept, so the
   * newer payload is posted next as an edit of that message. An update never releases a claim: the newer revision
   * waits for this post's message id instead of being posted beside it by another process.
   */
  markPosted(
    id: number,
    holder: string,
    revision: number,
    messageId: string | null,
    now = new Date(),
  ): boolean {
    return (
      prepared(
        this.db,
        `UPDATE outbox SET message_id = COALESCE(@messageId, message_id), attempts = attempts + 1, last_error = NULL,
             posted_at = CASE WHEN revision = @revision THEN @at ELSE NULL END,
             claim_holder = NULL, claim_expires_at = NULL
           WHERE id = @id AND claim_holder = @holder`,
      ).run({ id, holder, revision, messageId, at: now.toISOString() }).changes === 1
    );
  }

  /**
   * Gives a guild's unposted notices (parked ones too) a fresh set of attempts: called when the guild
   * chooses a notice channel, since notices parked while it had none would otherwise never be posted.
   */
  rearm(guildId: string): number {
    return prepared(
      this.db,
      "UPDATE outbox SET attempts = 0 WHERE guild_id = ? AND posted_at IS NULL AND attempts > 0",
    ).run(guildId).changes;
  }

  /** Records a failed post by the notice's holder (an attempt, the error) and releases its claim; false as markPosted. */
  markFailed(id: number, holder: string, error: string): boolean {
    return (
      prepared(
        this.db,
        `UPDATE outbox SET attempts = attempts + 1, last_error = ?, claim_holder = NULL, claim_expires_at = NULL
           WHERE id = ? AND claim_holder = ?`,
      ).run(error, id, holder).changes === 1
    );
  }
}
