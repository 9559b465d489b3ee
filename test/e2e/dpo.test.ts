// The feedback loop closed with preference training, end to end on the fake Discord and the embedded sandbox:
// teachers correct /ask answers, `/dataset export format:preference` turns them into DPO pairs (validated,
// attached, stored), `/finetune start method:dpo beta:` shows the DPO estimate and starts the job on Start, and
// the job finishes with its notice and loss chart. A model without DPO, and the wrong method for the file, are
// refused before anything is uploaded.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { validateFile } from "../../src/datasets/validator.ts";
import type { FakeChannel, FakeGuild, FakeMessage, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { addSchool, OTHER_SCHOOL } from "../helpers/school.ts";

const SECOND = 1000;
let bot: TestBot;
let guild: FakeGuild;
let other: FakeGuild;
let teacher: FakeUser;
let otherTeacher: FakeUser;
let sam: FakeUser;
let notices: FakeChannel;
let datasetId: number;

async function slash(
  g: FakeGuild,
  user: FakeUser,
  command: string,
  subcommand: string | undefined,
  options: Record<string, unknown>,
  channel = "general",
): Promise<FakeMessage> {
  const run = await bot.discord.slash({
    channel: g.channel(channel),
    user,
    command,
    ...(subcommand ? { subcommand } : {}),
    options: options as never,
  });
  return run.waitForOriginal(undefined, { timeoutMs: 20_000 });
}

async function correct(answer: FakeMessage, text: string): Promise<void> {
  const opened = await bot.discord.click({
    message: answer,
    customId: answer.customIds.find((c) => c.startsWith("correct:")) as string,
    user: teacher,
  });
  await opened.response();
  const submitted = await bot.discord.submitModal({ from: opened, fields: { answer: text } });
  await submitted.waitForOriginal((m) => m !== submitted.sourceMessage && !m.loading);
}

const uploads = () => bot.app.sandbox?.stats.byRoute["POST /files"] ?? 0;

before(async () => {
  bot = await startTestBot({ env: { ASK_USER_BURST: "100", SANDBOX_SECONDS_PER_STEP: "1" } });
  const school = addSchool(bot.discord, { channels: ["general", "class", "notices"] });
  ({ guild, teacher } = school);
  [sam] = school.students;
  notices = guild.channel("notices");
  ({ guild: other, teacher: otherTeacher } = addSchool(bot.discord, {
    ...OTHER_SCHOOL,
    channels: ["general"],
  }));
  await slash(guild, teacher, "config", "notifications", { channel: notices });
  await slash(guild, teacher, "classroom", "setup", {
    channel: guild.channel("class"),
    model: "gpt-4o-mini-2024-07-18",
  });
});
after(() => bot.close());

describe("preference data and DPO jobs", () => {
  it("turns teachers' corrections into a preference dataset with /dataset export format:preference", async () => {
    for (let i = 1; i <= 10; i++) {
      const answer = await slash(
        guild,
        sam,
        "ask",
        undefined,
        { question: `What is ${i} plus ${i}?` },
        "class",
      );
      await correct(answer, `${i} plus ${i} is ${2 * i}.`);
    }
    const exported = await slash(guild, teacher, "dataset", "export", { format: "preference" });
    assert.match(
      exported.content,
      /Exported 10 preference pair\(s\) for DPO: 10 a teacher's correction over the model's answer, 0 the class's better-rated answer over the other\./,
    );
    const id = exported.customIds.find((c) => c.startsWith("finetune:from-dataset:"));
    assert.ok(id, "Fine-tune this");
    datasetId = Number(id.split(":")[2]);

    const file = exported.files.find((f) => f.filename.endsWith(".jsonl"));
    assert.ok(file);
    const first = JSON.parse(file.text().split("\n")[0] as string);
    assert.deepEqual(first.input.messages.at(-1), { role: "user", content: "What is 1 plus 1?" });
    assert.deepEqual(first.preferred_output, [{ role: "assistant", content: "1 plus 1 is 2." }]);
    assert.equal(first.non_preferred_output[0].role, "assistant");
    assert.notEqual(first.non_preferred_output[0].content, "1 plus 1 is 2.");
    const dir = await mkdtemp(join(tmpdir(), "classtune-dpo-e2e-"));
    try {
      const path = join(dir, file.filename);
      await writeFile(path, file.bytes);
      const report = await validateFile(path);
      assert.deepEqual(
        [report.format, report.valid, report.invalid, report.fineTunable],
        ["preference", 10, 0, true],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // Another school has no corrections: nothing of Lincoln's is paired there.
    const theirs = await slash(other, otherTeacher, "dataset", "export", { format: "preference" });
    assert.match(theirs.content, /Nothing to export as preference pairs yet/);
  });

  it("refuses a model without DPO, and the wrong method for the file, before anything is uploaded", async () => {
    const before = uploads();
    const noDpo = await slash(guild, teacher, "finetune", "start", {
      dataset: datasetId,
      method: "dpo",
      model: "meta-llama/Llama-3.1-8B-Instruct",
    });
    assert.match(
      noDpo.content,
      /meta-llama\/Llama-3\.1-8B-Instruct on sandbox trains only supervised: no DPO/,
    );
    assert.match(noDpo.content, /Nothing was uploaded/);
    assert.deepEqual(noDpo.customIds, [], "no Start button");
    const supervised = await slash(guild, teacher, "finetune", "start", {
      dataset: datasetId,
      method: "supervised",
    });
    assert.match(supervised.content, /holds preference examples: train it with method:dpo/);
    const elsewhere = await slash(other, otherTeacher, "finetune", "start", {
      dataset: datasetId,
      method: "dpo",
    });
    assert.match(elsewhere.content, /was not found in this server/);
    assert.equal(uploads(), before, "the sandbox received no file");
  });

  it("starts a DPO job from the confirmation, and it finishes with its notice and loss chart", async () => {
    const confirmation = await slash(guild, teacher, "finetune", "start", {
      dataset: datasetId,
      method: "dpo",
      beta: 0.2,
    });
    const embed = confirmation.embeds[0];
    const method = embed?.fields?.find((f) => f.name === "Method")?.value ?? "";
    assert.match(method, /^DPO \(preference: the preferred answer over the other\), beta 0\.2\./);
    assert.match(method, /at 1× the supervised price \(OpenAI bills supervised and preference fine-tuning/);
    assert.match(embed?.fields?.find((f) => f.name === "Estimated cost")?.value ?? "", /^\$\d/);

    const click = await bot.discord.click({
      message: confirmation,
      customId: confirmation.customIds.find((c) => c.startsWith("finetune:start:")) as string,
      user: teacher,
    });
    const started = await click.waitForOriginal((m) => /Job #\d+ started|not started/.test(m.content), {
      timeoutMs: 15_000,
    });
    const jobId = Number(/Job #(\d+) started/.exec(started.content)?.[1]);
    assert.ok(jobId > 0, started.content);
    const job = await bot.app.ctx.jobs.get(guild.id, jobId);
    assert.equal(job?.hyperparameters.method, "dpo");
    assert.equal(job?.hyperparameters.beta, 0.2);

    const status = await slash(guild, teacher, "finetune", "status", { job: jobId });
    assert.equal(
      status.embeds[0]?.fields?.find((f) => f.name === "Method")?.value,
      "DPO (preference), beta 0.2",
    );

    const [card] = bot.discord.channelMessages(notices);
    assert.ok(card, "the job's card");
    assert.equal(card.embeds[0]?.fields?.find((f) => f.name === "Method")?.value, "DPO (preference)");

    bot.app.sandbox?.clock.advance(30 * 60 * SECOND);
    await bot.app.ctx.poller.tick();
    await bot.app.ctx.poller.tick();
    const success = bot.discord.channelMessages(notices)[1];
    assert.ok(success, "the success notice");
    assert.match(success.content, new RegExp(`^${teacher.mention} your model is ready`));
    assert.match(success.embeds[0]?.title ?? "", new RegExp(`job #${jobId} \\(sandbox\\) succeeded`));
    assert.equal(success.embeds[0]?.fields?.filter((f) => f.name.startsWith("Q: ")).length, 3);
    assert.equal(success.embeds[0]?.image?.url, "attachment://loss.png");
    const ended = await bot.app.ctx.jobs.get(guild.id, jobId);
    assert.ok(ended?.progress?.loss !== null && (ended?.progress?.loss ?? 9) < 0.7, "a DPO loss, below ln 2");
  });
});
