// The LocalAI adapter against a loopback fake of LocalAI's fine-tuning API (test/fakes/localai): the upload
// streamed as multipart, the create body, every status, cancel, an ambiguous create found by its dataset,
// the progress stream read within its time bound, the export as the deploy step and chat by the served name,
// the Bearer key, the error words, and the refusal of plain http to another machine.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import OpenAI from "openai";
import { UserError } from "../../src/domain/errors.ts";
import { createLogger } from "../../src/logger.ts";
import { deploymentNameFor } from "../../src/providers/deployments.ts";
import {
  AmbiguousCreateError,
  classifyProviderError,
  ProviderHttpError,
} from "../../src/providers/errors.ts";
import {
  insecureBaseURLProblem,
  LOCALAI_INSECURE_WARNING,
  LOCALAI_STATUS,
  LocalAIProvider,
} from "../../src/providers/localai.ts";
import { isMalformedEvent, type ProviderEvent } from "../../src/providers/types.ts";
import { type FakeLocalAI, LOCALAI_STATUSES, startFakeLocalAI } from "../fakes/localai/index.ts";
import { chatLines } from "../finetuning/jobs.fixture.ts";

const LLAMA = "meta-llama/Llama-3.1-8B-Instruct";
const KEY = ["la", "test", "key"].join("-");

let fake: FakeLocalAI;
let dir: string;
let file: string;

function adapter(over: Partial<ConstructorParameters<typeof LocalAIProvider>[0]> = {}): LocalAIProvider {
  const baseURL = over.baseURL ?? fake.url;
  return new LocalAIProvider({
    client: new OpenAI({ apiKey: over.apiKey ?? "localai", baseURL, maxRetries: 0 }),
    name: "gpu",
    baseURL,
    progressReadMs: 300,
    ...over,
  });
}

before(async () => {
  fake = await startFakeLocalAI();
  dir = await mkdtemp(join(tmpdir(), "classtune-localai-"));
  file = join(dir, "lessons.jsonl");
  await writeFile(file, chatLines(12));
});
after(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  fake.requests.length = 0;
});

async function started(p = adapter()) {
  const upload = await p.uploadTrainingFile(file);
  const job = await p.createJob({
    model: LLAMA,
    trainingFileId: upload.id,
    epochs: 2,
    seed: 7,
    lora: { r: 16, alpha: 32 },
    contextLength: 2048,
    metadata: { classtune_job_id: `ct-${Math.random()}` },
  });
  return { upload, job };
}

