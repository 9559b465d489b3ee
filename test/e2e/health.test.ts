// The bot with HEALTH_PORT set, against the fake Discord: /readyz turns 200 once the gateway is READY, this lone
// process leads the scheduled work, and the answers carry no token, id or path; closing the bot closes the port
// and gives the lease up.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Client, GatewayIntentBits } from "discord.js";
import { LeaderLeaseRepository } from "../../src/db/leaderLease.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { gatewayHealth } from "../../src/discord/gateway.ts";
import { SCHEDULER_LEASE } from "../../src/leadership/leadership.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { addSchool } from "../helpers/school.ts";

let bot: TestBot;
before(async () => {
  bot = await startTestBot({ env: { HEALTH_PORT: "0" } });
  addSchool(bot.discord);
});
after(() => bot.close());

describe("health endpoints on the running bot", () => {
  test("/readyz is 200 once READY, the lone process is the leader, and nothing secret is in the answer", async () => {
    const url = bot.app.health?.url;
    assert.ok(url, "HEALTH_PORT=0 started the server on a free port");
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, "loopback unless HEALTH_HOST says otherwise");
    await bot.discord.waitForHeartbeat();
    const res = await fetch(`${url}/readyz`);
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const body = JSON.parse(text) as Record<string, unknown>;
    assert.equal(body.status, "ready");
    assert.equal(body.role, "leader");
    assert.deepEqual(body.database, { ok: true, engine: "sqlite" });
    const gateway = body.gateway as { ready: boolean; status: string; shards: Array<{ id: number }> };
    assert.equal(gateway.ready, true);
    assert.equal(gateway.status, "ready");
    assert.deepEqual(
      gateway.shards.map((s) => s.id),
      [0],
    );
    assert.equal(typeof body.version, "string");
    assert.equal(typeof body.uptimeSeconds, "number");
    for (const secret of [
      bot.discord.token,
      bot.discord.applicationId,
      bot.app.leadership.id,
      bot.dataDir,
      ...bot.discord.guilds.map((g) => g.id),
    ]) {
      assert.ok(!text.includes(secret), `the answer does not contain ${secret.slice(0, 6)}…`);
    }
    assert.equal(
      (await new LeaderLeaseRepository(sqliteStore(bot.db)).get(SCHEDULER_LEASE))?.holder,
      bot.app.leadership.id,
    );
  });

  test("the poller ticks in the leader", async () => {
    const tick = await bot.app.ctx.poller.tick();
    assert.equal(tick.follower, false);
  });

  test("a client that never logged in is not ready (idle)", () => {
    const client = new Client({ intents: [GatewayIntentBits.Guilds] });
    assert.deepEqual(gatewayHealth(client), { ready: false, status: "idle", ping: undefined, shards: [] });
  });

  test("closing the bot closes the port and releases the lease; a restart leads again", async () => {
    const url = bot.app.health?.url ?? "";
    await bot.app.close();
    await assert.rejects(fetch(`${url}/healthz`));
    assert.equal(await new LeaderLeaseRepository(sqliteStore(bot.db)).get(SCHEDULER_LEASE), undefined);
    const app = await bot.restart();
    assert.equal(app.leadership.isLeader(), true);
  });
});
