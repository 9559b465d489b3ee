// Limits and /usage end to end: a student is rate limited (privately, also in a class channel), a teacher is
// exempt, repeats come from the cache, and /usage reports the known script with a PNG chart; nobody is pinged.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sqliteStore } from "../../src/db/query/store.ts";
import { UsageRepository } from "../../src/db/usage.ts";
import type { FakeGuild, FakeInteraction, FakeMessage, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { addSchool } from "../helpers/school.ts";

let bot: TestBot;
let guild: FakeGuild;
let teacher: FakeUser;
let sam: FakeUser;
let ana: FakeUser;

function ask(
  user: FakeUser,
  question: string,
  channel = "general",
  model?: string,
): Promise<FakeInteraction> {
  return bot.discord.slash({
    channel: guild.channel(channel),
    user,
    command: "ask",
    options: { question, ...(model ? { model } : {}) },
  });
}

async function answer(user: FakeUser, question: string, model?: string): Promise<FakeMessage> {
  return (await ask(user, question, "general", model)).waitForOriginal();
}

before(async () => {
  bot = await startTestBot({
    env: {
      // Three questions per student, and (practically) no refill during the test.
      ASK_USER_BURST: "3",
      ASK_USER_PER_MINUTE: "0.001",
      CHAT_PROVIDERS: JSON.stringify([{ name: "school", baseURL: "http://127.0.0.1:9/v1", free: true }]),
      CHAT_MAX_RETRIES: "0",
    },
  });
  const school = addSchool(bot.discord, { channels: ["general", "biology"] });
  ({ guild, teacher } = school);
  [sam, ana] = school.students;
  const setup = await bot.discord.slash({
    channel: guild.channel("general"),
    user: teacher,
    command: "classroom",
    subcommand: "setup",
    options: { channel: guild.channel("biology"), model: "gpt-4o-mini-2024-07-18" },
  });
  await setup.waitForOriginal();
  const add = await bot.discord.slash({
    channel: guild.channel("general"),
    user: teacher,
    command: "model",
    subcommand: "add",
    options: { model: "llama-3.1-8b", provider: "school" },
  });
  assert.match((await add.waitForOriginal()).content, /Registered/);
});
after(() => bot.close());

describe("rate limits", () => {
  it("refuses a student's fourth question and says when to try again", async () => {
    for (const q of ["What is a cell?", "What is DNA?", "What is a gene?"]) {
      assert.match((await answer(sam, q)).content, /answered by/);
    }
    const refused = await answer(sam, "What is a virus?");
    assert.equal(refused.ephemeral, true);
    assert.match(
      refused.content,
      /You have asked a lot of questions.*Try again in \d+ (hours|minutes|seconds)/,
    );
  });

  it("refuses privately in a class channel too: nothing public is left behind", async () => {
    const run = await ask(sam, "What is an enzyme?", "biology");
    await run.response();
    assert.equal(run.deferred, true);
    await bot.discord.waitFor(
      () => "the refusal to be sent",
      () =>
        run.messages().find((m) => m.bodies.some((b) => String(b.content ?? "").includes("Try again"))) ??
        undefined,
      5000,
    );
    const visible = bot.discord
      .channelMessages(guild.channel("biology"))
      .filter((m) => m.interactionId === run.id && !m.ephemeral);
    assert.deepEqual(visible, [], "no public message remains in the class channel");
    const refusalBody = run
      .messages()
      .flatMap((m) => m.bodies)
      .find((b) => String(b.content ?? "").includes("Try again"));
    assert.equal(Number(refusalBody?.flags ?? 0) & 64, 64, "the refusal is sent ephemeral");
  });

  it("exempts teachers from the per-student limit", async () => {
    for (let i = 1; i <= 5; i++) {
      assert.match((await answer(teacher, `Teacher check number ${i}?`)).content, /answered by/);
    }
  });
});

describe("the cache", () => {
  it("answers an exact repeat from the cache; only a teacher sees it marked", async () => {
    const student = await answer(ana, "  what is a CELL ");
    assert.match(student.content, /answered by/);
    assert.ok(!student.content.includes("cached"));
    const t = await answer(teacher, "What is a cell?");
    assert.match(t.content, /answered by `gpt-4o-mini-2024-07-18` \(sandbox\) · cached/);
  });

  it("records provider trouble as an error, explained plainly", async () => {
    const m = await answer(ana, "Hello?", "llama-3.1-8b");
    assert.match(m.content, /Couldn't reach school/);
  });
});

describe("/usage", () => {
  it("is for teachers only", async () => {
    const run = await bot.discord.slash({ channel: guild.channel("general"), user: sam, command: "usage" });
    assert.match((await run.waitForOriginal()).content, /Only teachers/);
  });

  it("reports the script's numbers with a PNG chart, and its askers' mentions ping nobody", async () => {
    const run = await bot.discord.slash({
      channel: guild.channel("general"),
      user: teacher,
      command: "usage",
      options: { days: 1 },
    });
    const m = await run.waitForOriginal(undefined, { timeoutMs: 15_000 });
    assert.equal(m.ephemeral, true);
    const embed = m.embeds[0];
    assert.ok(embed);
    const text = embed.description ?? "";
    // sam 3, teacher 5 + 1 cached, ana 1 cached + 1 error = 11 questions; the refused ones are not counted.
    assert.match(text, /\*\*11\*\* questions · 10 answered · 1 errors \(error rate 9\.1%\)/);
    assert.match(text, /Cache hits 2 \(20\.0%\)/);
    const rows = await new UsageRepository(sqliteStore(bot.db)).between(guild.id, "2000-01-01", "2999-01-01");
    const tokens = rows.reduce((n, r) => n + r.promptTokens + r.completionTokens, 0);
    assert.ok(tokens > 0);
    assert.match(text, new RegExp(`\\*\\*${tokens}\\*\\* tokens`));
    assert.match(text, /estimated cost \*\*\$0\*\*/);
    const field = (name: string) => embed.fields?.find((f) => f.name === name)?.value ?? "";
    assert.match(field("By model"), /`gpt-4o-mini-2024-07-18` \(sandbox\): 10 questions/);
    assert.match(field("By model"), /`llama-3.1-8b` \(school\): 1 questions/);
    assert.equal(
      field("Most active askers"),
      [`<@${teacher.id}>: 6`, `<@${sam.id}>: 3`, `<@${ana.id}>: 2`].join("\n"),
    );
    assert.match(field("By day"), /: 11 questions, \d+ tokens, \$0, 1 errors/);
    assert.match(field("Errors"), /connection_error ×1/);
    assert.deepEqual(m.pings, { everyone: false, users: [], roles: [] });

    assert.equal(embed.image?.url, "attachment://usage.png");
    const png = m.file("usage.png").bytes;
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "a PNG");
    assert.equal(png.toString("latin1", 12, 16), "IHDR");
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [800, 400], "800×400");
  });
});
