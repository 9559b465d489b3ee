// OpenAI's closed fine-tuning: a create answered 403 training_not_available reaches the teacher as a plain
// message pointing at other providers, and the training file uploaded just before is deleted again.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { JobRepository } from "../../src/db/jobs.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { UserError } from "../../src/domain/errors.ts";
import {
  describeProviderError,
  isTrainingClosed,
  TRAINING_CLOSED_MESSAGE,
} from "../../src/providers/errors.ts";
import { type Harness, harness } from "./jobs.fixture.ts";

describe("a provider that has closed fine-tuning", () => {
  let h: Harness;
  before(async () => {
    h = await harness({ maxRetries: 0 });
  });
  after(() => h.close());

  test("the teacher reads that OpenAI closed fine-tuning, and the uploaded file is deleted", async () => {
    const dataset = await h.dataset(12);
    h.sandbox.faults.next({
      method: "POST",
      path: "/fine_tuning/jobs",
      status: 403,
      code: "training_not_available",
    });
    h.calls.length = 0;
    const err = await h.jobs
      .start({ guildId: "g1", datasetId: dataset.id, requesterId: "teacher" })
      .catch((e: unknown) => e);
    assert.ok(err instanceof UserError, "a message for the teacher, not a crash");
    assert.match(err.message, /OpenAI has closed fine-tuning for this organisation/);
    assert.match(err.message, /\/finetune start provider:/);
    assert.match(err.message, /README's Providers section/);

    assert.deepEqual(h.calls.slice(0, 2), ["POST /files", "POST /fine_tuning/jobs"]);
    const deleted = h.calls.find((c) => c.startsWith("DELETE /files/"));
    assert.ok(deleted, "the training file was deleted again");
    const fileId = deleted.slice("DELETE /files/".length);
    await assert.rejects(h.client.files.retrieve(fileId), OpenAI.NotFoundError);
    assert.equal((await new JobRepository(sqliteStore(h.db)).list("g1")).length, 0, "no job was recorded");
  });

  test("any other refusal keeps today's behaviour: no file deletion", async () => {
    const dataset = await h.dataset(12);
    h.sandbox.faults.next({ method: "POST", path: "/fine_tuning/jobs", status: 400, message: "bad request" });
    h.calls.length = 0;
    await assert.rejects(
      h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "teacher" }),
      UserError,
    );
    assert.equal(
      h.calls.some((c) => c.startsWith("DELETE /files/")),
      false,
    );
  });

  test("isTrainingClosed knows OpenAI's 403 training_not_available and nothing else", async () => {
    h.sandbox.faults.next({ status: 403, code: "training_not_available" });
    const closed = await h.provider.listJobs().catch((e: unknown) => e);
    assert.ok(isTrainingClosed(closed));
    assert.equal(describeProviderError(closed), TRAINING_CLOSED_MESSAGE);
    h.sandbox.faults.next({ status: 403, message: "You are not allowed to sample from this model" });
    const denied = await h.provider.listJobs().catch((e: unknown) => e);
    assert.equal(isTrainingClosed(denied), false);
    assert.match(describeProviderError(denied), /not allowed to do this/);
  });
});
