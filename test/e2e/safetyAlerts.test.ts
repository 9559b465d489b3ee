// Severe alerts and the teachers' answer to an alert, on the fake Discord with the sandbox moderator. A server admin
// sets a safety channel and role (a teacher without Manage Server cannot); a severe flag is alerted in the teachers'
// channel without a ping and in the safety channel pinging that role, the only role classtune ever pings; a
// non-severe flag goes to the teachers alone. Under an alert, Reviewed records the teacher and marks the alert
// (a student's click is refused), and Show context opens the student's recent questions in that channel.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { FakeChannel, FakeGuild, FakeMessage, FakeRole, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { addSchool } from "../helpers/school.ts";

let bot: TestBot;
let guild: FakeGuild;
let teacher: FakeUser;
let sam: FakeUser;
let assistant: FakeUser;
let staff: FakeChannel;
let safetyRoom: FakeChannel;
let leads: FakeRole;

const run = async (
  channel: FakeChannel,
  user: FakeUser,
  command: string,
  subcommand?: string,
  options = {},
) => {
  const r = await bot.discord.slash({
    channel,
    user,
    command,
    ...(subcommand ? { subcommand } : {}),
    options,
  });
  return r.waitForOriginal(undefined, { timeoutMs: 15_000 });
};
const posted = (channel: FakeChannel) => bot.discord.channelMessages(channel).filter((m) => !m.interactionId);
const waitPosted = (channel: FakeChannel, pattern: RegExp) =>
  bot.discord.waitFor(
    () => `a message matching ${pattern}`,
    () => posted(channel).find((m) => pattern.test(m.content)),
    5000,
  );

before(async () => {
  bot = await startTestBot({ env: { ASK_USER_PER_MINUTE: "100", ASK_USER_BURST: "100" } });
  const school = addSchool(bot.discord, {
    channels: ["general", "staff", "safeguarding"],
    roles: ["safety-leads", "teaching-assistants"],
  });
  ({ guild, teacher } = school);
  [sam] = school.students;
  staff = guild.channel("staff");
  safetyRoom = guild.channel("safeguarding");
  leads = guild.role("safety-leads");
  assistant = bot.discord.addUser({ username: "mr-tan" });
  guild.addMember(assistant, { roles: [guild.role("teaching-assistants")] });
  await run(staff, teacher, "config", "notifications", { channel: staff });
  await run(staff, teacher, "config", "teacher-role", { role: guild.role("teaching-assistants") });
});
after(() => bot.close());

describe("severe alerts", () => {
  it("only a server admin chooses the safety channel and role", async () => {
    const refused = await run(staff, assistant, "config", "safety-role", { role: leads });
    assert.match(refused.content, /Only members with the Manage Server permission/);
    const student = await run(staff, sam, "config", "safety-role", { role: leads });
    assert.match(student.content, /Only teachers/);
    const everyone = await run(staff, teacher, "config", "safety-role", { role: guild.role(guild.id) });
    assert.match(everyone.content, /@everyone cannot be the safety role/);
    assert.match(
      (await run(staff, teacher, "config", "safety-channel", { channel: safetyRoom })).content,
      /also go to/,
    );
    assert.match(
      (await run(staff, teacher, "config", "safety-role", { role: leads })).content,
      /pinged on severe/,
    );
    const shown = await run(staff, teacher, "config", "show");
    assert.match(
      shown.embeds[0]?.fields?.find((f) => f.name === "Severe safety alerts")?.value ?? "",
      new RegExp(`also in <#${safetyRoom.id}>; ping <@&${leads.id}>`),
    );
  });

  it("a severe flag: the teachers' alert pings nobody, the safety channel's pings the safety role", async () => {
    await run(guild.channel("general"), sam, "ask", undefined, {
      question: "[flag:self-harm/intent] I do not want to be here any more",
    });
    const teachers = await waitPosted(staff, /A question from .* was flagged/);
    assert.deepEqual(teachers.pings, { everyone: false, users: [], roles: [] });
    assert.match(teachers.embeds[0]?.title ?? "", /Safety alert/);
    const copy = await waitPosted(safetyRoom, /A question from .* was flagged/);
    assert.ok(copy.content.startsWith(`<@&${leads.id}> `), copy.content);
    assert.deepEqual(
      copy.pings,
      { everyone: false, users: [], roles: [leads.id] },
      "the safety role, nobody else",
    );
    await bot.app.ctx.poller.tick();
    assert.equal(posted(safetyRoom).length, 1, "once");
  });

  it("a flag that is not severe goes to the teachers alone, and pings no role", async () => {
    const before = posted(safetyRoom).length;
    await run(guild.channel("general"), sam, "ask", undefined, {
      question: "[flag:harassment] you are all idiots",
    });
    const alert = await waitPosted(staff, /A question from .* was flagged/);
    await bot.app.ctx.poller.tick();
    const flagged = posted(staff).filter((m) => /was flagged/.test(m.content));
    assert.equal(flagged.length, 2);
    assert.ok(flagged.every((m) => m.pings.roles.length === 0));
    assert.equal(posted(safetyRoom).length, before, "no safety copy");
    assert.ok(alert);
  });
});

describe("the buttons under an alert", () => {
  let alert: FakeMessage;
  before(() => {
    const found = posted(staff).find((m) => /was flagged/.test(m.content));
    assert.ok(found);
    alert = found;
  });
  const id = (action: string) => {
    const found = alert.customIds.find((c) => c.startsWith(`safety:${action}:`));
    assert.ok(found, `a ${action} button (${alert.customIds.join(", ")})`);
    return found;
  };

  it("Show context shows the teacher the student's recent questions in that channel, privately", async () => {
    await run(guild.channel("general"), sam, "ask", undefined, { question: "What is photosynthesis?" });
    const click = await bot.discord.click({ message: alert, customId: id("context"), user: teacher });
    const view = await click.waitForOriginal((m) => m !== click.sourceMessage && !m.loading, {
      timeoutMs: 15_000,
    });
    assert.equal(view.ephemeral, true);
    const text = JSON.stringify(view.embeds);
    assert.match(text, /What is photosynthesis\?/, "the student's other question there");
    assert.deepEqual(view.pings, { everyone: false, users: [], roles: [] });
  });

  it("Reviewed: a student's click is refused; a teacher's marks the alert and keeps Show context", async () => {
    const byStudent = await bot.discord.click({ message: alert, customId: id("reviewed"), user: sam });
    const told = await byStudent.waitForOriginal(
      (m) => m !== byStudent.sourceMessage && !m.loading && /Only teachers/.test(m.content),
      { timeoutMs: 15_000 },
    );
    assert.equal(told.ephemeral, true);
    const click = await bot.discord.click({ message: alert, customId: id("reviewed"), user: assistant });
    const marked = await click.waitForOriginal((m) => /Reviewed by/.test(m.content), { timeoutMs: 15_000 });
    assert.match(marked.content, new RegExp(`✅ Reviewed by <@${assistant.id}>`));
    assert.deepEqual(
      marked.customIds.map((c) => c.split(":")[1]),
      ["context"],
      "Reviewed and False alarm are gone",
    );
    assert.deepEqual(marked.pings, { everyone: false, users: [], roles: [] });
    const verdictId = Number(id("context").split(":")[2]);
    const row = bot.db
      .prepare("SELECT review_status AS status, reviewed_by AS by FROM moderation_verdicts WHERE id = ?")
      .get(verdictId) as { status: string; by: string };
    assert.deepEqual(row, { status: "reviewed", by: assistant.id });
  });
});
