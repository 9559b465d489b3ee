import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import type { ValidationReport } from "../../src/datasets/types.ts";
import { DatasetRepository } from "../../src/db/datasets.ts";
import { JobRepository } from "../../src/db/jobs.ts";
import { OutboxRepository } from "../../src/db/outbox.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { UserError } from "../../src/domain/errors.ts";
import type { JobCreatedPayload, JobFailedPayload } from "../../src/domain/notices.ts";
import { checkSuffix, estimateFromReport, JobService } from "../../src/finetuning/jobs.ts";
import { chatLines, type Harness, harness, tickUntil } from "./jobs.fixture.ts";

describe("JobService against the sandbox", () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());
  beforeEach(() => {
    h.calls.length = 0;
    h.sandbox.faults.clear();
  });

  test("start uploads, creates and writes the job with its created notice", async () => {
    const dataset = await h.dataset(12);
    const job = await h.jobs.start({
      guildId: "g1",
      datasetId: dataset.id,
      requesterId: "u1",
      epochs: 2,
      seed: 7,
      notifyChannelId: "c1",
    });
    assert.deepEqual(h.calls, ["POST /files", "POST /fine_tuning/jobs"]);
    assert.deepEqual(job.hyperparameters, { nEpochs: 2, seed: 7 });
    const remote = await h.provider.retrieveJob(job.remoteId);
    assert.equal(remote.metadata.classtune_job_id, job.tag);
    assert.equal(remote.nEpochs === "auto" || remote.nEpochs === 2 || remote.nEpochs === null, true);
    const notice = await new OutboxRepository(sqliteStore(h.db)).getByKey("g1", `job:${job.id}:created`);
    assert.equal(notice?.kind, "job_created");
    assert.equal(notice?.channelId, "c1");
    const payload = notice?.payload as JobCreatedPayload;
    assert.equal(payload.datasetName, dataset.fileName);
    assert.equal(payload.provider, "sandbox");
    assert.ok(payload.estimatedCostUsd !== null && payload.estimatedCostUsd > 0);
  });

  test("another guild's job and dataset are not found", async () => {
    const dataset = await h.dataset(12);
    const job = await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1" });
    assert.equal(await h.jobs.get("g2", job.id), undefined);
    await assert.rejects(h.jobs.cancel("g2", job.id), /Job #\d+ was not found/);
    await assert.rejects(
      h.jobs.start({ guildId: "g2", datasetId: dataset.id, requesterId: "u1" }),
      /Dataset #\d+ was not found/,
    );
    assert.ok((await h.jobs.list("g1")).some((j) => j.id === job.id));
    assert.ok(!(await h.jobs.list("g2")).some((j) => j.id === job.id));
    assert.ok((await h.jobs.search("g1", String(job.id))).some((j) => j.id === job.id));
    assert.equal((await h.jobs.search("g2", String(job.id))).length, 0);
  });

  test("a bad suffix or epoch count is refused before anything is uploaded", async () => {
    const dataset = await h.dataset(12);
    await assert.rejects(
      h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1", suffix: "has space" }),
      (e: unknown) => e instanceof UserError && /letters, digits/.test(e.message),
    );
    await assert.rejects(
      h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1", suffix: "x".repeat(65) }),
      /1–64 characters/,
    );
    await assert.rejects(
      h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1", epochs: 0 }),
      /Epochs must be/,
    );
    assert.deepEqual(h.calls, []);
  });

  test("a job above the cost cap is refused before uploading, with the estimate", async () => {
    const dataset = await h.dataset(12);
    const strict = new JobService({
      store: sqliteStore(h.db),
      providers: h.providers,
      maxJobCostUsd: 0.000001,
      dataDir: h.dir,
    });
    await assert.rejects(
      strict.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1" }),
      (e: unknown) =>
        e instanceof UserError && /estimated cost of this job is \$0\.\d\d, above the limit/.test(e.message),
    );
    assert.deepEqual(h.calls, []);
  });

  test("a dataset that is not fine-tunable is refused", async () => {
    const dataset = await h.dataset(12);
    const repo = new DatasetRepository(sqliteStore(h.db));
    const broken = await repo.insert({ ...dataset, fineTunable: false, invalid: 3 });
    await assert.rejects(
      h.jobs.start({ guildId: "g1", datasetId: broken.id, requesterId: "u1" }),
      /cannot be fine-tuned: 3 invalid line/,
    );
  });

  test("cancel ends the job once, with one cancelled notice", async () => {
    const dataset = await h.dataset(12);
    const job = await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1" });
    const cancelled = await h.jobs.cancel("g1", job.id);
    assert.equal(cancelled.status, "cancelled");
    assert.ok(cancelled.finishedAt);
    await assert.rejects(h.jobs.cancel("g1", job.id), /already ended \(cancelled\)/);
    await h.poller.tick();
    const notices = (await new OutboxRepository(sqliteStore(h.db)).list("g1")).filter((n) =>
      n.dedupeKey.startsWith(`job:${job.id}:`),
    );
    assert.deepEqual(
      notices.map((n) => n.kind),
      ["job_created", "job_cancelled"],
    );
  });

  test("a file the provider refuses fails the job with the provider's message", async () => {
    // A row that claims fine-tunable for a file OpenAI would refuse (3 examples): the sandbox checks it.
    const dataset = await h.dataset(12);
    const path = join(h.dir, "tiny.jsonl");
    await writeFile(path, chatLines(3));
    const lying = await new DatasetRepository(sqliteStore(h.db)).insert({
      ...dataset,
      storedPath: path,
      cleanedPath: null,
    });
    const job = await h.jobs.start({ guildId: "g1", datasetId: lying.id, requesterId: "u1" });
    await tickUntil(h, async () => (await h.jobs.require("g1", job.id)).status === "failed");
    const failed = await h.jobs.require("g1", job.id);
    assert.match(failed.errorMessage ?? "", /10/);
    const notice = await new OutboxRepository(sqliteStore(h.db)).getByKey("g1", `job:${job.id}:failed`);
    assert.equal((notice?.payload as JobFailedPayload | undefined)?.errorMessage, failed.errorMessage);
    assert.equal(h.sent.filter((n) => n.kind === "job_failed" && n.payload.jobId === job.id).length, 1);
  });

  test("a 500 on create after the job was made yields one job, not two", async () => {
    const dataset = await h.dataset(12);
    // The sandbox creates the job, then the answer is replaced by a 500 (a proxy failing on the way back).
    h.tamper.push((url, init) =>
      init?.method === "POST" && url.endsWith("/fine_tuning/jobs")
        ? new Response(
            JSON.stringify({
              error: { message: "upstream failed", type: "server_error", param: null, code: null },
            }),
            {
              status: 500,
              headers: { "content-type": "application/json" },
            },
          )
        : undefined,
    );
    const before = (await h.client.fineTuning.jobs.list({ limit: 100 })).data.length;
    const job = await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1" });
    const creates = h.calls.filter((c) => c === "POST /fine_tuning/jobs").length;
    assert.equal(creates, 1, "the create is never retried blindly");
    const all = (await h.client.fineTuning.jobs.list({ limit: 100 })).data;
    assert.equal(all.length, before + 1);
    assert.equal(all.filter((j) => j.metadata?.classtune_job_id === job.tag).length, 1);
    assert.equal(job.remoteId, all.find((j) => j.metadata?.classtune_job_id === job.tag)?.id);
  });

  test("a 500 before the job was made says it may have started, creates nothing and is not retried", async () => {
    const dataset = await h.dataset(12);
    h.sandbox.faults.next({ method: "POST", path: "/fine_tuning/jobs", status: 500 });
    const before = (await new JobRepository(sqliteStore(h.db)).list("g1", 1000)).length;
    await assert.rejects(
      h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1" }),
      (e: unknown) =>
        e instanceof UserError &&
        e.code === "create_unconfirmed" &&
        /did not confirm the job \(it answered 500\).*within 15 minutes/.test(e.message),
    );
    assert.equal(h.calls.filter((c) => c === "POST /fine_tuning/jobs").length, 1);
    assert.equal((await new JobRepository(sqliteStore(h.db)).list("g1", 1000)).length, before);
  });

  test("a job runs on across a restart of the database and the sandbox", async () => {
    const dataset = await h.dataset(12);
    const job = await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1" });
    h.clock.advance(1_000);
    await h.poller.tick();
    await h.restart();
    assert.equal((await h.jobs.require("g1", job.id)).remoteId, job.remoteId);
    await tickUntil(h, async () => (await h.jobs.require("g1", job.id)).status === "succeeded");
    assert.equal((await h.provider.retrieveJob(job.remoteId)).status, "succeeded");
  });
});

describe("pure checks", () => {
  test("checkSuffix keeps a good suffix and trims it", () => {
    assert.equal(checkSuffix("  bio_7-b "), "bio_7-b");
    assert.throws(() => checkSuffix("é"), UserError);
  });
  test("estimateFromReport scales with epochs", () => {
    const report = {
      epochs: 3,
      billingTokens: 3_000_000,
      estimatedCostUsd: 9,
      pricePerMillionTrainingTokensUsd: 3,
    } as ValidationReport;
    assert.equal(estimateFromReport(report), 9);
    assert.equal(estimateFromReport(report, 3), 9);
    assert.equal(estimateFromReport(report, 6), 18);
  });
});
