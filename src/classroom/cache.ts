// Answers to exact repeats (after normalising case, whitespace and trailing punctuation), capped LRU with a TTL.
export interface CachedAnswer {
  answer: string;
  model: string;
  provider: string;
}

/** "  What is  Photosynthesis?? " → "what is photosynthesis". */
export function normaliseQuestion(q: string): string {
  return q
    .normalize("NFKC")
    .toLowerCase()
    .replace(/\s+/g, " ")
    .trim()
    .replace(/[\s?!.,;:…。？！]+$/u, "");
}

export class AnswerCache {
  private readonly entries = new Map<string, { value: CachedAnswer; expires: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
  ) {}

  static key(guildId: string, model: string, systemPrompt: string, question: string): string {
    return JSON.stringify([guildId, model, systemPrompt, normaliseQuestion(question)]);
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string, now: number): CachedAnswer | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    if (e.expires <= now) return undefined;
    this.entries.set(key, e); // most recently used last
    return e.value;
  }

  set(key: string, value: CachedAnswer, now: number): void {
    if (this.maxEntries === 0 || this.ttlMs === 0) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expires: now + this.ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }

  /**
   * Forgets the server's cached answers to these questions (a student's /privacy delete), or all of the server's
   * when `questions` is undefined (the server's data deleted). Returns how many entries went.
   */
  forget(guildId: string, questions?: string[]): number {
    const asked = questions && new Set(questions.map(normaliseQuestion));
    let n = 0;
    for (const key of [...this.entries.keys()]) {
      const [g, , , q] = JSON.parse(key) as [string, string, string, string];
      if (g === guildId && (asked === undefined || asked.has(q))) {
        this.entries.delete(key);
        n++;
      }
    }
    return n;
  }
}
