// Repository for job_intents: creates sent (or about to be sent) to the provider whose outcome is not recorded yet.
import type { ProviderRef } from "./jobs.ts";
import type { Db } from "./open.ts";
import { fillProviderEndpoint, type Repoint, repointProviderRows } from "./providerRows.ts";
import { prepared } from "./statements.ts";

export interface JobIntent<T> {
  tag: string;
  guildId: string;
  provider: string;
  /** The provider's kind and endpoint (see JobRow); null for intents from before migration 006. */
  providerKind: string | null;
  providerEndpoint: string | null;
  input: T;
  createdAt: string;
}

export class JobIntentRepository<T> {
  constructor(private readonly db: Db) {}

  /** Kind and endpoint unset: unknown, as for intents from before migration 006. */
  insert(
    intent: Omit<JobIntent<T>, "providerKind" | "providerEndpoint"> &
      Partial<Pick<JobIntent<T>, "providerKind" | "providerEndpoint">>,
  ): void {
    prepared(
      this.db,
      `INSERT INTO job_intents (tag, guild_id, provider, provider_kind, provider_endpoint, input, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      intent.tag,
      intent.guildId,
      intent.provider,
      intent.providerKind ?? null,
      intent.providerEndpoint ?? null,
      JSON.stringify(intent.input),
      intent.createdAt,
    );
  }

  delete(tag: string): void {
    prepared(this.db, "DELETE FROM job_intents WHERE tag = ?").run(tag);
  }

  listForProvider(provider: string, limit = 50): JobIntent<T>[] {
    const rows = prepared(
      this.db,
      `SELECT tag, guild_id AS guildId, provider, provider_kind AS providerKind,
           provider_endpoint AS providerEndpoint, input, created_at AS createdAt FROM job_intents
         WHERE provider = ? ORDER BY created_at LIMIT ?`,
    ).all(provider, limit) as (Omit<JobIntent<T>, "input"> & { input: string })[];
    return rows.map((r) => ({ ...r, input: JSON.parse(r.input) as T }));
  }

  /** The provider names of pending creates (with their endpoints), across guilds unless one is given. */
  providers(guildId?: string): ProviderRef[] {
    return prepared(
      this.db,
      `SELECT DISTINCT provider, provider_endpoint AS endpoint FROM job_intents
         WHERE @guildId IS NULL OR guild_id = @guildId ORDER BY provider`,
    ).all({ guildId: guildId ?? null }) as ProviderRef[];
  }

  /** Moves pending creates of a renamed provider to its new name (see JobRepository.repointProvider). */
  repointProvider(r: Repoint): number {
    return repointProviderRows(this.db, "job_intents", r);
  }

  /** Records the endpoint of intents written before it was kept (migration 006). */
  fillEndpoint(provider: string, kind: string, endpoint: string, guildId?: string): number {
    return fillProviderEndpoint(this.db, "job_intents", provider, kind, endpoint, guildId);
  }
}
