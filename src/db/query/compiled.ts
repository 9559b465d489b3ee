// Queries built and compiled once per engine, then run with new values: what a repository keeps as a module
// constant. Kysely builds and compiles a query on every execute() (about 20 µs a statement, most of its cost over
// hand-written SQL in `npm run bench -- store`); compiled() does that once, with a stand-in for each value, and
// later swaps the caller's values into the compiled parameters. Sound because Kysely sends every value as a
// parameter, never as SQL text: a stand-in that ends up in the SQL text (or is never sent) is refused at compile.
//
//   const settingsOf = compiled((db, p: Param<{ guildId: string }>) =>
//     db.selectFrom("guild_settings").selectAll().where("guild_id", "=", p("guildId")),
//   );
//   const row = await settingsOf.executeTakeFirst(store, { guildId }); // or (tx, …) inside store.transaction
//
// Rules for the builder (it runs once per engine, not per call):
// - p("name") stands for a value: use it where Kysely takes a value (where, set, values, limit, sql`${…}`);
//   never branch on it in JavaScript (it is a stand-in, not the value);
// - a value that changes the SQL's shape (a list for IN, NULL for IS NULL, an optional filter) is not a
//   parameter: write `(${p("x")} IS NULL OR col = ${p("x")})` or one compiled query per shape, and pass lists as
//   JSON (json_each on SQLite, jsonb_array_elements_text on PostgreSQL) or `= any(…)` by engine;
// - `engine` picks engine-specific SQL (see store.ts): each engine gets its own compiled query.
import type { Compilable, CompiledQuery, Kysely } from "kysely";
import type { Database } from "./schema.ts";
import type { Engine, Queryable } from "./store.ts";

/** The builder's stand-in for the value named `name` of P. */
export type Param<P> = <K extends keyof P & string>(name: K) => P[K];

/** A query compiled once per engine, run on a store or a transaction with each call's values. */
export interface CompiledStatement<P, R> {
  /** Every row the query returns (none for a write without RETURNING). */
  execute(on: Queryable, values: P): Promise<R[]>;
  /** The first row, or undefined. */
  executeTakeFirst(on: Queryable, values: P): Promise<R | undefined>;
  /** How many rows an INSERT, UPDATE or DELETE changed (with RETURNING: the rows it returned). */
  executeChanges(on: Queryable, values: P): Promise<number>;
}

/** Marks a stand-in among the compiled parameters (no real value starts with a NUL). */
const MARK = "\u0000classtune:param:";

interface Compiled {
  query: CompiledQuery;
  /** For each parameter, the name of the caller's value it takes, or undefined for a constant of the builder. */
  slots: (string | undefined)[];
}

function compileFor<P>(
  build: (db: Kysely<Database>, p: Param<P>, engine: Engine) => Compilable<unknown>,
  on: Queryable,
): Compiled {
  const used = new Set<string>();
  const stand = ((name: string) => {
    used.add(name);
    return `${MARK}${name}`;
  }) as Param<P>;
  const query = build(on.db, stand, on.engine).compile();
  if (query.sql.includes(MARK)) {
    throw new Error(`compiled(): a p() value became SQL text, not a parameter, in: ${query.sql}`);
  }
  const slots = query.parameters.map((v) =>
    typeof v === "string" && v.startsWith(MARK) ? v.slice(MARK.length) : undefined,
  );
  for (const name of used) {
    if (!slots.includes(name)) {
      throw new Error(
        `compiled(): p("${name}") is not a parameter of the query (was it branched on?): ${query.sql}`,
      );
    }
  }
  return { query, slots };
}

/**
 * Builds a query once per engine from `build` (typed by its `p: Param<{ … }>` annotation), returning what runs
 * it with values. See the file's head for the rules the builder follows.
 */
export function compiled<P extends object = Record<never, never>, R = unknown>(
  build: (db: Kysely<Database>, p: Param<P>, engine: Engine) => Compilable<R>,
): CompiledStatement<P, R> {
  const byEngine = new Map<Engine, Compiled>();
  const run = async (on: Queryable, values: P) => {
    let c = byEngine.get(on.engine);
    if (c === undefined) {
      c = compileFor(build, on);
      byEngine.set(on.engine, c);
    }
    const given = values as Record<string, unknown>;
    const parameters = c.query.parameters.map((v, i) => {
      const slot = c.slots[i];
      if (slot === undefined) return v;
      const value = given[slot];
      if (value === undefined)
        throw new Error(`compiled(): no value for "${slot}" (null is a value; undefined is not)`);
      return value;
    });
    return on.db.executeQuery<R>({ ...c.query, parameters });
  };
  return {
    execute: async (on, values) => (await run(on, values)).rows,
    executeTakeFirst: async (on, values) => (await run(on, values)).rows[0],
    executeChanges: async (on, values) => {
      const result = await run(on, values);
      return result.numAffectedRows === undefined ? result.rows.length : Number(result.numAffectedRows);
    },
  };
}
