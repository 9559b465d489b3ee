// Repository for the outbox: notices written in the same transaction as the change they announce,
// posted later by the notifier. The dedupe key makes enqueueing idempotent; `revision` lets a notice be
// updated in place (progress) and re-posted as an edit of the same message.
import type { NewNotice, NoticeKind, NoticePayloads } from "../domain/notices.ts";
import type { Db } from "./open.ts";

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
}

export type { NewNotice };

const COLUMNS = `id, guild_id AS guildId, channel_id AS channelId, kind, payload, dedupe_key AS dedupeKey, revision,
  created_at AS createdAt, updated_at AS updatedAt, posted_at AS postedAt, message_id AS messageId, attempts,
  last_error AS lastError`;

type RawRow = Omit<OutboxRow, "payload"> & { payload: string };
const fromRaw = (r: RawRow): OutboxRow => ({ ...r, payload: JSON.parse(r.payload) as unknown });

export class OutboxRepository {
  constructor(private readonly db: Db) {}

  /** Enqueues once: a second notice with the same dedupe key is ignored. Returns whether it was new. */
  enqueue<K extends NoticeKind>(n: NewNotice<K>, now = new Date()): boolean {
    const at = now.toISOString();
    return (
      this.db
        .prepare(
          `INSERT INTO outbox (guild_id, channel_id, kind, payload, dedupe_key, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING`,
        )
        .run(n.guildId, n.channelId, n.kind, JSON.stringify(n.payload), n.dedupeKey, at, at).changes === 1
    );
  }

  /** Enqueues, or replaces the payload of the notice with this key and marks it for re-posting (an edit). */
  upsert<K extends NoticeKind>(n: NewNotice<K>, now = new Date()): void {
    const at = now.toISOString();
    this.db
      .prepare(
        `INSERT INTO outbox (guild_id, channel_id, kind, payload, dedupe_key, created_at, updated_at)
         VALUES (@guildId, @channelId, @kind, @payload, @dedupeKey, @at, @at)
         ON CONFLICT (dedupe_key) DO UPDATE SET payload = excluded.payload, updated_at = excluded.updated_at,
           revision = revision + 1, posted_at = NULL, attempts = 0, last_error = NULL`,
      )
      .run({ ...n, payload: JSON.stringify(n.payload), at });
  }

  getByKey(guildId: string, dedupeKey: string): OutboxRow | undefined {
    const r = this.db
      .prepare(`SELECT ${COLUMNS} FROM outbox WHERE guild_id = ? AND dedupe_key = ?`)
      .get(guildId, dedupeKey) as RawRow | undefined;
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
      this.db
        .prepare(`SELECT ${COLUMNS} FROM outbox WHERE guild_id = ? ORDER BY id LIMIT ?`)
        .all(guildId, limit) as RawRow[]
    ).map(fromRaw);
  }

  /**
   * The notifier's sweep across guilds (except `exceptGuildIds`): at most `perGuild` of each guild's oldest
   * pending notices, dealt round-robin (every guild's first before any guild's second, and among those the
   * ones that have not failed yet first), `limit` in all. So a guild piling up undeliverable notices takes
   * one guild's share, never the whole batch. Notices that failed `maxAttempts` times are parked (kept,
   * with their error).
   */
  pendingAcrossGuilds(
    limit = 50,
    maxAttempts = Number.MAX_SAFE_INTEGER,
    exceptGuildIds: string[] = [],
    perGuild = limit,
  ): OutboxRow[] {
    return (
      this.db
        .prepare(
          `SELECT ${COLUMNS} FROM (
             SELECT *, ROW_NUMBER() OVER (PARTITION BY guild_id ORDER BY id) AS lane_rank FROM outbox
             WHERE posted_at IS NULL AND attempts < ? AND guild_id NOT IN (SELECT value FROM json_each(?))
           ) WHERE lane_rank <= ? ORDER BY lane_rank, attempts, id LIMIT ?`,
        )
        .all(maxAttempts, JSON.stringify(exceptGuildIds), perGuild, limit) as RawRow[]
    ).map(fromRaw);
  }

  /** One guild's pending notices, oldest first. */
  pending(guildId: string, limit = 50, maxAttempts = Number.MAX_SAFE_INTEGER): OutboxRow[] {
    return (
      this.db
        .prepare(
          `SELECT ${COLUMNS} FROM outbox WHERE guild_id = ? AND posted_at IS NULL AND attempts < ? ORDER BY id LIMIT ?`,
        )
        .all(guildId, maxAttempts, limit) as RawRow[]
    ).map(fromRaw);
  }

  /**
   * Records a successful post. If the notice was updated meanwhile (newer revision), only the message id is
   * kept, so the newer payload is posted next as an edit of that message.
   */
  markPosted(id: number, revision: number, messageId: string | null, now = new Date()): void {
    this.db
      .prepare(
        `UPDATE outbox SET message_id = COALESCE(@messageId, message_id), attempts = attempts + 1, last_error = NULL,
           posted_at = CASE WHEN revision = @revision THEN @at ELSE NULL END
         WHERE id = @id`,
      )
      .run({ id, revision, messageId, at: now.toISOString() });
  }

  /**
   * Gives a guild's unposted notices (parked ones too) a fresh set of attempts: called when the guild
   * chooses a notice channel, since notices parked while it had none would otherwise never be posted.
   */
  rearm(guildId: string): number {
    return this.db
      .prepare("UPDATE outbox SET attempts = 0 WHERE guild_id = ? AND posted_at IS NULL AND attempts > 0")
      .run(guildId).changes;
  }

  markFailed(id: number, error: string): void {
    this.db.prepare("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?").run(error, id);
  }
}
