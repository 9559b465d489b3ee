// The simulated training timeline as pure functions: same seed, same curve; big jobs report a
// bounded number of steps; failures and successes end the timeline where they should.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { JobRow } from "../../src/sandbox/store.ts";
import { MAX_METRIC_EVENTS, planTimeline, stepMetrics } from "../../src/sandbox/trainer.ts";

const job = (over: Partial<JobRow> = {}): JobRow => ({
  id: "ftjob-abcdefghijklmnopqrstuvwx",
  model: "gpt-4o-mini-2024-07-18",
  baseModel: "gpt-4o-mini-2024-07-18",
  trainingFile: "file-abc",
  validationFile: null,
  suffix: "s",
  seed: 42,
  method: "supervised",
  requestedHyperparameters: {},
  metadata: null,
  createdAtMs: 1_000_000,
  validateMs: 1000,
  queueMs: 1000,
  stepMs: 100,
  examples: 10,
  nEpochs: 3,
  batchSize: 1,
  learningRateMultiplier: 1.8,
  totalSteps: 30,
  trainedTokensPlanned: 900,
  plannedError: null,
  plannedErrorAfterSteps: null,
  status: "validating_files",
  eventsEmitted: 0,
  nextEventAtMs: 1_000_000,
  startedAtMs: null,
  finishedAtMs: null,
  cancelledAtMs: null,
  fineTunedModel: null,
  trainedTokens: null,
  error: null,
  modelDeleted: false,
  ...over,
});

test("the same seed gives the same loss curve; another seed another one", () => {
  const a = stepMetrics(7, 50);
  const b = stepMetrics(7, 50);
  const c = stepMetrics(8, 50);
  const curve = (m: typeof a) => Array.from({ length: 50 }, (_, i) => m(i + 1).train_loss);
  assert.deepEqual(curve(a), curve(b));
  assert.notDeepEqual(curve(a), curve(c));
  assert.ok(a(50).train_loss < a(1).train_loss / 3);
  assert.ok(a(50).train_mean_token_accuracy > a(1).train_mean_token_accuracy);
});

test("a successful timeline is ordered in time and ends with the model and the completion", () => {
  const plan = planTimeline(job());
  for (let i = 1; i < plan.length; i++) assert.ok((plan[i]?.atMs ?? 0) >= (plan[i - 1]?.atMs ?? 0));
  assert.equal(plan.filter((e) => e.type === "metrics").length, 30);
  assert.deepEqual(
    plan.filter((e) => e.message.startsWith("Checkpoint")).map((e) => e.message),
    ["Checkpoint created at step 10", "Checkpoint created at step 20"],
  );
  assert.equal(plan.at(-1)?.message, "The job has successfully completed");
  assert.equal(plan.at(-1)?.atMs, 1_000_000 + 1000 + 1000 + 30 * 100);
});

test("a big job reports a bounded number of steps, always the first and the last", () => {
  const plan = planTimeline(job({ totalSteps: 30_000, examples: 10_000 }));
  const steps = plan.filter((e) => e.type === "metrics").map((e) => (e.data as { step: number }).step);
  assert.ok(steps.length <= MAX_METRIC_EVENTS + 1);
  assert.equal(steps[0], 1);
  assert.equal(steps.at(-1), 30_000);
});

test("a planned failure ends the timeline: at validation, or after the given steps", () => {
  const error = { code: "invalid_training_file", message: "bad file", param: "training_file" };
  const early = planTimeline(job({ plannedError: error, totalSteps: 0 }));
  assert.deepEqual(
    early.map((e) => e.message),
    [
      "Created fine-tuning job: ftjob-abcdefghijklmnopqrstuvwx",
      "Validating training file: file-abc",
      "bad file",
    ],
  );
  assert.equal(early.at(-1)?.level, "error");
  const late = planTimeline(job({ plannedError: error, plannedErrorAfterSteps: 4 }));
  assert.equal(late.filter((e) => e.type === "metrics").length, 4);
  assert.equal(late.at(-1)?.message, "bad file");
});
