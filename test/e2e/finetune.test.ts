// /finetune end to end on the fake Discord and the embedded sandbox: the teacher check, the estimate with
// Start/Cancel that only the requester can press, the job's card in the notice channel (created, edited with
// progress, then the ending posted exactly once, across a restart), "Fine-tune this", a new file, status,
// list, cancel, a guild without a notice channel, and no payload that pings anyone but the requester.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sampleDatasetJsonl } from "../../src/datasets/sample.ts";
import type {
  FakeChannel,
  FakeGuild,
  FakeInteraction,
  FakeMessage,
  FakeUser,
} from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { addSchool, addTeacher } from "../helpers/school.ts";

const SECOND = 1000;
let bot: TestBot;
let guild: FakeGuild;
let teachers: FakeChannel;
let notices: FakeChannel;
let teacher: FakeUser;
let colleague: FakeUser;
let student: FakeUser;

before(async () => {
  // One simulated second per training step: the test moves the sandbox's clock, so ticks see each phase.
  bot = await startTestBot({ env: { SANDBOX_SECONDS_PER_STEP: "1" } });
  const school = addSchool(bot.discord, {
    channels: ["general", "teachers", "notices"],
    roles: ["class-9b"],
  });
  ({ guild, teacher } = school);
  [student] = school.students;
  teachers = guild.channel("teachers");
  notices = guild.channel("notices");
  colleague = bot.discord.addUser({ username: "mr-okafor" });
  addTeacher(guild, colleague);
  const run = await bot.discord.slash({
    channel: teachers,
    user: teacher,
    command: "config",
    subcommand: "notifications",
    options: { channel: notices },
  });
  await run.waitForOriginal();
});
after(() => bot.close());

async function validateSample(name: string, channel = teachers, user = teacher): Promise<number> {
  const file = bot.discord.cdn.attachment(name, sampleDatasetJsonl());
  const run = await bot.discord.slash({
    channel,
    user,
    command: "dataset",
    subcommand: "validate",
    options: { file },
  });
  const reply = await run.waitForOriginal(undefined, { timeoutMs: 15_000 });
  const id = reply.customIds.find((c) => c.startsWith("finetune:from-dataset:"));
  assert.ok(id, `validated ${name}: ${reply.content}`);
  return Number(id.split(":")[2]);
}

async function finetune(
  subcommand: string,
  options: Record<string, string | number | ReturnType<typeof bot.discord.cdn.attachment>> = {},
  user = teacher,
  channel = teachers,
): Promise<{ run: FakeInteraction; reply: FakeMessage }> {
  const run = await bot.discord.slash({ channel, user, command: "finetune", subcommand, options });
  return { run, reply: await run.waitForOriginal(undefined, { timeoutMs: 15_000 }) };
}

const buttonOf = (message: FakeMessage, action: string) => {
  const id = message.customIds.find((c) => c.startsWith(`finetune:${action}:`));
  assert.ok(id, `a ${action} button (has ${message.customIds.join(", ")})`);
  return id;
};

/** Clicks Start as `user` and waits for the confirmation to say the job started; returns the job id. */
async function pressStart(confirmation: FakeMessage, user = teacher): Promise<number> {
  const click = await bot.discord.click({
    message: confirmation,
    customId: buttonOf(confirmation, "start"),
    user,
  });
  const done = await click.waitForOriginal((m) => /Job #\d+ started|not started/.test(m.content), {
    timeoutMs: 15_000,
  });
  const match = /Job #(\d+) started/.exec(done.content);
  assert.ok(match, done.content);
  return Number(match[1]);
}

/** The bot's own reply to a click (not the clicked message, which `@original` names until the bot answers). */
const answerTo = (click: FakeInteraction, predicate: (m: FakeMessage) => boolean = () => true) =>
  click.waitForOriginal((m) => m !== click.sourceMessage && !m.loading && predicate(m), {
    timeoutMs: 15_000,
  });

const noticeMessages = () => bot.discord.channelMessages(notices);

