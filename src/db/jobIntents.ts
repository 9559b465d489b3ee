// Repository for job_intents: creates sent (or about to be sent) to the provider whose outcome is not recorded yet.
import type { Db } from "./open.ts";

export interface JobIntent<T> {
  tag: string;
  guildId: string;
  provider: string;
  input: T;
  createdAt: string;
}

export class JobIntentRepository<T> {
  constructor(private readonly db: Db) {}

  insert(intent: JobIntent<T>): void {
    this.db
      .prepare("INSERT INTO job_intents (tag, guild_id, provider, input, created_at) VALUES (?, ?, ?, ?, ?)")
      .run(intent.tag, intent.guildId, intent.provider, JSON.stringify(intent.input), intent.createdAt);
  }

  delete(tag: string): void {
    this.db.prepare("DELETE FROM job_intents WHERE tag = ?").run(tag);
  }

  listForProvider(provider: string, limit = 50): JobIntent<T>[] {
    const rows = this.db
      .prepare(
        `SELECT tag, guild_id AS guildId, provider, input, created_at AS createdAt FROM job_intents
         WHERE provider = ? ORDER BY created_at LIMIT ?`,
      )
      .all(provider, limit) as (Omit<JobIntent<T>, "input"> & { input: string })[];
    return rows.map((r) => ({ ...r, input: JSON.parse(r.input) as T }));
  }
}
