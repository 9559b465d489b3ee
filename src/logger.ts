// One structured, levelled logger (pino), created once in the composition root and passed in.
// Secrets never reach the output: keys and tokens are redacted by path, and — because a logged object may
// nest them anywhere (an SDK client holds its key in dozens of places) — every line is also scrubbed of
// the configured secret values and of interaction tokens in Discord URLs before it is written.
// Every line is also bounded: data: URLs (a validation worker's stack names its whole bundled code) are cut
// to their media type, and a line still too long has its strings cut, so one error never writes 150 KB.
import { pino } from "pino";
import type { Config } from "./config.ts";

export type Logger = pino.Logger;

const SECRET_PATHS = [
  "apiKey",
  "token",
  "*.apiKey",
  "*.token",
  "headers.authorization",
  "*.headers.authorization",
];

/** `/webhooks/:app/:token` and `/interactions/:id/:token`: such a token lets anyone answer as the bot. */
const INTERACTION_TOKEN = /\/(webhooks|interactions)\/(\d+)\/[A-Za-z0-9_.-]{20,}/g;

/**
 * The configured secret values: the bot token, every fine-tuning provider's key and Entra client secret,
 * and every chat provider's key.
 */
/** The password in a database URL (decoded as the driver sends it, and as written), for redaction. */
function databasePassword(url: string | undefined): string[] {
  if (url === undefined) return [];
  try {
    const u = new URL(url);
    const written = [u.password, u.searchParams.get("password") ?? ""].filter((p) => p !== "");
    return written.flatMap((p) => [p, decodeURIComponent(p), encodeURIComponent(p)]);
  } catch {
    return [];
  }
}

export function secretsOf(config: Config): string[] {
  return [
    config.discord.token,
    ...config.finetuneProviders.flatMap((p) => [
      p.apiKey,
      p.kind === "azure" ? p.arm?.clientSecret : undefined,
    ]),
    ...config.chatProviders.map((p) => p.apiKey),
    ...databasePassword(config.databaseUrl),
  ].filter((s): s is string => s !== undefined && s.length >= 8);
}

export interface LoggerOptions {
  /** Values that must never be written (see secretsOf). */
  secrets?: readonly string[] | undefined;
}

export function scrubSecrets(line: string, secrets: readonly string[]): string {
  let out = line.replace(INTERACTION_TOKEN, "/$1/$2/[redacted]");
  for (const s of secrets) out = out.replaceAll(s, "[redacted]");
  return out;
}

/** A logged string longer than this is cut (a stack trace included). */
export const MAX_LOGGED_STRING_CHARS = 4 * 1024;
/** The longest line written: a line still longer once its strings are cut keeps only its message and error. */
export const MAX_LOG_LINE_CHARS = 16 * 1024;
/** Deeper values in a line that must be cut are dropped (pino itself stops at depth 5). */
const MAX_CUT_DEPTH = 16;

/** A data: URL as it appears inside a JSON line (its code is URL-encoded: no space, quote or backslash). */
const DATA_URL = /(data:[\w.+-]+\/[\w.+-]+)[;,][^\s"\\]{32,}/g;

/** `line` with each long data: URL cut to its media type. */
export function stripDataUrls(line: string): string {
  return line.includes("data:") ? line.replace(DATA_URL, "$1,…") : line;
}

function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  // Never split a surrogate pair.
  const end = /[\ud800-\udbff]/.test(text.charAt(max - 1)) ? max - 1 : max;
  return `${text.slice(0, end)}… [${text.length - end} more characters]`;
}

function cutStrings(value: unknown, depth: number): unknown {
  if (typeof value === "string") return cut(value, MAX_LOGGED_STRING_CHARS);
  if (typeof value !== "object" || value === null) return value;
  if (depth >= MAX_CUT_DEPTH) return "[deeper values cut]";
  if (Array.isArray(value)) return value.map((v) => cutStrings(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cutStrings(v, depth + 1)]));
}

/** `line` (one JSON line from pino, with its newline) with every string within MAX_LOGGED_STRING_CHARS and the whole within MAX_LOG_LINE_CHARS. */
export function boundLine(line: string): string {
  // A shorter line cannot hold a string to cut: most lines are written as they are, unparsed.
  if (line.length <= MAX_LOGGED_STRING_CHARS) return line;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.length <= MAX_LOG_LINE_CHARS
      ? line
      : `${JSON.stringify({ msg: cut(line, MAX_LOGGED_STRING_CHARS), logLineCut: true })}\n`;
  }
  const cutEntry = cutStrings(entry, 0) as Record<string, unknown>;
  const text = JSON.stringify(cutEntry);
  if (text.length < MAX_LOG_LINE_CHARS) return `${text}\n`;
  const { level, time, pid, hostname, msg, err } = cutEntry;
  const { type, message } = (typeof err === "object" && err !== null ? err : {}) as Record<string, unknown>;
  const short = {
    level,
    time,
    pid,
    hostname,
    msg,
    err: { type, message },
    logLineCut: true,
    chars: line.length,
  };
  return `${JSON.stringify(short)}\n`;
}

export function createLogger(
  level: string,
  destination?: pino.DestinationStream,
  options: LoggerOptions = {},
): Logger {
  const secrets = [...(options.secrets ?? [])];
  return pino(
    {
      level,
      redact: { paths: SECRET_PATHS, censor: "[redacted]" },
      // Scrubbed before it is cut: a secret cut in two would no longer match.
      hooks: { streamWrite: (line) => boundLine(stripDataUrls(scrubSecrets(line, secrets))) },
    },
    destination ?? pino.destination(2),
  );
}

/** A logger that writes nothing: for tests and library callers that do not care. */
export const silentLogger: Logger = pino({ level: "silent" });
