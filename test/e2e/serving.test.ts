// The serving step through Discord: a model trained on a Nebius-kind provider (a standalone sandbox on its own
// clock, imitating Nebius's /v0/models) is announced as "trained; deploying", is not offered to /ask or
// /model use until it is ready, and a failed deploy is a notice with the provider's words and the retry,
// `/finetune deploy job:` (teachers, this server's jobs), which ends in the ready notice. An Azure provider
// without Resource Manager credentials announces the exact step to run, and `/model add` of the deployment makes
// the model ready.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sampleDatasetJsonl } from "../../src/datasets/sample.ts";
import type { JobRow } from "../../src/finetuning/jobs.ts";
import { AZURE_DEPLOYMENT_LIFETIME_WARNING } from "../../src/providers/azure.ts";
import { deploymentNameFor } from "../../src/providers/deployments.ts";
import type { ManualClock } from "../../src/sandbox/clock.ts";
import { DEPLOY_STEPS } from "../../src/sandbox/routes/deployments.ts";
import type { SandboxHandle } from "../../src/sandbox/server.ts";
import type { FakeChannel, FakeGuild, FakeMessage, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { addSchool, OTHER_SCHOOL, type School } from "../helpers/school.ts";
import { type StandaloneSandbox, startStandaloneSandbox } from "../helpers/standaloneSandbox.ts";

const LLAMA = "meta-llama/Llama-3.1-8B-Instruct";
let hostServer: StandaloneSandbox;
let host: SandboxHandle;
let hostClock: ManualClock;
let bot: TestBot;
let school: School;
let other: School;
let lincoln: FakeGuild;
let teacher: FakeUser;
let notices: FakeChannel;

before(async () => {
  hostServer = await startStandaloneSandbox("host");
  ({ sandbox: host, clock: hostClock } = hostServer);
  bot = await startTestBot({
    env: {
      FINETUNE_PROVIDERS: JSON.stringify([
        { kind: "sandbox", name: "sandbox" },
        { kind: "nebius", name: "nebius-lab", baseURL: host.url, apiKeyEnv: "NEBIUS_LAB_KEY" },
        { kind: "azure", name: "azure-school", baseURL: host.url, apiKeyEnv: "AZURE_SCHOOL_KEY" },
      ]),
      NEBIUS_LAB_KEY: ["nb", "test"].join("-"),
      AZURE_SCHOOL_KEY: ["az", "test"].join("-"),
    },
  });
  school = addSchool(bot.discord, { channels: ["general", "notices"] });
  other = addSchool(bot.discord, { ...OTHER_SCHOOL, channels: ["staff"] });
  lincoln = school.guild;
  teacher = school.teacher;
  notices = lincoln.channel("notices");
  const run = await bot.discord.slash({
    channel: lincoln.channel("general"),
    user: teacher,
    command: "config",
    subcommand: "notifications",
    options: { channel: notices },
  });
  await run.waitForOriginal();
});
after(async () => {
  await bot.close();
  await hostServer.close();
});

let datasets = 0;
/** A job on `provider` for `model`, started as the Start button does (the estimate taken as confirmed). */
async function startJob(provider: string, model: string): Promise<JobRow> {
  const { ctx } = bot.app;
  datasets += 1;
  const dir = mkdtempSync(join(tmpdir(), "classtune-e2e-serving-"));
  try {
    const path = join(dir, "tutor.jsonl");
    writeFileSync(path, sampleDatasetJsonl());
    const { row } = await ctx.storeDataset({
      guildId: lincoln.id,
      uploaderId: teacher.id,
      fileName: `tutor-${datasets}.jsonl`,
      sourcePath: path,
      model: ctx.catalog.defaultModel,
    });
    assert.ok(row?.fineTunable);
    return await ctx.jobs.start({
      guildId: lincoln.id,
      datasetId: row.id,
      requesterId: teacher.id,
      quote: {
        guildId: lincoln.id,
        datasetId: row.id,
        provider,
        model,
        epochs: undefined,
        estimatedEpochs: 3,
        estimatedCostUsd: 0.01,
        maxJobCostUsd: 25,
      },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function tick(advanceMs: number): Promise<void> {
  hostClock.advance(advanceMs);
  await bot.app.ctx.poller.tick();
}

const posted = (pattern: RegExp): FakeMessage | undefined =>
  bot.discord.channelMessages(notices).find((m) => pattern.test(m.content));

const modelChoices = (user: FakeUser, command: "ask" | "model", subcommand?: string) =>
  bot.discord.autocomplete({
    channel: lincoln.channel("general"),
    user,
    command,
    ...(subcommand ? { subcommand } : {}),
    focused: "model",
    options: { model: "" },
  });

async function slash(
  command: string,
  subcommand: string,
  options: Record<string, unknown>,
  user: FakeUser = teacher,
  channel: FakeChannel = lincoln.channel("general"),
): Promise<FakeMessage> {
  const run = await bot.discord.slash({ channel, user, command, subcommand, options: options as never });
  return run.waitForOriginal(undefined, { timeoutMs: 15_000 });
}

describe("a model on a provider that deploys", () => {
  let job: JobRow;
  let model: string;

  it("is announced as trained and deploying, and offered to no one until it is ready", async () => {
    host.faults.failNextDeployment(
      "The LoRA adapter could not be loaded onto the base model (rank 64 > 32).",
    );
    job = await startJob("nebius-lab", LLAMA);
    await tick(3_600_000);
    const trained = await bot.app.ctx.jobs.require(lincoln.id, job.id);
    assert.equal(trained.status, "succeeded");
    model = trained.fineTunedModel ?? "";
    const success = posted(/your model is trained; deploying it now/);
    assert.ok(success, "the success notice says it is deploying");
    assert.match(
      success.embeds[0]?.description ?? "",
      new RegExp(`deploying as \`${deploymentNameFor(job.remoteId)}\``),
    );
    assert.ok(!success.embeds[0]?.fields?.some((f) => f.name === "Use it"), "not usable yet");
    assert.equal(posted(/your model is ready/), undefined);

    for (const [user, command, sub] of [
      [teacher, "ask", undefined],
      [school.students[0], "ask", undefined],
      [teacher, "model", "use"],
    ] as const) {
      const choices = await modelChoices(user, command, sub);
      assert.ok(
        !choices.some((c) => c.value === model),
        `${command} ${sub ?? ""}: ${JSON.stringify(choices)}`,
      );
    }
    const use = await slash("model", "use", { model });
    assert.match(use.content, /cannot be used yet: it is still being deployed/);
    const list = await slash("model", "list", {});
    const field = list.embeds[0]?.fields?.find((f) => f.name === model || f.value.includes(model));
    assert.match(field?.value ?? "", /provider nebius-lab/);
    assert.match(field?.value ?? "", /🚀 deploying as `ct-/);
  });

  it("a failed deploy is a notice with the provider's words and the retry; /finetune deploy ends ready", async () => {
    await tick(DEPLOY_STEPS * 1000 + 1000);
    const failed = posted(/deploying your model failed/);
    assert.ok(failed, "the failure notice is posted");
    const text = failed.embeds[0]?.description ?? "";
    assert.match(
      text,
      /The provider said: The LoRA adapter could not be loaded onto the base model \(rank 64 > 32\)\./,
    );
    assert.match(text, new RegExp(`/finetune deploy job:${job.id}`));
    const status = await slash("finetune", "status", { job: job.id });
    assert.match(status.embeds[0]?.fields?.find((f) => f.name === "Serving")?.value ?? "", /deploy failed/);

    // Offered for this server's finished jobs only.
    const choices = await bot.discord.autocomplete({
      channel: lincoln.channel("general"),
      user: teacher,
      command: "finetune",
      subcommand: "deploy",
      focused: "job",
      options: { job: "" },
    });
    assert.ok(choices.some((c) => c.value === job.id));
    const elsewhere = await bot.discord.autocomplete({
      channel: other.guild.channel("staff"),
      user: other.teacher,
      command: "finetune",
      subcommand: "deploy",
      focused: "job",
      options: { job: "" },
    });
    assert.deepEqual(elsewhere, [], "another server's jobs are not offered");
    const foreign = await slash(
      "finetune",
      "deploy",
      { job: job.id },
      other.teacher,
      other.guild.channel("staff"),
    );
    assert.match(foreign.content, new RegExp(`Job #${job.id} was not found`));
    const student = await slash("finetune", "deploy", { job: job.id }, school.students[0]);
    assert.match(student.content, /^Only teachers can do that/, "teachers only, checked by the bot");
    assert.equal((await bot.app.ctx.serving.forJob(lincoln.id, job.id))?.servingStatus, "failed");

    const retry = await slash("finetune", "deploy", { job: job.id });
    assert.match(
      retry.content,
      new RegExp(`Deploying job #${job.id}'s model .* as \`${deploymentNameFor(job.remoteId, 2)}\``),
    );
    await tick(DEPLOY_STEPS * 1000 + 1000);
    const ready = posted(/your model is ready: it can be used now/);
    assert.ok(ready, "the ready notice is posted");
    assert.match(
      ready.embeds[0]?.description ?? "",
      /answers as `meta-llama\/Llama-3\.1-8B-Instruct-LoRa:ct-/,
    );
    assert.ok(ready.embeds[0]?.fields?.some((f) => f.name === "Use it"));
    // The job's card follows the serving state.
    const card = posted(/your fine-tuning job has started/);
    assert.ok(card, "the job card");
    assert.match(card.embeds[0]?.description ?? "", /Finished: the model is ready/);

    const offered = await modelChoices(teacher, "ask");
    assert.ok(
      offered.some((c) => c.value === model),
      "ready: offered to /ask",
    );
    const use = await slash("model", "use", { model });
    assert.match(use.content, /now uses/);
    const run = await bot.discord.slash({
      channel: lincoln.channel("general"),
      user: school.students[0],
      command: "ask",
      options: { question: "Why does ice float on water?" },
    });
    const answer = await run.waitForOriginal(undefined, { timeoutMs: 15_000 });
    assert.match(answer.content, /Ice is less dense than liquid water/, "the deployed fine-tune answers");
    assert.match(
      answer.content,
      new RegExp(`answered by \`${model.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\``),
    );
  });
});

describe("Azure without Resource Manager credentials", () => {
  it("tells the teacher the exact step and the lifetime warning; /model add of the deployment makes it ready", async () => {
    const job = await startJob("azure-school", "gpt-4o-mini-2024-07-18");
    await tick(3_600_000);
    const trained = await bot.app.ctx.jobs.require(lincoln.id, job.id);
    const model = trained.fineTunedModel ?? "";
    const name = deploymentNameFor(job.remoteId);
    const notice = bot.discord
      .channelMessages(notices)
      .find(
        (m) =>
          /must be deployed before anyone can ask it/.test(m.content) &&
          (m.embeds[0]?.description ?? "").includes(model),
      );
    assert.ok(notice, "the success notice says what to do");
    const text = notice.embeds[0]?.description ?? "";
    assert.match(text, /`az cognitiveservices account deployment create .*--deployment-name ct-/);
    assert.match(text, new RegExp(`--deployment-name ${name} `));
    assert.match(text, new RegExp(`/model add model:${name} provider:azure-school`));
    assert.equal(
      notice.embeds[0]?.fields?.find((f) => f.name === "Note")?.value,
      AZURE_DEPLOYMENT_LIFETIME_WARNING,
    );
    assert.ok(!(await modelChoices(teacher, "ask")).some((c) => c.value === model));

    const add = await slash("model", "add", { model: name, provider: "azure-school" });
    assert.match(
      add.content,
      new RegExp(`job #${job.id}'s model .* is ready now and answers as \`${name}\``),
    );
    assert.ok(
      (await modelChoices(teacher, "ask")).some((c) => c.value === model),
      "offered once ready",
    );
    assert.equal((await bot.app.ctx.serving.forJob(lincoln.id, job.id))?.servedAs, name);
  });
});
