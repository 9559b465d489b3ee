// The Fireworks adapter against the loopback fake of Fireworks' REST API and inference endpoint
// (test/fakes/fireworks): upload, create by a chosen id, every JOB_STATE_*, cancel, ambiguous creates, retries
// through a 429/500 storm, the loss from the signed metrics file, deploy → chat by servedAs → undeploy.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, test } from "node:test";
import { metricsOf } from "../../src/finetuning/poller.ts";
import { deploymentNameFor } from "../../src/providers/deployments.ts";
import {
  AmbiguousCreateError,
  classifyProviderError,
  isTransientFailure,
} from "../../src/providers/errors.ts";
import { createOpenAIClient } from "../../src/providers/factory.ts";
import {
  FIREWORKS_JOB_STATES,
  FireworksProvider,
  fireworksJobIdFor,
  fireworksJobStatus,
  fireworksRestRoot,
} from "../../src/providers/fireworks.ts";
import { isMalformedEvent, type ProviderEvent } from "../../src/providers/types.ts";
import { type FakeFireworks, startFakeFireworks } from "../fakes/fireworks/index.ts";
import { chatLines } from "../finetuning/jobs.fixture.ts";

const BASE = "accounts/fireworks/models/llama-v3p1-8b-instruct";
let dir: string;
let file: string;
let fake: FakeFireworks;
let fw: FireworksProvider;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "classtune-fireworks-"));
  file = join(dir, "lessons.jsonl");
  await writeFile(file, chatLines(12));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  fake = await startFakeFireworks();
  fw = new FireworksProvider({
    client: createOpenAIClient({
      apiKey: fake.apiKey,
      baseURL: fake.baseURL,
      maxRetries: 0,
      timeoutMs: 5_000,
    }),
    name: "fw",
    accountId: fake.account,
    baseURL: fake.baseURL,
    apiKey: fake.apiKey,
    backoffMs: 5,
    datasetPollMs: 5,
    timeoutMs: 5_000,
  });
});
afterEach(async () => {
  await fake.close();
});

async function startJob(tag = `ct-${crypto.randomUUID()}`) {
  const uploaded = await fw.uploadTrainingFile(file);
  const job = await fw.createJob({
    model: BASE,
    trainingFileId: uploaded.id,
    epochs: 2,
    metadata: { classtune_job_id: tag },
  });
  return { tag, uploaded, job };
}

test("the REST root sits beside the inference base URL; tags are valid Fireworks ids as they are", () => {
  assert.equal(fireworksRestRoot("https://api.fireworks.ai/inference/v1"), "https://api.fireworks.ai");
  assert.equal(fireworksRestRoot("http://127.0.0.1:9/inference/v1/"), "http://127.0.0.1:9");
  const tag = "ct-0b6f2c3e-8d0e-4a8f-9a51-3f1c2e7d9b10";
  assert.equal(fireworksJobIdFor(tag), tag);
  assert.match(fireworksJobIdFor("Ct_ODD tag!"), /^[a-z][a-z0-9-]{0,62}$/);
});

test("upload: a dataset is created, the file streamed as multipart to :upload, and READY awaited", async () => {
  const uploaded = await fw.uploadTrainingFile(file);
  const ds = fake.datasets.get(uploaded.id);
  assert.ok(ds, "the dataset exists at Fireworks");
  assert.equal(ds.state, "READY");
  assert.equal(ds.content, chatLines(12), "the bytes arrived whole");
  assert.equal(uploaded.filename, "lessons.jsonl");
  const paths = fake.requests.map((r) => `${r.method} ${r.path}`);
  assert.deepEqual(paths.slice(0, 2), [
    `POST /v1/accounts/${fake.account}/datasets`,
    `POST /v1/accounts/${fake.account}/datasets/${uploaded.id}:upload`,
  ]);
  assert.match(fake.requests[1]?.headers["content-type"] ?? "", /^multipart\/form-data; boundary=/);
  assert.ok(fake.requests.every((r) => r.headers.authorization === `Bearer ${fake.apiKey}`));
  await fw.deleteFile(uploaded.id);
  assert.equal(fake.datasets.has(uploaded.id), false);
});

