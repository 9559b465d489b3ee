// `npm start`: reads the configuration once, starts the bot, and shuts down gracefully on SIGINT/SIGTERM.
import { startApp } from "./app.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { createLogger, secretsOf } from "./logger.ts";

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

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`classtune: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
if (!config.discord.token) missingToken();

const logger = createLogger(config.logLevel, undefined, { secrets: secretsOf(config) });
process.on("unhandledRejection", (err) => logger.error({ err }, "unhandled rejection"));
const app = await startApp({ config, logger }).catch((err: unknown) => {
  logger.fatal({ err }, "classtune could not start");
  process.exit(1);
});

const SHUTDOWN_GRACE_MS = 20_000;
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: finishing in-flight work");
    // A stuck request must not keep a supervisor's restart waiting forever.
    setTimeout(() => {
      logger.error({ graceMs: SHUTDOWN_GRACE_MS }, "shutdown took too long; exiting");
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "unclean shutdown");
        process.exit(1);
      },
    );
  });
}
