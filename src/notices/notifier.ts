// Drains the outbox through a NoticeSender (the Discord glue plugs in the real one; tests use an
// in-memory one). A notice is written in the same transaction as the change it announces, so a crash
// before posting loses nothing: the row survives and is posted on the next drain. A failed post stays
// pending and is retried on later drains (attempts counted, error kept). Each guild is its own lane: lanes
// are drained side by side, each takes at most its share of a drain, and a guild whose notices cannot be
// posted (no channel, a deleted one, no Send permission) holds back only its own.
// Every process may drain (a command on a follower posts its fresh notice at once), but a drain posts only the
// notices it claimed (OutboxRepository.claim): of several processes on one database, each notice is posted by one.
import { OUTBOX_CLAIM_MS, OutboxRepository, type OutboxRow } from "../db/outbox.ts";
import type { Store } from "../db/query/store.ts";
import type { OutboxNotice } from "../domain/notices.ts";
import { newInstanceId } from "../leadership/leadership.ts";
import type { Logger } from "../logger.ts";
import { silentLogger } from "../logger.ts";

export interface NoticeSender {
  send(notice: OutboxNotice): Promise<{ messageId?: string | undefined }>;
}

export interface NotifierOptions {
  store: Store;
  sender: NoticeSender;
  logger?: Logger;
  /** Notices handled per drain. */
  batch?: number;
  /** At most this many of one guild's notices per drain (its lane's share); default 10. */
  perGuild?: number | undefined;
  /** Only this guild's notices (the CLI drains "cli" and leaves the bot's alone); default every guild. */
  guildId?: string | undefined;
  /** When draining every guild, these are left alone; default the terminal's guild ("cli"), which has no channel. */
  exceptGuildIds?: string[] | undefined;
  /** A notice that failed this many posts is parked (kept with its error, no longer tried); default 10. */
  maxAttempts?: number | undefined;
  /** This process's id in the outbox's claims (the bot passes its Leadership id); default a new one. */
  holder?: string | undefined;
  /** How long a claim lasts unrenewed; default OUTBOX_CLAIM_MS. */
  claimMs?: number | undefined;
  /** Milliseconds since the epoch, for claims (every process on one SQLite file shares the machine's clock). */
  now?: (() => number) | undefined;
}

/** The guild id the command line works in: its notices are the terminal's, never posted to Discord. */
export const CLI_GUILD_ID = "cli";

export interface DrainResult {
  posted: number;
  failed: number;
}

export class Notifier {
  private readonly outbox: OutboxRepository;
  private readonly sender: NoticeSender;
  private readonly logger: Logger;
  private readonly batch: number;
  private readonly perGuild: number;
  private readonly guildId: string | undefined;
  private readonly exceptGuildIds: string[];
  private readonly maxAttempts: number;
  /** This process's id in the outbox's claims. */
  readonly holder: string;
  private readonly claimMs: number;
  private readonly now: () => number;
  private inFlight: Promise<DrainResult> | undefined;

  constructor({
    store,
    sender,
    logger = silentLogger,
    batch = 50,
    perGuild = 10,
    guildId,
    exceptGuildIds,
    maxAttempts,
    holder,
    claimMs,
    now,
  }: NotifierOptions) {
    this.holder = holder ?? newInstanceId();
    this.claimMs = claimMs ?? OUTBOX_CLAIM_MS;
    this.now = now ?? Date.now;
    this.guildId = guildId;
    this.exceptGuildIds = exceptGuildIds ?? [CLI_GUILD_ID];
    this.maxAttempts = maxAttempts ?? 10;
    this.outbox = new OutboxRepository(store);
    this.sender = sender;
    this.logger = logger;
    this.batch = batch;
    this.perGuild = perGuild;
  }

  /**
   * A guild's notice channel was set: its notices that waited (or were parked) for want of one get their
   * chance now. Returns how many were waiting.
   */
  rearm(guildId: string): Promise<number> {
    return this.outbox.rearm(guildId);
  }

