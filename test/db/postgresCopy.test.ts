// copySqliteToPostgres on the edges of the data a SQLite file can hold (the school round trip itself, through the
// CLI, is test/cli/migrate.test.ts): integers past Number.MAX_SAFE_INTEGER are copied digit for digit; text
// PostgreSQL cannot hold (a NUL character) fails the copy naming the table, the column and the row.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { openDb } from "../../src/db/open.ts";
import { CopyFailedError, copySqliteToPostgres } from "../../src/db/postgres/copy.ts";
import { migratePostgres } from "../../src/db/postgres/migrate.ts";
import { openPostgres } from "../../src/db/postgres/pool.ts";
import { freshPostgresDatabase, skipWithoutPostgres } from "../helpers/postgres.ts";

const dir = mkdtempSync(join(tmpdir(), "classtune-pg-copy-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const insertDataset = `INSERT INTO datasets (id, guild_id, uploader_id, file_name, sha256, bytes, format, examples,
    valid, invalid, total_tokens, base_model, fine_tunable, report_json, stored_path, created_at)
  VALUES (?, 'g', 'u', 'f.jsonl', 's', ?, 'chat', 1, 1, 0, 1, 'm', 1, '{}', '/p', '2026-12-01T00:00:00.000Z')`;

describe("copySqliteToPostgres", { skip: skipWithoutPostgres }, () => {
  it("copies integers past Number.MAX_SAFE_INTEGER exactly, an id among them, and the identity continues after it", async (t) => {
    const db = openDb(join(dir, "big.db"));
    t.after(() => db.close());
    const bigId = 2n ** 53n + 1n;
    db.prepare(insertDataset).run(1, -(2n ** 63n));
    db.prepare(insertDataset).run(bigId, 2n ** 63n - 1n);
    const pool = openPostgres(await freshPostgresDatabase(t));
    t.after(() => pool.end());
    await migratePostgres(pool);

    const result = await copySqliteToPostgres(db, pool);
    assert.deepEqual(
      result.tables.filter((x) => x.rows > 0),
      [{ table: "datasets", rows: 2 }],
    );
    const rows = await pool.query<{ id: string; bytes: string }>(
      "SELECT id::text AS id, bytes::text AS bytes FROM datasets ORDER BY id",
    );
    assert.deepEqual(rows.rows, [
      { id: "1", bytes: String(-(2n ** 63n)) },
      { id: String(bigId), bytes: String(2n ** 63n - 1n) },
    ]);
    const next = await pool.query<{ id: string }>(
      `INSERT INTO datasets (guild_id, uploader_id, file_name, sha256, bytes, format, examples, valid, invalid,
         total_tokens, base_model, fine_tunable, report_json, stored_path, created_at)
       VALUES ('g', 'u', 'f', 's', 1, 'chat', 1, 1, 0, 1, 'm', 1, '{}', '/p', 't') RETURNING id::text AS id`,
    );
    assert.equal(next.rows[0]?.id, String(bigId + 1n));
  });

  it("fails on a NUL character (SQLite text holds it, PostgreSQL's cannot), naming the table, column and row", async (t) => {
    const db = openDb(join(dir, "nul.db"));
    t.after(() => db.close());
    db.prepare(insertDataset).run(1, 10);
    db.prepare(insertDataset).run(7, 10);
    db.prepare("UPDATE datasets SET file_name = ? WHERE id = 7").run("week\u00001.jsonl");
    const pool = openPostgres(await freshPostgresDatabase(t));
    t.after(() => pool.end());
    await migratePostgres(pool);
    await assert.rejects(copySqliteToPostgres(db, pool), (err: Error) => {
      assert.ok(err instanceof CopyFailedError);
      assert.equal(
        err.message,
        "datasets.file_name holds a NUL character (U+0000), which PostgreSQL's text cannot, in the row id = 7; rolled back, nothing was written",
      );
      return true;
    });
    assert.equal((await pool.query("SELECT 1 FROM datasets")).rowCount, 0);
  });
});
