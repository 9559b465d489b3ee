// The discord.js client as classtune uses it: Guilds intent only (no privileged intents), mentions off by default
// on everything it sends, and the gateway shards this process runs (config SHARD_COUNT / SHARD_IDS).
import { Client, type ClientOptions, GatewayIntentBits } from "discord.js";
import type { ShardPlan } from "../config.ts";

// Discord exempts interaction callbacks and webhooks (every /ask reply) from its 50 requests/s global limit,
// but discord.js paces all requests by it: /ask stalled at ~48 answers/s (bench/ask.ts). Classtune's other
// requests (notices) stay far below 50/s, and Discord's own 429s, global ones included, are still honoured.
const GLOBAL_REQUESTS_PER_SECOND = 1_000;

/**
 * The shard options, always explicit: discord.js reads SHARDS and SHARD_COUNT from the environment itself when
 * `shards` is unset or `shardCount` is its default 1, and would read SHARD_COUNT=auto as NaN. With `shards: "auto"`
 * it ignores the count it is given (it asks Discord, then overwrites it), so any count but 1 keeps it from looking.
 */
export function shardOptions(plan: ShardPlan | undefined): Pick<ClientOptions, "shards" | "shardCount"> {
  if (plan === undefined) return { shards: [0], shardCount: 1 };
  if (plan.ids === "auto") return { shards: "auto", shardCount: 2 };
  return { shards: plan.ids, shardCount: plan.count };
}

export function createDiscordClient(options: { apiUrl: string; shards?: ShardPlan | undefined }): Client {
  return new Client({
    intents: [GatewayIntentBits.Guilds],
    allowedMentions: { parse: [] },
    rest: { api: options.apiUrl, globalRequestsPerSecond: GLOBAL_REQUESTS_PER_SECOND },
    ...shardOptions(options.shards),
  });
}
