// /review end to end on the fake Discord with the sandbox: students ask (in a class channel and privately), a
// teacher pages through the class's Q&A in an ephemeral view, filters it, corrects an answer from it; students
// are refused, another server's teacher sees none of it (forged ids included), and nobody is pinged.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { FakeGuild, FakeInteraction, FakeMessage, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { addSchool, OTHER_SCHOOL } from "../helpers/school.ts";

let bot: TestBot;
let guild: FakeGuild;
let other: FakeGuild;
let teacher: FakeUser;
let otherTeacher: FakeUser;
let sam: FakeUser;
let ana: FakeUser;

const BASE = "gpt-4o-mini-2024-07-18";
const HOSTILE = (role: string) => `@everyone <@&${role}> ||look|| [gift](https://evil.example) what is ATP?`;

async function ask(user: FakeUser, channel: string, question: string): Promise<void> {
  const run = await bot.discord.slash({
    channel: guild.channel(channel),
    user,
    command: "ask",
    options: { question },
  });
  assert.match((await run.waitForOriginal()).content, /answered by/);
}

async function review(
  user: FakeUser,
  options: Record<string, unknown> = {},
  g: FakeGuild = guild,
): Promise<FakeMessage> {
  const run = await bot.discord.slash({
    channel: g.channel("general"),
    user,
    command: "review",
    options: options as never,
  });
  return run.waitForOriginal();
}

/** Clicks a page button; the view is updated in place. */
async function page(message: FakeMessage, customId: string, user = teacher, channel?: FakeGuild) {
  const run: FakeInteraction = await bot.discord.click({
    message,
    customId,
    user,
    ...(channel ? { channel: channel.channel("general") } : {}),
  });
  await run.response();
  return run;
}

const description = (m: FakeMessage) => m.embeds[0]?.description ?? "";
const fields = (m: FakeMessage) => m.embeds[0]?.fields ?? [];
const pageId = (m: FakeMessage, dir: "n" | "p") =>
  m.customIds.find((c) => c.startsWith(`review:${dir}:`)) as string;
const disabled = (m: FakeMessage, customId: string) =>
  m.components.some((row) =>
    (row as { components: { custom_id?: string; disabled?: boolean }[] }).components.some(
      (c) => c.custom_id === customId && c.disabled === true,
    ),
  );

before(async () => {
  bot = await startTestBot({ env: { ASK_USER_BURST: "50" } });
  const school = addSchool(bot.discord, { channels: ["general", "biology"], studentRole: "students" });
  ({ guild, teacher } = school);
  [sam, ana] = school.students;
  const otherSchool = addSchool(bot.discord, OTHER_SCHOOL);
  other = otherSchool.guild;
  otherTeacher = otherSchool.teacher;
  const setup = await bot.discord.slash({
    channel: guild.channel("general"),
    user: teacher,
    command: "classroom",
    subcommand: "setup",
    options: { channel: guild.channel("biology"), model: BASE },
  });
  assert.match((await setup.waitForOriginal()).content, /is a class channel/);
  for (const q of ["What is a cell?", "What is DNA?", "What is a gene?", "What is osmosis?"]) {
    await ask(sam, "biology", q);
  }
  await ask(ana, "general", "Is my homework answer right?");
  await ask(ana, "general", "What is a virus?");
  await ask(ana, "biology", HOSTILE(guild.role("students").id));
  // The other school's class asks too: none of it may show in Lincoln High's review.
  const theirs = await bot.discord.slash({
    channel: other.channel("general"),
    user: otherTeacher,
    command: "ask",
    options: { question: "Other school's secret question?" },
  });
  await theirs.waitForOriginal();
});
after(() => bot.close());

