// `npm run start:sharded`: discord.js's ShardingManager on this host (src/discord/sharding.ts), one bot process per
// shard: SHARD_COUNT of them (default auto: the count Discord recommends), or with SHARD_IDS only those ids of
// SHARD_COUNT. Stops every shard process gracefully on SIGINT/SIGTERM.
import { fileURLToPath } from "node:url";
import { ConfigError, loadConfig } from "./config.ts";
import { startShardedBot } from "./discord/sharding.ts";
import { createLogger, secretsOf } from "./logger.ts";

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
const token = config.discord.token;
if (!token) {
  process.stderr.write("classtune: DISCORD_TOKEN is not set (see `npm start` and the README).\n");
  process.exit(1);
}

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

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping the shard processes");
    bot.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "unclean shutdown");
        process.exit(1);
      },
    );
  });
}
