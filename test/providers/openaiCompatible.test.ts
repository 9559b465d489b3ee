import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { APIConnectionError, APIConnectionTimeoutError } from "openai";
import { normaliseStatus } from "../../src/domain/jobs.ts";
import {
  AmbiguousCreateError,
  describeProviderError,
  isAmbiguousFailure,
  isTransientFailure,
} from "../../src/providers/errors.ts";
import { MAX_EVENT_EPOCH_SECONDS, readProviderEvent } from "../../src/providers/events.ts";
import { isMalformedEvent, type ProviderEvent } from "../../src/providers/types.ts";
import { type Harness, harness } from "../finetuning/jobs.fixture.ts";

describe("normaliseStatus", () => {
  test("keeps OpenAI's statuses", () => {
    for (const s of ["validating_files", "queued", "running", "paused", "succeeded", "failed", "cancelled"]) {
      assert.equal(normaliseStatus(s), s);
    }
  });
  test("maps common spellings of other hosts", () => {
    assert.equal(normaliseStatus("canceled"), "cancelled");
    assert.equal(normaliseStatus("pending"), "queued");
    assert.equal(normaliseStatus("completed"), "succeeded");
  });
  test("an unknown status counts as still running", () => {
    assert.equal(normaliseStatus("uploading_weights"), "running");
  });
});

describe("readProviderEvent", () => {
  const good = {
    object: "fine_tuning.job.event",
    id: "ftevent-1",
    created_at: 1_714_564_800,
    level: "info",
    message: "Step 3/10: training loss=0.5",
    type: "metrics",
    data: { step: 3, total_steps: 10, train_loss: 0.5, train_mean_token_accuracy: 0.8, extra: "kept" },
  };

  test("reads a well-formed event, epoch seconds as milliseconds", () => {
    assert.deepEqual(readProviderEvent(good), {
      id: "ftevent-1",
      createdAt: 1_714_564_800_000,
      level: "info",
      message: "Step 3/10: training loss=0.5",
      type: "metrics",
      data: good.data,
    });
    const plain = readProviderEvent({ ...good, type: undefined, data: null });
    assert.ok(!isMalformedEvent(plain));
    assert.deepEqual([plain.type, plain.data], [null, null]);
  });

  test("reports an event it cannot read as malformed, with its id and the odd field named", () => {
    const cases: Array<[string, unknown]> = [
      ["created_at", { ...good, created_at: "2024-05-01T12:00:00Z" }],
      ["created_at", { ...good, created_at: Number.NaN }],
      ["created_at", { ...good, created_at: MAX_EVENT_EPOCH_SECONDS + 1 }],
      ["created_at", { ...good, created_at: -1 }],
      ["created_at", { ...good, created_at: undefined }],
      ["data", { ...good, data: "step 3" }],
      ["data", { ...good, data: [3] }],
      ["data.train_loss", { ...good, data: { ...good.data, train_loss: "low" } }],
      ["data.train_loss", { ...good, data: { ...good.data, train_loss: Number.POSITIVE_INFINITY } }],
      ["data.valid_loss", { ...good, data: { ...good.data, valid_loss: {} } }],
      ["data.step", { ...good, data: { ...good.data, step: "3" } }],
      ["data.step", { ...good, data: { ...good.data, step: 11 } }],
      ["data.step", { ...good, data: { ...good.data, step: 2.5 } }],
      ["message", { ...good, message: undefined }],
      ["level", { ...good, level: 3 }],
    ];
    for (const [field, raw] of cases) {
      const read = readProviderEvent(raw);
      assert.ok(isMalformedEvent(read), `${field}: ${JSON.stringify(raw)}`);
      assert.equal(read.id, "ftevent-1", field);
      assert.ok(read.problem.startsWith(`${field}: `), `${field}: ${read.problem}`);
    }
  });

  test("an item that is no event at all is malformed without an id, its excerpt cut short", () => {
    for (const raw of [null, "ftevent-1", 42, [], { ...good, id: "" }, { ...good, id: 7 }]) {
      const read = readProviderEvent(raw);
      assert.ok(isMalformedEvent(read), JSON.stringify(raw));
      assert.equal(read.id, null, JSON.stringify(raw));
    }
    const long = readProviderEvent({ ...good, created_at: "x", message: "m".repeat(10_000) });
    assert.ok(isMalformedEvent(long) && long.excerpt.length <= 301, "excerpt capped");
  });
});

