// Fault injection and the error envelope, seen through the real SDK: its retries, its typed errors.
import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { type Rig, startRig, writeTrainingFile } from "./helpers.ts";

describe("sandbox faults and errors", () => {
  let rig: Rig;
  let fileId: string;
  before(async () => {
    rig = await startRig();
    const file = await rig.client.files.create({
      file: createReadStream(writeTrainingFile(rig.dir, 10)),
      purpose: "fine-tune",
    });
    fileId = file.id;
  });
  after(() => rig.close());

  test("a 429 carries retry-after and retry-after-ms, and the SDK (maxRetries 1) retries it to success", async () => {
    rig.sandbox.faults.next({
      method: "GET",
      path: "/fine_tuning/jobs",
      status: 429,
      retryAfterSeconds: 1,
      retryAfterMs: 20,
    });
    await assert.rejects(rig.client.fineTuning.jobs.list(), (err: unknown) => {
      assert.ok(err instanceof OpenAI.RateLimitError);
      assert.equal(err.code, "rate_limit_exceeded");
      assert.equal(err.headers?.get("retry-after"), "1");
      assert.equal(err.headers?.get("retry-after-ms"), "20");
      assert.match(err.requestID ?? "", /^req_[0-9a-f]{32}$/);
      return true;
    });

    const before = rig.sandbox.faults.injected;
    rig.sandbox.faults.next({
      path: /^\/fine_tuning\/jobs$/,
      status: 429,
      retryAfterSeconds: 1,
      retryAfterMs: 20,
    });
    const retrying = rig.client.withOptions({ maxRetries: 1 });
    const page = await retrying.fineTuning.jobs.list();
    assert.ok(Array.isArray(page.data));
    assert.equal(rig.sandbox.faults.injected, before + 1);
  });

  test("daily_rate_limit_exceeded and insufficient_quota are 429s with their codes", async () => {
    rig.sandbox.faults.next({
      method: "POST",
      path: "/fine_tuning/jobs",
      status: 429,
      code: "daily_rate_limit_exceeded",
    });
    await assert.rejects(
      rig.client.fineTuning.jobs.create({ model: "gpt-4o-mini", training_file: fileId }),
      (err: unknown) => err instanceof OpenAI.RateLimitError && err.code === "daily_rate_limit_exceeded",
    );
    rig.sandbox.faults.next({ status: 429, code: "insufficient_quota" });
    await assert.rejects(rig.client.models.list(), (err: unknown) => {
      assert.ok(err instanceof OpenAI.RateLimitError);
      assert.equal(err.code, "insufficient_quota");
      assert.equal(err.type, "insufficient_quota");
      return true;
    });
    // The fault was consumed: the same call now works.
    assert.ok((await rig.client.models.list()).data.length >= 6);
  });

  test("a 500 surfaces as APIError (InternalServerError) once retries run out", async () => {
    rig.sandbox.faults.next({ path: /^\/fine_tuning\/jobs\/[^/]+$/, status: 500, times: 2 });
    const job = await rig.client.fineTuning.jobs.create({ model: "gpt-4o-mini", training_file: fileId });
    await assert.rejects(
      rig.client.withOptions({ maxRetries: 1 }).fineTuning.jobs.retrieve(job.id),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.InternalServerError);
        assert.ok(err instanceof OpenAI.APIError);
        assert.equal(err.status, 500);
        assert.equal(err.type, "server_error");
        return true;
      },
    );
    assert.equal((await rig.client.fineTuning.jobs.retrieve(job.id)).id, job.id);
  });

  test("a 500 after handling loses the answer but not the work: the job exists once", async () => {
    rig.sandbox.faults.next({ method: "POST", path: "/fine_tuning/jobs", status: 500, afterHandling: true });
    const create = rig.client.fineTuning.jobs.create({
      model: "gpt-4o-mini",
      training_file: fileId,
      metadata: { classtune_job: "ambiguous-1" },
    });
    await assert.rejects(create, OpenAI.InternalServerError);
    const found = await rig.client.fineTuning.jobs.list({ metadata: { classtune_job: "ambiguous-1" } });
    assert.equal(found.data.length, 1);
  });

  test("a connection reset surfaces as APIConnectionError; after handling, the work is still done", async () => {
    rig.sandbox.faults.next({ path: "/models", reset: true });
    await assert.rejects(rig.client.models.list(), OpenAI.APIConnectionError);
    rig.sandbox.faults.next({ method: "POST", path: "/fine_tuning/jobs", reset: true, afterHandling: true });
    await assert.rejects(
      rig.client.fineTuning.jobs.create({
        model: "gpt-4o-mini",
        training_file: fileId,
        metadata: { classtune_job: "reset-1" },
      }),
      OpenAI.APIConnectionError,
    );
    const found = await rig.client.fineTuning.jobs.list({ metadata: { classtune_job: "reset-1" } });
    assert.equal(found.data.length, 1);
  });

  test("overrideStatus makes a job report a status clients may not know", async () => {
    const job = await rig.client.fineTuning.jobs.create({ model: "gpt-4o-mini", training_file: fileId });
    rig.sandbox.faults.overrideStatus(job.id, "paused");
    assert.equal((await rig.client.fineTuning.jobs.retrieve(job.id)).status, "paused");
    const listed = await rig.client.fineTuning.jobs.list({ limit: 100 });
    assert.equal(listed.data.find((j) => j.id === job.id)?.status, "paused");
    rig.sandbox.faults.overrideStatus(job.id, undefined);
    assert.equal((await rig.client.fineTuning.jobs.retrieve(job.id)).status, "validating_files");
  });

  test("an upload cut off mid-body does not take the server down", async () => {
    const { request } = await import("node:http");
    const url = new URL(`${rig.sandbox.url}/files`);
    await new Promise<void>((resolve) => {
      const req = request(url, {
        method: "POST",
        headers: {
          authorization: "Bearer x",
          "content-type": "multipart/form-data; boundary=b",
          "content-length": "100000",
        },
      });
      req.on("error", () => resolve());
      req.write(
        '--b\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n{"messages": [',
      );
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 50);
    });
    assert.ok((await rig.client.models.list()).data.length >= 6);
  });

  test("added latency trips the SDK's timeout", async () => {
    rig.sandbox.faults.next({ path: "/models", latencyMs: 300 });
    await assert.rejects(rig.client.models.list({ timeout: 50 }), OpenAI.APIConnectionTimeoutError);
  });

  test("failNextJob fails the next job after validation, or after some steps", async () => {
    rig.sandbox.faults.failNextJob({
      code: "server_error",
      message: "The job failed due to an internal error.",
    });
    const early = await rig.client.fineTuning.jobs.create({ model: "gpt-4o-mini", training_file: fileId });
    rig.sandbox.faults.failNextJob({ afterSteps: 3 });
    const late = await rig.client.fineTuning.jobs.create({ model: "gpt-4o-mini", training_file: fileId });
    const healthy = await rig.client.fineTuning.jobs.create({ model: "gpt-4o-mini", training_file: fileId });
    rig.clock.advance(10_000_000);

    const e = await rig.client.fineTuning.jobs.retrieve(early.id);
    assert.equal(e.status, "failed");
    assert.deepEqual(e.error, {
      code: "server_error",
      message: "The job failed due to an internal error.",
      param: null,
    });
    const l = await rig.client.fineTuning.jobs.retrieve(late.id);
    assert.equal(l.status, "failed");
    const events = await rig.client.fineTuning.jobs.listEvents(late.id, { limit: 2 });
    assert.equal(events.data[0]?.level, "error");
    assert.match(events.data[1]?.message ?? "", /^Step 3\//);
    assert.equal((await rig.client.fineTuning.jobs.retrieve(healthy.id)).status, "succeeded");
  });

  test("missing auth is a 401, bad JSON a 400, an unknown route a 404: always the envelope", async () => {
    const base = rig.sandbox.url;
    const noAuth = await fetch(`${base}/models`);
    assert.equal(noAuth.status, 401);
    assert.match(noAuth.headers.get("x-request-id") ?? "", /^req_/);
    const envelope = (await noAuth.json()) as { error: Record<string, unknown> };
    assert.deepEqual(Object.keys(envelope.error).sort(), ["code", "message", "param", "type"]);

    const auth = { authorization: "Bearer anything" };
    const badJson = await fetch(`${base}/fine_tuning/jobs`, {
      method: "POST",
      headers: auth,
      body: "{not json",
    });
    assert.equal(badJson.status, 400);
    assert.match(
      ((await badJson.json()) as { error: { message: string } }).error.message,
      /could not parse the JSON body/,
    );

    const arrayBody = await fetch(`${base}/chat/completions`, {
      method: "POST",
      headers: auth,
      body: "[1,2]",
    });
    assert.equal(arrayBody.status, 400);

    const unknown = await fetch(`${base}/no/such/thing`, { headers: auth });
    assert.equal(unknown.status, 404);
    assert.equal(
      ((await unknown.json()) as { error: { message: string } }).error.message,
      "Invalid URL (GET /v1/no/such/thing)",
    );

    const badEncoding = await fetch(`${base}/models/%E0%A4%A`, { headers: auth });
    assert.equal(badEncoding.status, 404);

    const notMultipart = await fetch(`${base}/files`, { method: "POST", headers: auth, body: "hello" });
    assert.equal(notMultipart.status, 400);

    const brokenMultipart = await fetch(`${base}/files`, {
      method: "POST",
      headers: { ...auth, "content-type": "multipart/form-data; boundary=xyz" },
      body: '--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\nabc',
    });
    assert.equal(brokenMultipart.status, 400);

    // And the server is still up.
    assert.equal((await rig.client.models.list()).object, "list");
  });

  test("uploads need a purpose, and fine-tune files must be .jsonl", async () => {
    await assert.rejects(
      rig.client.files.create({
        file: await OpenAI.toFile(Buffer.from("{}\n"), "data.csv"),
        purpose: "fine-tune",
      }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && /Must be \.jsonl/.test(err.message),
    );
    const form = new FormData();
    form.append("file", new Blob(["{}\n"]), "data.jsonl");
    const res = await fetch(`${rig.sandbox.url}/files`, {
      method: "POST",
      headers: { authorization: "Bearer x" },
      body: form,
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { param: string } }).error.param, "purpose");
  });
});
