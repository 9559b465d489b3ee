// TogetherProvider driven through the real together-ai SDK against the loopback fake of Together's API
// (test/fakes/together): the streamed two-step upload at the configured baseURL, the LoRA SFT create, every
// status, cancel, an ambiguous create (500 after the job was made) recorded once through JobService and the
// poller's reconcile, 429/500 storms while polling, the loss curve from listMetrics, and the dedicated endpoint:
// deploy (idempotent by name), chat by the endpoint's name, undeploy.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import Together from "together-ai";
import { datasetFieldsFromReport } from "../../src/datasets/store.ts";
import { validateFile } from "../../src/datasets/validator.ts";
import { DatasetRepository } from "../../src/db/datasets.ts";
import { JobMetricsRepository } from "../../src/db/jobs.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { JobService } from "../../src/finetuning/jobs.ts";
import { JobPoller } from "../../src/finetuning/poller.ts";
import { deploymentNameFor } from "../../src/providers/deployments.ts";
import { classifyProviderError, isTransientFailure } from "../../src/providers/errors.ts";
import { DEFAULT_TOGETHER_HARDWARE, TogetherProvider, togetherStatus } from "../../src/providers/together.ts";
import type { ProviderEvent } from "../../src/providers/types.ts";
import { type FakeTogether, type JobStatus, startFakeTogether } from "../fakes/together/index.ts";
import { chatLines } from "../finetuning/jobs.fixture.ts";
import { registryOf } from "../helpers/providers.ts";

const KEY = ["tg", "test", "key"].join("-");
const LLAMA = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference";

let fake: FakeTogether;
let provider: TogetherProvider;
let dir: string;
let file: string;

function adapter(apiKey = KEY): TogetherProvider {
  return new TogetherProvider({
    client: new Together({ apiKey, baseURL: fake.url, maxRetries: 3, timeout: 10_000 }),
    name: "together",
    baseURL: fake.url,
    apiKey,
    retryPauseMs: 0,
  });
}

before(async () => {
  fake = await startFakeTogether({ apiKey: KEY });
  provider = adapter();
  dir = await mkdtemp(join(tmpdir(), "classtune-together-"));
  file = join(dir, "lessons.jsonl");
  await writeFile(file, chatLines(12));
});
after(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  fake.requests.length = 0;
  fake.clearFaults();
});

const calls = (method: string, path: string) =>
  fake.requests.filter((r) => r.method === method && r.path === path);

async function newJob(epochs = 2) {
  const uploaded = await provider.uploadTrainingFile(file);
  return provider.createJob({
    model: LLAMA,
    trainingFileId: uploaded.id,
    suffix: "fractions",
    epochs,
    metadata: { classtune_job_id: `ct-${Math.random()}` },
  });
}