test("a large file (from 150 MB; a small bound here) goes through a signed URL, PUT without our key, then validated", async () => {
  const big = new FireworksProvider({
    client: createOpenAIClient({
      apiKey: fake.apiKey,
      baseURL: fake.baseURL,
      maxRetries: 0,
      timeoutMs: 5_000,
    }),
    name: "fw",
    accountId: fake.account,
    baseURL: fake.baseURL,
    apiKey: fake.apiKey,
    datasetPollMs: 5,
    maxDirectUploadBytes: 100,
  });
  const uploaded = await big.uploadTrainingFile(file);
  assert.equal(fake.datasets.get(uploaded.id)?.content, chatLines(12));
  assert.equal(fake.datasets.get(uploaded.id)?.state, "READY");
  const verbs = fake.requests.map((r) => r.path.split(":")[1] ?? r.method);
  assert.ok(verbs.includes("getUploadEndpoint") && verbs.includes("validateUpload"), verbs.join(" "));
  assert.ok(!verbs.includes("upload"), "not the direct upload");
  assert.equal(fake.signedUploads.length, 1);
  assert.equal(
    fake.signedUploads[0]?.headers.authorization,
    undefined,
    "the API key never goes to a signed URL",
  );
  assert.equal(
    (fake.requests.find((r) => r.path.endsWith(":getUploadEndpoint"))?.body as { filenameToSize?: unknown })
      ?.filenameToSize !== undefined,
    true,
  );
});

test("create: the job id is chosen from classtune's tag and the body names dataset, base model and epochs", async () => {
  const { tag, uploaded, job } = await startJob();
  const create = fake.requests.find(
    (r) => r.method === "POST" && r.path.endsWith("/supervisedFineTuningJobs"),
  );
  assert.equal(create?.query.supervisedFineTuningJobId, tag);
  assert.deepEqual(create?.body, {
    dataset: `accounts/${fake.account}/datasets/${uploaded.id}`,
    baseModel: BASE,
    displayName: tag,
    outputModel: `accounts/${fake.account}/models/${tag}`,
    epochs: 2,
  });
  assert.equal(job.id, tag);
  assert.equal(job.status, "queued");
  assert.equal(job.rawStatus, "JOB_STATE_CREATING");
  assert.equal(job.trainingFile, uploaded.id);
  assert.deepEqual(job.metadata, { classtune_job_id: tag });
  assert.equal((await fw.findJobByMetadata("classtune_job_id", tag))?.id, tag);
  assert.equal(await fw.findJobByMetadata("classtune_job_id", "ct-never-made"), undefined);
});

