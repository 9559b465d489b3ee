// Which process runs the scheduled work when several share one database: the poller's ticks, and the outbox drain,
// privacy sweep and hosting sweep they drive, run only in the process that holds the lease (issue 14). A single
// process takes it at start-up and keeps it, so nothing changes for it; a second one waits as a follower and takes
// over once the leader releases the lease (shutdown) or stops renewing it (a crash, a stalled event loop).
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { LeaderLeaseRepository } from "../db/leaderLease.ts";
import type { Store } from "../db/query/store.ts";
import { type Logger, silentLogger } from "../logger.ts";

export type Role = "leader" | "follower";

/**
 * Leadership over the scheduled work. Two implementations sit behind it, and callers never know which: the SQLite
 * lease below (one database file, so one machine), and PostgresLeadership (src/leadership/postgres.ts):
 * `pg_try_advisory_lock(key)` on a session of its own, which lives as long as that session, so a dead leader's lock
 * is freed at once instead of after a lease.
 */
export interface Leadership {
  /** This process's holder id, for logs (the health endpoint never shows it). */
  readonly id: string;
  /** True while this process may START scheduled work; a tick already running when it turns false finishes. */
  isLeader(): boolean;
  role(): Role;
  /** Makes the first attempt before it resolves (a lone process leads from start-up), then renews or retries. */
  start(): Promise<void>;
  /** Stops renewing and gives the lease up, so a follower takes over at its next attempt instead of after expiry. */
  stop(): Promise<void>;
  /** Called with the new role on each change (after an attempt); returns the unsubscribe. */
  onChange(listener: (role: Role) => void): () => void;
}

/** How long a lease lasts without renewal: a crashed leader's work resumes elsewhere within about this long. */
export const LEASE_MS = 30_000;
/** How often the leader renews (and a follower retries): two renewals may fail before the lease lapses. */
export const RENEW_EVERY_MS = 10_000;
/** The lease the scheduled work runs under. */
export const SCHEDULER_LEASE = "scheduler";

/** A holder id for this process: host#pid#random, unique per call (so even two instances in one process differ). */
export function newInstanceId(): string {
  return `${hostname()}#${process.pid}#${randomUUID().slice(0, 8)}`;
}

export interface SqliteLeadershipOptions {
  store: Store;
  /** Default host#pid#random: unique per instance, even two in one process (tests). */
  id?: string;
  /** The lease's name; default SCHEDULER_LEASE. */
  name?: string;
  leaseMs?: number;
  renewEveryMs?: number;
  /** Milliseconds since the epoch. Every process on one SQLite file runs on the same machine, so on one clock. */
  now?: () => number;
  /**
   * Runs `attempt` every `ms` until the returned function is called; default an unref'd setInterval. Tests pass a
   * no-op and call attempt() themselves on a manual clock.
   */
  every?: (ms: number, attempt: () => void) => () => void;
  logger?: Logger;
}

/** The default schedule for renewals and retries: an unref'd setInterval (the bot's gateway keeps the process alive). */
export const intervalOf = (ms: number, attempt: () => void): (() => void) => {
  const timer = setInterval(attempt, ms);
  timer.unref();
  return () => clearInterval(timer);
};

/** Leadership as a lease row in SQLite (migration 014), taken and renewed in BEGIN IMMEDIATE transactions. */
export class SqliteLeadership implements Leadership {
  readonly id: string;
  private readonly leases: LeaderLeaseRepository;
  private readonly name: string;
  private readonly leaseMs: number;
  private readonly renewEveryMs: number;
  private readonly now: () => number;
  private readonly every: (ms: number, attempt: () => void) => () => void;
  private readonly logger: Logger;
  private readonly listeners = new Set<(role: Role) => void>();
  /** Until when this instance knows it holds the lease (0: it does not); by its own clock, like the row's expiry. */
  private heldUntil = 0;
  private reported: Role = "follower";
  private cancel: (() => void) | undefined;
  private inFlight: Promise<Role> | undefined;

  constructor(o: SqliteLeadershipOptions) {
    this.leases = new LeaderLeaseRepository(o.store);
    this.id = o.id ?? newInstanceId();
    this.name = o.name ?? SCHEDULER_LEASE;
    this.leaseMs = o.leaseMs ?? LEASE_MS;
    this.renewEveryMs = o.renewEveryMs ?? RENEW_EVERY_MS;
    if (!(this.renewEveryMs > 0 && this.renewEveryMs < this.leaseMs)) {
      throw new Error(`a lease of ${this.leaseMs} ms cannot be renewed every ${this.renewEveryMs} ms`);
    }
    this.now = o.now ?? Date.now;
    this.every = o.every ?? intervalOf;
    this.logger = o.logger ?? silentLogger;
  }

  isLeader(): boolean {
    return this.heldUntil > this.now();
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
    // An attempt under way finishes first, so a lease it takes is the one given up below.
    await this.inFlight;
    const held = this.heldUntil > 0;
    this.heldUntil = 0;
    if (held) {
      try {
        await this.leases.release(this.name, this.id);
      } catch (err) {
        // It lapses by itself: a successor waits out the lease instead.
        this.logger.warn(
          { err, lease: this.name },
          "could not release the leader lease; it expires by itself",
        );
      }
    }
    this.report();
  }

  onChange(listener: (role: Role) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * One acquire-or-renew now (the schedule calls it every renewEveryMs); resolves with the role it left and never
   * rejects. Overlapping calls share one attempt; between stop() and the next start() it does nothing: a process
   * shutting down never takes the lease back.
   */
  attempt(): Promise<Role> {
    if (!this.cancel) return Promise.resolve(this.role());
    this.inFlight ??= this.tryOnce().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async tryOnce(): Promise<Role> {
    const now = this.now();
    try {
      const lease = await this.leases.acquire(this.name, this.id, now, this.leaseMs);
      this.heldUntil = lease.holder === this.id ? lease.expiresAt : 0;
    } catch (err) {
      // A busy or broken database: what was held lapses at its expiry, as it does for the other processes.
      this.logger.warn({ err, lease: this.name }, "could not renew or take the leader lease; retrying");
    }
    this.report();
    return this.reported;
  }

  private report(): void {
    const role = this.role();
    if (role === this.reported) return;
    this.reported = role;
    announceRole({ lease: this.name, holder: this.id, role, listeners: this.listeners, logger: this.logger });
  }
}

/** Logs a change of role and tells each listener; a listener that throws is logged, and the others still hear. */
export function announceRole(o: {
  lease: string;
  holder: string;
  role: Role;
  listeners: Iterable<(role: Role) => void>;
  logger: Logger;
}): void {
  o.logger.info(
    { lease: o.lease, holder: o.holder, role: o.role },
    `now the ${o.role} for the scheduled work`,
  );
  for (const listener of o.listeners) {
    try {
      listener(o.role);
    } catch (err) {
      o.logger.error({ err }, "a leadership listener failed");
    }
  }
}
