// Snowflake ids and tokens for the fake Discord: real-looking, unique within the process, ordered by time.
import { randomBytes } from "node:crypto";

const DISCORD_EPOCH = 1_420_070_400_000n;
let increment = 0n;

/** A snowflake id as Discord makes them: milliseconds since 2015 shifted left 22 bits, plus a counter. */
export function snowflake(now: number = Date.now()): string {
  increment = (increment + 1n) & 0xfffn;
  return (((BigInt(now) - DISCORD_EPOCH) << 22n) | increment).toString();
}

/** An opaque random token (interaction tokens, session ids, CDN signatures). */
export function randomToken(bytes = 24): string {
  return randomBytes(bytes).toString("base64url");
}

/** The shard a guild's events go to, as Discord documents it: (guild_id >> 22) % num_shards. */
export function shardOf(guildId: string, shardCount: number): number {
  return Number((BigInt(guildId) >> 22n) % BigInt(shardCount));
}

/** A snowflake (a guild id) that falls on `shard` of `shardCount`: its timestamp picked to land there. */
export function snowflakeOnShard(shard: number, shardCount: number, now: number = Date.now()): string {
  const offset =
    (shard - Number((BigInt(now) - DISCORD_EPOCH) % BigInt(shardCount)) + shardCount) % shardCount;
  return snowflake(now + offset);
}
