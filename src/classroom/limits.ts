// Token buckets for /ask: per student and per guild. In memory with a capped map, driven by an injected clock.
export interface BucketOptions {
  /** Tokens added per minute. */
  perMinute: number;
  /** Bucket size: how many questions may come at once. */
  burst: number;
  /** Most keys kept; beyond it full buckets go first, then the least recently used. */
  maxKeys?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  private readonly maxKeys: number;

  constructor(private readonly opts: BucketOptions) {
    this.perMs = opts.perMinute / 60_000;
    this.maxKeys = opts.maxKeys ?? 10_000;
  }

  get size(): number {
    return this.buckets.size;
  }

  private level(key: string, now: number): Bucket {
    const b = this.buckets.get(key);
    if (!b) return { tokens: this.opts.burst, at: now };
    return { tokens: Math.min(this.opts.burst, b.tokens + (now - b.at) * this.perMs), at: now };
  }

  /** Seconds until `key` may take one token; 0 when it may now. */
  waitSeconds(key: string, now: number): number {
    const b = this.level(key, now);
    if (b.tokens >= 1) return 0;
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perMs / 1000));
  }

  /** Takes one token (call after waitSeconds said 0). */
  take(key: string, now: number): void {
    const b = this.level(key, now);
    b.tokens = Math.max(0, b.tokens - 1);
    this.buckets.delete(key); // re-insert: Map order is our LRU order
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) this.evict(now);
  }

  private evict(now: number): void {
    // A full bucket is the same as no bucket, so dropping those loses nothing.
    for (const [k, b] of this.buckets) {
      if (b.tokens + (now - b.at) * this.perMs >= this.opts.burst) this.buckets.delete(k);
    }
    for (const k of this.buckets.keys()) {
      if (this.buckets.size <= this.maxKeys) break;
      this.buckets.delete(k);
    }
  }
}

/** A question's hold on the daily budget while it waits for its answer; release it once, answered or not. */
export interface SpendReservation {
  readonly usd: number;
  release(): void;
}

/**
 * The spend reserved by paid questions still in flight, per guild per UTC day, so that questions asked at
 * the same moment cannot all pass the daily cap before any of them is recorded. In this process's memory: a
 * guild's interactions all reach the one process that runs its gateway shard, so the guild's questions in
 * flight are all here, also when several processes share one PostgreSQL database. An entry lives only while a
 * question holds it, so the map is as small as the number of questions in flight.
 *
 * The recorded spend is read asynchronously (the store), so a question answered while another's read is under
 * way may have released its reservation before that read's answer arrives, and its usage row may or may not be
 * in that read. `mark` before the read and `releasedSince` after it count what was released meanwhile as still
 * reserved: counted twice at worst (a refusal a moment early), never missed (an overshoot of the cap).
 */
export class SpendReservations {
  private readonly held = new Map<string, { usd: number; count: number }>();
  /** Per guild, the USD released on one UTC day (only the latest day is kept: one small entry per guild). */
  private readonly released = new Map<string, { dayStartMs: number; usd: number }>();

  private static key(guildId: string, dayStartMs: number): string {
    return `${guildId}:${dayStartMs}`;
  }

  /** USD the guild's questions in flight have reserved on the UTC day starting at `dayStartMs`. */
  reserved(guildId: string, dayStartMs: number): number {
    return this.held.get(SpendReservations.key(guildId, dayStartMs))?.usd ?? 0;
  }

  /** Taken before reading the recorded spend: see releasedSince. */
  mark(guildId: string, dayStartMs: number): number {
    const r = this.released.get(guildId);
    return r && r.dayStartMs === dayStartMs ? r.usd : 0;
  }

  /** USD released on that day since `mark` (a read of the recorded spend begun at the mark may have missed it). */
  releasedSince(guildId: string, dayStartMs: number, mark: number): number {
    return this.mark(guildId, dayStartMs) - mark;
  }

  reserve(guildId: string, dayStartMs: number, usd: number): SpendReservation {
    const key = SpendReservations.key(guildId, dayStartMs);
    const entry = this.held.get(key) ?? { usd: 0, count: 0 };
    entry.usd += usd;
    entry.count += 1;
    this.held.set(key, entry);
    let released = false;
    return {
      usd,
      release: () => {
        if (released) return;
        released = true;
        const r = this.released.get(guildId);
        if (r && r.dayStartMs === dayStartMs) r.usd += usd;
        else if (!r || r.dayStartMs < dayStartMs) this.released.set(guildId, { dayStartMs, usd });
        const e = this.held.get(key);
        if (!e) return;
        e.count -= 1;
        e.usd -= usd;
        if (e.count <= 0) this.held.delete(key); // also drops the float residue of the sums
      },
    };
  }

  get size(): number {
    return this.held.size;
  }
}
