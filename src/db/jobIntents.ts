// Repository for job_intents: creates sent (or about to be sent) to the provider whose outcome is not recorded yet.
import { sql } from "kysely";
import type { ProviderRef } from "./jobs.ts";
import { fillProviderEndpoint, type Repoint, repointProviderRows } from "./providerRows.ts";
import { compiled, type Param } from "./query/compiled.ts";
import type { Queryable } from "./query/store.ts";

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

const insertIntent = compiled(
  (
    db,
    p: Param<{
      tag: string;
      guildId: string;
      provider: string;
      providerKind: string | null;
      providerEndpoint: string | null;
      input: string;
      createdAt: string;
    }>,
  ) =>
    db.insertInto("job_intents").values({
      tag: p("tag"),
      guild_id: p("guildId"),
      provider: p("provider"),
      provider_kind: p("providerKind"),
      provider_endpoint: p("providerEndpoint"),
      input: p("input"),
      created_at: p("createdAt"),
    }),
);

const deleteIntent = compiled((db, p: Param<{ tag: string }>) =>
  db.deleteFrom("job_intents").where("tag", "=", p("tag")),
);

const forProvider = compiled((db, p: Param<{ provider: string; limit: number }>) =>
  db
    .selectFrom("job_intents")
    .select([
      "tag",
      "guild_id as guildId",
      "provider",
      "provider_kind as providerKind",
      "provider_endpoint as providerEndpoint",
      "input",
      "created_at as createdAt",
    ])
    .where("provider", "=", p("provider"))
    .orderBy("created_at")
    .limit(p("limit")),
);

const providerRefs = compiled((db, p: Param<{ guildId: string | null }>) =>
  db
    .selectFrom("job_intents")
    .select(["provider", "provider_endpoint as endpoint"])
    .distinct()
    .where(sql<boolean>`(cast(${p("guildId")} as text) IS NULL OR guild_id = ${p("guildId")})`)
    .orderBy("provider"),
);

export class JobIntentRepository<T> {
  constructor(private readonly on: Queryable) {}

  /** The same repository over a transaction of its store (store.transaction's `tx`). */
  in(tx: Queryable): JobIntentRepository<T> {
    return new JobIntentRepository<T>(tx);
  }

  /** Kind and endpoint unset: unknown, as for intents from before migration 006. */
  async insert(
    intent: Omit<JobIntent<T>, "providerKind" | "providerEndpoint"> &
      Partial<Pick<JobIntent<T>, "providerKind" | "providerEndpoint">>,
  ): Promise<void> {
    await insertIntent.executeChanges(this.on, {
      tag: intent.tag,
      guildId: intent.guildId,
      provider: intent.provider,
      providerKind: intent.providerKind ?? null,
      providerEndpoint: intent.providerEndpoint ?? null,
      input: JSON.stringify(intent.input),
      createdAt: intent.createdAt,
    });
  }

  async delete(tag: string): Promise<void> {
    await deleteIntent.executeChanges(this.on, { tag });
  }

  async listForProvider(provider: string, limit = 50): Promise<JobIntent<T>[]> {
    const rows = await forProvider.execute(this.on, { provider, limit });
    return rows.map((r) => ({ ...r, input: JSON.parse(r.input) as T }));
  }

  /** The provider names of pending creates (with their endpoints), across guilds unless one is given. */
  async providers(guildId?: string): Promise<ProviderRef[]> {
    return providerRefs.execute(this.on, { guildId: guildId ?? null });
  }

  /** Moves pending creates of a renamed provider to its new name (see JobRepository.repointProvider). */
  async repointProvider(r: Repoint): Promise<number> {
    return repointProviderRows(this.on, "job_intents", r);
  }

  /** Records the endpoint of intents written before it was kept (migration 006). */
  async fillEndpoint(provider: string, kind: string, endpoint: string, guildId?: string): Promise<number> {
    return fillProviderEndpoint(this.on, "job_intents", provider, kind, endpoint, guildId);
  }
}
