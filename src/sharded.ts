// `npm run start:sharded`: discord.js's ShardingManager on this host (src/discord/sharding.ts), one bot process per
// shard: SHARD_COUNT of them (default auto: the count Discord recommends), or with SHARD_IDS only those ids of
// SHARD_COUNT. Stops every shard process gracefully on SIGINT/SIGTERM.
import { fileURLToPath } from "node:url";
import { startShardedBot } from "./discord/sharding.ts";
import { configOrExit, stopOnSignals } from "./entry.ts";
import { createLogger, secretsOf } from "./logger.ts";

const { config, token } = configOrExit();

const logger = createLogger(config.logLevel, undefined, { secrets: secretsOf(config) }).child({
  service: "sharding",
});
const bot = await startShardedBot({
  token,
  apiUrl: config.discord.apiUrl,
  shards: config.discord.shards,
  // Each shard runs as `npm start` does: scripts/run.js (.env, the kept bundle or tsx) over src/main.ts.
  file: fileURLToPath(new URL("../scripts/run.js", import.meta.url)),
  args: [fileURLToPath(new URL("./main.ts", import.meta.url))],
  logger,
}).catch((err: unknown) => {
  logger.fatal({ err }, "the shard processes could not start");
  process.exit(1);
});

// Each shard process stops itself within its own grace period; the manager waits for them.
stopOnSignals(logger, "stopping the shard processes", () => bot.stop(), undefined);