describe("OpenAICompatibleProvider against the sandbox", () => {
  let h: Harness;
  before(async () => {
    h = await harness({ maxRetries: 0 });
  });
  after(() => h.close());
  beforeEach(() => {
    h.sandbox.faults.clear();
  });

  async function createOne(tag: string) {
    const dataset = await h.dataset(12);
    const file = await h.provider.uploadTrainingFile(dataset.storedPath);
    return h.provider.createJob({
      model: "gpt-4o-mini-2024-07-18",
      trainingFileId: file.id,
      suffix: "t",
      metadata: { classtune_job_id: tag },
    });
  }

  test("uploads a file and creates, finds, lists and cancels a job", async () => {
    const job = await createOne("tag-1");
    assert.equal(job.metadata.classtune_job_id, "tag-1");
    assert.equal(job.error, null, "a healthy job has no error even though the wire says {}");
    assert.equal((await h.provider.findJobByMetadata("classtune_job_id", "tag-1"))?.id, job.id);
    assert.equal(await h.provider.findJobByMetadata("classtune_job_id", "nope"), undefined);
    const page = await h.provider.listJobs({ limit: 1 });
    assert.equal(page.data[0]?.id, job.id);
    const cancelled = await h.provider.cancelJob(job.id);
    assert.equal(cancelled.status, "cancelled");
  });

  test("lists events and checkpoints, models and chat once a job succeeded", async () => {
    const job = await createOne("tag-2");
    h.clock.advance(3_600_000);
    const done = await h.provider.retrieveJob(job.id);
    assert.equal(done.status, "succeeded");
    const events = await h.provider.listEvents(job.id, { limit: 5 });
    assert.equal(events.data.length, 5);
    assert.ok(events.hasMore);
    const newer = events.data.filter((e): e is ProviderEvent => !isMalformedEvent(e));
    assert.equal(newer.length, 5, "the sandbox's events are all well-formed");
    const older = await h.provider.listEvents(job.id, { after: newer.at(-1)?.id, limit: 5 });
    const oldest = older.data[0];
    assert.ok(oldest && !isMalformedEvent(oldest));
    assert.ok(oldest.createdAt <= (newer.at(-1)?.createdAt ?? 0));
    const checkpoints = await h.provider.listCheckpoints(job.id);
    assert.ok(checkpoints.length >= 1);
    const model = done.fineTunedModel ?? "";
    assert.ok((await h.provider.listModels()).some((m) => m.id === model));
    const info = await h.provider.retrieveModel(model);
    assert.equal(info.id, model);
    assert.equal(info.shutdownDate, null);
    const reply = await h.provider.chat({
      model,
      messages: [{ role: "user", content: "What should I remember about fractions lesson 2?" }],
      temperature: 0.7,
      maxTokens: 100,
    });
    assert.match(reply.text, /fractions lesson 2/);
    assert.ok(reply.usage.totalTokens > 0);
    assert.deepEqual(await h.provider.deleteModel(model), { id: model, deleted: true });
  });

  test("an event the provider sends oddly comes as malformed in its place, between the good ones", async () => {
    const job = await createOne("tag-odd");
    h.clock.advance(3_600_000);
    h.sandbox.faults.oddEvent(job.id, 1, { created_at: "2024-05-01T12:00:00Z" });
    const all = [];
    for (let after: string | undefined, more = true; more; ) {
      const page = await h.provider.listEvents(job.id, { after, limit: 100 });
      all.push(...page.data);
      more = page.hasMore;
      after = page.data.at(-1)?.id ?? undefined;
    }
    const oldestFirst = all.reverse();
    const odd = oldestFirst[1];
    assert.ok(odd && isMalformedEvent(odd), JSON.stringify(odd));
    assert.match(odd.id ?? "", /^ftevent-/);
    assert.match(odd.problem, /^created_at: /);
    assert.ok(oldestFirst.filter((e) => e !== odd).every((e) => !isMalformedEvent(e)));
    // Its id still pages on: the events older than it are there.
    const older = await h.provider.listEvents(job.id, { after: odd.id ?? "", limit: 100 });
    assert.equal(older.data.length, 1);
  });

  test("errors in plain words", async () => {
    h.sandbox.faults.next({ status: 429, retryAfterMs: 1 });
    const rate = await h.provider.listJobs().catch((e: unknown) => e);
    assert.equal(describeProviderError(rate), "the provider is rate-limiting us — try again in a minute");
    assert.ok(isTransientFailure(rate));
    assert.ok(!isAmbiguousFailure(rate));

    h.sandbox.faults.next({ status: 429, code: "insufficient_quota" });
    const quota = await h.provider.listJobs().catch((e: unknown) => e);
    assert.match(describeProviderError(quota), /run out of credit/);

    h.sandbox.faults.next({ status: 429, code: "daily_rate_limit_exceeded" });
    const daily = await h.provider.listJobs().catch((e: unknown) => e);
    assert.match(describeProviderError(daily), /daily limit/);

    h.sandbox.faults.next({
      status: 401,
      message: "Incorrect API key provided",
      type: "invalid_request_error",
    });
    assert.match(describeProviderError(await h.provider.listJobs().catch((e: unknown) => e)), /API key/);

    const missing = await h.provider
      .chat({ model: "gpt-nonexistent", messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    assert.match(describeProviderError(missing), /does not exist/);

    h.sandbox.faults.next({ status: 500 });
    const down = await h.provider.listJobs().catch((e: unknown) => e);
    assert.match(describeProviderError(down), /internal error \(500\)/);
    assert.ok(isAmbiguousFailure(down));

    assert.match(describeProviderError(new APIConnectionError({ message: "reset" })), /could not reach/);
    assert.match(describeProviderError(new APIConnectionTimeoutError()), /did not answer in time/);
  });

  test("a create answered 503 is looked up by tag, reported as unconfirmed, and not retried", async () => {
    const dataset = await h.dataset(12);
    const file = await h.provider.uploadTrainingFile(dataset.storedPath);
    h.sandbox.faults.next({ method: "POST", path: "/fine_tuning/jobs", status: 503 });
    const creates = () => h.calls.filter((c) => c === "POST /fine_tuning/jobs").length;
    const before = creates();
    await assert.rejects(
      h.provider.createJob({
        model: "gpt-4o-mini-2024-07-18",
        trainingFileId: file.id,
        metadata: { classtune_job_id: "t-503" },
      }),
      (e: unknown) => e instanceof AmbiguousCreateError && e.tag === "t-503" && e.lookupError === undefined,
    );
    assert.equal(creates() - before, 1);
    assert.equal(await h.provider.findJobByMetadata("classtune_job_id", "t-503"), undefined);
  });
});

describe("ambiguous create with the provider down", () => {
  test("says the job may have started when it cannot be looked up either", async () => {
    const h = await harness({ maxRetries: 0 });
    try {
      const dataset = await h.dataset(12);
      const file = await h.provider.uploadTrainingFile(dataset.storedPath);
      h.sandbox.faults.next({ path: "/fine_tuning/jobs", status: 502, times: 3 });
      const err = await h.provider
        .createJob({
          model: "gpt-4o-mini-2024-07-18",
          trainingFileId: file.id,
          metadata: { classtune_job_id: "t-502" },
        })
        .catch((e: unknown) => e);
      assert.match(
        describeProviderError(err),
        /internal error \(502\).*may have started anyway \(classtune tag t-502\)/,
      );
    } finally {
      await h.close();
    }
  });
});
