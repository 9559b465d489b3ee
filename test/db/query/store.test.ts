// The query layer on both engines (issue 14): one compiled query code, typed rows that read alike, statements kept
// (SQLite's prepared once per connection, PostgreSQL's named and parsed once per session), transactions that
// commit or roll back, engine-specific SQL chosen in the builder, and ON CONFLICT on both.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Kysely, sql } from "kysely";
import { openDb } from "../../../src/db/open.ts";
import { compiled, type Param } from "../../../src/db/query/compiled.ts";
import { STATEMENT_NAME_PREFIX } from "../../../src/db/query/namedStatements.ts";
import type { Database } from "../../../src/db/query/schema.ts";
import { type Engine, NestedTransactionError, openStore, sqliteStore } from "../../../src/db/query/store.ts";
import { prepared } from "../../../src/db/statements.ts";
import { forEachEngine } from "../../helpers/engines.ts";
import { freshPostgresDatabase, skipWithoutPostgres } from "../../helpers/postgres.ts";

const GUILD = "100000000000000001";
const UNICODE = "élève 学生 🧪 — “quotes” and a ' quote";

const insertUsage = compiled(
  (
    db,
    p: Param<{
      guildId: string;
      userId: string;
      model: string;
      promptTokens: number;
      costUsd: number;
      error: string | null;
      createdAt: string;
    }>,
  ) =>
    db
      .insertInto("ask_usage")
      .values({
        guild_id: p("guildId"),
        channel_id: "200000000000000001",
        user_id: p("userId"),
        model: p("model"),
        provider: "openai",
        prompt_tokens: p("promptTokens"),
        cost_usd: p("costUsd"),
        error: p("error"),
        created_at: p("createdAt"),
      })
      .returning("id"),
);

const usageOf = compiled((db, p: Param<{ guildId: string; since: string }>) =>
  db
    .selectFrom("ask_usage")
    .select([
      "id",
      "user_id",
      "model",
      "prompt_tokens",
      "completion_tokens",
      "cost_usd",
      "error",
      "cache_hit",
    ])
    .where("guild_id", "=", p("guildId"))
    .where("created_at", ">=", p("since"))
    .orderBy("id"),
);

const settingsOf = compiled((db, p: Param<{ guildId: string }>) =>
  db.selectFrom("guild_settings").selectAll().where("guild_id", "=", p("guildId")),
);

const putSettings = compiled((db, p: Param<{ guildId: string; threshold: number | null; at: string }>) =>
  db
    .insertInto("guild_settings")
    .values({ guild_id: p("guildId"), safety_threshold: p("threshold"), updated_at: p("at") })
    .onConflict((oc) => oc.column("guild_id").doNothing()),
);

/** A claim as the outbox's will be: rows locked and skipped on PostgreSQL, the IMMEDIATE transaction on SQLite. */
const unclaimed = compiled((db, p: Param<{ limit: number }>, engine) =>
  db
    .selectFrom("outbox")
    .select("id")
    .where("claim_holder", "is", null)
    .orderBy("id")
    .limit(p("limit"))
    .$if(engine === "postgres", (q) => q.forUpdate().skipLocked()),
);

const AT = "2026-12-03T10:00:00.000Z";

