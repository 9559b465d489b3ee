// NebiusProvider against the sandbox speaking Nebius's shapes, over loopback with the real openai SDK:
// a LoRA job, its step counts and losses, the deploy step and chat by the deployed name; deploys are
// idempotent, and a deployment that vanished reads as null.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import OpenAI from "openai";
import { deploymentNameFor } from "../../src/providers/deployments.ts";
import { describeProviderError, isAmbiguousFailure, ProviderHttpError } from "../../src/providers/errors.ts";
import { defaultNebiusDeployBaseURL, NebiusProvider } from "../../src/providers/nebius.ts";
import type { ProviderJob } from "../../src/providers/types.ts";
import { DEPLOY_STEPS } from "../../src/sandbox/routes/deployments.ts";
import { type Rig, startRig, writeTrainingFile } from "../sandbox/helpers.ts";

const LLAMA = "meta-llama/Llama-3.1-8B-Instruct";

interface Sent {
  method: string;
  path: string;
  body: unknown;
  authorization: string | null;
}

describe("NebiusProvider against the sandbox", () => {
  let rig: Rig;
  let provider: NebiusProvider;
  const sent: Sent[] = [];
  let n = 0;

  before(async () => {
    rig = await startRig();
    const recording: typeof fetch = async (input, init) => {
      const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
      const headers = new Headers(init?.headers);
      const raw = typeof init?.body === "string" ? init.body : undefined;
      sent.push({
        method: init?.method ?? "GET",
        path: url.pathname,
        body: raw === undefined ? undefined : JSON.parse(raw),
        authorization: headers.get("authorization"),
      });
      return fetch(input, init);
    };
    provider = new NebiusProvider({
      client: new OpenAI({ apiKey: "nebius-key", baseURL: rig.sandbox.url, maxRetries: 0, fetch: recording }),
      name: "nebius",
      deployBaseURL: defaultNebiusDeployBaseURL(`${rig.sandbox.url}/`),
      apiKey: "nebius-key",
      fetch: recording,
    });
  });
  after(() => rig.close());
  beforeEach(() => {
    rig.sandbox.faults.clear();
    sent.length = 0;
  });

  const posts = (path: string) => sent.filter((s) => s.method === "POST" && s.path === path);

  async function trainedJob(): Promise<ProviderJob> {
    n += 1;
    const file = await provider.uploadTrainingFile(writeTrainingFile(rig.dir, 12, `nebius-${n}.jsonl`));
    const job = await provider.createJob({
      model: LLAMA,
      trainingFileId: file.id,
      epochs: 2,
      metadata: { classtune_job_id: `tag-${n}` },
    });
    rig.clock.advance(3_600_000);
    const done = await provider.retrieveJob(job.id);
    assert.equal(done.status, "succeeded");
    return done;
  }

  test("is a provider with a deploy step", () => {
    assert.equal(provider.kind, "nebius");
    assert.equal(provider.serving, "deploy");
  });

  test("the deploy API sits beside the job API", () => {
    assert.equal(
      defaultNebiusDeployBaseURL("https://api.tokenfactory.nebius.com/v1/"),
      "https://api.tokenfactory.nebius.com/v0",
    );
  });

  test("creates a LoRA job with its settings inside hyperparameters, and reads the steps it reports", async () => {
    const file = await provider.uploadTrainingFile(writeTrainingFile(rig.dir, 12, "nebius-lora.jsonl"));
    const job = await provider.createJob({
      model: LLAMA,
      trainingFileId: file.id,
      epochs: 3,
      lora: { r: 16, alpha: 32, dropout: 0.1 },
      contextLength: 4096,
      packing: false,
      metadata: { classtune_job_id: "tag-lora" },
    });
    const body = posts("/v1/fine_tuning/jobs")[0]?.body as Record<string, unknown>;
    assert.deepEqual(body.hyperparameters, {
      lora: true,
      n_epochs: 3,
      lora_r: 16,
      lora_alpha: 32,
      lora_dropout: 0.1,
      context_length: 4096,
      packing: false,
    });
    assert.equal("method" in body, false, "epochs travel in hyperparameters, not method");
    assert.equal(job.totalSteps, null);
    rig.clock.advance(40_000 + 7_000);
    const running = await provider.retrieveJob(job.id);
    assert.equal(running.status, "running");
    assert.equal(running.nEpochs, 3);
    assert.deepEqual([running.trainedSteps, running.totalSteps], [7, 36]);
  });

  test("reads the training and validation loss of each checkpoint", async () => {
    const job = await trainedJob();
    const checkpoints = await provider.listCheckpoints(job.id);
    assert.equal(checkpoints.length, 2, "one per epoch");
    for (const c of checkpoints) {
      assert.equal(typeof c.metrics.train_loss, "number");
      assert.equal(typeof c.metrics.valid_loss, "number");
    }
  });

  test("deploys the last checkpoint, waits until it is active, then chats by the deployed name", async () => {
    const job = await trainedJob();
    const name = deploymentNameFor(job.id);
    const first = await provider.deploy({
      jobId: job.id,
      fineTunedModel: job.fineTunedModel,
      baseModel: LLAMA,
      name,
    });
    assert.equal(first.status, "deploying");
    assert.equal(first.name, name);

    const [create] = posts("/v0/models");
    const last = [...(await provider.listCheckpoints(job.id))].sort((a, b) => b.stepNumber - a.stepNumber)[0];
    assert.deepEqual(create?.body, { source: `${job.id}:${last?.id}`, base_model: LLAMA, name });
    assert.equal(create?.authorization, "Bearer nebius-key");

    rig.clock.advance(DEPLOY_STEPS * 1000);
    const ready = await provider.getDeployment(name);
    assert.equal(ready?.status, "ready");
    assert.match(
      ready?.servedAs ?? "",
      new RegExp(`^${LLAMA.replace(/[.]/g, "\\.")}-LoRa:${name}-[a-z]{4}$`),
    );
    const reply = await provider.chat({
      model: ready?.servedAs ?? "",
      messages: [{ role: "user", content: "Who painted the Mona Lisa?" }],
    });
    assert.match(reply.text, /Leonardo da Vinci/);
  });

  test("deploying twice makes one deployment", async () => {
    const job = await trainedJob();
    const input = {
      jobId: job.id,
      fineTunedModel: job.fineTunedModel,
      baseModel: LLAMA,
      name: deploymentNameFor(job.id),
    };
    const a = await provider.deploy(input);
    const b = await provider.deploy(input);
    assert.equal(posts("/v0/models").length, 1);
    assert.deepEqual(b, a);
  });

  test("a deploy whose answer was lost, retried, still makes one deployment", async () => {
    const job = await trainedJob();
    const input = {
      jobId: job.id,
      fineTunedModel: job.fineTunedModel,
      baseModel: LLAMA,
      name: deploymentNameFor(job.id),
    };
    rig.sandbox.faults.next({ method: "POST", path: "/v0/models", status: 502, afterHandling: true });
    const lost = await provider.deploy(input).catch((e: unknown) => e);
    assert.ok(
      lost instanceof ProviderHttpError && isAmbiguousFailure(lost),
      "a 502 leaves the deploy unconfirmed",
    );
    const retried = await provider.deploy(input);
    assert.equal(retried.status, "deploying");
    assert.equal(posts("/v0/models").length, 1, "the retry found the deployment instead of creating another");
    rig.clock.advance(DEPLOY_STEPS * 1000);
    assert.equal((await provider.getDeployment(input.name))?.status, "ready");
  });

  test("a taken name (409) counts as the deployment existing", async () => {
    const job = await trainedJob();
    const input = {
      jobId: job.id,
      fineTunedModel: job.fineTunedModel,
      baseModel: LLAMA,
      name: deploymentNameFor(job.id),
    };
    await provider.deploy(input);
    // The lookup misses once (another replica's create not yet visible): the create answers 409.
    rig.sandbox.faults.next({ method: "GET", path: `/v0/models/${input.name}`, status: 404 });
    const again = await provider.deploy(input);
    assert.equal(posts("/v0/models").length, 2);
    assert.equal(again.name, input.name);
    assert.equal(again.status, "deploying");
  });

  test("a failed deployment carries Nebius's reason", async () => {
    const job = await trainedJob();
    const name = deploymentNameFor(job.id);
    rig.sandbox.faults.failNextDeployment("the adapter does not fit this base model");
    await provider.deploy({ jobId: job.id, fineTunedModel: job.fineTunedModel, baseModel: LLAMA, name });
    rig.clock.advance(DEPLOY_STEPS * 1000);
    assert.deepEqual(await provider.getDeployment(name), {
      name,
      status: "failed",
      servedAs: null,
      message: "the adapter does not fit this base model",
    });
  });

  test("a deployment that vanished reads as null", async () => {
    const job = await trainedJob();
    const name = deploymentNameFor(job.id);
    await provider.deploy({ jobId: job.id, fineTunedModel: job.fineTunedModel, baseModel: LLAMA, name });
    const removed = await fetch(`${rig.sandbox.deployURL}/models/${name}`, {
      method: "DELETE",
      headers: { authorization: "Bearer x" },
    });
    assert.equal(removed.status, 200);
    assert.equal(await provider.getDeployment(name), null);
  });

  test("a refused deploy is reported in Nebius's own words", async () => {
    const job = await trainedJob();
    const err = await provider
      .deploy({
        jobId: job.id,
        fineTunedModel: job.fineTunedModel,
        baseModel: "Qwen/Qwen2.5-7B-Instruct",
        name: deploymentNameFor(job.id),
      })
      .catch((e: unknown) => e);
    assert.ok(err instanceof ProviderHttpError);
    assert.equal(err.status, 400);
    assert.match(
      describeProviderError(err),
      /refused to deploy the model \(400\): .*trained on meta-llama\/Llama-3\.1-8B-Instruct/,
    );
  });
});