describe("upload and create", () => {
  test("the file is uploaded in two steps at the configured baseURL, its bytes streamed to the signed URL", async () => {
    const uploaded = await provider.uploadTrainingFile(file);
    const size = Buffer.byteLength(chatLines(12));
    assert.match(uploaded.id, /^file-/);
    assert.equal(uploaded.bytes, size);
    assert.equal(uploaded.filename, "lessons.jsonl");
    const [post] = calls("POST", "/v1/files");
    assert.equal(post?.query.purpose, "fine-tune");
    assert.equal(post?.query.file_name, "lessons.jsonl", "the name, not the local path");
    assert.equal(post?.headers.authorization, `Bearer ${KEY}`);
    const put = fake.requests.find((r) => r.method === "PUT");
    assert.equal(put?.path, `/storage/${uploaded.id}`);
    assert.equal(put?.bytes, size);
    assert.equal(put?.headers.authorization, undefined, "the key never goes to the storage URL");
    assert.equal(fake.files.get(uploaded.id)?.complete, true);
  });

  test("a refused upload is an error naming the provider's answer", async () => {
    fake.failNext({ method: "POST", path: /^\/v1\/files$/ }, 400, 1, "invalid_file");
    await assert.rejects(provider.uploadTrainingFile(file), (err) => {
      assert.equal(classifyProviderError(err)?.status, 400);
      assert.equal(classifyProviderError(err)?.providerCode, "invalid_file");
      return true;
    });
  });

  test("the create asks for a LoRA SFT job with the epochs and suffix, and comes back queued", async () => {
    const job = await newJob(3);
    const [create] = calls("POST", "/v1/fine-tunes");
    const body = create?.body as Record<string, unknown>;
    assert.equal(body.model, LLAMA);
    assert.equal(body.n_epochs, 3);
    assert.equal(body.suffix, "fractions");
    assert.deepEqual(body.training_type, { type: "Lora" });
    assert.deepEqual(body.training_method, { method: "sft", train_on_inputs: "auto" });
    assert.equal(job.status, "queued");
    assert.equal(job.rawStatus, "pending");
    assert.equal(job.trainingFile, body.training_file);
    assert.equal((await provider.retrieveJob(job.id)).id, job.id);
  });

  test("a DPO job is created with training_method dpo and its beta, through the real SDK", async () => {
    const uploaded = await provider.uploadTrainingFile(file);
    const tag = `ct-${Math.random()}`;
    await provider.createJob({
      model: LLAMA,
      trainingFileId: uploaded.id,
      epochs: 1,
      method: { type: "dpo", beta: 0.3 },
      metadata: { classtune_job_id: tag },
    });
    await provider.createJob({
      model: LLAMA,
      trainingFileId: uploaded.id,
      method: { type: "dpo" },
      metadata: { classtune_job_id: `${tag}-2` },
    });
    const [withBeta, withoutBeta] = calls("POST", "/v1/fine-tunes").map(
      (c) => c.body as Record<string, unknown>,
    );
    assert.deepEqual(withBeta?.training_method, { method: "dpo", dpo_beta: 0.3 });
    assert.deepEqual(withBeta?.training_type, { type: "Lora" }, "the existing fields are kept");
    assert.equal(withBeta?.n_epochs, 1);
    assert.deepEqual(withoutBeta?.training_method, { method: "dpo" }, "no beta: Together's default");
    assert.equal(provider.trainsPreference, true);
  });

  test("a rejected key is classified as auth, with Together's code", async () => {
    await assert.rejects(adapter(["tg", "wrong"].join("-")).listJobs(), (err) => {
      const e = classifyProviderError(err);
      assert.equal(e?.code, "auth");
      assert.equal(e?.providerCode, "invalid_api_key");
      return true;
    });
  });
});

describe("statuses", () => {
  test("every Together status maps to classtune's, the raw one kept", async () => {
    const expected: Record<JobStatus, string> = {
      pending: "queued",
      queued: "queued",
      running: "running",
      compressing: "running",
      uploading: "running",
      cancel_requested: "running",
      cancelled: "cancelled",
      error: "failed",
      completed: "succeeded",
    };
    const job = await newJob();
    for (const [raw, status] of Object.entries(expected)) {
      fake.setStatus(job.id, raw as JobStatus);
      const seen = await provider.retrieveJob(job.id);
      assert.equal(seen.status, status, raw);
      assert.equal(seen.rawStatus, raw);
    }
    assert.equal(togetherStatus("warming_up"), "running", "an unknown status counts as running");
  });

  test("a failed job carries Together's words; a completed one its model_output_name", async () => {
    const failing = await newJob();
    fake.setStatus(failing.id, "error");
    const failed = await provider.retrieveJob(failing.id);
    assert.match(failed.error?.message ?? "", /CUDA out of memory/);
    const done = await newJob();
    fake.setStatus(done.id, "completed");
    const succeeded = await provider.retrieveJob(done.id);
    assert.equal(succeeded.fineTunedModel, fake.jobs.get(done.id)?.model_output_name);
    assert.notEqual(succeeded.finishedAt, null);
  });

  test("cancel asks Together, which confirms cancelled on the next read", async () => {
    const job = await newJob();
    const asked = await provider.cancelJob(job.id);
    assert.equal(asked.rawStatus, "cancel_requested");
    assert.equal(asked.status, "running", "not cancelled until Together says so");
    fake.setStatus(job.id, "cancelled");
    assert.equal((await provider.retrieveJob(job.id)).status, "cancelled");
  });
});

