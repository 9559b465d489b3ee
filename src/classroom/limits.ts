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
