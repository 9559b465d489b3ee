// One structured, levelled logger (pino), created once in the composition root and passed in.
// Secrets are redacted by path wherever they might appear in a logged object.
import { pino } from "pino";

export type Logger = pino.Logger;

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      redact: {
        paths: ["apiKey", "token", "*.apiKey", "*.token", "headers.authorization", "*.headers.authorization"],
        censor: "[redacted]",
      },
    },
    destination ?? pino.destination(2),
  );
}

/** A logger that writes nothing: for tests and library callers that do not care. */
export const silentLogger: Logger = pino({ level: "silent" });
