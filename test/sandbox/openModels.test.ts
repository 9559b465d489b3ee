// The sandbox as an open-model host (Nebius's shapes): open base models, LoRA hyperparameters, step
// counts, validation loss on checkpoints, and the deploy step under /v0/models, over loopback with the
// real openai SDK for /v1 and plain fetch for /v0.
import assert from "node:assert/strict";
import { createReadStream, readFileSync } from "node:fs";
import { after, before, beforeEach, describe, test } from "node:test";
import OpenAI from "openai";
import type { JobCreateParams } from "openai/resources/fine-tuning/jobs/jobs";
import { DEPLOY_STEPS } from "../../src/sandbox/routes/deployments.ts";
import { getOpenTokenizer, type JsonObject } from "../../src/tokenizers/index.ts";
import { type Rig, startRig, writeTrainingFile } from "./helpers.ts";

const LLAMA = "meta-llama/Llama-3.1-8B-Instruct";

/** OpenAI's job object plus what Nebius adds to it. */
type NebiusJob = OpenAI.FineTuning.FineTuningJob & {
  trained_steps?: number;
  total_steps?: number | null;
  hyperparameters: Record<string, unknown>;
};

describe("sandbox open models", () => {
  let rig: Rig;
  before(async () => {
    rig = await startRig();
  });
  after(() => rig.close());
  beforeEach(() => rig.sandbox.faults.clear());

  const upload = async (n = 12) =>
    (
      await rig.client.files.create({
        file: createReadStream(writeTrainingFile(rig.dir, n)),
        purpose: "fine-tune",
      })
    ).id;

  const createJob = async (body: Record<string, unknown>) =>
    (await rig.client.fineTuning.jobs.create(body as unknown as JobCreateParams)) as NebiusJob;

  const retrieve = async (id: string) => (await rig.client.fineTuning.jobs.retrieve(id)) as NebiusJob;

  /** A succeeded Llama job and its newest checkpoint. */
  async function trainedLlama(): Promise<{ job: NebiusJob; checkpoint: string }> {
    const job = await createJob({
      model: LLAMA,
      training_file: await upload(),
      hyperparameters: { lora: true },
    });
    rig.clock.advance(3_600_000);
    const done = await retrieve(job.id);
    assert.equal(done.status, "succeeded");
    const checkpoints = await rig.client.fineTuning.jobs.checkpoints.list(job.id);
    const last = checkpoints.data[0];
    assert.ok(last);
    return { job: done, checkpoint: last.id };
  }

  const v0 = (path: string, init: RequestInit = {}) =>
    fetch(`${rig.sandbox.deployURL}${path}`, {
      ...init,
      headers: { authorization: "Bearer sandbox", "content-type": "application/json", ...init.headers },
    });

  test("lists the open-weight base models next to OpenAI's", async () => {
    const ids = (await rig.client.models.list()).data.map((m) => m.id);
    for (const id of [
      LLAMA,
      "meta-llama/Llama-3.3-70B-Instruct",
      "Qwen/Qwen2.5-7B-Instruct",
      "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
      "gpt-4o-mini-2024-07-18",
    ]) {
      assert.ok(ids.includes(id), `${id} is listed`);
    }
  });

  test("an open-model job echoes its LoRA hyperparameters and counts its steps as it trains", async () => {
    const job = await createJob({
      model: LLAMA,
      training_file: await upload(12),
      hyperparameters: {
        n_epochs: 2,
        lora: true,
        lora_r: 16,
        lora_alpha: 32,
        lora_dropout: 0.05,
        packing: false,
      },
    });
    assert.equal(job.total_steps, null, "the plan is unknown until the file is validated");
    assert.equal(job.trained_steps, 0);
    rig.clock.advance(40_000 + 5_000); // validation and queue (20 steps each), then 5 steps of 1 s
    const running = await retrieve(job.id);
    assert.equal(running.status, "running");
    assert.equal(running.total_steps, 24, "12 examples × 2 epochs at batch size 1");
    assert.equal(running.trained_steps, 5);
    assert.deepEqual(running.hyperparameters, {
      batch_size: 1,
      learning_rate_multiplier: 1.8,
      n_epochs: 2,
      lora: true,
      lora_r: 16,
      lora_alpha: 32,
      lora_dropout: 0.05,
      context_length: 8192,
      packing: false,
    });
    rig.clock.advance(60_000);
    const done = await retrieve(job.id);
    assert.equal(done.status, "succeeded");
    assert.equal(done.trained_steps, 24);
  });

  test("counts an open model's training tokens exactly, by the model's own chat template", async () => {
    const path = writeTrainingFile(rig.dir, 12);
    const lines = readFileSync(path, "utf8").trim().split("\n");
    const training_file = (
      await rig.client.files.create({ file: createReadStream(path), purpose: "fine-tune" })
    ).id;
    for (const [model, family] of [
      [LLAMA, "llama3.1"],
      ["Qwen/Qwen2.5-7B-Instruct", "qwen2.5"],
      ["meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "llama3.1"],
    ] as const) {
      const job = await createJob({ model, training_file, hyperparameters: { n_epochs: 2, lora: true } });
      rig.clock.advance(3_600_000);
      const done = await retrieve(job.id);
      assert.equal(done.status, "succeeded", model);
      const tokenizer = getOpenTokenizer(family);
      const perEpoch = lines.reduce((n, l) => n + tokenizer.countExample(JSON.parse(l) as JsonObject), 0);
      assert.equal(done.trained_tokens, 2 * perEpoch, `${model}: 2 epochs × ${perEpoch} ${family} tokens`);
    }
  });

  test("an OpenAI model's job reports no step counts and no LoRA settings, as OpenAI's does", async () => {
    const job = await createJob({ model: "gpt-4o-mini", training_file: await upload(12) });
    assert.equal("trained_steps" in job, false);
    assert.equal("lora" in job.hyperparameters, false);
  });

  test("refuses a LoRA value out of range with a 400 naming the parameter", async () => {
    const training_file = await upload(12);
    await assert.rejects(
      createJob({ model: LLAMA, training_file, hyperparameters: { lora: true, lora_r: 0 } }),
      (err: unknown) =>
        err instanceof OpenAI.BadRequestError &&
        err.param === "hyperparameters.lora_r" &&
        err.code === "invalid_value" &&
        /out of range/.test(err.message),
    );
    await assert.rejects(
      createJob({ model: LLAMA, training_file, hyperparameters: { lora: "yes" } }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.code === "invalid_type",
    );
  });

  test("refuses LoRA hyperparameters for an OpenAI model as an unknown parameter", async () => {
    await assert.rejects(
      createJob({ model: "gpt-4o-mini", training_file: await upload(12), hyperparameters: { lora_r: 8 } }),
      (err: unknown) =>
        err instanceof OpenAI.BadRequestError &&
        err.code === "unknown_parameter" &&
        err.param === "hyperparameters.lora_r",
    );
  });

  test("an open-model job's checkpoints carry a validation loss next to the training loss", async () => {
    const { job } = await trainedLlama();
    const checkpoints = await rig.client.fineTuning.jobs.checkpoints.list(job.id);
    assert.ok(checkpoints.data.length >= 1);
    for (const c of checkpoints.data) {
      assert.equal(typeof c.metrics.train_loss, "number");
      assert.equal(typeof c.metrics.valid_loss, "number");
    }
  });

  test("a deployed checkpoint validates, turns active on the clock, and then answers chat by its full name", async () => {
    const { job, checkpoint } = await trainedLlama();
    const res = await v0("/models", {
      method: "POST",
      body: JSON.stringify({ name: "ct-deploy-1", base_model: LLAMA, source: `${job.id}:${checkpoint}` }),
    });
    assert.equal(res.status, 200);
    const created = (await res.json()) as { name: string; status: string; source: string };
    assert.equal(created.status, "validating");
    assert.match(created.name, /^meta-llama\/Llama-3\.1-8B-Instruct-LoRa:ct-deploy-1-[a-z]{4}$/);

    const ask = () =>
      rig.client.chat.completions.create({
        model: created.name,
        messages: [{ role: "user", content: "Who wrote Romeo and Juliet?" }],
      });
    await assert.rejects(
      ask(),
      (err: unknown) => err instanceof OpenAI.NotFoundError && /not active/.test(err.message),
    );

    rig.clock.advance(DEPLOY_STEPS * 1000);
    const byShort = (await (await v0("/models/ct-deploy-1")).json()) as { status: string; name: string };
    assert.deepEqual([byShort.status, byShort.name], ["active", created.name]);
    const reply = await ask();
    assert.match(reply.choices[0]?.message.content ?? "", /Shakespeare/);
  });

  test("a second deployment under a taken name is 409 and leaves the first alone", async () => {
    const { job, checkpoint } = await trainedLlama();
    const body = JSON.stringify({ name: "ct-twice", base_model: LLAMA, source: `${job.id}:${checkpoint}` });
    assert.equal((await v0("/models", { method: "POST", body })).status, 200);
    const again = await v0("/models", { method: "POST", body });
    assert.equal(again.status, 409);
    assert.match(((await again.json()) as { detail: string }).detail, /already exists/);
  });

  test("a deployment can end in error with the host's reason, and an unknown name is 404", async () => {
    const { job, checkpoint } = await trainedLlama();
    rig.sandbox.faults.failNextDeployment("adapter rank too large for this base model");
    const body = JSON.stringify({ name: "ct-broken", base_model: LLAMA, source: `${job.id}:${checkpoint}` });
    assert.equal((await v0("/models", { method: "POST", body })).status, 200);
    rig.clock.advance(DEPLOY_STEPS * 1000);
    const broken = (await (await v0("/models/ct-broken")).json()) as {
      status: string;
      status_reason: string;
    };
    assert.equal(broken.status, "error");
    assert.equal(broken.status_reason, "adapter rank too large for this base model");
    const missing = await v0("/models/ct-never");
    assert.equal(missing.status, 404);
    assert.equal(typeof ((await missing.json()) as { detail: unknown }).detail, "string");
  });

  test("refuses a deployment from a checkpoint of another base model, and a malformed body with field errors", async () => {
    const { job, checkpoint } = await trainedLlama();
    const wrongBase = await v0("/models", {
      method: "POST",
      body: JSON.stringify({
        name: "ct-wrong",
        base_model: "Qwen/Qwen2.5-7B-Instruct",
        source: `${job.id}:${checkpoint}`,
      }),
    });
    assert.equal(wrongBase.status, 400);
    const malformed = await v0("/models", { method: "POST", body: JSON.stringify({ name: "ct-x" }) });
    assert.equal(malformed.status, 422);
    const detail = ((await malformed.json()) as { detail: Array<{ loc: string[] }> }).detail;
    assert.deepEqual(
      detail.map((d) => d.loc.join(".")),
      ["body.base_model", "body.source"],
    );
  });

  test("tells /v0 from /v1 by path: /v1/models/<custom name> is not the deploy API", async () => {
    const res = await fetch(`${rig.sandbox.url}/models/ct-deploy-1`, {
      headers: { authorization: "Bearer x" },
    });
    assert.equal(res.status, 404);
    assert.ok("error" in ((await res.json()) as object), "the /v1 API answers in OpenAI's error shape");
  });

  test("deploy-API faults match the whole /v0 path", async () => {
    rig.sandbox.faults.next({ method: "GET", path: "/v0/models/ct-x", status: 503 });
    const res = await v0("/models/ct-x");
    assert.equal(res.status, 503);
    assert.equal(typeof ((await res.json()) as { detail: unknown }).detail, "string");
  });
});
