// Rows of one person in every table that can hold a user id (written as the services write them), and a
// schema-driven scan for a user id in every cell of every table: what the privacy tests assert with.
import { type RawBuilder, sql } from "kysely";
import type { Db } from "../../src/db/open.ts";
import { schemaTables, storeTables } from "../../src/db/privacy.ts";
import type { Queryable } from "../../src/db/query/store.ts";

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

/** `text` with each `?` a parameter taking the next of `params`. */
function statement(text: string, params: unknown[]): RawBuilder<{ id?: number }> {
  const pieces = text.split("?");
  if (pieces.length !== params.length + 1) throw new Error(`${params.length} values for: ${text}`);
  return sql.join(
    pieces.flatMap((piece, i) =>
      i < params.length ? [sql.raw(piece), sql.val(params[i])] : [sql.raw(piece)],
    ),
    sql.raw(""),
  );
}

/** One server's rows of `user` (and, in every user column, that person), returning nothing. */
async function seedIn(on: Queryable, guild: string, user: string, n: number): Promise<void> {
  const run = (text: string, ...params: unknown[]) => statement(text, params).execute(on.db);
  /** The new row's id. */
  const insert = async (text: string, ...params: unknown[]): Promise<number> => {
    const id = (await statement(`${text} RETURNING id`, params).execute(on.db)).rows[0]?.id;
    if (id === undefined) throw new Error(`no id from: ${text}`);
    return Number(id);
  };
  const dataset = await insert(
    `INSERT INTO datasets (guild_id, uploader_id, file_name, sha256, bytes, format, examples, valid, invalid,
       total_tokens, base_model, fine_tunable, report_json, stored_path, cleaned_path, created_at)
     VALUES (?, ?, 'lesson.jsonl', ?, 1, 'chat', 10, 10, 0, 100, 'gpt-4o-mini-2024-07-18', 1, '{}', ?, NULL, ?)`,
    guild,
    user,
    `sha-${n}`,
    `/nowhere/${n}.jsonl`,
    at,
  );
  const job = await insert(
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
  );
  await run(`INSERT INTO job_metrics (job_id, step, train_loss, created_at) VALUES (?, 1, 0.5, ?)`, job, at);
  await run(
    `INSERT INTO models (guild_id, name, provider, base_model, job_id, created_at) VALUES (?, ?, 'sandbox', 'b', ?, ?)`,
    guild,
    `ft:model-${n}`,
    job,
    at,
  );
  await run(
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
  await run(
    `INSERT INTO job_intents (tag, guild_id, provider, input, created_at) VALUES (?, ?, 'sandbox', ?, ?)`,
    `ct-intent-${n}`,
    guild,
    JSON.stringify({ requesterId: user, datasetId: Number(dataset) }),
    at,
  );
  await run(
    `INSERT INTO outbox (guild_id, kind, payload, dedupe_key, created_at, updated_at, posted_at)
     VALUES (?, 'job_created', ?, ?, ?, ?, ?)`,
    guild,
    JSON.stringify({ requesterId: user, text: `<@${user}> your job` }),
    `job:${n}:created`,
    at,
    at,
    at,
  );
  await run(
    `INSERT INTO outbox (guild_id, kind, payload, dedupe_key, created_at, updated_at, posted_at)
     VALUES (?, 'moderation_flagged', ?, ?, ?, ?, ?)`,
    guild,
    JSON.stringify({ userId: user, question: `A worrying question of ${user}`, answer: null }),
    `moderation:${n}:flagged`,
    at,
    at,
    at,
  );
  await run(
    `INSERT INTO channel_settings (guild_id, channel_id, model, updated_by, updated_at) VALUES (?, ?, 'm', ?, ?)`,
    guild,
    `30000000000000000${n}`,
    user,
    at,
  );
  const answer = await insert(
    `INSERT INTO answers (guild_id, channel_id, user_id, question, answer, model, system_prompt, public,
       corrected_answer, corrected_by, corrected_at, created_at)
     VALUES (?, 'c', ?, ?, 'An answer.', 'm', 'Be kind.', 1, 'Fixed.', ?, ?, ?)`,
    guild,
    user,
    `Question ${n} of ${user}?`,
    user,
    at,
    at,
  );
  await run(
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
  await run(
    `INSERT INTO answer_votes (answer_id, guild_id, user_id, value, created_at) VALUES (?, ?, ?, 1, ?)`,
    answer,
    guild,
    user,
    at,
  );
  await run(
    `INSERT INTO ask_usage (guild_id, channel_id, user_id, model, provider, prompt_tokens, completion_tokens, created_at)
     VALUES (?, 'c', ?, 'm', 'sandbox', 10, 5, ?)`,
    guild,
    user,
    at,
  );
  await run(
    `INSERT INTO dataset_exports (dataset_id, guild_id, line, student_id, exported_by, created_at) VALUES (?, ?, 1, ?, ?, ?)`,
    dataset,
    guild,
    user,
    user,
    at,
  );
  await run(
    `INSERT INTO guild_settings (guild_id, teacher_role_id, updated_at) VALUES (?, '400000000000000001', ?)
       ON CONFLICT DO NOTHING`,
    guild,
    at,
  );
}

/** The student's rows in GUILD and OTHER_GUILD, and a classmate's in GUILD. */
export async function seedPerson(on: Queryable): Promise<Seeded> {
  await seedIn(on, GUILD, STUDENT, 1);
  await seedIn(on, GUILD, CLASSMATE, 2);
  await seedIn(on, OTHER_GUILD, STUDENT, 3);
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

/**
 * userIdCells on either engine (the store's schema, storeTables): cells in table order, then by column and value
 * (PostgreSQL has no rowid to keep rows in insertion order).
 */
export async function userIdCellsIn(on: Queryable, userId: string): Promise<Cell[]> {
  const mention = new RegExp(`(?<!\\d)${userId}(?!\\d)`);
  const cells: Cell[] = [];
  for (const { table, columns } of await storeTables(on)) {
    const { rows } = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table)}`.execute(on.db);
    const found: Cell[] = [];
    for (const row of rows) {
      for (const column of columns) {
        const value = row[column];
        if (typeof value === "string" && mention.test(value)) {
          found.push({
            table,
            column,
            guildId: typeof row.guild_id === "string" ? row.guild_id : null,
            value,
          });
        }
      }
    }
    const order = (c: Cell) =>
      `${columns.indexOf(c.column).toString().padStart(4, "0")} ${c.guildId} ${c.value}`;
    cells.push(...found.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0)));
  }
  return cells;
}
