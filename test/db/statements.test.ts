// One compiled statement per SQL text and result mode per connection: reused, never shared across modes or
// connections, never handed out while busy, and bounded.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { MAX_CACHED_STATEMENTS, prepared } from "../../src/db/statements.ts";

function db() {
  const d = new Database(":memory:");
  d.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  d.prepare("INSERT INTO t (v) VALUES ('a'), ('b'), ('c')").run();
  return d;
}

describe("prepared", () => {
  it("compiles a text once per connection and hands the same statement back", () => {
    const a = db();
    const b = db();
    const sql = "SELECT v FROM t WHERE id = ?";
    assert.equal(prepared(a, sql), prepared(a, sql));
    assert.notEqual(prepared(a, sql), prepared(b, sql));
    assert.deepEqual(prepared(a, sql).get(2), { v: "b" });
  });

  it("keeps result modes apart: a plucking caller never changes what a row caller reads", () => {
    const d = db();
    const sql = "SELECT v FROM t WHERE id = ?";
    assert.equal(prepared(d, sql, "pluck").get(1), "a");
    assert.deepEqual(prepared(d, sql).get(1), { v: "a" });
    assert.deepEqual(prepared(d, sql, "raw").get(1), ["a"]);
    assert.equal(prepared(d, sql, "pluck").get(3), "c");
  });

  it("gives a fresh statement while the kept one is iterating", () => {
    const d = db();
    const sql = "SELECT v FROM t ORDER BY id";
    const seen: string[] = [];
    for (const row of prepared(d, sql).iterate() as Iterable<{ v: string }>) {
      // the kept statement is busy here: a second use must not throw "busy executing a query"
      seen.push(`${row.v}${(prepared(d, sql).all() as unknown[]).length}`);
    }
    assert.deepEqual(seen, ["a3", "b3", "c3"]);
    assert.equal(prepared(d, sql).busy, false);
  });

  it("keeps at most MAX_CACHED_STATEMENTS texts, and still prepares the ones past it", () => {
    const d = db();
    for (let i = 0; i < MAX_CACHED_STATEMENTS; i++) prepared(d, `SELECT ${i}`);
    const past = `SELECT v FROM t WHERE id = ${MAX_CACHED_STATEMENTS + 1} OR id = 1`;
    assert.notEqual(prepared(d, past), prepared(d, past));
    assert.deepEqual(prepared(d, past).get(), { v: "a" });
    assert.equal(prepared(d, "SELECT 0"), prepared(d, "SELECT 0"));
  });
});
