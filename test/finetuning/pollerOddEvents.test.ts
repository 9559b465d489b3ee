// A provider event classtune cannot read (an ISO created_at, data that is no object, a loss that is no
// number, a missing field) is skipped and logged once; the job still progresses and ends with its notice.
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import { JobMetricsRepository } from "../../src/db/jobs.ts";
import { ModelRepository } from "../../src/db/models.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import type { JobSucceededPayload } from "../../src/domain/notices.ts";
import { createLogger } from "../../src/logger.ts";
import { type Harness, harness, tickUntil } from "./jobs.fixture.ts";

const SKIPPED = "skipped a provider event that cannot be read";

/** A warn-level logger whose lines the test can read. */
function capturedLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger("warn", {
    write: (line: string) => {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  return { logger, skipped: () => lines.filter((l) => l.msg === SKIPPED) };
}

/** Ticks every 2 s of sandbox time (two steps) until the job ended, recording the steps seen on the way. */
async function runToTheEnd(h: Harness, jobId: number): Promise<number[]> {
  const steps: number[] = [];
  await tickUntil(
    h,
    async () => {
      const j = await h.jobs.require("g1", jobId);
      if (j.progress && steps.at(-1) !== j.progress.step) steps.push(j.progress.step);
      return j.status === "succeeded" || j.status === "failed";
    },
    2_000,
  );
  return steps;
}

describe("a provider event that cannot be read", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  test("a running job with one malformed event among good ones still progresses and reaches succeeded with its notice", async () => {
    const log = capturedLogger();
    const rig = await harness({ pollerLogger: log.logger });
    h = rig;
    const dataset = await h.dataset(12);
    const job = await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1" });
    // Event 6 is the metrics event of step 3: served with an ISO date where epoch seconds belong.
    h.sandbox.faults.oddEvent(job.remoteId, 6, { created_at: "2024-05-01T12:00:00.000Z" });

    const steps = await runToTheEnd(h, job.id);

    const done = await h.jobs.require("g1", job.id);
    assert.equal(done.status, "succeeded");
    assert.ok(
      done.progress && done.progress.step === done.progress.totalSteps,
      JSON.stringify(done.progress),
    );
    assert.ok(steps.length >= 3, `progress moved on past the odd event: ${steps.join(", ")}`);
    assert.deepEqual(
      steps,
      [...steps].sort((a, b) => a - b),
      "progress only moves forward",
    );
    assert.ok(done.fineTunedModel && new ModelRepository(sqliteStore(h.db)).get("g1", done.fineTunedModel));
    const notices = h.sent.filter((n) => n.kind === "job_succeeded" && n.payload.jobId === job.id);
    assert.equal(notices.length, 1);
    assert.equal(
      (notices[0]?.payload as JobSucceededPayload | undefined)?.fineTunedModel,
      done.fineTunedModel,
    );

    const stored = (await new JobMetricsRepository(sqliteStore(h.db)).list("g1", job.id)).map((p) => p.step);
    assert.ok(!stored.includes(3), "the odd event's metrics are not stored");
    assert.ok(stored.includes(2) && stored.includes(4), `the good events' metrics are: ${stored.join(", ")}`);

    const skipped = log.skipped();
    assert.equal(skipped.length, 1, "logged once, not every tick");
    assert.equal(skipped[0]?.jobId, job.id);
    assert.match(String(skipped[0]?.eventId), /^ftevent-/);
    assert.match(String(skipped[0]?.problem), /created_at/);
  });

  test("every kind of odd event is skipped and logged once, and the job still finishes", async () => {
    const log = capturedLogger();
    const rig = await harness({ pollerLogger: log.logger });
    h = rig;
    const dataset = await h.dataset(12);
    const job = await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1" });
    const odd: Array<[string, Record<string, unknown>]> = [
      ["created_at", { created_at: "2024-05-01T12:00:00Z" }],
      ["created_at", { created_at: null }], // NaN, as JSON writes it
      ["created_at", { created_at: 1e20 }],
      ["created_at", { created_at: undefined }],
      ["data", { data: "step 5" }],
      ["data", { data: [1, 2, 3] }],
      ["message", { message: undefined }],
      ["id", { id: undefined }],
      ["train_loss", { data: { step: 12, total_steps: 36, train_loss: "low" } }],
      ["step", { data: { step: "13", total_steps: 36, train_loss: 0.5 } }],
      ["step", { data: { step: 10_000, total_steps: 36, train_loss: 0.5 } }],
    ];
    // Events 4 onwards are the training steps: one odd event in every other.
    for (const [i, [, fields]] of odd.entries()) h.sandbox.faults.oddEvent(job.remoteId, 5 + 2 * i, fields);

    await runToTheEnd(h, job.id);

    const done = await h.jobs.require("g1", job.id);
    assert.equal(done.status, "succeeded");
    assert.ok(
      done.progress && done.progress.step === done.progress.totalSteps,
      JSON.stringify(done.progress),
    );
    assert.equal(h.sent.filter((n) => n.kind === "job_succeeded" && n.payload.jobId === job.id).length, 1);
    const skipped = log.skipped();
    assert.deepEqual(
      skipped.map((l) => String(l.problem).split(":")[0]?.split(".").at(-1)).sort(),
      odd.map(([field]) => field).sort(),
      "each odd event logged once, naming its odd field",
    );
    assert.equal(skipped.filter((l) => l.eventId === null).length, 1, "the one without an id too");
  });
});
