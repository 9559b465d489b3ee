import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SAMPLE_QA, sampleDatasetJsonl } from "../../src/datasets/sample.ts";
import { datasetFieldsFromReport } from "../../src/datasets/store.ts";
import { validateFile } from "../../src/datasets/validator.ts";
import { DatasetRepository } from "../../src/db/datasets.ts";
import { JobMetricsRepository, JobRepository } from "../../src/db/jobs.ts";
import { ModelRepository } from "../../src/db/models.ts";
import { OutboxRepository } from "../../src/db/outbox.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import type { JobSucceededPayload } from "../../src/domain/notices.ts";
import { DEFAULT_TEST_QUESTIONS } from "../../src/finetuning/jobs.ts";
import { JobPoller, metricsOf } from "../../src/finetuning/poller.ts";
import { type Harness, harness, tickUntil } from "./jobs.fixture.ts";

describe("poller lifecycle against the sandbox", () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());

  test("a job runs to a registered model, with progress, metrics and one success notice with test answers", async () => {
    const dataset = await h.dataset(12);
    const job = await h.jobs.start({
      guildId: "g1",
      datasetId: dataset.id,
      requesterId: "u1",
      suffix: "bio",
    });
    assert.equal(job.provider, "sandbox");
    assert.ok(job.remoteId.startsWith("ftjob-"));

    const seenStatuses = new Set<string>();
    await tickUntil(h, async () => {
      const j = await h.jobs.require("g1", job.id);
      seenStatuses.add(j.status);
      return j.status === "succeeded";
    });
    const done = await h.jobs.require("g1", job.id);
    assert.ok(seenStatuses.has("running"), `statuses seen: ${[...seenStatuses].join(", ")}`);
    assert.match(done.fineTunedModel ?? "", /^ft:.*:classtune-sandbox:bio:/);
    assert.ok(
      done.progress && done.progress.step === done.progress.totalSteps,
      JSON.stringify(done.progress),
    );
    assert.ok(done.finishedAt);

    const model = await new ModelRepository(sqliteStore(h.db)).get("g1", done.fineTunedModel ?? "");
    assert.equal(model?.jobId, job.id);
    assert.equal(model?.provider, "sandbox");
    assert.equal(
      await new ModelRepository(sqliteStore(h.db)).get("g2", done.fineTunedModel ?? ""),
      undefined,
    );

    const points = await new JobMetricsRepository(sqliteStore(h.db)).list("g1", job.id);
    assert.ok(points.length > 0 && points.length <= (done.progress?.totalSteps ?? 0));
    assert.ok((points.at(-1)?.trainLoss ?? 9) < (points[0]?.trainLoss ?? 0), "loss falls");

    const kinds = h.sent.map((n) => n.kind);
    assert.equal(kinds.filter((k) => k === "job_created").length, 1);
    assert.equal(kinds.filter((k) => k === "job_succeeded").length, 1);
    assert.ok(kinds.includes("job_progress"));
    const success = h.sent.find((n) => n.kind === "job_succeeded")?.payload as JobSucceededPayload;
    assert.equal(success.fineTunedModel, done.fineTunedModel);
    assert.equal(success.provider, "sandbox");
    assert.deepEqual(
      success.testAnswers.map((a) => a.question),
      [...DEFAULT_TEST_QUESTIONS],
    );
    assert.ok(success.testAnswers.every((a) => typeof a.answer === "string" && a.answer.length > 0));

    // Further ticks change nothing: no second notice.
    const before = h.sent.length;
    h.clock.advance(60_000);
    const r = await h.poller.tick();
    assert.equal(r.tracked, 0);
    assert.equal(h.sent.length, before);
  });

  test("held-out questions come from the dataset when it has at least 13 examples: its rephrasings, answered right", async () => {
    // The sample: 20 questions and three of them asked again in other words (heldOut.ts holds those out).
    const path = join(h.dir, "sample.jsonl");
    await writeFile(path, sampleDatasetJsonl());
    const dataset = await new DatasetRepository(sqliteStore(h.db)).insert({
      guildId: "g1",
      uploaderId: "teacher",
      fileName: "sample.jsonl",
      ...datasetFieldsFromReport(await validateFile(path)),
      storedPath: path,
      cleanedPath: null,
    });
    const job = await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1" });
    assert.deepEqual(
      job.testQuestions.map((q) => q.question),
      SAMPLE_QA.slice(20).map((qa) => qa.question),
    );
    assert.deepEqual(
      job.testQuestions.map((q) => q.expected),
      SAMPLE_QA.slice(20).map((qa) => qa.answer),
    );
    await tickUntil(h, async () => (await h.jobs.require("g1", job.id)).status === "succeeded");
    const notice = await new OutboxRepository(sqliteStore(h.db)).getByKey("g1", `job:${job.id}:succeeded`);
    const payload = notice?.payload as JobSucceededPayload;
    assert.equal(payload.testAnswers.length, 3);
    // The sandbox answers by retrieval: each rephrasing finds the question it rephrases, and so its answer.
    for (const a of payload.testAnswers) assert.equal(a.answer, a.expected, a.question);
    assert.equal(notice?.postedAt !== null, true);
  });

  test("a dataset whose every question has a close neighbour with another answer holds none out on the sandbox", async () => {
    // chatLines repeats seven topics: "photosynthesis lesson 1" and "… lesson 8" look alike, answer differently.
    // Held out, the sandbox would answer one with the other's answer; the seed's questions are asked instead.
    const dataset = await h.dataset(20);
    const job = await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1" });
    assert.deepEqual(
      job.testQuestions.map((q) => q.question),
      [...DEFAULT_TEST_QUESTIONS],
    );
  });
});

