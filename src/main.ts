// `npm start`: reads the configuration once, starts the bot, and shuts down gracefully on SIGINT/SIGTERM.
import { startApp } from "./app.ts";
import { configOrExit, stopOnSignals } from "./entry.ts";
import { createLogger, secretsOf } from "./logger.ts";

const { config } = configOrExit();

const logger = createLogger(config.logLevel, undefined, { secrets: secretsOf(config) });
process.on("unhandledRejection", (err) => logger.error({ err }, "unhandled rejection"));
const app = await startApp({ config, logger }).catch((err: unknown) => {
  logger.fatal({ err }, "classtune could not start");
  process.exit(1);
});

const SHUTDOWN_GRACE_MS = 20_000;
stopOnSignals(logger, "shutting down: finishing in-flight work", () => app.close(), SHUTDOWN_GRACE_MS);
