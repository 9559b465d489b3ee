// The fake Discord's sharding, seen from real discord.js clients: each connection that identified as shard
// [id, count] gets only the guilds (READY, GUILD_CREATE) and the interactions of guilds on that shard; an
// unsharded connection still gets everything; GET /gateway/bot recommends the count SHARD_COUNT=auto runs.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Client, Events, GatewayIntentBits, type Interaction } from "discord.js";
import { shardOf, snowflakeOnShard } from "./ids.ts";
import { type FakeDiscord, type FakeGuild, startFakeDiscord } from "./index.ts";

function sharded(discord: FakeDiscord, shards: number[] | "auto", shardCount: number): Client {
  return new Client({
    intents: [GatewayIntentBits.Guilds],
    rest: { api: discord.apiUrl },
    shards,
    shardCount,
  });
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (const end = Date.now() + 10_000; !check(); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
  }
}

const received = (client: Client): string[] => {
  const ids: string[] = [];
  client.on(Events.InteractionCreate, (i: Interaction) => {
    if (i.guildId) ids.push(i.guildId);
  });
  return ids;
};

describe("fake Discord sharding", () => {
  let discord: FakeDiscord;
  let onZero: FakeGuild;
  let onOne: FakeGuild;
  const clients: Client[] = [];
  before(async () => {
    discord = await startFakeDiscord({ recommendedShards: 2, maxConcurrency: 2 });
    onZero = discord.addGuild({ name: "Zero", id: snowflakeOnShard(0, 2) });
    onOne = discord.addGuild({ name: "One", id: snowflakeOnShard(1, 2) });
  });
  after(async () => {
    for (const c of clients) await c.destroy();
    await discord.close();
  });

  test("snowflakeOnShard makes ids on the shard asked for, by Discord's formula", () => {
    for (const count of [1, 2, 3, 16]) {
      for (let shard = 0; shard < count; shard++) {
        const id = snowflakeOnShard(shard, count);
        assert.equal(Number((BigInt(id) >> 22n) % BigInt(count)), shard);
        assert.equal(shardOf(id, count), shard);
      }
    }
  });

  test("each shard's connection holds only its guilds and receives only their interactions", async () => {
    const zero = sharded(discord, [0], 2);
    const one = sharded(discord, [1], 2);
    clients.push(zero, one);
    const [toZero, toOne] = [received(zero), received(one)];
    await Promise.all([zero.login(discord.token), one.login(discord.token)]);
    await discord.waitForReady({ count: 2 });
    await Promise.all(
      [zero, one].map((c) => (c.isReady() ? undefined : new Promise((r) => c.once("ready", r)))),
    );
    assert.deepEqual(discord.identifies.map((i) => i.shard).sort(), [
      [0, 2],
      [1, 2],
    ]);
    assert.deepEqual([...zero.guilds.cache.keys()], [onZero.id]);
    assert.deepEqual([...one.guilds.cache.keys()], [onOne.id]);

    const user = discord.addUser({ username: "student" });
    onZero.addMember(user);
    onOne.addMember(user);
    await discord.slash({ channel: onZero.channel("general"), user, command: "ask" });
    await discord.slash({ channel: onOne.channel("general"), user, command: "ask" });
    await until("both interactions to arrive", () => toZero.length + toOne.length >= 2);
    assert.deepEqual(toZero, [onZero.id]);
    assert.deepEqual(toOne, [onOne.id]);

    // A guild joined later goes to its shard only.
    const later = discord.addGuild({ name: "Later", id: snowflakeOnShard(1, 2) });
    await until("the new guild on shard 1", () => one.guilds.cache.has(later.id));
    assert.equal(zero.guilds.cache.has(later.id), false);
  });

  test("an interaction for a guild no connected shard holds throws", async () => {
    const [zero, one] = clients;
    await one?.destroy();
    const user = discord.addUser({ username: "late" });
    onOne.addMember(user);
    const slashOnOne = () => discord.slash({ channel: onOne.channel("general"), user, command: "ask" });
    // The fake sees the close a moment after destroy() returns.
    let error: unknown;
    await until("the fake to see shard 1 gone", () => {
      slashOnOne().catch((err: unknown) => {
        error = err;
      });
      return error !== undefined;
    });
    assert.match(String(error), new RegExp(`no connected shard holds guild ${onOne.id}`));
    await zero?.destroy();
    clients.length = 0;
    await assert.rejects(slashOnOne(), /no bot is connected/);
  });

  test("shards: auto runs the count GET /gateway/bot recommends; an unsharded client holds every guild", async () => {
    const auto = sharded(discord, "auto", 2);
    clients.push(auto);
    await auto.login(discord.token);
    if (!auto.isReady()) await new Promise((r) => auto.once("ready", r));
    assert.equal(auto.options.shardCount, 2);
    assert.deepEqual([...auto.ws.shards.keys()].sort(), [0, 1]);
    assert.equal(auto.guilds.cache.size, discord.guilds.length);
    await auto.destroy();
    clients.length = 0;

    const plain = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: discord.apiUrl } });
    clients.push(plain);
    await plain.login(discord.token);
    if (!plain.isReady()) await new Promise((r) => plain.once("ready", r));
    assert.equal(plain.guilds.cache.size, discord.guilds.length);
  });
});
