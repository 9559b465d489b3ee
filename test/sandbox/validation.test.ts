// How the validation engine's verdict becomes the job's fate: broken files fail the job with
// OpenAI's wording (not the create), and an engine that breaks fails it as an internal error.
import assert from "node:assert/strict";
import { createReadStream, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import OpenAI from "openai";
import { startRig, writeTrainingFile } from "./helpers.ts";

test("a file with a broken line fails the job with the line and the engine's message", async () => {
  const rig = await startRig();
  try {
    const path = writeTrainingFile(rig.dir, 12, "broken.jsonl");
    writeFileSync(path, `${"{not json\n"}${(await import("node:fs")).readFileSync(path, "utf8")}`);
    const file = await rig.client.files.create({ file: createReadStream(path), purpose: "fine-tune" });
    const job = await rig.client.fineTuning.jobs.create({ model: "gpt-4o-mini", training_file: file.id });
    rig.clock.advance(60_000);
    const failed = await rig.client.fineTuning.jobs.retrieve(job.id);
    assert.equal(failed.status, "failed");
    assert.equal(failed.error?.code, "invalid_training_file");
    assert.equal(failed.error?.param, "training_file");
    assert.match(
      failed.error?.message ?? "",
      /^The job failed due to an invalid training file\. Invalid file format\. Line 1: /,
    );
  } finally {
    await rig.close();
  }
});

test("supervised fine-tuning refuses a preference (DPO) file through the job, and DPO accepts it", async () => {
  const rig = await startRig();
  try {
    const lines = Array.from({ length: 10 }, (_, i) =>
      JSON.stringify({
        input: { messages: [{ role: "user", content: `Question number ${i}?` }] },
        preferred_output: [{ role: "assistant", content: `A good answer ${i}.` }],
        non_preferred_output: [{ role: "assistant", content: `A poor answer ${i}.` }],
      }),
    );
    const path = join(rig.dir, "prefs.jsonl");
    writeFileSync(path, `${lines.join("\n")}\n`);
    const file = await rig.client.files.create({ file: createReadStream(path), purpose: "fine-tune" });
    const sft = await rig.client.fineTuning.jobs.create({ model: "gpt-4o-mini", training_file: file.id });
    const dpo = await rig.client.fineTuning.jobs.create({
      model: "gpt-4o-mini",
      training_file: file.id,
      method: { type: "dpo", dpo: { hyperparameters: { beta: 0.2 } } },
    });
    rig.clock.advance(10_000_000);
    const failed = await rig.client.fineTuning.jobs.retrieve(sft.id);
    assert.equal(failed.status, "failed");
    assert.match(failed.error?.message ?? "", /preference examples; use method\.type 'dpo'/);
    const done = await rig.client.fineTuning.jobs.retrieve(dpo.id);
    assert.equal(done.status, "succeeded");
    assert.equal(done.method?.type, "dpo");
    assert.equal(done.method?.dpo?.hyperparameters?.beta, 0.2);
    const reply = await rig.client.chat.completions.create({
      model: done.fine_tuned_model ?? "",
      messages: [{ role: "user", content: "Question number 4?" }],
    });
    assert.equal(reply.choices[0]?.message.content, "A good answer 4.");
  } finally {
    await rig.close();
  }
});

test("an engine that breaks fails the job as an internal error, and the server carries on", async () => {
  const rig = await startRig({
    validate: async () => {
      throw new Error("worker crashed");
    },
  });
  try {
    const file = await rig.client.files.create({
      file: createReadStream(writeTrainingFile(rig.dir, 10)),
      purpose: "fine-tune",
    });
    const job = await rig.client.fineTuning.jobs.create({ model: "gpt-4o-mini", training_file: file.id });
    rig.clock.advance(60_000);
    const failed = await rig.client.fineTuning.jobs.retrieve(job.id);
    assert.equal(failed.status, "failed");
    assert.equal(failed.error?.code, "server_error");
    assert.match(failed.error?.message ?? "", /internal error in the sandbox \(worker crashed\)/);
    assert.ok((await rig.client.models.list()).data.length >= 6);
    await assert.rejects(rig.client.fineTuning.jobs.cancel(job.id), OpenAI.BadRequestError);
  } finally {
    await rig.close();
  }
});
