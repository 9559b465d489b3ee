// A fine-tuning job's whole life in the sandbox, driven through the real openai SDK over loopback.
import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { type Rig, startRig, writeTrainingFile } from "./helpers.ts";

const TOY_FIXTURE = fileURLToPath(
  new URL("../datasets/fixtures/toy_chat_fine_tuning.jsonl", import.meta.url),
);

describe("sandbox fine-tuning lifecycle", () => {
  let rig: Rig;
  before(async () => {
    rig = await startRig();
  });
  after(() => rig.close());

  const upload = (path: string) =>
    rig.client.files.create({ file: createReadStream(path), purpose: "fine-tune" });

  test("an uploaded file is an OpenAIFile whose content reads back byte for byte", async () => {
    const path = writeTrainingFile(rig.dir, 12);
    const file = await upload(path);
    assert.match(file.id, /^file-/);
    assert.equal(file.object, "file");
    assert.equal(file.purpose, "fine-tune");
    assert.equal(file.filename, "train-12.jsonl");
    const { readFileSync } = await import("node:fs");
    const original = readFileSync(path);
    assert.equal(file.bytes, original.length);
    assert.deepEqual((await rig.client.files.retrieve(file.id)).id, file.id);
    const content = Buffer.from(await (await rig.client.files.content(file.id)).arrayBuffer());
    assert.ok(content.equals(original));
  });

  test("a job goes validating_files → queued → running → succeeded as the clock advances", async () => {
    const file = await upload(writeTrainingFile(rig.dir, 20));
    const created = await rig.client.fineTuning.jobs.create({
      model: "gpt-4o-mini",
      training_file: file.id,
      suffix: "biology",
      seed: 7,
      metadata: { classtune_job: "42" },
    });
    assert.equal(created.status, "validating_files");
    assert.equal(created.model, "gpt-4o-mini-2024-07-18");
    assert.equal(created.fine_tuned_model, null);
    assert.equal(created.seed, 7);
    assert.deepEqual(created.metadata, { classtune_job: "42" });

    rig.clock.advance(20_000); // validation takes 20 steps of 1 s
    assert.equal((await rig.client.fineTuning.jobs.retrieve(created.id)).status, "queued");
    rig.clock.advance(20_000);
    const running = await rig.client.fineTuning.jobs.retrieve(created.id);
    assert.equal(running.status, "running");
    // 20 examples: OpenAI's default is ceil(100 / 20) = 5 epochs, batch size 1 → 100 steps of 1 s.
    assert.deepEqual(running.hyperparameters, { batch_size: 1, learning_rate_multiplier: 1.8, n_epochs: 5 });
    assert.equal(running.estimated_finish, created.created_at + 40 + 100);

    rig.clock.advance(12_000);
    const events = await rig.client.fineTuning.jobs.listEvents(created.id, { limit: 1 });
    const stepEvent = events.data[0];
    assert.ok(stepEvent);
    const loss = (stepEvent.data as { train_loss: number }).train_loss;
    assert.equal(stepEvent.message, `Step 12/100: training loss=${loss.toFixed(3)}`);
    assert.equal(events.data[0]?.type, "metrics");
    assert.deepEqual(Object.keys(events.data[0]?.data as object).sort(), [
      "step",
      "total_steps",
      "train_loss",
      "train_mean_token_accuracy",
    ]);

    rig.clock.advance(100_000);
    const done = await rig.client.fineTuning.jobs.retrieve(created.id);
    assert.equal(done.status, "succeeded");
    assert.equal(
      done.fine_tuned_model,
      `ft:gpt-4o-mini-2024-07-18:classtune-sandbox:biology:${created.id.slice(-8)}`,
    );
    assert.equal(done.finished_at, created.created_at + 140);
    assert.ok((done.trained_tokens ?? 0) > 0);
    assert.equal(done.estimated_finish, null);

    // Every event, newest first, paged with `after` by the SDK's auto-pagination.
    const all: OpenAI.FineTuning.FineTuningJobEvent[] = [];
    for await (const e of rig.client.fineTuning.jobs.listEvents(created.id, { limit: 7 })) all.push(e);
    const messages = all.map((e) => e.message).reverse();
    assert.equal(messages[0], `Created fine-tuning job: ${created.id}`);
    assert.equal(messages[1], `Validating training file: ${file.id}`);
    assert.equal(messages[2], "Files validated, moving job to queued state");
    assert.equal(messages[3], "Fine-tuning job started");
    assert.equal(messages.at(-1), "The job has successfully completed");
    assert.ok(messages.includes(`New fine-tuned model created: ${done.fine_tuned_model}`));
    const steps = all
      .filter((e) => e.type === "metrics")
      .map((e) => (e.data as { step: number }).step)
      .reverse();
    assert.deepEqual(
      steps,
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    assert.equal(new Set(all.map((e) => e.id)).size, all.length);
    const losses = all
      .filter((e) => e.type === "metrics")
      .map((e) => (e.data as { train_loss: number }).train_loss)
      .reverse();
    assert.ok((losses.at(-1) ?? 9) < (losses[0] ?? 0) / 3, "loss falls over training");

    const checkpoints = await rig.client.fineTuning.jobs.checkpoints.list(created.id);
    assert.deepEqual(
      checkpoints.data.map((c) => c.step_number),
      [100, 80, 60, 40, 20],
    );
    assert.equal(checkpoints.data[0]?.fine_tuned_model_checkpoint, `${done.fine_tuned_model}:ckpt-step-100`);

    const models = await rig.client.models.list();
    assert.ok(models.data.some((m) => m.id === done.fine_tuned_model));
  });

  test("the toy fixture (5 examples) makes the job fail with OpenAI's message, not the create", async () => {
    const file = await upload(TOY_FIXTURE);
    const job = await rig.client.fineTuning.jobs.create({
      model: "gpt-4o-mini-2024-07-18",
      training_file: file.id,
    });
    assert.equal(job.status, "validating_files");
    rig.clock.advance(60_000);
    const failed = await rig.client.fineTuning.jobs.retrieve(job.id);
    assert.equal(failed.status, "failed");
    assert.deepEqual(failed.error, {
      code: "invalid_training_file",
      message:
        "The job failed due to an invalid training file. Training file has 5 example(s), but must have at least 10 examples",
      param: "training_file",
    });
    assert.equal(failed.fine_tuned_model, null);
    const events = await rig.client.fineTuning.jobs.listEvents(job.id);
    assert.equal(events.data[0]?.level, "error");
    assert.equal(events.data[0]?.message, failed.error?.message);
  });

  test("n_epochs from method.supervised.hyperparameters sets the number of steps", async () => {
    const file = await upload(writeTrainingFile(rig.dir, 10));
    const job = await rig.client.fineTuning.jobs.create({
      model: "gpt-4.1-nano-2025-04-14",
      training_file: file.id,
      method: { type: "supervised", supervised: { hyperparameters: { n_epochs: 2 } } },
    });
    assert.deepEqual(job.method?.supervised?.hyperparameters, {
      n_epochs: 2,
      batch_size: "auto",
      learning_rate_multiplier: "auto",
    });
    rig.clock.advance(40_000 + 5_000);
    const events = await rig.client.fineTuning.jobs.listEvents(job.id, { limit: 1 });
    assert.match(events.data[0]?.message ?? "", /^Step 5\/20: training loss=\d\.\d{3}$/);
  });

  test("cancel stops a running job; cancelling it again is a 400", async () => {
    const file = await upload(writeTrainingFile(rig.dir, 10));
    const job = await rig.client.fineTuning.jobs.create({ model: "gpt-4o-mini", training_file: file.id });
    rig.clock.advance(45_000);
    const cancelled = await rig.client.fineTuning.jobs.cancel(job.id);
    assert.equal(cancelled.status, "cancelled");
    assert.equal(cancelled.fine_tuned_model, null);
    rig.clock.advance(10_000_000);
    assert.equal((await rig.client.fineTuning.jobs.retrieve(job.id)).status, "cancelled");
    const events = await rig.client.fineTuning.jobs.listEvents(job.id, { limit: 2 });
    assert.equal(events.data[0]?.message, "Fine-tuning job cancelled");
    assert.match(events.data[1]?.message ?? "", /^Step 5\//);
    await assert.rejects(rig.client.fineTuning.jobs.cancel(job.id), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.match(err.message, /already been cancelled/);
      return true;
    });
  });

  test("bad create requests are 400s in OpenAI's envelope", async () => {
    const file = await upload(writeTrainingFile(rig.dir, 10));
    const expect400 = async (body: OpenAI.FineTuning.JobCreateParams, param: string, message: RegExp) =>
      assert.rejects(rig.client.fineTuning.jobs.create(body), (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError, String(err));
        assert.equal(err.param, param);
        assert.match((err.error as { message: string }).message, message);
        return true;
      });
    await expect400(
      { model: "gpt-4o-mini", training_file: "file-nope" },
      "training_file",
      /invalid training_file: file-nope/,
    );
    await expect400(
      { model: "gpt-5-turbo-ultra", training_file: file.id },
      "model",
      /Model gpt-5-turbo-ultra is not available for fine-tuning or does not exist/,
    );
    await expect400(
      { model: "gpt-4o-mini", training_file: file.id, suffix: "x".repeat(65) },
      "suffix",
      /maximum length 64/,
    );
    await expect400(
      {
        model: "gpt-4o-mini",
        training_file: file.id,
        method: { type: "supervised", supervised: { hyperparameters: { n_epochs: 99 } } },
      },
      "method.supervised.hyperparameters.n_epochs",
      /out of range/,
    );
  });

  test("files list newest first by purpose, and a deleted file is gone", async () => {
    const a = await upload(writeTrainingFile(rig.dir, 10, "list-a.jsonl"));
    const b = await rig.client.files.create({
      file: await OpenAI.toFile(Buffer.from("hello"), "notes.txt"),
      purpose: "user_data",
    });
    const fineTune = await rig.client.files.list({ purpose: "fine-tune" });
    assert.equal(fineTune.data[0]?.id, a.id);
    assert.ok(fineTune.data.every((f) => f.purpose === "fine-tune"));
    assert.ok((await rig.client.files.list()).data.some((f) => f.id === b.id));
    assert.deepEqual(await rig.client.files.delete(b.id), { id: b.id, object: "file", deleted: true });
    await assert.rejects(rig.client.files.retrieve(b.id), OpenAI.NotFoundError);
    await assert.rejects(rig.client.files.content(b.id), OpenAI.NotFoundError);
  });

  test("unknown jobs and files are 404s", async () => {
    await assert.rejects(rig.client.fineTuning.jobs.retrieve("ftjob-nope"), OpenAI.NotFoundError);
    await assert.rejects(rig.client.files.retrieve("file-nope"), OpenAI.NotFoundError);
  });
});