describe("metricsOf", () => {
  test("reads OpenAI's metrics data", () => {
    const p = metricsOf({
      id: "e",
      createdAt: 0,
      level: "info",
      message: "Step 3/10: training loss=0.5",
      type: "metrics",
      data: { step: 3, total_steps: 10, train_loss: 0.5, train_mean_token_accuracy: 0.8 },
    });
    assert.deepEqual(
      { step: p?.step, total: p?.totalSteps, loss: p?.trainLoss, acc: p?.trainAccuracy },
      { step: 3, total: 10, loss: 0.5, acc: 0.8 },
    );
  });
  test("falls back to the message text", () => {
    const p = metricsOf({
      id: "e",
      createdAt: 0,
      level: "info",
      message: "Step 12/120: training loss=1.234",
      type: "message",
      data: {},
    });
    assert.deepEqual([p?.step, p?.totalSteps, p?.trainLoss], [12, 120, 1.234]);
  });
  test("ignores other events", () => {
    assert.equal(
      metricsOf({
        id: "e",
        createdAt: 0,
        level: "info",
        message: "Fine-tuning job started",
        type: "message",
        data: {},
      }),
      undefined,
    );
  });
});

test("an invalid schedule is refused with the variable's name", () => {
  assert.throws(
    () =>
      new JobPoller({ store: sqliteStore({} as never), providers: {} as never, schedule: "every minute" }),
    /POLL_SCHEDULE/,
  );
});