describe("LocalAI: datasets and jobs", () => {
  test("uploads the training file as multipart field 'file' and keeps the returned path as its id", async () => {
    const upload = await adapter().uploadTrainingFile(file);
    const req = fake.requests.find((r) => r.path === "/api/fine-tuning/datasets");
    assert.ok(req?.file, "a multipart upload with a file part");
    assert.equal(req.file.filename, "lessons.jsonl");
    assert.equal(req.file.content, chatLines(12), "every byte arrived");
    assert.equal(upload.bytes, Buffer.byteLength(chatLines(12)));
    assert.ok(fake.datasets.has(upload.id), "the id is LocalAI's path for the upload");
  });

  test("creates a trl SFT LoRA job on the uploaded path with the teacher's settings", async () => {
    const { upload, job } = await started();
    const body = fake.requests.find((r) => r.method === "POST" && r.path === "/api/fine-tuning/jobs")?.body;
    assert.deepEqual(body, {
      model: LLAMA,
      backend: "trl",
      training_method: "sft",
      training_type: "lora",
      dataset_source: upload.id,
      num_epochs: 2,
      seed: 7,
      adapter_rank: 16,
      adapter_alpha: 32,
      extra_options: { max_seq_length: "2048" },
    });
    assert.equal(job.status, "queued");
    assert.equal(job.trainingFile, upload.id);
    assert.ok(fake.jobs.has(job.id));
  });

  test("maps every LocalAI status; an unknown one counts as running and stays raw", async () => {
    const p = adapter();
    const { job } = await started(p);
    const expected: Record<string, string> = {
      queued: "queued",
      loading_model: "running",
      loading_dataset: "running",
      training: "running",
      saving: "running",
      completed: "succeeded",
      failed: "failed",
      stopped: "cancelled",
    };
    assert.deepEqual(Object.keys(LOCALAI_STATUS).sort(), [...LOCALAI_STATUSES].sort());
    for (const raw of LOCALAI_STATUSES) {
      fake.setStatus(job.id, raw, raw === "failed" ? "CUDA out of memory" : "");
      const seen = await p.retrieveJob(job.id);
      assert.equal(seen.status, expected[raw], raw);
      assert.equal(seen.rawStatus, raw);
      if (raw === "failed") assert.equal(seen.error?.message, "CUDA out of memory");
      else assert.equal(seen.error, null);
      assert.equal(seen.fineTunedModel !== null, raw === "completed", raw);
    }
    fake.setStatus(job.id, "merging_weights");
    const odd = await p.retrieveJob(job.id);
    assert.equal(odd.status, "running");
    assert.equal(odd.rawStatus, "merging_weights");
  });

  test("cancel stops the job and reads it back as cancelled", async () => {
    const p = adapter();
    const { job } = await started(p);
    fake.setStatus(job.id, "training");
    const cancelled = await p.cancelJob(job.id);
    assert.equal(cancelled.status, "cancelled");
    assert.ok(
      fake.requests.some((r) => r.method === "POST" && r.path === `/api/fine-tuning/jobs/${job.id}/stop`),
    );
  });

  test("a create answered 500 after the job was made returns that job, found by its dataset: one job", async () => {
    const p = adapter();
    const upload = await p.uploadTrainingFile(file);
    const before = fake.jobs.size;
    fake.failAfterHandling({ method: "POST", path: /^\/api\/fine-tuning\/jobs$/ });
    const job = await p.createJob({
      model: LLAMA,
      trainingFileId: upload.id,
      metadata: { classtune_job_id: "ct-x" },
    });
    assert.equal(fake.jobs.size, before + 1, "exactly one job was made");
    assert.equal(fake.jobs.get(job.id)?.config.dataset_source, upload.id);
    assert.equal(
      fake.requests.filter((r) => r.method === "POST" && r.path === "/api/fine-tuning/jobs").length,
      1,
      "the create was never repeated",
    );
  });

  test("a create that failed before the job was made, with the lookup finding nothing, is ambiguous", async () => {
    const p = adapter();
    const upload = await p.uploadTrainingFile(file);
    fake.fail({ method: "POST", path: /^\/api\/fine-tuning\/jobs$/ }, 503);
    await assert.rejects(
      p.createJob({ model: LLAMA, trainingFileId: upload.id, metadata: { classtune_job_id: "ct-y" } }),
      (e: unknown) => e instanceof AmbiguousCreateError && e.tag === "ct-y",
    );
    assert.equal(
      await p.findJobByMetadata("classtune_job_id", "ct-y", {
        trainingFileId: upload.id,
        createdAfter: Date.now(),
      }),
      undefined,
    );
  });

  test("findJobByMetadata finds by the upload and creation time; without that hint it finds nothing", async () => {
    const p = adapter();
    const since = Date.now();
    const { upload, job } = await started(p);
    const hit = await p.findJobByMetadata("classtune_job_id", "any", {
      trainingFileId: upload.id,
      createdAfter: since,
    });
    assert.equal(hit?.id, job.id);
    assert.equal(await p.findJobByMetadata("classtune_job_id", "any"), undefined);
    const later = await p.findJobByMetadata("classtune_job_id", "any", {
      trainingFileId: upload.id,
      createdAfter: since + 60 * 60_000,
    });
    assert.equal(later, undefined, "a job made long before this create is not it");
  });

  test("LocalAI's {error} words reach the error; a 500 is transient, a 404 is not", async () => {
    const p = adapter();
    const err = await p.retrieveJob("no-such-job").catch((e: unknown) => e);
    assert.ok(err instanceof ProviderHttpError);
    assert.match(err.message, /job not found: no-such-job/);
    assert.equal(classifyProviderError(err)?.transient, false);
    fake.fail({ method: "GET", path: /^\/api\/fine-tuning\/jobs$/ }, 500);
    const outage = await p.listJobs().catch((e: unknown) => e);
    assert.equal(classifyProviderError(outage)?.transient, true);
    assert.match(String((outage as Error).message), /injected failure 500/);
  });
});

