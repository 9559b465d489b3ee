// Rows of one person in every table that can hold a user id (written as the services write them), and a
// schema-driven scan for a user id in every cell of every table: what the privacy tests assert with.
import type { Db } from "../../src/db/open.ts";
import { schemaTables } from "../../src/db/privacy.ts";

export const GUILD = "100000000000000001";
export const OTHER_GUILD = "100000000000000002";
export const STUDENT = "200000000000000001";
export const CLASSMATE = "200000000000000002";

export interface Seeded {
  guild: string;
  otherGuild: string;
  student: string;
  classmate: string;
}

const at = "2026-12-01T10:00:00.000Z";

/** One server's rows of `user` (and, in every user column, that person), returning nothing. */
function seedIn(db: Db, guild: string, user: string, n: number): void {
  const run = (sql: string, ...params: unknown[]) => db.prepare(sql).run(...params);
  const dataset = run(
    `INSERT INTO datasets (guild_id, uploader_id, file_name, sha256, bytes, format, examples, valid, invalid,
       total_tokens, base_model, fine_tunable, report_json, stored_path, cleaned_path, created_at)
     VALUES (?, ?, 'lesson.jsonl', ?, 1, 'chat', 10, 10, 0, 100, 'gpt-4o-mini-2024-07-18', 1, '{}', ?, NULL, ?)`,
    guild,
    user,
    `sha-${n}`,
    `/nowhere/${n}.jsonl`,
    at,
  ).lastInsertRowid;
  const job = run(
    `INSERT INTO jobs (tag, guild_id, provider, remote_id, dataset_id, requester_id, base_model, hyperparameters,
       training_file_id, status, raw_status, created_at, updated_at)
     VALUES (?, ?, 'sandbox', ?, ?, ?, 'gpt-4o-mini-2024-07-18', '{}', 'file-1', 'succeeded', 'succeeded', ?, ?)`,
    `ct-${n}`,
    guild,
    `ftjob-${n}`,
    dataset,
    user,
    at,
    at,
  ).lastInsertRowid;
  run(`INSERT INTO job_metrics (job_id, step, train_loss, created_at) VALUES (?, 1, 0.5, ?)`, job, at);
  run(
    `INSERT INTO models (guild_id, name, provider, base_model, job_id, created_at) VALUES (?, ?, 'sandbox', 'b', ?, ?)`,
    guild,
    `ft:model-${n}`,
    job,
    at,
  );
  run(
    `INSERT INTO hosting_sessions (guild_id, model_name, provider, deployment_name, usd_per_hour, price_source,
       started_by, started_at, stopped_by, stop_reason, stopped_at)
     VALUES (?, ?, 'sandbox', ?, 1, 'catalog', ?, ?, ?, 'teacher', ?)`,
    guild,
    `ft:model-${n}`,
    `dep-${n}`,
    user,
    at,
    user,
    at,
  );
  run(
    `INSERT INTO job_intents (tag, guild_id, provider, input, created_at) VALUES (?, ?, 'sandbox', ?, ?)`,
    `ct-intent-${n}`,
    guild,
    JSON.stringify({ requesterId: user, datasetId: Number(dataset) }),
    at,
  );
  run(
    `INSERT INTO outbox (guild_id, kind, payload, dedupe_key, created_at, updated_at, posted_at)
     VALUES (?, 'job_created', ?, ?, ?, ?, ?)`,
    guild,
    JSON.stringify({ requesterId: user, text: `<@${user}> your job` }),
    `job:${n}:created`,
    at,
    at,
    at,
  );
  run(
    `INSERT INTO outbox (guild_id, kind, payload, dedupe_key, created_at, updated_at, posted_at)
     VALUES (?, 'moderation_flagged', ?, ?, ?, ?, ?)`,
    guild,
    JSON.stringify({ userId: user, question: `A worrying question of ${user}`, answer: null }),
    `moderation:${n}:flagged`,
    at,
    at,
    at,
  );
  run(
    `INSERT INTO channel_settings (guild_id, channel_id, model, updated_by, updated_at) VALUES (?, ?, 'm', ?, ?)`,
    guild,
    `30000000000000000${n}`,
    user,
    at,
  );
  const answer = run(
    `INSERT INTO answers (guild_id, channel_id, user_id, question, answer, model, system_prompt, public,
       corrected_answer, corrected_by, corrected_at, created_at)
     VALUES (?, 'c', ?, ?, 'An answer.', 'm', 'Be kind.', 1, 'Fixed.', ?, ?, ?)`,
    guild,
    user,
    `Question ${n} of ${user}?`,
    user,
    at,
    at,
  ).lastInsertRowid;
  run(
    `INSERT INTO moderation_verdicts (guild_id, channel_id, user_id, answer_id, target, outcome, provider,
       flagged_text, created_at, review_status, reviewed_by, reviewed_at)
     VALUES (?, 'c', ?, ?, 'question', 'flagged', 'sandbox', ?, ?, 'reviewed', ?, ?)`,
    guild,
    user,
    answer,
    `A flagged question of ${user}`,
    at,
    // The same person as the teacher who reviewed an alert: their id there is anonymised, the row kept.
    user,
    at,
  );
  run(
    `INSERT INTO answer_votes (answer_id, guild_id, user_id, value, created_at) VALUES (?, ?, ?, 1, ?)`,
    answer,
    guild,
    user,
    at,
  );
  run(
    `INSERT INTO ask_usage (guild_id, channel_id, user_id, model, provider, prompt_tokens, completion_tokens, created_at)
     VALUES (?, 'c', ?, 'm', 'sandbox', 10, 5, ?)`,
    guild,
    user,
    at,
  );
  run(
    `INSERT INTO dataset_exports (dataset_id, guild_id, line, student_id, exported_by, created_at) VALUES (?, ?, 1, ?, ?, ?)`,
    dataset,
    guild,
    user,
    user,
    at,
  );
  run(
    `INSERT OR IGNORE INTO guild_settings (guild_id, teacher_role_id, updated_at) VALUES (?, '400000000000000001', ?)`,
    guild,
    at,
  );
}

/** The student's rows in GUILD and OTHER_GUILD, and a classmate's in GUILD. */
export function seedPerson(db: Db): Seeded {
  seedIn(db, GUILD, STUDENT, 1);
  seedIn(db, GUILD, CLASSMATE, 2);
  seedIn(db, OTHER_GUILD, STUDENT, 3);
  return { guild: GUILD, otherGuild: OTHER_GUILD, student: STUDENT, classmate: CLASSMATE };
}

export interface Cell {
  table: string;
  column: string;
  guildId: string | null;
  value: string;
}

/** Every cell of every table (from sqlite_master) that mentions the id as a whole number, in schema order. */
export function userIdCells(db: Db, userId: string): Cell[] {
  const mention = new RegExp(`(?<!\\d)${userId}(?!\\d)`);
  const cells: Cell[] = [];
  for (const { table, columns } of schemaTables(db)) {
    const rows = db.prepare(`SELECT * FROM "${table}" ORDER BY rowid`).all() as Record<string, unknown>[];
    for (const row of rows) {
      for (const column of columns) {
        const value = row[column];
        if (typeof value === "string" && mention.test(value)) {
          cells.push({
            table,
            column,
            guildId: typeof row.guild_id === "string" ? row.guild_id : null,
            value,
          });
        }
      }
    }
  }
  return cells;
}