forEachEngine("the query layer", (open, engine) => {
  it("round-trips typed rows: ids and integers as numbers, REALs exact, NULL as null, unicode text intact", async (t) => {
    const store = await open(t);
    const first = await insertUsage.executeTakeFirst(store, {
      guildId: GUILD,
      userId: UNICODE,
      model: "ft:gpt-4o-mini:school:bio",
      promptTokens: 96,
      costUsd: 0.00006,
      error: null,
      createdAt: AT,
    });
    const second = await insertUsage.executeTakeFirst(store, {
      guildId: GUILD,
      userId: "student",
      model: "m",
      promptTokens: 0,
      costUsd: 1.5,
      error: "rate limited",
      createdAt: "2026-12-03T11:00:00.000Z",
    });
    assert.deepEqual([first, second], [{ id: 1 }, { id: 2 }]);
    assert.deepEqual(await usageOf.execute(store, { guildId: GUILD, since: AT }), [
      {
        id: 1,
        user_id: UNICODE,
        model: "ft:gpt-4o-mini:school:bio",
        prompt_tokens: 96,
        completion_tokens: 0,
        cost_usd: 0.00006,
        error: null,
        cache_hit: 0,
      },
      {
        id: 2,
        user_id: "student",
        model: "m",
        prompt_tokens: 0,
        completion_tokens: 0,
        cost_usd: 1.5,
        error: "rate limited",
        cache_hit: 0,
      },
    ]);
    // The same compiled query with other values: the later row only, and then none.
    assert.deepEqual(
      (await usageOf.execute(store, { guildId: GUILD, since: "2026-12-03T10:30:00.000Z" })).map((r) => r.id),
      [2],
    );
    assert.deepEqual(await usageOf.execute(store, { guildId: "other", since: AT }), []);
  });

  it("ON CONFLICT DO NOTHING keeps the first row on both engines, and counts the changes", async (t) => {
    const store = await open(t);
    assert.equal(await putSettings.executeChanges(store, { guildId: GUILD, threshold: 0.5, at: AT }), 1);
    assert.equal(await putSettings.executeChanges(store, { guildId: GUILD, threshold: null, at: AT }), 0);
    const row = await settingsOf.executeTakeFirst(store, { guildId: GUILD });
    assert.equal(row?.safety_threshold, 0.5);
    assert.equal(row?.notify_channel_id, null);
    assert.equal(await settingsOf.executeTakeFirst(store, { guildId: "none" }), undefined);
  });

  it("commits a transaction that resolves, and rolls back one that throws (rethrowing its error)", async (t) => {
    const store = await open(t);
    const id = await store.transaction(async (tx) => {
      await putSettings.execute(tx, { guildId: GUILD, threshold: 0.25, at: AT });
      return (
        await insertUsage.executeTakeFirst(tx, {
          guildId: GUILD,
          userId: "u",
          model: "m",
          promptTokens: 1,
          costUsd: 0,
          error: null,
          createdAt: AT,
        })
      )?.id;
    });
    assert.equal(id, 1);
    const boom = new Error("the model call failed");
    await assert.rejects(
      store.transaction(async (tx) => {
        await putSettings.execute(tx, { guildId: "200", threshold: 0.75, at: AT });
        await insertUsage.execute(tx, {
          guildId: GUILD,
          userId: "u",
          model: "m",
          promptTokens: 2,
          costUsd: 0,
          error: null,
          createdAt: AT,
        });
        // Inside, the transaction sees its own writes.
        assert.equal((await settingsOf.executeTakeFirst(tx, { guildId: "200" }))?.safety_threshold, 0.75);
        throw boom;
      }),
      (err) => err === boom,
    );
    assert.equal(await settingsOf.executeTakeFirst(store, { guildId: "200" }), undefined);
    assert.deepEqual(
      (await usageOf.execute(store, { guildId: GUILD, since: AT })).map((r) => r.prompt_tokens),
      [1],
    );
    assert.equal((await settingsOf.executeTakeFirst(store, { guildId: GUILD }))?.safety_threshold, 0.25);
  });

  it("refuses a transaction opened inside another of the same store, instead of waiting on itself forever", async (t) => {
    const store = await open(t);
    await assert.rejects(
      store.transaction(async (tx) => {
        await putSettings.execute(tx, { guildId: "300", threshold: 0.5, at: AT });
        await store.transaction(async () => undefined);
      }),
      NestedTransactionError,
    );
    assert.equal(
      await settingsOf.executeTakeFirst(store, { guildId: "300" }),
      undefined,
      "the outer rolled back",
    );
    // Two transactions side by side (not nested) both run: the refusal is for nesting only.
    await Promise.all([
      store.transaction((tx) => putSettings.execute(tx, { guildId: "301", threshold: 0.5, at: AT })),
      store.transaction((tx) => putSettings.execute(tx, { guildId: "302", threshold: 0.5, at: AT })),
    ]);
    assert.ok(await settingsOf.executeTakeFirst(store, { guildId: "302" }));
  });

  it("compiles engine-specific SQL per engine: the claim query runs on both", async (t) => {
    const store = await open(t);
    await store.db
      .insertInto("outbox")
      .values(
        [1, 2, 3].map((n) => ({
          guild_id: GUILD,
          kind: "job_card",
          payload: "{}",
          dedupe_key: `k${n}`,
          created_at: AT,
          updated_at: AT,
        })),
      )
      .execute();
    const ids = await store.transaction(async (tx) =>
      (await unclaimed.execute(tx, { limit: 2 })).map((r) => r.id),
    );
    assert.deepEqual(ids, [1, 2]);
    const text = unclaimedSql(store.db, engine);
    assert.equal(/for update skip locked/i.test(text), engine === "postgres", text);
  });

  it("refuses a builder that branches on a p() value instead of sending it as a parameter", async (t) => {
    const store = await open(t);
    const branching = compiled((db, p: Param<{ guildId: string | null }>) => {
      const q = db.selectFrom("guild_settings").select("guild_id");
      // The stand-in is always truthy: the filter's value never reaches the query.
      return p("guildId") === null ? q : q.where("guild_id", "=", "fixed");
    });
    await assert.rejects(branching.execute(store, { guildId: null }), /p\("guildId"\) is not a parameter/);
    await assert.rejects(settingsOf.execute(store, {} as { guildId: string }), /no value for "guildId"/);
  });
});