describe("/finetune start", () => {
  it("refuses a student, although the fake Discord lets anyone run the command", async () => {
    const datasetId = await validateSample("tutor.jsonl");
    const { reply } = await finetune("start", { dataset: datasetId }, student, guild.channel("general"));
    assert.equal(reply.ephemeral, true);
    assert.match(reply.content, /Only teachers can do that/);
    const choices = await bot.discord.autocomplete({
      channel: guild.channel("general"),
      user: student,
      command: "finetune",
      subcommand: "start",
      focused: "dataset",
    });
    assert.deepEqual(choices, [], "autocomplete shows a student nothing");
    assert.equal((await bot.app.ctx.jobs.list(guild.id)).length, 0);
  });

  it("asks for exactly one of dataset and file", async () => {
    const { reply: neither } = await finetune("start");
    assert.match(neither.content, /exactly one of `dataset`.* or `file`/);
    const file = bot.discord.cdn.attachment("both.jsonl", sampleDatasetJsonl());
    const { reply: both } = await finetune("start", { dataset: 1, file });
    assert.match(both.content, /exactly one of/);
    assert.equal(bot.discord.cdn.requestsFor(file).length, 0);
  });

  it("checks the suffix, the model and the dataset before showing an estimate", async () => {
    const { reply: suffix } = await finetune("start", { dataset: 1, suffix: "no spaces!" });
    assert.match(suffix.content, /The suffix must be 1–64 characters/);
    const { reply: model } = await finetune("start", { dataset: 1, model: "gpt-2" });
    assert.match(model.content, /unknown model "gpt-2"/);
    const { reply: missing } = await finetune("start", { dataset: 999 });
    assert.match(missing.content, /Dataset #999 was not found/);
  });

  it("shows the estimate with Start and Cancel; Cancel starts nothing", async () => {
    const { reply } = await finetune("start", { dataset: 1, epochs: 2, suffix: "class-9b" });
    assert.equal(reply.ephemeral, true);
    const embed = reply.embeds[0];
    assert.match(embed?.title ?? "", /Start a fine-tuning job \(sandbox\)\?/);
    const field = (name: string) => embed?.fields?.find((f) => f.name === name)?.value ?? "";
    assert.equal(field("Epochs"), "2");
    assert.equal(field("Examples"), "23");
    assert.equal(field("Suffix"), "class-9b");
    assert.match(field("Estimated cost"), /^\$\d/);
    assert.equal(field("Cost cap per job"), "$25.00");
    assert.match(field("Provider"), /sandbox/);
    for (const id of reply.customIds) assert.ok(id.length <= 100, id);

    const click = await bot.discord.click({
      message: reply,
      customId: buttonOf(reply, "cancel"),
      user: teacher,
    });
    const cancelled = await click.waitForOriginal((m) => /Cancelled/.test(m.content));
    assert.deepEqual(cancelled.customIds, [], "the buttons are gone");
    assert.equal((await bot.app.ctx.jobs.list(guild.id)).length, 0);
  });

  it("starts a job only when the requester presses Start; the card appears at once, edited with progress, and the ending is posted once, across a restart", async () => {
    const { reply: confirmation } = await finetune("start", { dataset: 1, epochs: 2, suffix: "class-9b" });

    const other = await bot.discord.click({
      message: confirmation,
      customId: buttonOf(confirmation, "start"),
      user: colleague,
    });
    const refused = await answerTo(other);
    assert.equal(refused.ephemeral, true);
    assert.match(refused.content, /Only the teacher who asked for this job/);
    assert.equal(
      (await bot.app.ctx.jobs.list(guild.id)).length,
      0,
      "another teacher's click started nothing",
    );

    // A double click: both clicks reach the bot before it answers either; one job starts.
    const startId = buttonOf(confirmation, "start");
    const clicks = await Promise.all([
      bot.discord.click({ message: confirmation, customId: startId, user: teacher }),
      bot.discord.click({ message: confirmation, customId: startId, user: teacher }),
    ]);
    const answers = await Promise.all(
      clicks.map((c) =>
        c.waitForOriginal((m) => /Job #\d+ started|expired or was already used/.test(m.content), {
          timeoutMs: 15_000,
        }),
      ),
    );
    const started = answers.map((m) => /Job #(\d+) started/.exec(m.content)).filter((m) => m !== null);
    assert.equal(started.length, 1, answers.map((m) => m.content).join(" | "));
    assert.equal((await bot.app.ctx.jobs.list(guild.id)).length, 1, "a double click starts one job");
    const jobId = Number(started[0]?.[1]);

    const [card] = noticeMessages();
    assert.ok(card, "the job's card is posted before the first poll");
    assert.equal(noticeMessages().length, 1);
    assert.match(card.content, new RegExp(`^${teacher.mention} your fine-tuning job has started`));
    assert.match(card.embeds[0]?.title ?? "", new RegExp(`Fine-tuning job #${jobId} \\(sandbox\\)`));
    assert.deepEqual(card.pings, { everyone: false, users: [teacher.id], roles: [] });

    // Validation (20 steps) and queueing (20 steps) pass, then 5 training steps.
    bot.app.sandbox?.clock.advance(45 * SECOND);
    await bot.app.ctx.poller.tick();
    const running = bot.discord.message(card.id);
    assert.ok(running && running.editCount >= 1, "the card was edited in place");
    assert.match(
      running.embeds[0]?.description ?? "",
      /Training\.\n`█*░+` \d+% step \d+\/\d+ · loss \d\.\d{3}/,
    );
    assert.equal(noticeMessages().length, 1, "progress edits the card, it posts nothing new");

    await bot.restart();
    bot.app.sandbox?.clock.advance(30 * 60 * SECOND);
    await bot.app.ctx.poller.tick();
    await bot.app.ctx.poller.tick();
    const messages = noticeMessages();
    assert.equal(messages.length, 2, "the card and one success notice");
    const success = messages[1] as FakeMessage;
    assert.match(success.content, new RegExp(`^${teacher.mention} your model is ready`));
    const embed = success.embeds[0];
    assert.match(embed?.title ?? "", new RegExp(`job #${jobId} \\(sandbox\\) succeeded`));
    const job = await bot.app.ctx.jobs.get(guild.id, jobId);
    assert.ok(job?.fineTunedModel);
    assert.match(embed?.description ?? "", new RegExp(job.fineTunedModel.replaceAll(".", "\\.")));
    const field = (name: string) => embed?.fields?.find((f) => f.name === name)?.value ?? "";
    assert.match(field("Trained tokens"), /^\d[\d,]*$/);
    assert.match(field("Duration"), /\d+(s|m)/);
    assert.match(field("Use it"), /\/model use model:ft:/);
    assert.equal(embed?.fields?.filter((f) => f.name.startsWith("Q: ")).length, 3, "three test questions");
    assert.match(embed?.footer?.text ?? "", /Sandbox/);
    assert.equal(embed?.image?.url, "attachment://loss.png");
    const png = success.file("loss.png").bytes;
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG");
    assert.deepEqual(success.pings, { everyone: false, users: [teacher.id], roles: [] });
    assert.match(
      bot.discord.message(card.id)?.embeds[0]?.description ?? "",
      /Finished.*\n.*100% step (\d+)\/\1/,
    );

    await bot.restart();
    await bot.app.ctx.poller.tick();
    assert.equal(noticeMessages().length, 2, "nothing is posted twice after another restart");
  });

  it("leads from the Fine-tune this button to the same confirmation", async () => {
    const file = bot.discord.cdn.attachment("from-button.jsonl", sampleDatasetJsonl());
    const run = await bot.discord.slash({
      channel: teachers,
      user: teacher,
      command: "dataset",
      subcommand: "validate",
      options: { file },
    });
    const report = await run.waitForOriginal(undefined, { timeoutMs: 15_000 });
    const click = await bot.discord.click({
      message: report,
      customId: buttonOf(report, "from-dataset"),
      user: teacher,
    });
    const confirmation = await answerTo(click);
    assert.match(confirmation.embeds[0]?.title ?? "", /Start a fine-tuning job/);
    assert.match(confirmation.embeds[0]?.description ?? "", /from-button\.jsonl/);
    assert.ok(buttonOf(confirmation, "start"));
    const byStudent = await bot.discord.click({
      message: report,
      customId: buttonOf(report, "from-dataset"),
      user: student,
    });
    assert.match((await answerTo(byStudent)).content, /Only teachers can do that/);
  });

  it("validates and stores a new file first, then starts from it; /finetune status, list and cancel follow it", async () => {
    const file = bot.discord.cdn.attachment("new-file.jsonl", sampleDatasetJsonl());
    const { reply: confirmation } = await finetune("start", { file, model: "gpt-4.1-mini" });
    assert.equal(confirmation.embeds.length, 2, "the validation report, then the estimate");
    assert.match(confirmation.embeds[0]?.title ?? "", /new-file\.jsonl/);
    assert.equal(
      confirmation.embeds[1]?.fields?.find((f) => f.name === "Base model")?.value,
      "gpt-4.1-mini-2025-04-14",
    );
    const jobId = await pressStart(confirmation);

    const choices = await bot.discord.autocomplete({
      channel: teachers,
      user: teacher,
      command: "finetune",
      subcommand: "cancel",
      focused: "job",
    });
    assert.deepEqual(
      choices.map((c) => c.value),
      [jobId],
      "cancel offers only the running job",
    );

    const { reply: status } = await finetune("status", { job: jobId });
    assert.match(status.embeds[0]?.title ?? "", new RegExp(`job #${jobId} \\(sandbox\\)`));
    assert.equal(
      status.embeds[0]?.fields?.find((f) => f.name === "Base model")?.value,
      "gpt-4.1-mini-2025-04-14",
    );

    const { reply: list } = await finetune("list");
    assert.match(
      list.embeds[0]?.description ?? "",
      new RegExp(`#${jobId}\\*\\* .*\\n\\*\\*#${jobId - 1}\\*\\* ✅ succeeded`),
    );

    const before = noticeMessages().length;
    const { reply: cancelled } = await finetune("cancel", { job: jobId });
    assert.match(cancelled.content, new RegExp(`Job #${jobId} was cancelled`));
    const after = noticeMessages();
    assert.equal(after.length, before + 1, "one cancelled notice");
    assert.match(after.at(-1)?.embeds[0]?.title ?? "", new RegExp(`job #${jobId} \\(sandbox\\) cancelled`));
    await bot.app.ctx.poller.tick();
    assert.equal(noticeMessages().length, before + 1, "posted once");

    const { reply: twice } = await finetune("cancel", { job: jobId });
    assert.match(twice.content, /has already ended \(cancelled\)/);
    const { reply: failed } = await finetune("status", { job: jobId });
    assert.match(failed.embeds[0]?.description ?? "", /cancelled/);
  });

  it("starts the job in a guild without a notice channel, and says how to set one", async () => {
    const { guild: night } = addSchool(bot.discord, { name: "Night School", channels: ["staff"], teacher });
    const staff = night.channel("staff");
    const datasetId = await validateSample("night.jsonl", staff);
    const { reply } = await finetune("start", { dataset: datasetId }, teacher, staff);
    const click = await bot.discord.click({
      message: reply,
      customId: buttonOf(reply, "start"),
      user: teacher,
    });
    const done = await click.waitForOriginal((m) => /started/.test(m.content), { timeoutMs: 15_000 });
    assert.match(done.content, /No notification channel is set: run `\/config notifications`/);
    assert.equal((await bot.app.ctx.jobs.list(night.id)).length, 1);
    const cards = () => bot.discord.channelMessages(staff).filter((m) => !m.interactionId);
    assert.equal(cards().length, 0);

    // The card waits in the outbox and is posted once a channel is chosen, even after the notifier has
    // given up retrying it (a teacher may take a while to run /config notifications).
    for (let i = 0; i < 12; i++) await bot.app.ctx.poller.tick();
    assert.equal(cards().length, 0);
    const config = await bot.discord.slash({
      channel: staff,
      user: teacher,
      command: "config",
      subcommand: "notifications",
      options: { channel: staff },
    });
    await config.waitForOriginal();
    await bot.app.ctx.poller.tick();
    assert.equal(cards().length, 1);
    assert.match(cards()[0]?.content ?? "", /your fine-tuning job has started/);
  });

  it("explains a provider refusal in plain words, and posts a failed job's error in the provider's words", async () => {
    const sandbox = bot.app.sandbox;
    assert.ok(sandbox);
    sandbox.faults.next({
      method: "POST",
      path: "/fine_tuning/jobs",
      status: 429,
      retryAfterMs: 1,
      times: 5,
    });
    const { reply: first } = await finetune("start", { dataset: 1 });
    const click = await bot.discord.click({
      message: first,
      customId: buttonOf(first, "start"),
      user: teacher,
    });
    const error = await click.waitForFollowUp(undefined, { timeoutMs: 15_000 });
    assert.equal(error.ephemeral, true);
    assert.match(error.content, /Could not start the fine-tuning job: the provider is rate-limiting us/);
    assert.match((await click.waitForOriginal((m) => /not started/.test(m.content))).content, /not started/);
    sandbox.faults.clear();

    sandbox.faults.failNextJob({
      code: "invalid_training_file",
      message: "The job failed due to an invalid training file: 3 examples are too long.",
    });
    const { reply: second } = await finetune("start", { dataset: 1 });
    const jobId = await pressStart(second);
    const before = noticeMessages().length;
    sandbox.clock.advance(60 * SECOND);
    await bot.app.ctx.poller.tick();
    const posted = noticeMessages().slice(before);
    assert.equal(posted.length, 1, "one failure notice (the card was posted before)");
    const failure = posted[0] as FakeMessage;
    assert.match(failure.content, new RegExp(`^${teacher.mention} your fine-tuning job failed`));
    assert.match(failure.embeds[0]?.title ?? "", new RegExp(`job #${jobId} \\(sandbox\\) failed`));
    assert.match(
      failure.embeds[0]?.description ?? "",
      /The provider said: The job failed due to an invalid training file: 3 examples are too long\. \(invalid_training_file\)/,
    );
    const { reply: status } = await finetune("status", { job: jobId });
    assert.match(
      status.embeds[0]?.fields?.find((f) => f.name === "Error")?.value ?? "",
      /invalid training file/,
    );
  });

  it("never lets a payload ping @everyone, a role, or anyone but the requester", () => {
    assert.ok(bot.discord.messages().length > 10);
    for (const message of bot.discord.messages()) {
      assert.equal(message.pings.everyone, false, `message ${message.id} pings @everyone`);
      assert.deepEqual(message.pings.roles, [], `message ${message.id} pings a role`);
      for (const user of message.pings.users)
        assert.equal(user, teacher.id, `message ${message.id} pings ${user}`);
    }
    assert.deepEqual(bot.discord.unhandledRequests, []);
  });
});
