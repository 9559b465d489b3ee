import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { appMigrationsDir, loadMigrations, migrate } from "../../src/db/migrate.ts";
import { openDb } from "../../src/db/open.ts";
import { OutboxRepository } from "../../src/db/outbox.ts";
import { sqliteStore } from "../../src/db/query/store.ts";

const dir = mkdtempSync(join(tmpdir(), "classtune-migrate-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("migrations", () => {
  it("apply once on a new database file, with WAL and foreign keys on", () => {
    const path = join(dir, "app.db");
    const db = openDb(path);
    assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    assert.equal(db.pragma("foreign_keys", { simple: true }), 1);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
    assert.ok(tables.includes("datasets"));
    db.close();
    const again = openDb(path);
    assert.deepEqual(migrate(again), [], "a second start applies nothing");
    again.close();
  });

  it("008 rebuilds models for the asleep state keeping every row, id and index; a model row then takes 'asleep'", () => {
    const db = new Database(join(dir, "upgrade.db"));
    db.pragma("foreign_keys = ON");
    const all = loadMigrations(appMigrationsDir);
    migrate(
      db,
      all.filter((m) => m.version < 8),
    );
    db.exec(`INSERT INTO models (id, guild_id, name, provider, base_model, job_id, created_at, serving_status, served_as,
        deployment_name, deploy_attempt)
      VALUES (41, 'g', 'ft:one', 'together', 'base', NULL, '2026-01-01', 'ready', 'ep-1', 'ct-1', 1),
             (42, 'g', 'ft:two', 'together', 'base', NULL, '2026-01-02', 'deploying', NULL, 'ct-2', 1)`);
    const before = db.prepare("SELECT * FROM models ORDER BY id").all();
    assert.deepEqual(migrate(db, all), [8, ...all.filter((m) => m.version > 8).map((m) => m.version)]);
    assert.deepEqual(db.prepare("SELECT * FROM models ORDER BY id").all(), before);
    const indexes = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'models'")
      .pluck()
      .all();
    assert.ok(indexes.includes("models_deploying") && indexes.includes("models_job"), indexes.join(", "));
    db.prepare("UPDATE models SET serving_status = 'asleep' WHERE id = 41").run();
    assert.throws(
      () => db.prepare("UPDATE models SET serving_status = 'sleeping' WHERE id = 41").run(),
      /CHECK/,
    );
    db.close();
  });

  it("apply in numeric order and roll back a failing one whole", () => {
    const mdir = join(dir, "m");
    rmSync(mdir, { recursive: true, force: true });
    mkdirSync(mdir);
    writeFileSync(join(mdir, "002_b.sql"), "INSERT INTO t (v) VALUES ('b');");
    writeFileSync(join(mdir, "001_a.sql"), "CREATE TABLE t (v TEXT);");
    writeFileSync(join(mdir, "003_bad.sql"), "INSERT INTO t (v) VALUES ('c'); SELECT * FROM nope;");
    writeFileSync(join(mdir, "notes.txt"), "ignored");
    const db = new Database(":memory:");
    const migrations = loadMigrations(mdir);
    assert.deepEqual(
      migrations.map((m) => m.version),
      [1, 2, 3],
    );
    assert.throws(() => migrate(db, migrations), /nope/);
    assert.deepEqual(db.prepare("SELECT v FROM t").pluck().all(), ["b"], "003's insert was rolled back");
    assert.deepEqual(db.prepare("SELECT version FROM schema_migrations").pluck().all(), [1, 2]);
  });

  it("tolerate a gap in the numbers: a later number applies first, the missing one when it arrives", () => {
    const mdir = join(dir, "gap");
    rmSync(mdir, { recursive: true, force: true });
    mkdirSync(mdir);
    writeFileSync(join(mdir, "012_a.sql"), "CREATE TABLE t (v TEXT);");
    writeFileSync(join(mdir, "014_c.sql"), "INSERT INTO t (v) VALUES ('c');");
    const db = new Database(join(dir, "gap.db"));
    assert.deepEqual(migrate(db, loadMigrations(mdir)), [12, 14]);
    writeFileSync(join(mdir, "013_b.sql"), "INSERT INTO t (v) VALUES ('b');");
    assert.deepEqual(migrate(db, loadMigrations(mdir)), [13], "the merge's 013 runs once it is there");
    assert.deepEqual(migrate(db, loadMigrations(mdir)), []);
    assert.deepEqual(db.prepare("SELECT v FROM t ORDER BY v").pluck().all(), ["b", "c"]);
    db.close();
  });

  it("014 creates the leader lease table on the app's database", () => {
    const db = openDb(join(dir, "lease.db"));
    const columns = db.prepare("SELECT name FROM pragma_table_info('leader_lease')").pluck().all();
    assert.deepEqual(columns, ["name", "holder", "acquired_at", "renewed_at", "expires_at"]);
    db.close();
  });

  it("015 leaves the notices waiting before it unclaimed: the first drain after the upgrade takes them", async () => {
    const db = new Database(":memory:");
    const all = loadMigrations(appMigrationsDir);
    migrate(
      db,
      all.filter((m) => m.version < 15),
    );
    db.exec(`INSERT INTO outbox (guild_id, channel_id, kind, payload, dedupe_key, created_at, updated_at)
      VALUES ('g', 'c', 'job_cancelled', '{}', 'job:1:cancelled', '2026-12-01', '2026-12-01')`);
    assert.deepEqual(
      migrate(
        db,
        all.filter((m) => m.version === 15),
      ),
      [15],
    );
    const taken = await new OutboxRepository(sqliteStore(db)).claim(
      "after the upgrade",
      { limit: 10 },
      Date.now(),
    );
    assert.deepEqual(
      taken.map((r) => r.dedupeKey),
      ["job:1:cancelled"],
    );
    db.close();
  });

  it("apply once between two connections that start at once: the later one finds them applied and skips them", () => {
    const path = join(dir, "race.db");
    const first = new Database(path);
    const second = new Database(path);
    second.pragma("busy_timeout = 5000");
    const all = loadMigrations(appMigrationsDir);
    // The second reads which versions are done, then the first applies everything before the second goes on:
    // the moment two processes' start-ups interleave at.
    let raced = false;
    const racing = all.map((m, i) =>
      i === 0
        ? {
            ...m,
            get version() {
              if (!raced) {
                raced = true;
                migrate(first, all);
              }
              return m.version;
            },
          }
        : m,
    );
    assert.deepEqual(migrate(second, racing), [], "nothing left for the second");
    assert.ok(raced);
    assert.equal(
      second.prepare("SELECT COUNT(*) FROM schema_migrations").pluck().get(),
      all.length,
      "each recorded once",
    );
    first.close();
    second.close();
  });
});