describe("the loss curve", () => {
  test("listMetrics' train and eval points come as metrics events, newest first", async () => {
    const job = await newJob();
    fake.setStatus(job.id, "running");
    fake.addMetric(job.id, 1, 2.5);
    fake.addMetric(job.id, 2, 1.75, 1.9);
    fake.addMetric(job.id, 3, 1.25);
    const page = await provider.listEvents(job.id);
    const metrics = page.data.filter((e): e is ProviderEvent => !("malformed" in e) && e.type === "metrics");
    assert.deepEqual(
      metrics.map((e) => e.data),
      [
        { step: 3, train_loss: 1.25 },
        { step: 2, train_loss: 1.75, valid_loss: 1.9 },
        { step: 1, train_loss: 2.5 },
      ],
    );
    assert.ok(
      page.data.some((e) => !("malformed" in e) && e.type === "training_start"),
      "events too",
    );
  });
});

describe("reads under 429 and 500 storms", () => {
  test("a 500 on a read is tried again (the SDK would not); a 429 the SDK retries", async () => {
    const job = await newJob();
    fake.failNext({ method: "GET", path: /^\/v1\/fine-tunes\/[^/]+$/ }, 500, 2);
    assert.equal((await provider.retrieveJob(job.id)).id, job.id);
    fake.failNext({ method: "GET", path: /^\/v1\/fine-tunes$/ }, 429, 2);
    assert.ok((await provider.listJobs()).data.some((j) => j.id === job.id));
  });

  test("a longer storm fails the read as transient (the poller's next tick), never as a job failure", async () => {
    fake.failNext({ method: "GET", path: /^\/v1\/fine-tunes$/ }, 500, 10);
    await assert.rejects(provider.listJobs(), (err) => isTransientFailure(err));
    assert.equal(calls("GET", "/v1/fine-tunes").length, 3, "one try and two more, no more");
    fake.clearFaults();
  });
});

describe("serving on a dedicated endpoint", () => {
  test("deploy starts one endpoint under the deterministic name; ready by its name; chat by it; undeploy stops it", async () => {
    const job = await newJob();
    fake.setStatus(job.id, "completed");
    const done = await provider.retrieveJob(job.id);
    const name = deploymentNameFor(job.id);
    const input = { jobId: job.id, fineTunedModel: done.fineTunedModel, baseModel: LLAMA, name };
    const first = await provider.deploy(input);
    assert.equal(first.status, "deploying");
    const again = await provider.deploy(input);
    assert.equal(calls("POST", "/v1/endpoints").length, 1, "a repeated deploy finds the first endpoint");
    assert.notEqual(again.status, "failed");
    const [created] = calls("POST", "/v1/endpoints");
    const sent = created?.body as { autoscaling: unknown; hardware: unknown } | undefined;
    assert.equal(sent?.hardware, DEFAULT_TOGETHER_HARDWARE);
    assert.deepEqual(sent?.autoscaling, {
      min_replicas: 1,
      max_replicas: 1,
    });
    let d = await provider.getDeployment(name);
    while (d?.status === "deploying") d = await provider.getDeployment(name);
    assert.equal(d?.status, "ready");
    const endpoint = [...fake.endpoints.values()].find((e) => e.display_name === name);
    assert.equal(d?.servedAs, endpoint?.name, "called by the endpoint's own name");
    const reply = await provider.chat({
      model: d?.servedAs ?? "",
      messages: [{ role: "user", content: "Hi" }],
    });
    assert.match(reply.text, /answers: Hi/);
    assert.equal(reply.usage.totalTokens, 20);

    assert.equal(await provider.undeploy(name), true);
    assert.equal(await provider.getDeployment(name), null);
    assert.equal(await provider.undeploy(name), false);
  });

  test("an endpoint in ERROR reads as failed with Together's state", async () => {
    const job = await newJob();
    fake.setStatus(job.id, "completed");
    const done = await provider.retrieveJob(job.id);
    const name = deploymentNameFor(job.id);
    await provider.deploy({ jobId: job.id, fineTunedModel: done.fineTunedModel, baseModel: LLAMA, name });
    const endpoint = [...fake.endpoints.values()].find((e) => e.display_name === name);
    fake.setEndpointState(endpoint?.id ?? "", "ERROR");
    const d = await provider.getDeployment(name);
    assert.equal(d?.status, "failed");
    assert.match(d?.message ?? "", /ERROR/);
  });
});

