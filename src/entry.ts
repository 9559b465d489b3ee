// What `npm start` and `npm run start:sharded` share as processes: the configuration read once (every problem in
// one message, exit 2), the set-up steps when there is no token (exit 1), and a graceful stop on SIGINT/SIGTERM.
import { type Config, ConfigError, loadConfig } from "./config.ts";
import type { Logger } from "./logger.ts";

function missingToken(): never {
  process.stderr.write(
    [
      "classtune: DISCORD_TOKEN is not set, so the bot cannot connect to Discord.",
      "  1. Create an application at https://discord.com/developers/applications",
      "  2. Set DISCORD_TOKEN (Bot → Reset Token) and DISCORD_CLIENT_ID (General Information → Application ID)",
      "     in the environment or in ./.env (copy .env.example).",
      "  3. npm run deploy-commands, then npm start. The README has the invite URL and every variable.",
      "  Offline, without Discord or keys: npm run -s classtune -- help   (or: npm run demo)",
      "",
    ].join("\n"),
  );
  process.exit(1);
}

/** The configuration and the bot token, or the process exits saying what to set. */
export function configOrExit(): { config: Config; token: string } {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`classtune: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const token = config.discord.token;
  if (!token) missingToken();
  return { config, token };
}

/** Stops with `stop()` on the first SIGINT/SIGTERM: exit 0 when it resolves, 1 when it fails or outlasts graceMs. */
export function stopOnSignals(
  logger: Logger,
  what: string,
  stop: () => Promise<void>,
  graceMs: number | undefined,
): void {
  let stopping = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, what);
      // A stuck request must not keep a supervisor's restart waiting forever.
      if (graceMs !== undefined) {
        setTimeout(() => {
          logger.error({ graceMs }, "shutdown took too long; exiting");
          process.exit(1);
        }, graceMs).unref();
      }
      stop().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, "unclean shutdown");
          process.exit(1);
        },
      );
    });
  }
}
