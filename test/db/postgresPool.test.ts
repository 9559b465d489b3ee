// openPostgres's pool reads int8 as a JS number (refusing one it cannot hold exactly) and names itself "classtune"
// to the server; redactUrl hides a URL's password wherever it is printed; a server that is not there is reported
// by host and port.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { assertReachable, openPostgres, parseInt8, redactUrl } from "../../src/db/postgres/pool.ts";
import { freshPostgresDatabase, skipWithoutPostgres } from "../helpers/postgres.ts";

const SECRET = ["not", "a", "real", "one"].join("-");

describe("redactUrl", () => {
  it("hides the password, and any password or key parameter, and keeps the rest", () => {
    assert.equal(
      redactUrl(`postgres://ct:${SECRET}@db.school:6543/classtune`),
      "postgres://ct:***@db.school:6543/classtune",
    );
    assert.equal(redactUrl("postgres://ct@db.school/classtune"), "postgres://ct@db.school/classtune");
    assert.equal(
      redactUrl(`postgresql://db.school/ct?sslmode=require&password=${SECRET}`),
      "postgresql://db.school/ct?sslmode=require&password=***",
    );
    assert.ok(
      !redactUrl(`postgres://ct:${SECRET}@[bad/x`).includes(SECRET),
      "even a URL that does not parse",
    );
    // A password written unencoded, with characters that stop the URL parsing (a "/", or an "@" after a "#").
    for (const [a, b] of [
      ["/", ""],
      ["#", "@"],
    ]) {
      const url = `postgres://ct:${SECRET}${a}${SECRET}${b}${SECRET}@db.school/classtune`;
      assert.ok(!redactUrl(url).includes(SECRET), `${url} -> ${redactUrl(url)}`);
    }
    // One that parses, wrongly: "ct:1234" read as host and port, the rest of the password as the path or fragment.
    for (const cut of ["/", "#", "?"]) {
      const url = `postgres://ct:1234${cut}${SECRET}@db.school/classtune`;
      assert.ok(!redactUrl(url).includes(SECRET), `${url} -> ${redactUrl(url)}`);
    }
  });
});

describe("parseInt8", () => {
  it("reads safe integers and refuses one beyond Number.MAX_SAFE_INTEGER", () => {
    assert.equal(parseInt8("9007199254740991"), Number.MAX_SAFE_INTEGER);
    assert.equal(parseInt8("-42"), -42);
    assert.throws(() => parseInt8("9007199254740993"), /beyond Number.MAX_SAFE_INTEGER/);
  });
});

describe("openPostgres", { skip: skipWithoutPostgres }, () => {
  it("reads bigint as a number, fails a query reading one too big, and names itself classtune", async (t) => {
    const pool = openPostgres(await freshPostgresDatabase(t));
    t.after(() => pool.end());
    const { rows } = await pool.query<{ n: number; c: number; app: string }>(
      "SELECT 1796000000000::bigint AS n, count(*) AS c, current_setting('application_name') AS app FROM pg_class",
    );
    assert.equal(rows[0]?.n, 1_796_000_000_000);
    assert.equal(typeof rows[0]?.c, "number");
    assert.equal(rows[0]?.app, "classtune");
    await assert.rejects(pool.query("SELECT 9007199254740993::bigint AS n"), RangeError);
    assert.equal((await pool.query<{ ok: number }>("SELECT 1 AS ok")).rows[0]?.ok, 1, "the pool still works");
  });

  it("reports a server that is not there by host and port, never the password", async () => {
    const url = `postgres://ct:${SECRET}@127.0.0.1:1/school`;
    const pool = openPostgres(url);
    try {
      await assert.rejects(assertReachable(pool, url), (err: Error) => {
        assert.equal(err.message, "cannot reach PostgreSQL at 127.0.0.1:1: connection refused");
        return true;
      });
    } finally {
      await pool.end();
    }
  });
});