describe("/review", () => {
  it("refuses students, also on a page button", async () => {
    assert.match((await review(sam)).content, /Only teachers/);
    const view = await review(teacher);
    const run = await bot.discord.click({ message: view, customId: pageId(view, "n"), user: sam });
    const reply = await run.waitForOriginal((m) => m !== run.sourceMessage && !m.loading);
    assert.equal(reply.ephemeral, true);
    assert.match(reply.content, /Only teachers/);
  });

  it("shows the teacher the newest answers first, ephemeral, with who, when, model and votes; nobody pinged", async () => {
    const view = await review(teacher);
    assert.equal(view.ephemeral, true);
    assert.match(description(view), /last 7 days\nPage 1 of 2 · 7 answers, newest first/);
    const f = fields(view);
    assert.equal(f.length, 5);
    const newest = f[0]?.value ?? "";
    assert.ok(newest.startsWith(`<@${ana.id}> in <#${guild.channel("biology").id}> · <t:`), newest);
    assert.match(newest, /· class · 👍 0 · 👎 0/);
    assert.match(f[0]?.name ?? "", new RegExp(`^#\\d+ · ${BASE}$`));
    assert.doesNotMatch(newest, /@everyone|<@&|\|\||\]\(/, "the student's markdown is inert");
    assert.ok(!JSON.stringify(view.embeds).includes("secret"), "nothing of the other school");
    assert.deepEqual(view.pings, { everyone: false, users: [], roles: [] });
    assert.deepEqual(view.allowedMentions?.parse ?? [], []);
    const corrects = view.customIds.filter((c) => c.startsWith("correct:"));
    assert.equal(corrects.length, 5, "a Correct button per answer");
    assert.ok(disabled(view, pageId(view, "p")), "no newer page");
    for (const id of view.customIds) assert.ok(id.length <= 100);
  });

  it("pages to the last page and back", async () => {
    const view = await review(teacher);
    const firstIds = view.customIds.filter((c) => c.startsWith("correct:"));
    await page(view, pageId(view, "n"));
    assert.match(description(view), /Page 2 of 2 · 7 answers/);
    assert.equal(fields(view).length, 2);
    assert.match(fields(view)[1]?.value ?? "", new RegExp(`^<@${sam.id}>`), "the oldest last");
    assert.ok(disabled(view, pageId(view, "n")), "the last page has no older page");
    await assert.rejects(page(view, pageId(view, "n")), /disabled/);
    assert.deepEqual(view.pings, { everyone: false, users: [], roles: [] });
    await page(view, pageId(view, "p"));
    assert.match(description(view), /Page 1 of 2/);
    assert.deepEqual(
      view.customIds.filter((c) => c.startsWith("correct:")),
      firstIds,
    );
  });

  it("filters by student (private answers included, marked) and by channel", async () => {
    const anas = await review(teacher, { student: ana });
    assert.match(description(anas), new RegExp(`asked by <@${ana.id}>\\nPage 1 of 1 · 3 answers`));
    assert.ok(fields(anas).every((x) => x.value.startsWith(`<@${ana.id}>`)));
    assert.equal(fields(anas).filter((x) => x.value.includes(" · private · ")).length, 2);
    const general = await review(teacher, { channel: guild.channel("general"), days: 1 });
    assert.match(description(general), /last 1 day · in <#\d+>\nPage 1 of 1 · 2 answers/);
    const flagged = await review(teacher, { "flagged-only": true });
    assert.match(description(flagged), /No flagged answers in this period/);
  });

  it("opens /ask's correction modal from an answer's button and shows the saved correction", async () => {
    const view = await review(teacher, { student: sam });
    const correctId = view.customIds.find((c) => c.startsWith("correct:")) as string;
    const opened = await bot.discord.click({ message: view, customId: correctId, user: teacher });
    await opened.response();
    assert.ok(opened.modal, "the button opens the correction modal");
    assert.equal(opened.modal.custom_id, correctId, "the one correction flow of /ask");
    const submitted = await bot.discord.submitModal({
      from: opened,
      fields: { answer: "Osmosis is water moving across a membrane toward more solute." },
    });
    const saved = await submitted.waitForOriginal((m) => m !== submitted.sourceMessage && !m.loading);
    assert.match(saved.content, /Saved/);
    const again = await review(teacher, { student: sam });
    assert.match(
      fields(again)[0]?.value ?? "",
      new RegExp(`✏️ \\*\\*Corrected\\*\\* by <@${teacher.id}>: Osmosis is water moving across a membrane`),
    );
  });

  it("shows another server's teacher none of this server's rows, even with its buttons' ids", async () => {
    const theirs = await review(otherTeacher, {}, other);
    assert.match(description(theirs), /Page 1 of 1 · 1 answer,/);
    assert.ok(!JSON.stringify(theirs.embeds).includes(sam.id));

    const ours = await review(teacher, { student: sam, channel: guild.channel("biology") });
    const next = pageId(ours, "n");
    const correctId = ours.customIds.find((c) => c.startsWith("correct:")) as string;
    // The other teacher replays our ids from their own server: the page is read within their guild.
    const forged = await bot.discord.click({
      message: ours,
      customId: next,
      user: otherTeacher,
      channel: other.channel("general"),
      forged: true,
    });
    await forged.response();
    assert.match(description(ours), /No questions were answered in this period/);
    assert.equal(fields(ours).length, 0);
    const modal = await bot.discord.click({
      message: ours,
      customId: correctId,
      user: otherTeacher,
      channel: other.channel("general"),
      forged: true,
    });
    const refused = await modal.waitForOriginal((m) => m !== modal.sourceMessage && !m.loading);
    assert.equal(modal.modal, undefined, "no modal with another server's answer");
    assert.match(refused.content, /no longer exists in this server/);
  });
});
