// Rows that record the provider they belong to (jobs, job_intents): a renamed provider's rows move to its new
// name, and rows written before the endpoint was kept (migration 006) get it. One home for both tables.
import { sql } from "kysely";
import { compiled, type Param } from "./query/compiled.ts";
import type { Queryable } from "./query/store.ts";

/** A renamed provider: rows under `from` at `endpoint` now belong to the provider configured as `to`. */
export interface Repoint {
  from: string;
  to: string;
  kind: string;
  endpoint: string;
  /** Only this guild's rows (the CLI); default every guild's. */
  guildId?: string | undefined;
}

type ProviderTable = "jobs" | "job_intents";

type RepointValues = { from: string; to: string; kind: string; endpoint: string; guildId: string | null };

/** `guildId` may be NULL (every guild): typed for PostgreSQL, which cannot infer a bare `$1 IS NULL`. */
const inGuild = (p: Param<{ guildId: string | null }>) =>
  sql<boolean>`(cast(${p("guildId")} as text) IS NULL OR guild_id = ${p("guildId")})`;

const repointOf = (table: ProviderTable) =>
  compiled((db, p: Param<RepointValues>) =>
    db
      .updateTable(table)
      .set({ provider: p("to"), provider_kind: p("kind") })
      .where("provider", "=", p("from"))
      .where("provider_endpoint", "=", p("endpoint"))
      .where(inGuild(p)),
  );

const repoint = { jobs: repointOf("jobs"), job_intents: repointOf("job_intents") };

/**
 * Jobs' repoint that leaves a job whose unique key (provider, remote_id) the new name already holds as it is: what
 * SQLite's UPDATE OR IGNORE did, written for both engines.
 */
const repointJobsOrIgnore = compiled((db, p: Param<RepointValues>) =>
  db
    .updateTable("jobs")
    .set({ provider: p("to"), provider_kind: p("kind") })
    .where("provider", "=", p("from"))
    .where("provider_endpoint", "=", p("endpoint"))
    .where(inGuild(p))
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom("jobs as o")
            .select(sql`1`.as("one"))
            .where("o.provider", "=", p("to"))
            .whereRef("o.remote_id", "=", "jobs.remote_id")
            .whereRef("o.id", "<>", "jobs.id"),
        ),
      ),
    ),
);

type FillValues = { provider: string; kind: string; endpoint: string; guildId: string | null };

const fillOf = (table: ProviderTable) =>
  compiled((db, p: Param<FillValues>) =>
    db
      .updateTable(table)
      .set({ provider_kind: p("kind"), provider_endpoint: p("endpoint") })
      .where("provider", "=", p("provider"))
      .where("provider_endpoint", "is", null)
      .where(inGuild(p)),
  );

const fill = { jobs: fillOf("jobs"), job_intents: fillOf("job_intents") };

/**
 * Moves the rows of a renamed provider to its new name; `orIgnore` leaves a row whose unique key the new name
 * already holds as it is (only jobs have such a key). Returns the count moved.
 */
export async function repointProviderRows(
  on: Queryable,
  table: ProviderTable,
  r: Repoint,
  orIgnore = false,
): Promise<number> {
  const statement = orIgnore && table === "jobs" ? repointJobsOrIgnore : repoint[table];
  return statement.executeChanges(on, {
    from: r.from,
    to: r.to,
    kind: r.kind,
    endpoint: r.endpoint,
    guildId: r.guildId ?? null,
  });
}

/** Records the kind and endpoint of rows written before they were kept, from the provider configured by that name. */
export async function fillProviderEndpoint(
  on: Queryable,
  table: ProviderTable,
  provider: string,
  kind: string,
  endpoint: string,
  guildId?: string,
): Promise<number> {
  return fill[table].executeChanges(on, { provider, kind, endpoint, guildId: guildId ?? null });
}
