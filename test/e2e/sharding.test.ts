// Two real bots on one SQLite file, SHARD_COUNT=2 with SHARD_IDS=0 and SHARD_IDS=1, against one fake Discord that
// routes each guild's events to its shard: each school's /ask is answered by the bot that holds its shard and by
// no other, exactly one bot leads the scheduled work, a job started on the follower's school ends with one notice
// (posted by the leader), and each bot's /readyz names its shard.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { App } from "../../src/app.ts";
import { snowflakeOnShard } from "../fakes/discord/ids.ts";
import { type FakeDiscord, type FakeGuild, startFakeDiscord } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { startJobAt } from "../helpers/finetune.ts";
import { addSchool, type School } from "../helpers/school.ts";

let discord: FakeDiscord;
let dataDir: string;
/** bots[n] runs shard n of 2. */
let bots: [TestBot, TestBot];
/** schools[n] lives on shard n. */
let schools: [School, School];

before(async () => {
  discord = await startFakeDiscord();
  dataDir = mkdtempSync(join(tmpdir(), "classtune-e2e-sharding-"));
  schools = [
    addSchool(discord, {
      name: "Shard Zero High",
      id: snowflakeOnShard(0, 2),
      channels: ["general", "notices"],
    }),
    addSchool(discord, {
      name: "Shard One High",
      id: snowflakeOnShard(1, 2),
      channels: ["general", "notices"],
    }),
  ];
  const shardBot = (id: number) =>
    startTestBot({ discord, dataDir, env: { SHARD_COUNT: "2", SHARD_IDS: String(id), HEALTH_PORT: "0" } });
  // One after the other: the first to reach READY takes the lease, so the test knows which one leads.
  const zero = await shardBot(0);
  bots = [zero, await shardBot(1)];
});
after(async () => {
  for (const bot of bots ?? []) await bot.close();
  await discord.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const chatCalls = (app: App) => app.sandbox?.stats.byRoute["POST /chat/completions"] ?? 0;

async function ask(school: School, question: string) {
  const [student] = school.students;
  const run = await discord.slash({
    channel: school.guild.channel("general"),
    user: student,
    command: "ask",
    options: { question },
  });
  return run.waitForOriginal(undefined, { timeoutMs: 15_000 });
}

describe("two shard processes on one database", () => {
  test("each bot identified as its own shard of two", () => {
    assert.deepEqual(
      discord.identifies.map((i) => i.shard),
      [
        [0, 2],
        [1, 2],
      ],
    );
  });

  test("each school's /ask is answered by the bot holding its shard, and only by it", async () => {
    for (const [shard, school] of schools.entries()) {
      const before = bots.map((b) => chatCalls(b.app));
      const reply = await ask(school, "What is osmosis?");
      assert.ok(reply.content.length > 0, `shard ${shard}'s school got an answer`);
      const after = bots.map((b) => chatCalls(b.app));
      const calls = after.map((n, i) => n - (before[i] ?? 0));
      assert.ok((calls[shard] ?? 0) >= 1, `bot ${shard} asked its model (${calls})`);
      assert.equal(calls[1 - shard], 0, `bot ${1 - shard} did not see the question`);
    }
    const interactionsTo = (shard: number) => {
      const sessions = new Set(
        discord.gatewayFrames
          .filter((f) => f.direction === "sent" && f.t === "READY")
          .filter((f) => (f.d as { shard: [number, number] }).shard[0] === shard)
          .map((f) => f.sessionId),
      );
      return discord.gatewayFrames
        .filter((f) => f.direction === "sent" && f.t === "INTERACTION_CREATE" && sessions.has(f.sessionId))
        .map((f) => (f.d as { guild_id: string }).guild_id);
    };
    assert.deepEqual(interactionsTo(0), [schools[0].guild.id]);
    assert.deepEqual(interactionsTo(1), [schools[1].guild.id]);
  });

  test("exactly one of the two leads the scheduled work", async () => {
    assert.deepEqual(
      bots.map((b) => b.app.leadership.role()),
      ["leader", "follower"],
    );
    assert.equal((await bots[1].app.ctx.poller.tick()).follower, true, "the follower's tick does nothing");
  });

  test("a job started on the follower's school ends with its notice posted exactly once", async () => {
    const [leader, follower] = bots;
    const guild: FakeGuild = schools[1].guild;
    const notices = guild.channel("notices");
    const setup = await discord.slash({
      channel: guild.channel("general"),
      user: schools[1].teacher,
      command: "config",
      subcommand: "notifications",
      options: { channel: notices },
    });
    await setup.waitForOriginal();
    const ctx = follower.app.ctx;
    const job = await startJobAt(ctx, {
      guildId: guild.id,
      dir: dataDir,
      provider: ctx.providerName,
      model: ctx.config.ask.defaultModel,
    });
    for (let i = 0; i < 20 && (await ctx.jobs.get(guild.id, job.id))?.status !== "succeeded"; i++) {
      for (const bot of bots) bot.app.sandbox?.clock.advance(3_600_000);
      await follower.app.ctx.poller.tick();
      await leader.app.ctx.poller.tick();
    }
    assert.equal((await ctx.jobs.get(guild.id, job.id))?.status, "succeeded");
    const ready = () => discord.channelMessages(notices).filter((m) => /your model is ready/.test(m.content));
    await discord.waitForMessage(notices, (m) => /your model is ready/.test(m.content));
    // More ticks of both: nothing is posted again.
    for (const bot of bots) await bot.app.ctx.poller.tick();
    assert.equal(ready().length, 1, discord.transcript());
  });

  test("each bot's /readyz is ready and names its shard", async () => {
    for (const [shard, bot] of bots.entries()) {
      const res = await fetch(`${bot.app.health?.url}/readyz`);
      const body = (await res.json()) as {
        status: string;
        role: string;
        gateway: { shards: { id: number }[] };
      };
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.deepEqual(
        body.gateway.shards.map((s) => s.id),
        [shard],
      );
      assert.equal(body.role, shard === 0 ? "leader" : "follower");
    }
  });
});
