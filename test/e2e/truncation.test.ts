// Honest length, on the fake Discord with the sandbox (which stops at max_tokens with finish_reason "length"): an
// answer cut at a class channel's max-tokens ends with a line saying so and who can raise the limit; the answers row
// keeps the model's own words (no note in an export); a cut answer is not cached; /usage counts cut answers per
// model. An answer that finished has no such line.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { truncationNote } from "../../src/classroom/ask.ts";
import type { FakeChannel, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { BIOLOGY_PAIRS, fineTuneInGuild } from "../helpers/finetune.ts";
import { addSchool } from "../helpers/school.ts";

const PAIRS: [string, string][] = [
  [
    "What is photosynthesis?",
    "Photosynthesis is how plants make sugar from light, water and carbon dioxide, releasing oxygen as they do.",
  ],
  ...BIOLOGY_PAIRS,
];

let bot: TestBot;
let teacher: FakeUser;
let sam: FakeUser;
let cut: FakeChannel;
let roomy: FakeChannel;
let model: string;

const chatCalls = () => bot.app.sandbox?.stats.byRoute["POST /chat/completions"] ?? 0;
const ask = async (channel: FakeChannel, question: string) => {
  const run = await bot.discord.slash({ channel, user: sam, command: "ask", options: { question } });
  return run.waitForOriginal(undefined, { timeoutMs: 15_000 });
};

before(async () => {
  bot = await startTestBot();
  const school = addSchool(bot.discord, { channels: ["general", "short", "long"] });
  teacher = school.teacher;
  [sam] = school.students;
  cut = school.guild.channel("short");
  roomy = school.guild.channel("long");
  model = await fineTuneInGuild(bot.app, school.guild.id, teacher.id, PAIRS, "bio");
  for (const [channel, maxTokens] of [
    [cut, 5],
    [roomy, 500],
  ] as const) {
    const run = await bot.discord.slash({
      channel: school.guild.channel("general"),
      user: teacher,
      command: "classroom",
      subcommand: "setup",
      options: { channel, model, "max-tokens": maxTokens },
    });
    await run.waitForOriginal();
  }
});
after(() => bot.close());

describe("an answer cut at max-tokens", () => {
  it("says it was cut, keeps the model's words in the answers row, and is not cached", async () => {
    const calls = chatCalls();
    const reply = await ask(cut, "What is photosynthesis?");
    assert.ok(reply.content.includes(truncationNote(5)), reply.content);
    assert.match(
      reply.content,
      /answer cut at 5 tokens — a teacher can raise max-tokens with `\/classroom setup`/,
    );
    const row = bot.db.prepare("SELECT answer FROM answers ORDER BY id DESC LIMIT 1").get() as {
      answer: string;
    };
    assert.doesNotMatch(row.answer, /answer cut at/, "the stored answer is the model's own words");
    assert.ok(row.answer.length > 0 && !row.answer.includes("releasing oxygen"), "and it is cut");
    await ask(cut, "What is photosynthesis?");
    assert.equal(chatCalls(), calls + 2, "a cut answer is asked again, not served from the cache");
  });

  it("an answer that finished has no such line", async () => {
    const reply = await ask(roomy, "What is photosynthesis?");
    assert.match(reply.content, /releasing oxygen/);
    assert.doesNotMatch(reply.content, /answer cut at/);
  });

  it("/usage counts the cut answers per model", async () => {
    const run = await bot.discord.slash({ channel: cut, user: teacher, command: "usage" });
    const reply = await run.waitForOriginal(undefined, { timeoutMs: 15_000 });
    const byModel = reply.embeds[0]?.fields?.find((f) => f.name === "By model")?.value ?? "";
    assert.match(byModel, /3 questions, \d+ tokens, [^,]+, 2 cut at max-tokens/);
  });
});