test("every JOB_STATE_* maps to a classtune status; an unknown one counts as running and is kept raw", async () => {
  const expected: Record<string, string> = {
    JOB_STATE_UNSPECIFIED: "queued",
    JOB_STATE_CREATING: "queued",
    JOB_STATE_PENDING: "queued",
    JOB_STATE_RE_QUEUEING: "queued",
    JOB_STATE_IDLE: "queued",
    JOB_STATE_CREATING_INPUT_DATASET: "validating_files",
    JOB_STATE_VALIDATING: "validating_files",
    JOB_STATE_RUNNING: "running",
    JOB_STATE_WRITING_RESULTS: "running",
    JOB_STATE_EVALUATION: "running",
    JOB_STATE_POLICY_UPDATE: "running",
    JOB_STATE_ROLLOUT: "running",
    JOB_STATE_CANCELLING: "running",
    JOB_STATE_PAUSED: "paused",
    JOB_STATE_COMPLETED: "succeeded",
    JOB_STATE_EARLY_STOPPED: "succeeded",
    JOB_STATE_ARCHIVED: "succeeded",
    JOB_STATE_FAILED: "failed",
    JOB_STATE_EXPIRED: "failed",
    JOB_STATE_CANCELLED: "cancelled",
    JOB_STATE_DELETING: "cancelled",
    JOB_STATE_DELETING_CLEANING_UP: "cancelled",
    JOB_STATE_DELETED: "cancelled",
    JOB_STATE_SOMETHING_NEW: "running",
  };
  assert.deepEqual(
    [...FIREWORKS_JOB_STATES].sort(),
    Object.keys(expected)
      .filter((s) => s !== "JOB_STATE_SOMETHING_NEW")
      .sort(),
    "the table covers every documented state",
  );
  const { tag } = await startJob();
  for (const [state, status] of Object.entries(expected)) {
    fake.hold(tag, state);
    const job = await fw.retrieveJob(tag);
    assert.equal(job.status, status, state);
    assert.equal(job.rawStatus, state);
    assert.equal(
      job.fineTunedModel !== null,
      status === "succeeded",
      `${state}: a model only once succeeded`,
    );
    assert.equal(job.error !== null, status === "failed", `${state}: an error only once failed`);
  }
  assert.equal(fireworksJobStatus("JOB_STATE_ARCHIVED", null), "cancelled", "archived without a model");
  const failedJob = fake.jobs.get(tag);
  if (failedJob) failedJob.statusMessage = "dataset has no assistant turns";
  fake.hold(tag, "JOB_STATE_FAILED");
  assert.deepEqual((await fw.retrieveJob(tag)).error, {
    code: "INTERNAL",
    message: "dataset has no assistant turns",
    param: null,
  });
});

test("cancel: POST :cancel, and the job reads cancelled", async () => {
  const { tag } = await startJob();
  const job = await fw.cancelJob(tag);
  assert.equal(job.status, "cancelled");
  assert.ok(
    fake.requests.some(
      (r) => r.method === "POST" && r.path.endsWith(`/supervisedFineTuningJobs/${tag}:cancel`),
    ),
  );
});

test("an ambiguous create (500 after the job was made) is retried by its id: 409 reads the one job", async () => {
  fake.fail({ method: "POST", path: /\/supervisedFineTuningJobs$/ }, 500, 1, "after");
  const { tag, job } = await startJob();
  assert.equal(job.id, tag);
  assert.equal(fake.jobs.size, 1, "exactly one job at Fireworks");
  const creates = fake.requests.filter(
    (r) => r.method === "POST" && r.path.endsWith("/supervisedFineTuningJobs"),
  );
  assert.equal(creates.length, 2, "the retry met 409 ALREADY_EXISTS");
});

test("a create whose every answer is lost is found by its id; none made and no answer: AmbiguousCreateError", async () => {
  fake.fail({ method: "POST", path: /\/supervisedFineTuningJobs$/ }, 500, 3, "drop");
  const { tag, job } = await startJob();
  assert.equal(job.id, tag, "found by the lookup after three lost answers");
  assert.equal(fake.jobs.size, 1);

  fake.fail({ method: "POST", path: /\/supervisedFineTuningJobs$/ }, 503, 3, "before");
  await assert.rejects(startJob(), (err: unknown) => {
    assert.ok(err instanceof AmbiguousCreateError, String(err));
    return true;
  });
  assert.equal(fake.jobs.size, 1, "nothing was made, and nothing is made twice");
});

