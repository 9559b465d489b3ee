// Pending "Start this fine-tuning job?" confirmations, between the estimate and the click on Start.
// In memory on purpose: a confirmation lives no longer than the interaction token that shows it (15 min),
// a restart simply asks the teacher to run the command again, and the map is capped. The custom id carries
// only a random key; the click handler re-checks everything against the stored request.
import { randomBytes } from "node:crypto";
import type { Quote } from "./quote.ts";

/** A confirmation lives as long as the interaction token that shows it: Discord gives 15 minutes. */
const CONFIRMATION_TTL_MS = 15 * 60 * 1000;

export interface PendingJob {
  guildId: string;
  requesterId: string;
  datasetId: number;
  model: string;
  suffix: string | undefined;
  epochs: number | undefined;
  estimatedCostUsd: number;
  /** The estimate the teacher saw: Start trains on exactly this, without validating again. */
  quote?: Quote | undefined;
}

export interface ConfirmationStoreOptions {
  /** Oldest entries are dropped beyond this many. */
  max?: number;
  ttlMs?: number;
  now?: () => number;
}

export class ConfirmationStore {
  private readonly entries = new Map<string, { pending: PendingJob; expiresAt: number }>();
  private readonly max: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor({ max = 500, ttlMs = CONFIRMATION_TTL_MS, now = Date.now }: ConfirmationStoreOptions = {}) {
    this.max = max;
    this.ttlMs = ttlMs;
    this.now = now;
  }

  /** Stores the request and returns its key (12 url-safe characters: fits in a custom id). */
  add(pending: PendingJob): string {
    this.sweep();
    while (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    const key = randomBytes(9).toString("base64url");
    this.entries.set(key, { pending, expiresAt: this.now() + this.ttlMs });
    return key;
  }

  get(key: string): PendingJob | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.pending;
  }

  /** Removes and returns the request: a second click (or a double click) finds nothing to start. */
  take(key: string): PendingJob | undefined {
    const pending = this.get(key);
    this.entries.delete(key);
    return pending;
  }

  get size(): number {
    return this.entries.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}
