// NOTIFY_CHANNEL_ID is a default for guilds that have not chosen a notice channel, but a channel belongs to
// one guild: another guild's job notices (requester, dataset, test answers) must never be posted there.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { PermissionFlagsBits } from "discord.js";
import { type FakeDiscord, type FakeGuild, startFakeDiscord } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { fineTuneInGuild } from "../helpers/finetune.ts";

const PAIRS: [string, string][] = Array.from({ length: 10 }, (_, i) => [
  `What is fact number ${i + 1} about volcanoes?`,
  `Volcano fact ${i + 1}: magma rises ${i + 3} kilometres.`,
]);

let discord: FakeDiscord;
let bot: TestBot;
let a: FakeGuild;
let b: FakeGuild;

before(async () => {
  discord = await startFakeDiscord();
  a = discord.addGuild({ name: "School A", channels: ["notices"] });
  b = discord.addGuild({ name: "School B", channels: ["staff"] });
  bot = await startTestBot({ discord, env: { NOTIFY_CHANNEL_ID: a.channel("notices").id } });
  for (const g of [a, b]) {
    const teacher = discord.addUser({ username: `teacher-${g.name}` });
    g.addMember(teacher, { permissions: PermissionFlagsBits.ManageGuild });
  }
});
after(async () => {
  await bot.close();
  await discord.close();
});

describe("the default notice channel (NOTIFY_CHANNEL_ID)", () => {
  it("never receives another guild's notices, and still serves its own guild", async () => {
    const notices = () => discord.channelMessages(a.channel("notices"));
    await fineTuneInGuild(bot.app, b.id, "200000000000000001", PAIRS, "guildb");
    await bot.app.ctx.notifier.drain();
    assert.equal(notices().length, 0, "guild B's notices stay out of guild A's channel");

    await fineTuneInGuild(bot.app, a.id, "200000000000000002", PAIRS, "guilda");
    await bot.app.ctx.notifier.drain();
    assert.ok(notices().length >= 2, "guild A's card and ending arrive in its default channel");
    assert.ok(notices().every((m) => !m.content.includes("200000000000000001")));
  });
});
