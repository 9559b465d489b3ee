// Types of scripts/postgres.js (plain JavaScript, as the other scripts), for the tests that import it.

type Env = Record<string, string | undefined>;

/** A throwaway cluster: its superuser URL (the `postgres` database), its temporary folder, and stop(). */
export interface ThrowawayPostgres {
  url: string;
  dir: string;
  /** Stops the server and removes the folder; idempotent. */
  stop(): Promise<void>;
}

/** The bin folder of the installed PostgreSQL, or null; CLASSTUNE_POSTGRES_BIN overrides the search. */
export function findPostgres(options?: { env?: Env }): string | null;

/** The server's major version, from `<bin>/postgres --version`. */
export function postgresMajor(bin: string): number;

/** Starts a cluster on 127.0.0.1; null when PostgreSQL is not installed; rejects when it does not start. */
export function startPostgres(options?: {
  log?: (line: string) => void;
  env?: Env;
}): Promise<ThrowawayPostgres | null>;
