// A tracked job the provider no longer knows (404 on retrieve after a listing that worked) ends once, in words.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { JobFailedPayload } from "../../src/domain/notices.ts";
import { type Harness, harness } from "./jobs.fixture.ts";

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

describe("a job deleted at the provider", () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());

  test("is ended as failed with one notice, not asked for again every tick", async () => {
    const dataset = await h.dataset(12);
    const job = await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1" });
    // The listing works but no longer shows the job, and asking for it answers 404.
    h.tamper.push((url, init) =>
      (init?.method ?? "GET") === "GET" && new URL(url).pathname.endsWith("/fine_tuning/jobs")
        ? json(200, { object: "list", data: [], has_more: false })
        : undefined,
    );
    h.tamper.push((url, init) =>
      (init?.method ?? "GET") === "GET" && new URL(url).pathname.endsWith(`/fine_tuning/jobs/${job.remoteId}`)
        ? json(404, {
            error: {
              message: `No such job: ${job.remoteId}`,
              type: "invalid_request_error",
              param: null,
              code: null,
            },
          })
        : undefined,
    );
    await h.poller.tick();
    const ended = await h.jobs.require("g1", job.id);
    assert.equal(ended.status, "failed");
    assert.equal(ended.errorCode, "job_not_found");
    h.calls.length = 0;
    await h.poller.tick();
    assert.ok(
      !h.calls.some((c) => c.startsWith("GET /fine_tuning/jobs/")),
      "an ended job is not asked for again",
    );
    const failed = h.sent.filter((n) => n.kind === "job_failed" && n.payload.jobId === job.id);
    assert.equal(failed.length, 1);
    assert.match(
      (failed[0]?.payload as JobFailedPayload | undefined)?.errorMessage ?? "",
      /no longer knows this job/,
    );
  });
});
