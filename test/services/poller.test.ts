import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { JobMetricsRepository } from "../../src/db/jobs.ts";
import { ModelRepository } from "../../src/db/models.ts";
import { OutboxRepository } from "../../src/db/outbox.ts";
import { DEFAULT_TEST_QUESTIONS } from "../../src/services/jobs.ts";
import type { JobSucceededPayload } from "../../src/services/notifier.ts";
import { JobPoller, metricsOf } from "../../src/services/poller.ts";
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
    await tickUntil(h, () => {
      const j = h.jobs.require("g1", job.id);
      seenStatuses.add(j.status);
      return j.status === "succeeded";
    });
    const done = h.jobs.require("g1", job.id);
    assert.ok(seenStatuses.has("running"), `statuses seen: ${[...seenStatuses].join(", ")}`);
    assert.match(done.fineTunedModel ?? "", /^ft:.*:classtune-sandbox:bio:/);
    assert.ok(
      done.progress && done.progress.step === done.progress.totalSteps,
      JSON.stringify(done.progress),
    );
    assert.ok(done.finishedAt);

    const model = new ModelRepository(h.db).get("g1", done.fineTunedModel ?? "");
    assert.equal(model?.jobId, job.id);
    assert.equal(model?.provider, "sandbox");
    assert.equal(new ModelRepository(h.db).get("g2", done.fineTunedModel ?? ""), undefined);

    const points = new JobMetricsRepository(h.db).list("g1", job.id);
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

  test("held-out questions come from the dataset when it has at least 13 examples", async () => {
    const dataset = await h.dataset(20);
    const job = await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1" });
    assert.equal(job.testQuestions.length, 3);
    assert.ok(job.testQuestions.every((q) => q.question.startsWith("What should I remember about")));
    assert.ok(job.testQuestions.every((q) => q.expected?.startsWith("The key idea")));
    await tickUntil(h, () => h.jobs.require("g1", job.id).status === "succeeded");
    const notice = new OutboxRepository(h.db).getByKey("g1", `job:${job.id}:succeeded`);
    const payload = notice?.payload as JobSucceededPayload;
    assert.equal(payload.testAnswers.length, 3);
    assert.equal(notice?.postedAt !== null, true);
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
    () => new JobPoller({ db: {} as never, provider: {} as never, schedule: "every minute" }),
    /POLL_SCHEDULE/,
  );
});
