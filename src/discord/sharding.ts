// discord.js's ShardingManager over the bot's own entry, for `npm run start:sharded` (src/sharded.ts): one process
// per shard on this host, respawned when one dies. Each shard process is a whole bot (`npm start`'s src/main.ts)
// that reads its shard from SHARDS/SHARD_COUNT, which the manager sets (src/config.ts); they share DATA_DIR's
// database, where the leader lease and the outbox claims keep the scheduled work and the notices single.
import type { ChildProcess } from "node:child_process";
import { REST, type RESTGetAPIGatewayBotResult, Routes, type Shard, ShardingManager } from "discord.js";
import type { ShardPlan } from "../config.ts";
import type { Logger } from "../logger.ts";

/** discord.js's own pause between two shards' spawns: Discord lets one shard identify per 5 s (max_concurrency 1). */
const SPAWN_DELAY_MS = 5_500;

export interface ShardingOptions {
  token: string;
  /** DISCORD_API_URL: where to ask for the recommended count (discord.js's own helper asks discord.com only). */
  apiUrl: string;
  /** undefined or "auto": the count Discord recommends, all of them here; else these ids of `count`. */
  shards: ShardPlan | undefined;
  /** The script each shard process runs, with its arguments (scripts/run.js src/main.ts). */
  file: string;
  args: string[];
  logger: Logger;
}

export interface ShardedBot {
  manager: ShardingManager;
  totalShards: number;
  /** Stops respawning, sends every shard process SIGTERM (each drains as `npm start` does) and waits for them. */
  stop(): Promise<void>;
}

/** `shards` from GET /gateway/bot: how many shards Discord recommends for this bot's guilds. */
export async function recommendedShardCount(token: string, apiUrl: string): Promise<number> {
  const rest = new REST({ api: apiUrl }).setToken(token);
  const info = (await rest.get(Routes.gatewayBot())) as RESTGetAPIGatewayBotResult;
  return info.shards;
}

export async function startShardedBot(options: ShardingOptions): Promise<ShardedBot> {
  const { shards, logger } = options;
  const fixed = shards !== undefined && shards.ids !== "auto" ? shards : undefined;
  const totalShards = fixed?.count ?? (await recommendedShardCount(options.token, options.apiUrl));
  const shardList = fixed?.ids ?? Array.from({ length: totalShards }, (_, i) => i);
  const manager = new ShardingManager(options.file, {
    token: options.token,
    totalShards,
    shardList,
    shardArgs: options.args,
    respawn: true,
  });
  manager.on("shardCreate", (shard: Shard) => {
    logger.info({ shard: shard.id, totalShards }, "shard process started");
    shard.on("death", () => logger.warn({ shard: shard.id }, "shard process exited"));
    shard.on("ready", () => logger.info({ shard: shard.id }, "shard is ready"));
  });
  logger.info({ totalShards, shards: shardList }, "starting the shard processes");
  // timeout -1: spawn does not wait for READY (a slow shard must not fail the others); respawn covers crashes.
  await manager.spawn({ amount: totalShards, delay: SPAWN_DELAY_MS, timeout: -1 });
  return {
    manager,
    totalShards,
    async stop() {
      manager.respawn = false;
      const children = [...manager.shards.values()]
        .map((s) => s.process)
        .filter((c): c is ChildProcess => c !== null && c.exitCode === null && c.signalCode === null);
      const exited = children.map((c) => new Promise<void>((resolve) => c.once("exit", () => resolve())));
      for (const c of children) c.kill("SIGTERM");
      await Promise.all(exited);
    },
  };
}
