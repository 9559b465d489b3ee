// One structured, levelled logger (pino), created once in the composition root and passed in.
// Secrets never reach the output: keys and tokens are redacted by path, and — because a logged object may
// nest them anywhere (an SDK client holds its key in dozens of places) — every line is also scrubbed of
// the configured secret values and of interaction tokens in Discord URLs before it is written.
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
export function secretsOf(config: Config): string[] {
  return [
    config.provider.apiKey,
    config.discord.token,
    ...config.finetuneProviders.flatMap((p) => [
      p.apiKey,
      p.kind === "azure" ? p.arm?.clientSecret : undefined,
    ]),
    ...config.chatProviders.map((p) => p.apiKey),
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
      hooks: { streamWrite: (line) => scrubSecrets(line, secrets) },
    },
    destination ?? pino.destination(2),
  );
}

/** A logger that writes nothing: for tests and library callers that do not care. */
export const silentLogger: Logger = pino({ level: "silent" });
