// /finetune start provider: on the fake Discord with three fine-tuning providers: the embedded sandbox (the
// default), "lab" (a standalone sandbox on its own clock) and "localai" (a LocalAI nobody listens at).
// Autocomplete offers the configured providers and nothing else, the same in every guild; a job started on lab
// runs there, its notice is posted, /model list shows its provider, and /ask asks it at lab.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { PermissionFlagsBits } from "discord.js";
import OpenAI from "openai";
import { sampleDatasetJsonl } from "../../src/datasets/sample.ts";
import type { ManualClock } from "../../src/sandbox/clock.ts";
import type { SandboxHandle } from "../../src/sandbox/server.ts";
import type { FakeChannel, FakeGuild, FakeMessage, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { type StandaloneSandbox, startStandaloneSandbox } from "../helpers/standaloneSandbox.ts";

let labServer: StandaloneSandbox;
let lab: SandboxHandle;
let labClock: ManualClock;
let bot: TestBot;
let lincoln: FakeGuild;
let other: FakeGuild;
let teachers: FakeChannel;
let notices: FakeChannel;
let teacher: FakeUser;
let otherTeacher: FakeUser;

before(async () => {
  labServer = await startStandaloneSandbox("lab");
  ({ sandbox: lab, clock: labClock } = labServer);
  bot = await startTestBot({
    env: {
      FINETUNE_PROVIDERS: JSON.stringify([
        { kind: "sandbox", name: "sandbox" },
        { kind: "sandbox", name: "lab", baseURL: lab.url },
        {
          kind: "localai",
          name: "localai",
          baseURL: "http://127.0.0.1:9/v1",
        },
      ]),
    },
  });
  lincoln = bot.discord.addGuild({ name: "Lincoln High", channels: ["teachers", "notices"] });
  other = bot.discord.addGuild({ name: "Other School", channels: ["staff"] });
  teachers = lincoln.channel("teachers");
  notices = lincoln.channel("notices");
  teacher = bot.discord.addUser({ username: "ms-rivera" });
  otherTeacher = bot.discord.addUser({ username: "mr-other" });
  lincoln.addMember(teacher, { permissions: PermissionFlagsBits.ManageGuild });
  other.addMember(otherTeacher, { permissions: PermissionFlagsBits.ManageGuild });
  const run = await bot.discord.slash({
    channel: teachers,
    user: teacher,
    command: "config",
    subcommand: "notifications",
    options: { channel: notices },
  });
  await run.waitForOriginal();
});
after(async () => {
  await bot.close();
  await labServer.close();
});

async function validateSample(name: string): Promise<number> {
  const file = bot.discord.cdn.attachment(name, sampleDatasetJsonl());
  const run = await bot.discord.slash({
    channel: teachers,
    user: teacher,
    command: "dataset",
    subcommand: "validate",
    options: { file },
  });
  const reply = await run.waitForOriginal(undefined, { timeoutMs: 15_000 });
  const id = reply.customIds.find((c) => c.startsWith("finetune:from-dataset:"));
  assert.ok(id, reply.content);
  return Number(id.split(":")[2]);
}

async function start(options: Record<string, string | number>): Promise<FakeMessage> {
  const run = await bot.discord.slash({
    channel: teachers,
    user: teacher,
    command: "finetune",
    subcommand: "start",
    options,
  });
  return run.waitForOriginal(undefined, { timeoutMs: 15_000 });
}

const providerChoices = (channel: FakeChannel, user: FakeUser, typed = "") =>
  bot.discord.autocomplete({
    channel,
    user,
    command: "finetune",
    subcommand: "start",
    focused: "provider",
    options: { provider: typed },
  });

describe("/finetune start provider:", () => {
  it("autocompletes the configured providers only, the same in every guild, never a name from jobs", async () => {
    // A job of the other guild recorded under a provider that is no longer configured.
    const datasetId = await validateSample("tutor.jsonl");
    const job = await bot.app.ctx.jobs.start({
      guildId: lincoln.id,
      datasetId,
      requesterId: teacher.id,
    });
    bot.db
      .prepare("UPDATE jobs SET guild_id = ?, provider = 'old-school' WHERE id = ?")
      .run(other.id, job.id);

    const here = await providerChoices(teachers, teacher);
    assert.deepEqual(
      here.map((c) => c.value),
      ["sandbox", "lab", "localai"],
    );
    assert.match(here[0]?.name ?? "", /^sandbox · sandbox at embedded \(default; simulated/);
    assert.match(here[1]?.name ?? "", /^lab · sandbox at 127\.0\.0\.1:\d+ \(simulated/);
    assert.match(here[2]?.name ?? "", /^localai · localai at 127\.0\.0\.1:9/);
    assert.ok(here.every((c) => c.name.length <= 100));
    const there = await providerChoices(other.channel("staff"), otherTeacher);
    assert.deepEqual(there, here, "configuration, not any guild's data");
    assert.deepEqual(
      (await providerChoices(teachers, teacher, "LAB")).map((c) => c.value),
      ["lab"],
    );
    assert.deepEqual(await providerChoices(teachers, teacher, "old"), [], "a recorded name is not offered");
  });

  it("refuses an unknown provider, naming the configured ones, before any estimate", async () => {
    const datasetId = await validateSample("refused.jsonl");
    const before = (await bot.app.ctx.jobs.list(lincoln.id)).length;
    const unknown = await start({ dataset: datasetId, provider: "nope" });
    assert.match(unknown.content, /no fine-tuning provider called "nope".*sandbox \(default\), lab, localai/);
    assert.equal((await bot.app.ctx.jobs.list(lincoln.id)).length, before);
  });

  it("starts a job on a provider that is not the default; it runs there and its model is asked there", async () => {
    const datasetId = await validateSample("lab.jsonl");
    const confirmation = await start({ dataset: datasetId, provider: "lab", suffix: "lab" });
    const field = (name: string) => confirmation.embeds[0]?.fields?.find((f) => f.name === name)?.value;
    // "lab" is a standalone sandbox: the confirmation says it is one, as it does for the embedded sandbox.
    assert.equal(field("Provider"), "lab (a sandbox: simulated, no cost, no real training)");
    const startId = confirmation.customIds.find((c) => c.startsWith("finetune:start:"));
    assert.ok(startId, confirmation.content);
    const click = await bot.discord.click({ message: confirmation, customId: startId, user: teacher });
    const done = await click.waitForOriginal((m) => /Job #\d+ started|not started/.test(m.content), {
      timeoutMs: 15_000,
    });
    const match = /Job #(\d+) started on the sandbox "lab"/.exec(done.content);
    assert.ok(match, done.content);
    const job = await bot.app.ctx.jobs.require(lincoln.id, Number(match[1]));
    assert.equal(job.provider, "lab");
    const labClient = new OpenAI({ apiKey: "sandbox", baseURL: lab.url, maxRetries: 0 });
    assert.equal((await labClient.fineTuning.jobs.retrieve(job.remoteId)).id, job.remoteId, "created at lab");

    // Lab's own clock moves; the bot's poller follows the job there to its end.
    for (
      let i = 0;
      i < 10 && (await bot.app.ctx.jobs.require(lincoln.id, job.id)).status !== "succeeded";
      i++
    ) {
      labClock.advance(3_600_000);
      await bot.app.ctx.poller.tick();
    }
    const finished = await bot.app.ctx.jobs.require(lincoln.id, job.id);
    assert.equal(finished.status, "succeeded");
    const model = finished.fineTunedModel ?? "";
    const success = bot.discord
      .channelMessages(notices)
      .find((m) => /your model is ready/.test(m.content) && (m.embeds[0]?.description ?? "").includes(model));
    assert.ok(success, "the success notice was posted");

    const list = await bot.discord.slash({
      channel: teachers,
      user: teacher,
      command: "model",
      subcommand: "list",
    });
    const models = await list.waitForOriginal();
    const row = models.embeds[0]?.fields?.find((f) => f.value.includes(model) || f.name === model);
    assert.match(row?.value ?? "", /provider lab \(sandbox\)/);

    const answer = await bot.app.ctx.classroom.ask({
      guildId: lincoln.id,
      channelId: teachers.id,
      userId: teacher.id,
      isTeacher: true,
      question: "What is photosynthesis?",
      model,
    });
    assert.equal(answer.ok, true, answer.ok ? "" : answer.message);
    assert.ok(answer.ok && answer.provider === "lab");
  });
});