test("a 429/500 storm while polling: retried with backoff; past the bound it is transient, never a failure", async () => {
  const { tag } = await startJob();
  fake.fail({ method: "GET", path: /\/supervisedFineTuningJobs\// }, 429, 1);
  fake.fail({ method: "GET", path: /\/supervisedFineTuningJobs\// }, 500, 1);
  const job = await fw.retrieveJob(tag);
  assert.notEqual(job.status, "failed");
  fake.fail({ method: "GET", path: /\/supervisedFineTuningJobs\// }, 503, 3);
  await assert.rejects(fw.retrieveJob(tag), (err: unknown) => {
    assert.equal(isTransientFailure(err), true);
    assert.equal(classifyProviderError(err)?.status, 503);
    return true;
  });
  assert.equal((await fw.retrieveJob(tag)).id, tag, "and the next tick reads it");
});

test("the loss curve: the signed metrics file read without our key, its lines as metrics events", async () => {
  const { tag } = await startJob();
  fake.hold(tag, "JOB_STATE_COMPLETED");
  const page = await fw.listEvents(tag);
  const events = page.data.filter((e): e is ProviderEvent => !isMalformedEvent(e));
  assert.equal(events.length, 4);
  const points = events.map(metricsOf);
  assert.deepEqual(
    points.map((p) => [p?.step, p?.trainLoss]),
    [
      [4, 0.55],
      [3, 0.7333],
      [2, 1.1],
      [1, 2.2],
    ],
    "newest first, nested and flattened lines alike",
  );
  assert.ok(fake.metricsReads.length > 0);
  assert.ok(
    fake.metricsReads.every((r) => r.headers.authorization === undefined),
    "the API key never goes to a signed URL",
  );
  const older = await fw.listEvents(tag, { after: events[1]?.id });
  assert.deepEqual(
    older.data.map((e) => (isMalformedEvent(e) ? null : e.data?.step)),
    [2, 1],
  );
  fake.hold(tag, "JOB_STATE_CREATING");
  assert.deepEqual((await fw.listEvents(tag)).data, [], "no metrics file yet: no events");
});

test("deploy: a live-merge deployment, ready as model#deployment, chat by that name, undeploy stops it", async () => {
  const { tag } = await startJob();
  fake.hold(tag, "JOB_STATE_COMPLETED");
  const done = await fw.retrieveJob(tag);
  assert.equal(done.fineTunedModel, `accounts/${fake.account}/models/${tag}`);
  const name = deploymentNameFor(done.id);
  const input = { jobId: done.id, fineTunedModel: done.fineTunedModel, baseModel: BASE, name };
  const first = await fw.deploy(input);
  assert.equal(first.status, "deploying");
  const again = await fw.deploy(input);
  assert.equal(again.name, name);
  assert.equal(fake.deployments.size, 1, "a repeated deploy makes no second deployment");
  const ready = await fw.getDeployment(name);
  assert.equal(ready?.status, "ready");
  const servedAs = `${done.fineTunedModel}#accounts/${fake.account}/deployments/${name}`;
  assert.equal(ready?.servedAs, servedAs);
  const create = fake.requests.find((r) => r.method === "POST" && r.path.endsWith("/deployments"));
  assert.equal(create?.query.deploymentId, name);
  assert.equal((create?.body as { baseModel?: string } | undefined)?.baseModel, done.fineTunedModel);

  const reply = await fw.chat({
    model: servedAs,
    messages: [{ role: "user", content: "What are fractions?" }],
  });
  assert.match(reply.text, /What are fractions\?/);
  assert.deepEqual(fake.chatModels, [servedAs]);

  await fw.undeploy(name);
  assert.equal(await fw.getDeployment(name), null, "gone: billing stopped");
  await fw.undeploy(name);
  await assert.rejects(
    fw.chat({ model: servedAs, messages: [{ role: "user", content: "Still there?" }] }),
    (err: unknown) => classifyProviderError(err)?.modelGone === true,
  );
});

test("a deploy whose answer was lost is found by its name: one deployment", async () => {
  const { tag } = await startJob();
  fake.hold(tag, "JOB_STATE_COMPLETED");
  const done = await fw.retrieveJob(tag);
  const name = deploymentNameFor(done.id);
  fake.fail({ method: "POST", path: /\/deployments$/ }, 500, 1, "after");
  const d = await fw.deploy({ jobId: done.id, fineTunedModel: done.fineTunedModel, baseModel: BASE, name });
  assert.equal(d.name, name);
  assert.equal(fake.deployments.size, 1);
});

test("Fireworks' gRPC-gateway errors keep its words and code name", async () => {
  await assert.rejects(fw.retrieveJob("ct-missing"), (err: unknown) => {
    const e = classifyProviderError(err);
    assert.equal(e?.status, 404);
    assert.equal(e?.providerCode, "NOT_FOUND");
    assert.match(e?.detail ?? "", /supervised fine-tuning job .*ct-missing not found/);
    return true;
  });
});
