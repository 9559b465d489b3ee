// A channel belongs to one server: every command that takes a channel refuses another server's (typed by
// hand or forged) before storing anything, and the notice sender never posts a server's notices elsewhere.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { OutboxRepository } from "../../src/db/outbox.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import type { FakeChannel, FakeGuild, FakeUser, OptionValue } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { addSchool } from "../helpers/school.ts";

let bot: TestBot;
let a: FakeGuild;
let b: FakeGuild;
let teacher: FakeUser;
let foreign: FakeChannel;
let model: string;

before(async () => {
  bot = await startTestBot();
  ({ guild: a, teacher } = addSchool(bot.discord, {
    name: "School A",
    channels: ["staff", "notices", "biology"],
  }));
  // The same teacher manages both servers: even so, A's settings cannot point into B.
  ({ guild: b } = addSchool(bot.discord, {
    name: "School B",
    channels: ["staff", "private-notices"],
    teacher,
  }));
  foreign = b.channel("private-notices");
  model = bot.app.ctx.config.ask.defaultModel;
});
after(() => bot.close());

async function inA(command: string, subcommand: string, options: Record<string, OptionValue>) {
  const run = await bot.discord.slash({
    channel: a.channel("staff"),
    user: teacher,
    command,
    subcommand,
    options,
  });
  return (await run.waitForOriginal()).content;
}

const refused = /is not in this server: choose one of this server's channels/;

describe("a channel of another server", () => {
  it("is refused as the notice channel, and nothing is stored", async () => {
    assert.match(await inA("config", "notifications", { channel: foreign }), refused);
    assert.equal((await bot.app.ctx.guildSettings.get(a.id)).notifyChannelId, null);
    assert.match(
      await inA("config", "notifications", { channel: a.channel("notices") }),
      /will be posted in/,
    );
    assert.equal((await bot.app.ctx.guildSettings.get(a.id)).notifyChannelId, a.channel("notices").id);
  });

  it("is refused as a class channel, to set up or to remove", async () => {
    assert.match(await inA("classroom", "setup", { channel: foreign, model }), refused);
    assert.match(await inA("classroom", "remove", { channel: foreign }), refused);
    assert.deepEqual(await bot.app.ctx.classroom.settings.list(a.id), []);
    assert.match(
      await inA("classroom", "setup", { channel: a.channel("biology"), model }),
      /is a class channel/,
    );
  });

  it("is refused as the channel of /model use, and the server's default is left alone", async () => {
    assert.match(await inA("model", "use", { model, channel: foreign }), refused);
    assert.equal(
      (await bot.app.ctx.classroom.settings.list(a.id)).some((r) => r.channelId === foreign.id),
      false,
    );
    assert.equal((await bot.app.ctx.guildSettings.get(a.id)).defaultModel, null);
  });

  it("never receives a server's notices, even when a notice channel of another server was stored before", async () => {
    // As a row written before the commands checked the channel.
    await bot.app.ctx.guildSettings.update(a.id, { notifyChannelId: foreign.id });
    const outbox = new OutboxRepository(sqliteStore(bot.db));
    await outbox.enqueue({
      guildId: a.id,
      channelId: null,
      kind: "model_unavailable",
      payload: { model, provider: "sandbox", shutdownDate: null, reason: "It was shut down." },
      dedupeKey: `model_unavailable:${a.id}:test`,
    });
    await bot.app.ctx.notifier.drain();
    assert.deepEqual(bot.discord.channelMessages(foreign), []);
    const row = await outbox.getByKey(a.id, `model_unavailable:${a.id}:test`);
    assert.equal(row?.postedAt, null);
    assert.match(row?.lastError ?? "", /not in guild/);
  });
});
