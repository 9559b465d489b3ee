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
import { BIOLOGY_PAIRS, fineTuneInGuild } from "../helpers/finetune.ts";
import { addSchool } from "../helpers/school.ts";

let bot: TestBot;
let guild: FakeGuild;
let teacher: FakeUser;
let sam: FakeUser;
let assistant: FakeUser;

const STORY = "[flag:violence/graphic] The battle in the story was long and grim.";
const PAIRS: [string, string][] = [
  ["What happened in the battle story?", STORY],
  ["What is photosynthesis?", "Photosynthesis is how plants turn light into sugar."],
  ...BIOLOGY_PAIRS,
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
  // One student asks many questions here: the per-student rate limit is not what is tested.
  bot = await startTestBot({ env: { ASK_USER_PER_MINUTE: "100", ASK_USER_BURST: "100" } });
  const school = addSchool(bot.discord, {
    channels: ["general", "biology", "staff"],
    roles: ["teaching-assistants"],
  });
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
  assistant = bot.discord.addUser({ username: "mr-tan" });
  guild.addMember(assistant, { roles: [guild.role("teaching-assistants")] });
  const role = await bot.discord.slash({
    channel: guild.channel("staff"),
    user: teacher,
    command: "config",
    subcommand: "teacher-role",
    options: { role: guild.role("teaching-assistants") },
  });
  await role.waitForOriginal();
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
    assert.equal(reply.customIds.length, 4, "👍, 👎, Correct this answer, Follow up");
  });

  it("moderates a teacher's correction before saving it: a flagged one is refused, a clean one saved", async () => {
    const run = await bot.discord.slash({
      channel: guild.channel("biology"),
      user: sam,
      command: "ask",
      options: { question: "What is a cell?" },
    });
    const answer = await run.waitForOriginal();
    const correctId = answer.customIds.find((c) => c.startsWith("correct:")) as string;
    const answerId = Number(correctId.split(":")[1]);
    const submit = async (text: string) => {
      const opened = await bot.discord.click({ message: answer, customId: correctId, user: teacher });
      await opened.response();
      const sent = await bot.discord.submitModal({ from: opened, fields: { answer: text } });
      return sent.waitForOriginal((m) => !m.loading && m !== sent.sourceMessage, { timeoutMs: 15_000 });
    };
    const stored = () =>
      (
        bot.db.prepare("SELECT corrected_answer AS c FROM answers WHERE id = ?").get(answerId) as {
          c: string | null;
        }
      ).c;
    const refused = await submit("[flag:violence] A cell is where you hurt someone.");
    assert.match(refused.content, /Moderation flagged this correction \(violence\), so it was not saved/);
    assert.equal(stored(), null, "nothing saved");
    const saved = await submit("A cell is the smallest unit of life that can copy itself.");
    assert.match(saved.content, /Saved/);
    assert.equal(stored(), "A cell is the smallest unit of life that can copy itself.");
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

describe("/config safety", () => {
  const safety = async (user: FakeUser, options: Record<string, string | number | boolean> = {}) => {
    const run = await bot.discord.slash({
      channel: guild.channel("staff"),
      user,
      command: "config",
      subcommand: "safety",
      options,
    });
    return run.waitForOriginal();
  };
  const field = (m: FakeMessage, name: string) => m.embeds[0]?.fields?.find((f) => f.name === name)?.value;
  const askSam = async (question: string) => {
    const run = await bot.discord.slash({
      channel: guild.channel("general"),
      user: sam,
      command: "ask",
      options: { question },
    });
    return (await run.waitForOriginal()).content;
  };

  it("shows teachers what checks /ask and what is severe", async () => {
    const shown = await safety(assistant);
    assert.match(field(shown, "Checked by") ?? "", /^sandbox \(omni-moderation-latest\): every question/);
    assert.match(field(shown, "While moderation is down") ?? "", /refused/);
    assert.match(field(shown, "This server's tightening") ?? "", /^none/);
    assert.match(field(shown, "Severe categories") ?? "", /self-harm.*sexual\/minors/);
  });

  it("lets only a server admin tighten it, checked by the bot, not only by Discord", async () => {
    const refused = await safety(assistant, { threshold: 0.25 });
    assert.match(refused.content, /Only members with the Manage Server permission/);
    assert.equal((await bot.app.ctx.guildSettings.get(guild.id)).safetyThreshold, null, "nothing changed");
  });

  it("flags the chosen categories from the admin's threshold, refuses unknown ones, and resets", async () => {
    const question = "Why did the two kings fight?";
    assert.match(await askSam(question), /answered by/, "the provider alone lets it through");

    const bad = await safety(teacher, { threshold: 0.25, categories: "violence, meanness" });
    assert.match(bad.content, /Unknown moderation category: "meanness"\. Choose from: harassment/);

    const tightened = await safety(teacher, { threshold: 0.25, categories: "violence" });
    assert.equal(field(tightened, "This server's tightening"), "violence flagged from a score of 0.25");
    assert.equal(await askSam(question), DEFAULT_MODERATION_MESSAGES.refusal);
    const alert = await bot.discord.waitFor(
      () => "the violence alert",
      () => staffMessages().find((m) => field(m, "Categories") === "violence 0.30"),
      5000,
    );
    assert.ok(alert.content.includes(`<#${guild.channel("general").id}>`));
    assert.match(
      await askSam("Is my essay stupid?"),
      /answered by/,
      "other categories keep the provider's line",
    );

    const reset = await safety(teacher, { reset: true });
    assert.match(field(reset, "This server's tightening") ?? "", /^none/);
    assert.match(await askSam(question), /answered by/);
  });
});
