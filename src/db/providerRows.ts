// Rows that record the provider they belong to (jobs, job_intents): a renamed provider's rows move to its new
// name, and rows written before the endpoint was kept (migration 006) get it. One home for both tables.
import type { Db } from "./open.ts";
import { prepared } from "./statements.ts";

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

/**
 * Moves the rows of a renamed provider to its new name; `orIgnore` leaves a row whose unique key the new name
 * already holds as it is. Returns the count moved.
 */
export function repointProviderRows(db: Db, table: ProviderTable, r: Repoint, orIgnore = false): number {
  return prepared(
    db,
    `UPDATE${orIgnore ? " OR IGNORE" : ""} ${table} SET provider = @to, provider_kind = @kind WHERE provider = @from
         AND provider_endpoint = @endpoint AND (@guildId IS NULL OR guild_id = @guildId)`,
  ).run({ ...r, guildId: r.guildId ?? null }).changes;
}

/** Records the kind and endpoint of rows written before they were kept, from the provider configured by that name. */
export function fillProviderEndpoint(
  db: Db,
  table: ProviderTable,
  provider: string,
  kind: string,
  endpoint: string,
  guildId?: string,
): number {
  return prepared(
    db,
    `UPDATE ${table} SET provider_kind = @kind, provider_endpoint = @endpoint
       WHERE provider = @provider AND provider_endpoint IS NULL AND (@guildId IS NULL OR guild_id = @guildId)`,
  ).run({ provider, kind, endpoint, guildId: guildId ?? null }).changes;
}
