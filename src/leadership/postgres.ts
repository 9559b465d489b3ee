// Leadership on PostgreSQL (issue 14): the process whose session holds a session-level advisory lock runs the
// scheduled work. The lock lives exactly as long as the session, so it needs no expiry: a process that stops
// releases it (pg_advisory_unlock, then the session ends), and a process that dies takes its session with it, so
// PostgreSQL frees the lock at once and a follower leads at its next attempt, not after a lease.
//
// Wiring, for when the app picks it (the store's configuration decides; nothing here reads the environment):
//   new PostgresLeadership({ url: databaseUrl, logger: logger.child({ service: "leadership" }) })
// It opens a pg.Client of its own (not a pool's: a session lock lives with its one session), one per process.
import { createHash } from "node:crypto";
import pg from "pg";
import { redactUrl } from "../db/postgres/url.ts";
import { type Logger, silentLogger } from "../logger.ts";
import {
  announceRole,
  intervalOf,
  type Leadership,
  newInstanceId,
  RENEW_EVERY_MS,
  type Role,
  SCHEDULER_LEASE,
} from "./leadership.ts";

/**
 * The advisory lock key for a lease name: the first 8 bytes of SHA-256("classtune leader lease:" + name), read as a
 * big-endian signed 64-bit integer. The same in every process and release (so never change it: two versions
 * running side by side during a deploy must contend for one lock); namespaced so another application's locks on
 * the same database are unlikely to collide. pg_locks shows it as classid (high 32 bits), objid (low), objsubid 1.
 */
export function advisoryLockKey(name: string): bigint {
  return createHash("sha256").update(`classtune leader lease:${name}`).digest().readBigInt64BE(0);
}

/** The session's idle limit, in renewal intervals: PostgreSQL itself ends a session that stopped talking. */
const IDLE_SESSION_INTERVALS = 3;
/** How long a confirmed check counts, in intervals: shorter than the idle limit, so a stalled leader steps down first. */
const CONFIRMED_FOR_INTERVALS = 2;

export interface PostgresLeadershipOptions {
  /** The database every contending process uses (advisory locks are per database). Logged only without its password. */
  url: string;
  /** Default host#pid#random: unique per instance, even two in one process (tests). */
  id?: string;
  /** The lease's name, hashed into the lock key (advisoryLockKey); default SCHEDULER_LEASE. */
  name?: string;
  /**
   * How often a follower tries for the lock and the leader checks its session; also the bound on each query and on
   * connecting. Default RENEW_EVERY_MS.
   */
  renewEveryMs?: number;
  /**
   * Milliseconds on this process's own clock (default performance.now(), monotonic): how long ago this process last
   * confirmed its session (see isLeader).
   */
  now?: () => number;
  /**
   * Runs `attempt` every `ms` until the returned function is called; default an unref'd setInterval. Tests pass a
   * no-op and call attempt() themselves.
   */
  every?: (ms: number, attempt: () => void) => () => void;
  /** Builds the session's client from the settings chosen here (timeouts included); default `new pg.Client`. */
  newClient?: (config: pg.ClientConfig) => pg.Client;
  logger?: Logger;
}

/**
 * Leadership as `pg_try_advisory_lock(key)` on a session of its own. start() tries at once, then every
 * renewEveryMs: a follower tries again (connecting anew when its session is gone); the leader runs a bounded query
 * that its session still holds the lock. A session that ends or errors, or a check that fails or outlasts one
 * interval, demotes at once; the next attempt tries again as a follower.
 *
 * Two leaders at once are ruled out by PostgreSQL, which grants the lock to one session at a time; what remains is
 * a leader that has lost its session without knowing yet. A session killed or a process dead is reported over the
 * socket at once. A half-dead network or a stalled event loop is bounded by the clock: the session asks PostgreSQL to
 * end it after 3 intervals without a query (idle_session_timeout), and isLeader() turns false 2 intervals after the
 * last confirmed check was sent, so the old leader stops starting work before the lock can be freed for another.
 */
export class PostgresLeadership implements Leadership {
  readonly id: string;
  private readonly url: string;
  private readonly name: string;
  private readonly key: string;
  private readonly renewEveryMs: number;
  private readonly now: () => number;
  private readonly every: (ms: number, attempt: () => void) => () => void;
  private readonly newClient: (config: pg.ClientConfig) => pg.Client;
  private readonly logger: Logger;
  private readonly listeners = new Set<(role: Role) => void>();
  /** The connected session, when there is one. */
  private session: pg.Client | undefined;
  /** Whether `session` holds the lock (as of its last check). */
  private held = false;
  /** When the last successful lock or check was sent (by `now`). */
  private confirmedAt = 0;
  private reported: Role = "follower";
  private cancel: (() => void) | undefined;
  private inFlight: Promise<Role> | undefined;

