// Runs a describe block once per storage engine (issue 14): on SQLite (an in-memory database) and on PostgreSQL (a
// database of its own per test, skipped with a reason when PostgreSQL is not installed). Each test opens a fresh,
// migrated store with `open(t)`; it is closed when the test ends. The tool for running a repository's tests on both:
//   forEachEngine("GuildSettingsRepository", (open) => {
//     it("reads what it wrote", async (t) => { const store = await open(t); … });
//   });
import { describe, type TestContext } from "node:test";
import { type Engine, openStore, type Store } from "../../src/db/query/store.ts";
import { freshPostgresDatabase, skipWithoutPostgres } from "./postgres.ts";

/** A fresh, migrated store for this test, closed when it ends. */
export type OpenStore = (t: Pick<TestContext, "after">) => Promise<Store>;

const ENGINES: { engine: Engine; label: string; skip: string | false; open: OpenStore }[] = [
  {
    engine: "sqlite",
    label: "SQLite",
    skip: false,
    open: async (t) => {
      const store = await openStore({ engine: "sqlite", path: ":memory:" });
      t.after(() => store.close());
      return store;
    },
  },
  {
    engine: "postgres",
    label: "PostgreSQL",
    skip: skipWithoutPostgres,
    open: async (t) => {
      let store: Store | undefined;
      // Registered first so it runs first: the pool ends before its database is dropped.
      t.after(() => store?.close());
      store = await openStore({ engine: "postgres", url: await freshPostgresDatabase(t) });
      return store;
    },
  },
];

/** `body` as a describe block per engine, named "name (SQLite)" and "name (PostgreSQL)". */
export function forEachEngine(name: string, body: (open: OpenStore, engine: Engine) => void): void {
  for (const e of ENGINES) {
    describe(`${name} (${e.label})`, { skip: e.skip }, () => body(e.open, e.engine));
  }
}