describe("through JobService and the poller", () => {
  let db: Db;
  let jobs: JobService;
  let poller: JobPoller;
  let datasetId: number;

  before(async () => {
    db = openDb(join(dir, "classtune.db"));
    const providers = registryOf([{ jobs: provider, kind: "together", baseURL: fake.url }]);
    jobs = new JobService({ store: sqliteStore(db), providers, maxJobCostUsd: 25, dataDir: dir });
    poller = new JobPoller({
      store: sqliteStore(db),
      providers,
      reconcileCreates: (p) => jobs.reconcilePendingCreates(p),
      progressNoticeIntervalMs: 0,
    });
    datasetId = (
      await new DatasetRepository(sqliteStore(db)).insert({
        guildId: "g1",
        uploaderId: "teacher",
        fileName: "lessons.jsonl",
        ...datasetFieldsFromReport(await validateFile(file)),
        storedPath: file,
        cleanedPath: null,
      })
    ).id;
  });
  after(async () => {
    await poller.stop();
    db.close();
  });

  test("a 500 after the job was made, with the lookup failing too: one job, recorded by the reconcile", async () => {
    const before = fake.jobs.size;
    fake.failAfterWork({ method: "POST", path: /^\/v1\/fine-tunes$/ }, 500);
    fake.failNext({ method: "GET", path: /^\/v1\/fine-tunes$/ }, 503, 4);
    await assert.rejects(
      jobs.start({ guildId: "g1", datasetId, requesterId: "u1" }),
      (err: Error & { code?: string }) => err.code === "create_unconfirmed",
    );
    assert.equal(fake.jobs.size, before + 1, "Together made it, once");
    assert.equal(calls("POST", "/v1/fine-tunes").length, 1, "the create was never retried");
    assert.equal((await jobs.list("g1")).length, 0);
    await poller.tick();
    const recorded = await jobs.list("g1");
    assert.equal(recorded.length, 1, "recorded once");
    const made = [...fake.jobs.values()].at(-1);
    assert.equal(recorded[0]?.remoteId, made?.id);
    await poller.tick();
    assert.equal((await jobs.list("g1")).length, 1, "still once");
  });

  test("a 500 after the job was made, the lookup working: start records the job found by its file", async () => {
    fake.failAfterWork({ method: "POST", path: /^\/v1\/fine-tunes$/ }, 500);
    const row = await jobs.start({ guildId: "g1", datasetId, requesterId: "u1" });
    const made = [...fake.jobs.values()].at(-1);
    assert.equal(row.remoteId, made?.id);
    assert.equal(row.trainingFileId, made?.training_file);
  });

  test("a 429/500 storm while polling fails no job; the run ends succeeded with its loss curve", async () => {
    const row = await jobs.start({ guildId: "g1", datasetId, requesterId: "u1" });
    fake.setStatus(row.remoteId, "running");
    fake.addMetric(row.remoteId, 1, 2.2);
    for (const status of [429, 500, 503, 500]) {
      fake.failNext({ method: "GET", path: /^\/v1\/fine-tunes/ }, status, 20);
      await poller.tick();
      assert.notEqual((await jobs.require("g1", row.id)).status, "failed", `after ${status}s`);
    }
    fake.clearFaults();
    fake.addMetric(row.remoteId, 2, 1.6);
    fake.setStatus(row.remoteId, "completed");
    await poller.tick();
    assert.equal((await jobs.require("g1", row.id)).status, "succeeded");
    const curve = await new JobMetricsRepository(sqliteStore(db)).list("g1", row.id);
    assert.deepEqual(
      curve.map((p) => [p.step, p.trainLoss]),
      [
        [1, 2.2],
        [2, 1.6],
      ],
    );
  });
});