  constructor(o: PostgresLeadershipOptions) {
    this.url = o.url;
    this.id = o.id ?? newInstanceId();
    this.name = o.name ?? SCHEDULER_LEASE;
    this.key = advisoryLockKey(this.name).toString();
    this.renewEveryMs = o.renewEveryMs ?? RENEW_EVERY_MS;
    if (!(this.renewEveryMs > 0)) throw new Error(`cannot try for the lock every ${this.renewEveryMs} ms`);
    // Only ever compared with its own earlier readings: a monotonic clock, which a wall clock set back cannot stretch.
    this.now = o.now ?? (() => performance.now());
    this.every = o.every ?? intervalOf;
    this.newClient = o.newClient ?? ((config) => new pg.Client(config));
    this.logger = o.logger ?? silentLogger;
  }

  isLeader(): boolean {
    return this.held && this.now() < this.confirmedAt + CONFIRMED_FOR_INTERVALS * this.renewEveryMs;
  }

  role(): Role {
    return this.isLeader() ? "leader" : "follower";
  }

  async start(): Promise<void> {
    if (this.cancel) return;
    this.cancel = this.every(this.renewEveryMs, () => void this.attempt());
    await this.attempt();
  }

  async stop(): Promise<void> {
    const cancel = this.cancel;
    this.cancel = undefined;
    cancel?.();
    // An attempt under way finishes first, so the session it may be locking on is the one ended below.
    await this.inFlight;
    const session = this.session;
    const held = this.held;
    this.session = undefined;
    this.held = false;
    this.report();
    if (!session) return;
    if (held) {
      try {
        await session.query("SELECT pg_advisory_unlock($1::bigint)", [this.key]);
      } catch (err) {
        // Ending the session below frees it as well.
        this.logger.warn(
          { err, lease: this.name },
          "could not unlock the leader lock; ending its session frees it",
        );
      }
    }
    await session.end().catch(() => undefined);
  }

  onChange(listener: (role: Role) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * One attempt now (the schedule calls it every renewEveryMs): a follower tries for the lock, the leader checks its
   * session. Resolves with the role it left and never rejects. Overlapping calls share one attempt; between stop()
   * and the next start() it does nothing, so a process shutting down never takes the lock back.
   */
  attempt(): Promise<Role> {
    if (!this.cancel) return Promise.resolve(this.role());
    this.inFlight ??= this.tryOnce().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async tryOnce(): Promise<Role> {
    const leading = this.held;
    let session = this.session;
    try {
      session ??= await this.connect();
      const sentAt = this.now();
      if (leading) {
        const { rows } = await session.query<{ held: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
             AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1::bigint) AS held`,
          [this.key],
        );
        if (!rows[0]?.held) throw new Error("the session no longer holds the leader lock");
      } else {
        const { rows } = await session.query<{ locked: boolean }>(
          "SELECT pg_try_advisory_lock($1::bigint) AS locked",
          [this.key],
        );
        // Locked by a session since lost: the lock went with it.
        if (session === this.session) this.held = rows[0]?.locked === true;
      }
      if (this.held && session === this.session) this.confirmedAt = sentAt;
    } catch (err) {
      const why = leading
        ? "the leader lock's session failed its check"
        : "could not try for the leader lock";
      // A lock request that failed may still have been granted; ending the session frees it either way.
      if (session) this.lose(session, err, why);
      else this.logger.warn({ err, lease: this.name, url: redactUrl(this.url) }, why);
    }
    this.report();
    return this.reported;
  }

  /** A new session with every wait bounded by one interval; 'error' or 'end' on it demotes at once. */
  private async connect(): Promise<pg.Client> {
    const bound = this.renewEveryMs;
    const client = this.newClient({
      connectionString: this.url,
      application_name: "classtune leadership",
      connectionTimeoutMillis: bound,
      // Client-side, for a network that no longer answers; server-side, for a slow server.
      query_timeout: bound,
      statement_timeout: bound,
      keepAlive: true,
    });
    client.on("error", (err) => this.lose(client, err, "the leader lock's session failed"));
    client.on("end", () => this.lose(client, undefined, "the leader lock's session ended"));
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    try {
      // PostgreSQL 14+: a session that sent nothing for this long (a leader cut off, a stalled process) is ended by
      // the server, so its lock is freed for a follower. Older servers refuse the setting; leadership still works.
      await client.query(`SET idle_session_timeout = ${IDLE_SESSION_INTERVALS * bound}`);
    } catch (err) {
      this.logger.warn({ err, lease: this.name }, "this PostgreSQL cannot end idle sessions itself");
    }
    this.session = client;
    return client;
  }

  /** Ends `client`; when it is the current session, logs why it went and drops it (demoting, if it led). */
  private lose(client: pg.Client, err: unknown, why: string): void {
    void client.end().catch(() => undefined);
    if (client !== this.session) return;
    this.logger.warn({ err, lease: this.name, url: redactUrl(this.url), leading: this.held }, why);
    this.session = undefined;
    this.held = false;
    this.report();
  }

  private report(): void {
    const role = this.role();
    if (role === this.reported) return;
    this.reported = role;
    announceRole({ lease: this.name, holder: this.id, role, listeners: this.listeners, logger: this.logger });
  }
}
