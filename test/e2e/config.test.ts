// /config end to end, and the server-side teacher check that holds even when Discord's default is widened.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { PermissionFlagsBits } from "discord.js";
import type { FakeGuild, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { addSchool } from "../helpers/school.ts";

let bot: TestBot;
let guild: FakeGuild;
let teacher: FakeUser;
let student: FakeUser;
let assistant: FakeUser;

before(async () => {
  bot = await startTestBot();
  const { discord } = bot;
  const school = addSchool(discord, { channels: ["general", "teachers"], roles: ["teaching-assistants"] });
  ({ guild, teacher } = school);
  [student] = school.students;
  assistant = discord.addUser({ username: "ta-lee" });
  guild.addMember(assistant, { roles: [guild.role("teaching-assistants")] });
});
after(() => bot.close());

describe("/config", () => {
  it("is deployed for Manage Server by default, guild-only", () => {
    const config = bot.discord.commands().find((c) => c.name === "config");
    assert.ok(config, "config is deployed");
    assert.equal(config.default_member_permissions, PermissionFlagsBits.ManageGuild.toString());
  });

  it("refuses a student on the server side even though the fake lets anyone run it", async () => {
    const run = await bot.discord.slash({
      channel: guild.channel("general"),
      user: student,
      command: "config",
      subcommand: "show",
    });
    const reply = await run.waitForOriginal();
    assert.equal(reply.ephemeral, true);
    assert.match(reply.content, /Only teachers can do that/);
  });

  it("lets a teacher choose the notice channel and the teacher role, then shows them", async () => {
    const channel = guild.channel("teachers");
    let run = await bot.discord.slash({
      channel: guild.channel("general"),
      user: teacher,
      command: "config",
      subcommand: "notifications",
      options: { channel },
    });
    assert.match((await run.waitForOriginal()).content, new RegExp(`<#${channel.id}>`));
    run = await bot.discord.slash({
      channel: guild.channel("general"),
      user: teacher,
      command: "config",
      subcommand: "teacher-role",
      options: { role: guild.role("teaching-assistants") },
    });
    const roleReply = await run.waitForOriginal();
    assert.equal(roleReply.pings.roles.length, 0, "naming the role does not ping it");

    run = await bot.discord.slash({
      channel: guild.channel("general"),
      user: assistant,
      command: "config",
      subcommand: "show",
    });
    const shown = await run.waitForOriginal();
    const fields = shown.embeds[0]?.fields ?? [];
    assert.match(fields.find((f) => f.name === "Notices")?.value ?? "", new RegExp(channel.id));
    assert.match(fields.find((f) => f.name === "Fine-tuning provider")?.value ?? "", /sandbox/);
  });
});