function unclaimedSql(db: Kysely<Database>, engine: Engine): string {
  return db
    .selectFrom("outbox")
    .select("id")
    .$if(engine === "postgres", (q) => q.forUpdate().skipLocked())
    .compile().sql;
}

describe("sqliteStore", () => {
  it("is one store per connection: two would run one's statements inside the other's transaction", () => {
    const db = openDb(":memory:");
    try {
      assert.equal(sqliteStore(db), sqliteStore(db));
      assert.notEqual(sqliteStore(db), sqliteStore(openDb(":memory:")));
    } finally {
      db.close();
    }
  });
});

describe("kept statements", () => {
  it("SQLite: each compiled text is prepared once per connection; later runs reuse the same statement", async () => {
    const db = openDb(":memory:");
    const made: { sql: string; statement: ReturnType<typeof db.prepare> }[] = [];
    const prepare = db.prepare.bind(db);
    db.prepare = ((text: string) => {
      const statement = prepare(text);
      made.push({ sql: text, statement });
      return statement;
    }) as typeof db.prepare;
    const store = sqliteStore(db);
    try {
      for (let i = 0; i < 5; i++) {
        await putSettings.execute(store, { guildId: `g${i}`, threshold: null, at: AT });
        await settingsOf.execute(store, { guildId: `g${i}` });
      }
      const bySql = new Map<string, number>();
      for (const m of made) bySql.set(m.sql, (bySql.get(m.sql) ?? 0) + 1);
      const select = made.find((m) => m.sql.startsWith('select * from "guild_settings"'));
      assert.ok(select, [...bySql.keys()].join("\n"));
      assert.equal(bySql.get(select.sql), 1);
      assert.ok(
        [...bySql.values()].every((n) => n === 1),
        "every text prepared once",
      );
      assert.equal(prepared(db, select.sql), select.statement);
    } finally {
      await store.close();
    }
  });
});

describe("kept statements (PostgreSQL)", { skip: skipWithoutPostgres }, () => {
  it("sends each compiled text as one named statement per session, parsed once and run each time", async (t) => {
    const store = await openStore({ engine: "postgres", url: await freshPostgresDatabase(t) });
    t.after(() => store.close());
    const text = store.db.selectFrom("guild_settings").selectAll().where("guild_id", "=", "x").compile().sql;
    const seen = await store.transaction(async (tx) => {
      for (let i = 0; i < 5; i++) {
        await putSettings.execute(tx, { guildId: `g${i}`, threshold: null, at: AT });
        assert.equal((await settingsOf.executeTakeFirst(tx, { guildId: `g${i}` }))?.guild_id, `g${i}`);
      }
      // On the transaction's one connection: the session's prepared statements.
      const { rows } = await sql<{ name: string; statement: string; runs: number }>`
        SELECT name, statement, (generic_plans + custom_plans)::bigint AS runs FROM pg_prepared_statements
        WHERE statement = ${text}`.execute(tx.db);
      return rows;
    });
    assert.equal(seen.length, 1, JSON.stringify(seen));
    assert.ok(seen[0]?.name.startsWith(STATEMENT_NAME_PREFIX), seen[0]?.name);
    assert.equal(seen[0]?.runs, 5);
  });
});
