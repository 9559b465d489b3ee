// node-postgres's pool as Kysely's PostgresDialect sees it, each SQL text sent as a named (server-side prepared)
// statement: PostgreSQL parses and plans it once per connection, as hand-written pg with `{ name, text }` does.
// Kysely's own driver sends every query unnamed, which `npm run bench -- store` measured at ~1.5× the bot's CPU of
// named statements per /ask question.
//
// Rules, as src/db/statements.ts keeps them for SQLite:
// - one name per SQL text (never two texts under one name, which pg would refuse), the same name on every
//   connection; each connection prepares it the first time it runs it (pg remembers which it has);
// - at most MAX_CACHED_STATEMENTS texts are named: SQL built at run time (an IN list of varying length) cannot grow
//   every session's prepared statements without bound; past the cap a text is sent unnamed, as Kysely would.
import type { PostgresPool, PostgresPoolClient } from "kysely";
import type pg from "pg";
import { MAX_CACHED_STATEMENTS } from "../statements.ts";

/** The prefix of every name this gives a statement (visible in pg_prepared_statements). */
export const STATEMENT_NAME_PREFIX = "ct_";

/** `pool` for PostgresDialect, each SQL text sent as a named statement. Ending it ends `pool`. */
export function namedStatements(pool: pg.Pool): PostgresPool {
  const names = new Map<string, string>();
  const nameOf = (text: string): string | undefined => {
    let name = names.get(text);
    if (name === undefined && names.size < MAX_CACHED_STATEMENTS) {
      name = `${STATEMENT_NAME_PREFIX}${names.size}`;
      names.set(text, name);
    }
    return name;
  };
  // One wrapper per connection: Kysely keeps its connection objects by client.
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  return {
    async connect() {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        wrapper = {
          // Kysely's PostgresConnection sends only (sql, parameters) here (streaming would need a cursor, not set).
          query: ((text: string, values: unknown[]) => {
            const name = nameOf(text);
            return client.query(name === undefined ? { text, values } : { name, text, values });
          }) as unknown as PostgresPoolClient["query"],
          release: (destroy) => client.release(destroy),
        };
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}