describe("poller under faults and at scale", () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());

  test("429s and 500s during ticks never fail a job", async () => {
    const dataset = await h.dataset(12);
    const job = await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1" });
    await tickUntil(h, async () => (await h.jobs.require("g1", job.id)).status === "running", 1_000);

    h.sandbox.faults.next({
      method: "GET",
      path: "/fine_tuning/jobs",
      status: 429,
      retryAfterMs: 1,
      times: 3,
    });
    h.clock.advance(2_000);
    const limited = await h.poller.tick();
    assert.equal(limited.errors, 1);
    assert.equal((await h.jobs.require("g1", job.id)).status, "running");

    h.sandbox.faults.next({
      method: "GET",
      path: "/fine_tuning/jobs",
      status: 500,
      retryAfterMs: 1,
      times: 3,
    });
    h.clock.advance(2_000);
    assert.equal((await h.poller.tick()).errors, 1);
    assert.equal((await h.jobs.require("g1", job.id)).status, "running");

    h.sandbox.faults.next({ method: "GET", path: /\/events$/, status: 500, retryAfterMs: 1, times: 3 });
    h.clock.advance(2_000);
    const eventsDown = await h.poller.tick();
    assert.equal(eventsDown.errors, 1);
    assert.equal((await h.jobs.require("g1", job.id)).status, "running");

    h.sandbox.faults.next({ method: "GET", path: /\/events$/, status: 429, retryAfterMs: 1, times: 3 });
    h.clock.advance(2_000);
    const eventsLimited = await h.poller.tick();
    assert.equal(eventsLimited.errors, 1);
    assert.equal((await h.jobs.require("g1", job.id)).status, "running");

    await tickUntil(h, async () => (await h.jobs.require("g1", job.id)).status === "succeeded");
    assert.equal(h.sent.filter((n) => n.kind === "job_failed").length, 0);
  });

  test("a crash between the status change and the post still yields exactly one notice", async () => {
    const dataset = await h.dataset(12);
    const job = await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1" });
    await h.notifier.drain();
    // This process records the ending but dies before posting (no notifier ran).
    const dying = new JobPoller({
      store: sqliteStore(h.db),
      providers: h.providers,
      now: () => new Date(h.clock.now()),
    });
    h.clock.advance(3_600_000);
    await dying.tick();
    assert.equal((await h.jobs.require("g1", job.id)).status, "succeeded");
    const mine = () => h.sent.filter((n) => n.kind === "job_succeeded" && n.payload.jobId === job.id);
    assert.equal(mine().length, 0);
    await h.restart();
    await h.poller.tick();
    await h.notifier.drain();
    h.clock.advance(60_000);
    await h.poller.tick();
    assert.equal(mine().length, 1);
  });

  test("an unknown status keeps the job running with the raw status kept", async () => {
    const dataset = await h.dataset(12);
    const job = await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1" });
    const rewrite = async (res: Response) => {
      const body = (await res.json()) as { data: Array<{ id: string; status: string }> };
      for (const j of body.data) if (j.id === job.remoteId) j.status = "uploading_weights";
      return new Response(JSON.stringify(body), { status: res.status, headers: res.headers });
    };
    h.tamper.push((url, init, res) =>
      (init?.method ?? "GET") === "GET" && new URL(url).pathname.endsWith("/fine_tuning/jobs")
        ? rewrite(res)
        : undefined,
    );
    h.clock.advance(3_600_000);
    await h.poller.tick();
    const row = await h.jobs.require("g1", job.id);
    assert.equal(row.status, "running");
    assert.equal(row.rawStatus, "uploading_weights");
    await h.poller.tick();
    assert.equal((await h.jobs.require("g1", job.id)).status, "succeeded");
  });

  test("more than 100 tracked jobs are found across pages; API calls grow with ⌈tracked/100⌉", async () => {
    const dataset = await h.dataset(12);
    const file = await h.provider.uploadTrainingFile(dataset.storedPath);
    const repo = new JobRepository(sqliteStore(h.db));
    const create = async (i: number, track: boolean) => {
      const remote = await h.provider.createJob({
        model: "gpt-4o-mini-2024-07-18",
        trainingFileId: file.id,
        metadata: { classtune_job_id: `bulk-${i}` },
      });
      if (!track) return;
      await repo.insert({
        tag: `bulk-${i}`,
        guildId: "g3",
        provider: "sandbox",
        remoteId: remote.id,
        datasetId: dataset.id,
        requesterId: "u1",
        baseModel: remote.model,
        suffix: null,
        hyperparameters: { nEpochs: "auto", seed: null },
        trainingFileId: file.id,
        status: remote.status,
        rawStatus: remote.rawStatus,
        estimatedCostUsd: null,
        notifyChannelId: null,
        testQuestions: [],
      });
    };
    await create(0, true); // the oldest tracked job: beyond the pages the poller reads
    for (let i = 1; i <= 250; i++) await create(i, false);
    for (let i = 251; i <= 380; i++) await create(i, true);
    const tracked = (await repo.listActiveAcrossGuilds("sandbox")).length;
    assert.equal(tracked, 131);
    h.calls.length = 0;
    const r = await h.poller.tick();
    assert.equal(r.tracked, 131);
    assert.equal(r.listCalls, 3, "⌈131/100⌉ + 1 spare page");
    assert.equal(r.retrieveCalls, 1, "the old job is retrieved on its own");
    assert.equal(r.errors, 0);
    assert.equal(h.calls.filter((c) => c === "GET /fine_tuning/jobs").length, 3);
    assert.ok(
      (await repo.list("g3", 500)).every((j) => j.remoteFingerprint !== null),
      "every tracked job was updated",
    );
  });
});

test("the cron task ticks on its schedule and never runs two ticks at once", async () => {
  const h = await harness();
  try {
    const dataset = await h.dataset(12);
    await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1" });
    let release: () => void = () => {};
    const released = new Promise<void>((r) => {
      release = r;
    });
    // The first listing hangs until released, across several due times of an every-second schedule.
    h.tamper.push(async (url, init, res) =>
      (init?.method ?? "GET") === "GET" && new URL(url).pathname.endsWith("/fine_tuning/jobs")
        ? released.then(() => res)
        : undefined,
    );
    const poller = new JobPoller({
      store: sqliteStore(h.db),
      providers: h.providers,
      schedule: "* * * * * *",
    });
    h.calls.length = 0;
    poller.start();
    await new Promise((r) => setTimeout(r, 2_600));
    assert.equal(h.calls.filter((c) => c === "GET /fine_tuning/jobs").length, 1, "later ticks were skipped");
    assert.equal((await poller.tick()).skipped, true, "a direct tick while one runs is skipped too");
    release();
    await poller.stop();
  } finally {
    await h.close();
  }
});
