// The client's shard options are always explicit, so discord.js's own reading of SHARDS and SHARD_COUNT from the
// environment (as in a ShardingManager's child) can neither override the configuration nor trip over "auto".
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { createDiscordClient } from "../../src/discord/client.ts";

const apiUrl = "http://127.0.0.1:9/api";
const saved = { SHARDS: process.env.SHARDS, SHARD_COUNT: process.env.SHARD_COUNT };
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

describe("createDiscordClient shards", () => {
  it("runs one unsharded connection whatever SHARDS and SHARD_COUNT say in the environment", async () => {
    process.env.SHARDS = "[3]";
    process.env.SHARD_COUNT = "8";
    const client = createDiscordClient({ apiUrl, shards: undefined });
    assert.deepEqual(client.options.shards, [0]);
    // The count stays discord.js's default 1, so it would still take SHARD_COUNT from the environment; loadConfig
    // reads that same environment, so no plan (SHARD_COUNT unset) means there is none to take.
    await client.destroy();
  });

  it("accepts SHARD_COUNT=auto in the environment: discord.js does not read it as a number", async () => {
    process.env.SHARD_COUNT = "auto";
    const client = createDiscordClient({ apiUrl, shards: { ids: "auto" } });
    assert.equal(client.options.shards, "auto");
    await client.destroy();
  });

  it("runs the configured ids of the configured count", async () => {
    process.env.SHARDS = "[0]";
    process.env.SHARD_COUNT = "2";
    const client = createDiscordClient({ apiUrl, shards: { ids: [2, 5], count: 8 } });
    assert.deepEqual(client.options.shards, [2, 5]);
    assert.equal(client.options.shardCount, 8);
    await client.destroy();
  });
});