  /**
   * Posts the pending notices it can claim, oldest first; concurrent calls share one drain. A guild whose notices
   * another process is posting right now is left to it: they are posted by the next drain after that one, anywhere.
   */
  drain(): Promise<DrainResult> {
    this.inFlight ??= this.drainOnce().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /**
   * A drain that sees every notice written before this call: a drain already in flight may have read the
   * outbox before it, so that one is waited out first.
   */
  async drainFresh(): Promise<DrainResult> {
    await this.inFlight?.catch(() => undefined);
    return this.drain();
  }

  private async drainOnce(): Promise<DrainResult> {
    const result: DrainResult = { posted: 0, failed: 0 };
    const claimed = await this.outbox.claim(
      this.holder,
      this.guildId === undefined
        ? {
            limit: this.batch,
            maxAttempts: this.maxAttempts,
            exceptGuildIds: this.exceptGuildIds,
            perGuild: this.perGuild,
          }
        : { limit: this.batch, maxAttempts: this.maxAttempts, guildId: this.guildId },
      this.now(),
      this.claimMs,
    );
    const lanes = new Map<string, OutboxRow[]>();
    for (const row of claimed) {
      const lane = lanes.get(row.guildId);
      if (lane) lane.push(row);
      else lanes.set(row.guildId, [row]);
    }
    // Side by side, so a guild whose post is slow (Discord retrying, a timeout) delays no other guild.
    await Promise.all([...lanes.values()].map((rows) => this.drainLane(rows, result)));
    return result;
  }

  /** One guild's claimed notices, oldest first; whatever is left untried is released at the end. */
  private async drainLane(rows: OutboxRow[], result: DrainResult): Promise<void> {
    const ids = rows.map((r) => r.id);
    try {
      await this.postLane(rows, ids, result);
    } finally {
      try {
        await this.outbox.release(this.holder, ids);
      } catch (err) {
        this.logger.warn(
          { err, guildId: rows[0]?.guildId },
          "notice claims not released; they expire by themselves",
        );
      }
    }
  }

  private async postLane(rows: OutboxRow[], ids: number[], result: DrainResult): Promise<void> {
    const failedChannels = new Set<string | null>();
    for (const [i, row] of rows.entries()) {
      // Keep a channel's notices in order: after one fails, later ones there wait for the next drain
      // (with no attempt counted: only the one that failed is charged).
      if (failedChannels.has(row.channelId)) continue;
      // The claim needs to outlast this post, not the lane's: renewed before each one. A notice whose claim lapsed
      // and was taken by another process meanwhile is that process's to post now.
      const held = await this.outbox.renew(this.holder, ids.slice(i), this.now(), this.claimMs);
      if (!held.has(row.id)) {
        this.logger.warn(
          { noticeId: row.id, guildId: row.guildId },
          "notice claim lost; another process posts it",
        );
        continue;
      }
      try {
        const { messageId } = await this.sender.send(toNotice(row));
        if (!(await this.outbox.markPosted(row.id, this.holder, row.revision, messageId ?? null))) {
          this.logger.warn(
            { noticeId: row.id, guildId: row.guildId },
            "notice posted after its claim lapsed and another process took it",
          );
        }
        result.posted += 1;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        await this.outbox.markFailed(row.id, this.holder, message);
        failedChannels.add(row.channelId);
        result.failed += 1;
        this.logger.warn(
          { noticeId: row.id, guildId: row.guildId, kind: row.kind, attempts: row.attempts + 1, err },
          "notice not posted",
        );
      }
    }
  }
}

export function toNotice(row: OutboxRow): OutboxNotice {
  return {
    id: row.id,
    guildId: row.guildId,
    channelId: row.channelId,
    kind: row.kind,
    payload: row.payload,
    messageId: row.messageId,
    nonce: `ct${row.id}r${row.revision}`,
    attempts: row.attempts,
    createdAt: row.createdAt,
  } as OutboxNotice;
}