describe("LocalAI: the loss curve from the progress stream", () => {
  test("one metrics event per step, newest first, with train_loss and valid_loss from loss and eval_loss", async () => {
    const p = adapter();
    const { job } = await started(p);
    for (const [step, loss, evalLoss] of [
      [1, 2.0, 0],
      [2, 1.5, 0],
      [2, 1.4, 0],
      [3, 1.0, 1.2],
    ] as const) {
      fake.addProgress(job.id, {
        job_id: job.id,
        current_step: step,
        total_steps: 3,
        loss,
        eval_loss: evalLoss,
      });
    }
    fake.setStatus(job.id, "completed");
    const page = await p.listEvents(job.id);
    const events = page.data.filter((e): e is ProviderEvent => !isMalformedEvent(e));
    assert.deepEqual(
      events.map((e) => [e.data?.step, e.data?.train_loss, e.data?.valid_loss ?? null]),
      [
        [3, 1.0, 1.2],
        [2, 1.4, null],
        [1, 2.0, null],
      ],
    );
    assert.equal(events[0]?.data?.total_steps, 3);
    assert.equal(page.hasMore, false);
  });

  test("a stream held open by a running job is read for its time bound only, then let go", async () => {
    const p = adapter({ progressReadMs: 250 });
    const { job } = await started(p);
    fake.setStatus(job.id, "training");
    fake.addProgress(job.id, { current_step: 1, total_steps: 10, loss: 2.2, eval_loss: 0 });
    const t0 = Date.now();
    const page = await p.listEvents(job.id);
    const took = Date.now() - t0;
    assert.ok(took < 2_000, `returned in ${took} ms`);
    assert.equal(page.data.length, 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(fake.openStreams(), 0, "the connection was closed, not left open");
  });

  test("a NaN loss becomes a malformed event, never an error", async () => {
    const p = adapter();
    const { job } = await started(p);
    fake.addProgress(job.id, { current_step: 1, total_steps: 2, loss: "NaN" });
    fake.setStatus(job.id, "completed");
    const page = await p.listEvents(job.id);
    assert.equal(page.data.length, 1);
    assert.ok(page.data[0] && isMalformedEvent(page.data[0]));
  });
});

describe("LocalAI: export is the deploy step", () => {
  test("deploy exports under the deterministic name; ready once /v1/models lists it; chat by that name", async () => {
    const p = adapter();
    const { job } = await started(p);
    fake.setStatus(job.id, "completed");
    const done = await p.retrieveJob(job.id);
    const name = deploymentNameFor(job.id);
    const input = { jobId: job.id, fineTunedModel: done.fineTunedModel, baseModel: LLAMA, name };
    assert.equal(await p.getDeployment(name), null, "nothing exported yet");
    const first = await p.deploy(input);
    assert.equal(first.status, "deploying");
    const exportBody = fake.requests.find((r) => r.path.endsWith("/export"))?.body;
    assert.deepEqual(exportBody, {
      name,
      export_format: "gguf",
      quantization_method: "q4_k_m",
      model: LLAMA,
    });
    const again = await p.deploy(input);
    assert.equal(again.status, "deploying");
    assert.equal(fake.requests.filter((r) => r.path.endsWith("/export")).length, 1, "idempotent by name");

    let ready = await p.getDeployment(name);
    for (let i = 0; i < 3 && ready?.status !== "ready"; i++) ready = await p.getDeployment(name);
    assert.deepEqual(ready, { name, status: "ready", servedAs: name, message: null });
    assert.equal((await p.retrieveModel(name)).id, name, "listed once exported");
    assert.equal((await p.retrieveModel(done.fineTunedModel ?? "")).shutdownDate, null, "never retired");
    await assert.rejects(
      p.retrieveModel("no-such-model"),
      (e: unknown) => classifyProviderError(e)?.status === 404,
    );
    const reply = await p.chat({ model: name, messages: [{ role: "user", content: "What are fractions?" }] });
    assert.match(reply.text, /What are fractions\?/);
    assert.equal(reply.model, name);
  });

  test("a failed export reads as a failed deployment with LocalAI's words", async () => {
    const p = adapter();
    const { job } = await started(p);
    fake.setStatus(job.id, "completed");
    const name = deploymentNameFor(job.id);
    await p.deploy({ jobId: job.id, fineTunedModel: "x", baseModel: LLAMA, name });
    const stored = fake.jobs.get(job.id);
    assert.ok(stored);
    stored.export_status = "failed";
    stored.export_message = "llama.cpp conversion failed";
    const seen = await p.getDeployment(name);
    assert.equal(seen?.status, "failed");
    assert.match(seen?.message ?? "", /llama\.cpp conversion failed/);
  });
});

describe("LocalAI: keys and plain http", () => {
  test("an apiKeyEnv's key is sent as Bearer on the fine-tuning API and on /v1", async () => {
    const keyed = await startFakeLocalAI({ apiKey: KEY });
    try {
      const p = adapter({ baseURL: keyed.url, apiKey: KEY });
      const upload = await p.uploadTrainingFile(file);
      await p.createJob({ model: LLAMA, trainingFileId: upload.id, metadata: { classtune_job_id: "ct-k" } });
      await p.listModels();
      assert.ok(keyed.requests.every((r) => r.headers.authorization === `Bearer ${KEY}`));
      const without = adapter({ baseURL: keyed.url, apiKey: undefined });
      const err = await without.listJobs().catch((e: unknown) => e);
      assert.equal(classifyProviderError(err)?.code, "auth");
    } finally {
      await keyed.close();
    }
  });

  test("plain http to another machine is refused unless allowInsecure, which warns once", () => {
    assert.equal(insecureBaseURLProblem("http://127.0.0.1:8080/v1", false), null);
    assert.equal(insecureBaseURLProblem("http://localhost:8080/v1", false), null);
    assert.equal(insecureBaseURLProblem("http://[::1]:8080/v1", false), null);
    assert.equal(insecureBaseURLProblem("https://gpu.school.example/v1", false), null);
    assert.match(insecureBaseURLProblem("http://10.0.0.5:8080/v1", false) ?? "", /allowInsecure/);
    assert.equal(insecureBaseURLProblem("http://10.0.0.5:8080/v1", true), null);

    assert.throws(
      () => adapter({ baseURL: "http://10.0.0.5:8080/v1" }),
      (e: unknown) => e instanceof UserError && e.code === "insecure_base_url",
    );
    const lines: string[] = [];
    const logger = createLogger("info", { write: (l: string) => void lines.push(l) });
    adapter({ baseURL: "http://10.0.0.5:8080/v1", allowInsecure: true, logger });
    const warnings = lines.filter((l) => l.includes(LOCALAI_INSECURE_WARNING.slice(0, 40)));
    assert.equal(warnings.length, 1);
    const none: string[] = [];
    adapter({ logger: createLogger("info", { write: (l: string) => void none.push(l) }) });
    assert.equal(none.length, 0, "loopback needs no warning");
  });
});
