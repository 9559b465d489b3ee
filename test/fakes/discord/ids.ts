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
