// Numbered SQL migrations: src/db/migrations/NNN_name.sql, applied in order, each in one transaction,
// recorded in a tracking table so each runs exactly once. The sandbox keeps its own set and table. PostgreSQL's
// twins (src/db/postgres/migrations, one file per engine with the same number and name) are read by the same
// loadMigrations and applied by src/db/postgres/migrate.ts.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type Database from "better-sqlite3";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATION_FILE = /^(\d{3,})_([a-z0-9_]+)\.sql$/;

/** Reads NNN_name.sql files from a folder (either engine's), sorted by number; duplicate numbers are a programming error. */
export function loadMigrations(dir: string): Migration[] {
  const migrations = readdirSync(dir)
    .map((file) => ({ file, match: MIGRATION_FILE.exec(file) }))
    .filter((m): m is { file: string; match: RegExpExecArray } => m.match !== null)
    .map(({ file, match }) => ({
      version: Number(match[1]),
      name: match[2] ?? file,
      sql: readFileSync(join(dir, file), "utf8"),
    }))
    .sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]?.version === migrations[i - 1]?.version) {
      throw new Error(`two migrations numbered ${migrations[i]?.version} in ${dir}`);
    }
  }
  return migrations;
}

export const appMigrationsDir = fileURLToPath(new URL("./migrations/", import.meta.url));

/**
 * Applies every migration not yet recorded, in number order, and returns the versions applied. A gap in the
 * numbers is fine (one branch's 014 may land before another's 013: 013 is applied when it arrives). Each runs in a
 * BEGIN IMMEDIATE transaction that first checks it is still unrecorded, so two processes starting on one database
 * file at once apply each migration once between them instead of one failing on "table already exists".
 */
export function migrate(
  db: Database.Database,
  migrations: Migration[] = loadMigrations(appMigrationsDir),
  table = "schema_migrations",
): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS ${table} (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const recorded = db.prepare(`SELECT 1 FROM ${table} WHERE version = ?`).pluck();
  const done = new Set(
    (db.prepare(`SELECT version FROM ${table}`).all() as { version: number }[]).map((r) => r.version),
  );
  const record = db.prepare(`INSERT INTO ${table} (version, name, applied_at) VALUES (?, ?, ?)`);
  const applied: number[] = [];
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    const ran = db
      .transaction(() => {
        if (recorded.get(m.version) !== undefined) return false; // another process applied it meanwhile
        db.exec(m.sql);
        record.run(m.version, m.name, new Date().toISOString());
        return true;
      })
      .immediate();
    if (ran) applied.push(m.version);
  }
  return applied;
}
