import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import {
  DEFAULT_REVIEW_DAYS,
  type ReviewExport,
  type ReviewFilter,
  type ReviewRow,
  ReviewService,
} from "../classroom/review.ts";
import { loadConfig } from "../config.ts";
import { ReviewRepository } from "../db/review.ts";
import { UserError } from "../domain/errors.ts";
import { openConfiguredDatabase } from "../wire.ts";
import { toCsv } from "./csv.ts";
import { type CliIo, UsageError } from "./io.ts";

const USAGE =
  "usage: classtune review --guild ID [--days N] [--channel ID] [--student ID] [--flagged-only] [--csv FILE] [--json]";

const TERMINAL_TEXT_CHARS = 300;
/** C0 controls but tab, newline and carriage return, DEL, C1 controls, and the bidirectional overrides and isolates. */
function unsafeForTerminal(code: number): boolean {
  return (
    (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) ||
    (code >= 0x7f && code <= 0x9f) ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  );
}

/**
 * A student's text on one terminal line: control characters (escape sequences could rewrite the screen) and
 * bidirectional overrides (they reorder what is shown) become "?", whitespace runs one space, clipped.
 */
export function terminalText(text: string, max = TERMINAL_TEXT_CHARS): string {
  const safe = Array.from(text, (c) => (unsafeForTerminal(c.codePointAt(0) ?? 0) ? "?" : c)).join("");
  const line = safe.replace(/\s+/g, " ").trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

export const REVIEW_CSV_HEADER = [
  "answer_id",
  "created_at",
  "guild_id",
  "channel_id",
  "user_id",
  "visibility",
  "model",
  "question",
  "answer",
  "votes_up",
  "votes_down",
  "corrected_answer",
  "corrected_by",
  "corrected_at",
  "flagged",
  "flags",
] as const;

export function reviewCsv(guildId: string, rows: readonly ReviewRow[]): string {
  return toCsv(
    REVIEW_CSV_HEADER,
    rows.map((r) => [
      r.answerId,
      r.createdAt,
      guildId,
      r.channelId,
      r.userId,
      r.public ? "class" : "private",
      r.model,
      r.question,
      r.answer,
      r.up,
      r.down,
      r.correctedAnswer,
      r.correctedBy,
      r.correctedAt,
      r.flagged,
      r.flags.join(", "),
    ]),
  );
}

export function formatReviewText(e: ReviewExport): string {
  const f = e.filter;
  const scope = [
    `last ${f.days} day${f.days === 1 ? "" : "s"} (since ${e.since.slice(0, 10)}, UTC)`,
    ...(f.channelId ? [`channel ${f.channelId}`] : []),
    ...(f.studentId ? [`student ${f.studentId}`] : []),
    ...(f.flaggedOnly ? ["flagged only"] : []),
  ].join(", ");
  const lines = [`Review for guild ${e.guildId}, ${scope}: ${e.total} answer${e.total === 1 ? "" : "s"}`];
  if (e.truncated) lines.push(`(showing the newest ${e.rows.length}; narrow it with --days or a filter)`);
  for (const r of e.rows) {
    const extra = [
      ...(r.correctedAnswer !== null ? [`corrected by ${r.correctedBy ?? "?"}`] : []),
      ...(r.flagged ? [`FLAGGED: ${terminalText(r.flags.join(", ") || "yes", 80)}`] : []),
    ];
    lines.push(
      "",
      `#${r.answerId}  ${r.createdAt.slice(0, 16).replace("T", " ")}  user ${r.userId}  channel ${r.channelId}  ${r.public ? "class" : "private"}  ${terminalText(r.model, 80)}  +${r.up} -${r.down}${extra.length ? `  ${extra.join("  ")}` : ""}`,
      `  Q: ${terminalText(r.question)}`,
      `  A: ${terminalText(r.answer)}`,
    );
    if (r.correctedAnswer !== null) lines.push(`  Corrected: ${terminalText(r.correctedAnswer)}`);
  }
  return lines.join("\n");
}

export async function run(args: string[], io: CliIo): Promise<number> {
  let values: {
    guild?: string | undefined;
    days?: string | undefined;
    channel?: string | undefined;
    student?: string | undefined;
    "flagged-only"?: boolean;
    csv?: string | undefined;
    json?: boolean;
  };
  try {
    const parsed = parseArgs({
      args,
      options: {
        guild: { type: "string" },
        days: { type: "string" },
        channel: { type: "string" },
        student: { type: "string" },
        "flagged-only": { type: "boolean", default: false },
        csv: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    if (parsed.values.help) {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    values = parsed.values;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}. ${USAGE}`);
  }
  if (values.guild === undefined) throw new UsageError(`--guild is required. ${USAGE}`);
  if (!/^\d{1,20}$/.test(values.guild)) {
    throw new UsageError(`--guild must be a Discord server id (digits only). ${USAGE}`);
  }
  if (values.csv === "") throw new UsageError(`--csv needs a file name. ${USAGE}`);
  const days = values.days === undefined ? DEFAULT_REVIEW_DAYS : Number(values.days);
  if (!Number.isInteger(days)) throw new UsageError(`--days must be a whole number. ${USAGE}`);
  const filter: ReviewFilter = {
    days,
    channelId: values.channel,
    studentId: values.student,
    flaggedOnly: values["flagged-only"] ?? false,
  };

  const config = loadConfig(io.env);
  const database = await openConfiguredDatabase(config, { mustExist: true });
  const { store } = database;
  try {
    const review = await new ReviewService({ review: new ReviewRepository(store) }).export(
      values.guild,
      filter,
    );
    if (values.json) io.stdout.write(`${JSON.stringify(review, null, 2)}\n`);
    else if (!values.csv) io.stdout.write(`${formatReviewText(review)}\n`);
    if (values.csv) {
      try {
        await writeFile(values.csv, reviewCsv(review.guildId, review.rows));
      } catch (err) {
        throw new UserError(`cannot write ${values.csv}: ${(err as Error).message}`, "io");
      }
      io.stderr.write(
        `wrote ${review.rows.length} answer${review.rows.length === 1 ? "" : "s"} to ${values.csv}${review.truncated ? ` (the newest of ${review.total})` : ""}\n`,
      );
    }
    return 0;
  } finally {
    await database.close();
  }
}
