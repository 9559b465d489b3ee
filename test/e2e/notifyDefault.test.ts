// NOTIFY_CHANNEL_ID is a default for guilds that have not chosen a notice channel, but a channel belongs to
// one guild: another guild's job notices (requester, dataset, test answers) must never be posted there.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type FakeDiscord, startFakeDiscord } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { fineTuneInGuild } from "../helpers/finetune.ts";
import { addSchool, OTHER_SCHOOL, type School } from "../helpers/school.ts";

const PAIRS: [string, string][] = Array.from({ length: 10 }, (_, i) => [
  `What is fact number ${i + 1} about volcanoes?`,
  `Volcano fact ${i + 1}: magma rises ${i + 3} kilometres.`,
]);

let discord: FakeDiscord;
let bot: TestBot;
let a: School;
let b: School;

before(async () => {
  discord = await startFakeDiscord();
  a = addSchool(discord, { name: "School A", channels: ["notices"] });
  b = addSchool(discord, { ...OTHER_SCHOOL, name: "School B", channels: ["staff"] });
  bot = await startTestBot({ discord, env: { NOTIFY_CHANNEL_ID: a.guild.channel("notices").id } });
});
after(async () => {
  await bot.close();
  await discord.close();
});

describe("the default notice channel (NOTIFY_CHANNEL_ID)", () => {
  it("never receives another guild's notices, and still serves its own guild", async () => {
    const notices = () => discord.channelMessages(a.guild.channel("notices"));
    await fineTuneInGuild(bot.app, b.guild.id, b.teacher.id, PAIRS, "guildb");
    await bot.app.ctx.notifier.drain();
    assert.equal(notices().length, 0, "guild B's notices stay out of guild A's channel");

    await fineTuneInGuild(bot.app, a.guild.id, a.teacher.id, PAIRS, "guilda");
    await bot.app.ctx.notifier.drain();
    assert.ok(notices().length >= 2, "guild A's card and ending arrive in its default channel");
    assert.ok(notices().every((m) => !m.content.includes(b.teacher.id)));
  });
});
