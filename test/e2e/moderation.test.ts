// Moderation end to end on the fake Discord with the bot's default moderator (no OpenAI key: the sandbox's
// /v1/moderations). A flagged question in a class channel is refused privately and never reaches the model; the
// teachers' channel gets one alert naming the student without pinging anyone; a flagged answer is replaced in the
// class channel and attached to the alert for review.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DEFAULT_MODERATION_MESSAGES } from "../../src/config.ts";
import { FLAGGED_ANSWER_FILE } from "../../src/discord/notices.ts";
import type { FakeGuild, FakeMessage, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { fineTuneInGuild } from "../helpers/finetune.ts";
import { addSchool } from "../helpers/school.ts";

let bot: TestBot;
let guild: FakeGuild;
let teacher: FakeUser;
let sam: FakeUser;

const STORY = "[flag:violence/graphic] The battle in the story was long and grim.";
const PAIRS: [string, string][] = [
  ["What happened in the battle story?", STORY],
  ["What is photosynthesis?", "Photosynthesis is how plants turn light into sugar."],
  ["What is a cell?", "A cell is the smallest unit of life."],
  ["What is osmosis?", "Osmosis is water crossing a membrane."],
  ["What is DNA?", "DNA carries genetic instructions."],
  ["What is an ecosystem?", "Living things and their environment together."],
  ["What is evolution?", "Change in inherited traits over generations."],
  ["What is a gene?", "A stretch of DNA that codes for a protein."],
  ["What is a virus?", "A tiny agent that copies itself inside cells."],
  ["What is a protein?", "A chain of amino acids folded into a shape."],
];

const chatCalls = () => bot.app.sandbox?.stats.byRoute["POST /chat/completions"] ?? 0;
const staffMessages = () =>
  bot.discord.channelMessages(guild.channel("staff")).filter((m) => !m.interactionId);

async function alertMatching(pattern: RegExp): Promise<FakeMessage> {
  return bot.discord.waitFor(
    () => `an alert matching ${pattern} in #staff`,
    () => staffMessages().find((m) => pattern.test(m.content)),
    5000,
  );
}

before(async () => {
  bot = await startTestBot();
  const school = addSchool(bot.discord, { channels: ["general", "biology", "staff"] });
  ({ guild, teacher } = school);
  [sam] = school.students;
  const model = await fineTuneInGuild(bot.app, guild.id, teacher.id, PAIRS, "bio");
  const setup = await bot.discord.slash({
    channel: guild.channel("general"),
    user: teacher,
    command: "classroom",
    subcommand: "setup",
    options: { channel: guild.channel("biology"), model },
  });
  assert.match((await setup.waitForOriginal()).content, /is a class channel/);
  const notify = await bot.discord.slash({
    channel: guild.channel("staff"),
    user: teacher,
    command: "config",
    subcommand: "notifications",
    options: { channel: guild.channel("staff") },
  });
  await notify.waitForOriginal();
});
after(() => bot.close());

describe("moderation on /ask", () => {
  it("refuses a flagged question privately, never asks the model, and alerts the teachers once without a ping", async () => {
    const calls = chatCalls();
    const run = await bot.discord.slash({
      channel: guild.channel("biology"),
      user: sam,
      command: "ask",
      options: { question: "nobody likes you, what is DNA?" },
    });
    const refusal = await bot.discord.waitFor(
      () => "the refusal",
      () =>
        run
          .messages()
          .flatMap((m) => m.bodies)
          .find((b) => b.content === DEFAULT_MODERATION_MESSAGES.refusal),
      5000,
    );
    assert.equal(Number(refusal.flags ?? 0) & 64, 64, "ephemeral: only the student reads it");
    const visible = bot.discord
      .channelMessages(guild.channel("biology"))
      .filter((m) => m.interactionId === run.id && !m.ephemeral && !m.deleted);
    assert.deepEqual(visible, [], "the class never sees the question");
    assert.equal(chatCalls(), calls, "the model was never asked");

    const alert = await alertMatching(/A question from .* was flagged/);
    assert.ok(alert.content.includes(sam.mention), "names the student");
    assert.ok(alert.content.includes(`<#${guild.channel("biology").id}>`), "and the channel");
    assert.deepEqual(alert.pings, { everyone: false, users: [], roles: [] }, "pings nobody");
    assert.deepEqual(alert.allowedMentions, { parse: [], users: [] });
    const embed = alert.embeds[0];
    assert.match(embed?.fields?.find((f) => f.name === "Categories")?.value ?? "", /^harassment 0\.9\d$/);
    assert.match(embed?.fields?.find((f) => f.name === "Question")?.value ?? "", /^\|\|nobody likes you/);

    await bot.app.ctx.poller.tick();
    assert.equal(staffMessages().filter((m) => /was flagged/.test(m.content)).length, 1, "exactly once");
  });

  it("replaces a flagged answer in the class channel, without buttons, and attaches it to the alert", async () => {
    const calls = chatCalls();
    const run = await bot.discord.slash({
      channel: guild.channel("biology"),
      user: sam,
      command: "ask",
      options: { question: "What happened in the battle story?" },
    });
    const reply = await run.waitForOriginal();
    assert.equal(chatCalls(), calls + 1, "the model answered");
    assert.equal(reply.ephemeral, false);
    assert.ok(reply.content.includes(DEFAULT_MODERATION_MESSAGES.withheld), reply.content);
    assert.ok(!reply.content.includes("battle in the story"), "the answer is not shown");
    assert.deepEqual(reply.customIds, [], "nothing to vote on");

    const alert = await alertMatching(/An answer to .* was withheld/);
    assert.ok(alert.content.includes(sam.mention));
    assert.deepEqual(alert.pings, { everyone: false, users: [], roles: [] });
    assert.match(alert.embeds[0]?.title ?? "", /Safety alert/, "violence/graphic is severe");
    assert.ok(alert.file(FLAGGED_ANSWER_FILE).text().includes(STORY), "the answer, for review");
  });

  it("answers a clean question as before, with its buttons", async () => {
    const run = await bot.discord.slash({
      channel: guild.channel("biology"),
      user: sam,
      command: "ask",
      options: { question: "What is osmosis?" },
    });
    const reply = await run.waitForOriginal();
    assert.match(reply.content, /Osmosis is water crossing a membrane/);
    assert.equal(reply.customIds.length, 3);
  });

  it("counts the flags in /usage", async () => {
    const run = await bot.discord.slash({ channel: guild.channel("staff"), user: teacher, command: "usage" });
    const reply = await run.waitForOriginal();
    const field = reply.embeds[0]?.fields?.find((f) => f.name === "Moderation");
    assert.equal(field?.value, "1 question flagged · 1 answer withheld · 0 checks unavailable");
    assert.match(
      reply.embeds[0]?.fields?.find((f) => f.name === "Errors")?.value ?? "",
      /moderation_flagged ×1/,
    );
  });
});
