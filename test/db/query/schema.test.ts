// src/db/query/schema.ts is generated from the migrations (scripts/db-schema.js): a migration without regenerated
// types fails here, and the generator reads the schema as the store's drivers read values.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { renderSchema } from "../../../scripts/db-schema.js";
import { migrate } from "../../../src/db/migrate.ts";

const committed = readFileSync(new URL("../../../src/db/query/schema.ts", import.meta.url), "utf8");

function migrated(): Database.Database {
  const db = new Database(":memory:");
  migrate(db);
  return db;
}

describe("src/db/query/schema.ts", () => {
  it("is what scripts/db-schema.js prints for the migrated schema (regenerate it after a migration)", () => {
    const db = migrated();
    assert.equal(committed, renderSchema(db), "run: node scripts/db-schema.js > src/db/query/schema.ts");
    db.close();
  });

  it("names every application table, and not the runner's own", () => {
    const db = migrated();
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .pluck()
      .all() as string[];
    for (const table of tables) {
      assert.equal(committed.includes(`  ${table}: `), table !== "schema_migrations", table);
    }
    db.close();
  });

  it("types a new migration's columns: numbers, nullable text, defaults as Generated, the rowid as Generated", () => {
    const db = migrated();
    db.exec(`CREATE TABLE lesson_notes (
      id INTEGER PRIMARY KEY, guild_id TEXT NOT NULL, body TEXT, score REAL NOT NULL DEFAULT 0, pinned INTEGER)`);
    const text = renderSchema(db);
    assert.notEqual(text, committed);
    assert.match(
      text,
      /export interface LessonNotesTable \{\n {2}id: Generated<number>;\n {2}guild_id: string;\n {2}body: string \| null;\n {2}score: Generated<number>;\n {2}pinned: number \| null;\n\}/,
    );
    assert.match(text, / {2}lesson_notes: LessonNotesTable;/);
    db.close();
  });
});
