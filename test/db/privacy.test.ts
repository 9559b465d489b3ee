// The privacy registry against the real schema: every table is listed and every column that can hold a user id
// (the naming rule USER_ID_COLUMN) is covered, so a table added by a later migration cannot be forgotten by
// /privacy delete, retention or a server's deletion. Then /privacy delete over rows in every table.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { openDb } from "../../src/db/open.ts";
import {
  ANONYMOUS_USER,
  PRIVACY_TABLES,
  PrivacyRepository,
  privacyCoverageProblems,
  scrubUserId,
} from "../../src/db/privacy.ts";
import { seedPerson, userIdCells } from "../privacy/helpers.ts";

describe("the privacy registry (src/db/privacy.ts)", () => {
  it("covers every table and every user-id column of the migrated schema", () => {
    const db = openDb(":memory:");
    assert.deepEqual(privacyCoverageProblems(db), []);
    db.close();
  });

  it("fails for a table added later with a user column, until it is listed", () => {
    const db = openDb(":memory:");
    db.exec(`CREATE TABLE homework_feedback (id INTEGER PRIMARY KEY, guild_id TEXT NOT NULL,
      answer_id INTEGER, student_user_id TEXT, reviewed_by TEXT, created_at TEXT NOT NULL)`);
    db.exec(`ALTER TABLE answers ADD COLUMN flagged_by TEXT`);
    const problems = privacyCoverageProblems(db);
    assert.ok(
      problems.some((p) => /homework_feedback is not listed/.test(p)),
      problems.join("\n"),
    );
    assert.ok(
      problems.some((p) => /answers\.flagged_by looks like a user id/.test(p)),
      problems.join("\n"),
    );
    db.close();
  });

  it("scrubs an id only where it stands alone, never inside a longer id", () => {
    assert.equal(
      scrubUserId('{"by":"u.1","who":"u.10 au.1"}', "u.1"),
      `{"by":"${ANONYMOUS_USER}","who":"u.10 au.1"}`,
    );
    assert.equal(
      scrubUserId('{"requesterId":"123456789012345678","other":"1234567890123456789"}', "123456789012345678"),
      `{"requesterId":"${ANONYMOUS_USER}","other":"1234567890123456789"}`,
    );
  });
});

describe("PrivacyRepository.personalRows", () => {
  it("never shows another person's id, even in a row that is also the caller's (an answer they corrected)", () => {
    const db = openDb(":memory:");
    const ids = seedPerson(db);
    db.prepare(
      `INSERT INTO answers (guild_id, channel_id, user_id, question, answer, model, system_prompt, public,
         corrected_answer, corrected_by, corrected_at, created_at)
       VALUES (?, 'c', ?, 'A classmate asks?', 'a', 'm', 's', 1, 'Fixed.', ?, '2026-12-01', '2026-12-01')`,
    ).run(ids.guild, ids.classmate, ids.student);
    const rows = new PrivacyRepository(db).personalRows(ids.guild, ids.student);
    const json = JSON.stringify(rows);
    assert.ok(json.includes("A classmate asks?"), "the correction is the caller's");
    assert.ok(!json.includes(ids.classmate), "the classmate's id is not shown");
    assert.ok(!json.includes(ids.otherGuild), "nor anything of another server");
    db.close();
  });
});

describe("PrivacyRepository.deletePerson", () => {
  it("leaves no cell holding the person's id in this server but the kept exports; others and other servers untouched", () => {
    const db = openDb(":memory:");
    const ids = seedPerson(db);
    const repo = new PrivacyRepository(db);
    const seeded = new Set(userIdCells(db, ids.student).map((c) => `${c.table}.${c.column}`));
    for (const spec of PRIVACY_TABLES) {
      for (const column of [...Object.keys(spec.users), ...(spec.scrub ?? [])]) {
        assert.ok(
          seeded.has(`${spec.table}.${column}`),
          `the seed puts the person in ${spec.table}.${column}`,
        );
      }
    }
    const otherBefore = userIdCells(db, ids.classmate);
    const otherServerBefore = userIdCells(db, ids.student).filter((c) => c.guildId === ids.otherGuild);

    repo.deletePerson(ids.guild, ids.student);

    const left = userIdCells(db, ids.student);
    assert.deepEqual(
      left.filter((c) => c.guildId === ids.guild).map((c) => `${c.table}.${c.column}`),
      ["dataset_exports.student_id"],
      "only what a teacher exported stays (and the student is told)",
    );
    assert.deepEqual(
      left.filter((c) => c.guildId === ids.otherGuild),
      otherServerBefore,
      "another server's rows are untouched",
    );
    assert.deepEqual(userIdCells(db, ids.classmate), otherBefore, "another person's rows are untouched");
    const alerts = db
      .prepare(`SELECT payload FROM outbox WHERE guild_id = ? AND kind = 'moderation_flagged'`)
      .all(ids.guild) as { payload: string }[];
    assert.ok(
      alerts.every((a) => !a.payload.includes(`question of ${ids.student}`)),
      "an alert with the student's question is deleted",
    );
    assert.equal(alerts.length, 1, "the classmate's alert stays");
    const usage = db.prepare(`SELECT user_id AS u FROM ask_usage WHERE guild_id = ?`).all(ids.guild) as {
      u: string;
    }[];
    assert.ok(
      usage.some((r) => r.u === ANONYMOUS_USER),
      "usage rows stay, anonymised, so the totals stay",
    );
    db.close();
  });
});
