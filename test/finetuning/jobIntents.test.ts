// A paid job create is written down before it is sent: a lost answer or a crash never leaves a job unwatched,
// and never makes a second one.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { JobIntentRepository } from "../../src/db/jobIntents.ts";
import { JobRepository } from "../../src/db/jobs.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { UserError } from "../../src/domain/errors.ts";
import { INTENT_GIVE_UP_MS } from "../../src/finetuning/jobs.ts";
import { type Harness, harness, type Tamper } from "./jobs.fixture.ts";

const serverError = () =>
  new Response(
    JSON.stringify({ error: { message: "upstream failed", type: "server_error", param: null, code: null } }),
    {
      status: 500,
      headers: { "content-type": "application/json" },
    },
  );
const on =
  (method: string, path: RegExp): Tamper =>
  (url, init) =>
    (init?.method ?? "GET") === method && path.test(new URL(url).pathname) ? serverError() : undefined;

const pendingCount = async (h: Harness) =>
  (await new JobIntentRepository(sqliteStore(h.db)).listForProvider("sandbox")).length;
const remoteWithTag = async (h: Harness, tag: string) =>
  (await h.client.fineTuning.jobs.list({ limit: 100 })).data.filter(
    (j) => j.metadata?.classtune_job_id === tag,
  );

describe("pending job creates", () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());
  beforeEach(() => {
    h.tamper.length = 0;
    h.sandbox.faults.clear();
  });

  test("a create whose answer and lookup both failed is found by the next tick and recorded once", async () => {
    const dataset = await h.dataset(12);
    h.tamper.push(on("POST", /\/fine_tuning\/jobs$/));
    // Every lookup (the SDK's retries included) fails too.
    for (let i = 0; i < 12; i++) h.tamper.push(on("GET", /\/fine_tuning\/jobs$/));
    await assert.rejects(
      h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "u1" }),
      (e: unknown) =>
        e instanceof UserError &&
        e.code === "create_unconfirmed" &&
        /may have started anyway.*\(ref ct-/.test(e.message),
    );
    assert.equal((await new JobRepository(sqliteStore(h.db)).list("g1", 100)).length, 0);
    assert.equal(await pendingCount(h), 1);

    h.tamper.length = 0;
    await h.poller.tick();
    const jobs = await new JobRepository(sqliteStore(h.db)).list("g1", 100);
    assert.equal(jobs.length, 1, "the job the provider did start is now watched");
    const job = jobs[0];
    assert.ok(job);
    assert.equal((await remoteWithTag(h, job.tag)).length, 1, "and it is the only one");
    assert.equal(await pendingCount(h), 0);
    await h.poller.tick();
    assert.equal(h.sent.filter((n) => n.kind === "job_created" && n.payload.jobId === job.id).length, 1);
  });

  test("a create whose answer was lost and that the lookup does not find yet is kept, and recorded when it shows up", async () => {
    const dataset = await h.dataset(12, { guildId: "g4" });
    const emptyList = () =>
      new Response(JSON.stringify({ object: "list", data: [], has_more: false }), {
        status: 200,
        headers: { "content-type": "application/json" },
      });
    // The sandbox creates the job but the answer is lost; the lookups right after do not see it yet.
    h.tamper.push(on("POST", /\/fine_tuning\/jobs$/));
    for (let i = 0; i < 4; i++)
      h.tamper.push((url, init) =>
        (init?.method ?? "GET") === "GET" && /\/fine_tuning\/jobs$/.test(new URL(url).pathname)
          ? emptyList()
          : undefined,
      );
    await assert.rejects(
      h.jobs.start({ guildId: "g4", datasetId: dataset.id, requesterId: "u4" }),
      (e: unknown) => e instanceof UserError && e.code === "create_unconfirmed",
    );
    assert.equal(await pendingCount(h), 1, "the intent is kept: the job may exist");
    h.tamper.length = 0;
    await h.poller.tick();
    assert.equal(
      (await new JobRepository(sqliteStore(h.db)).list("g4", 100)).length,
      1,
      "recorded once it is visible",
    );
    assert.equal(await pendingCount(h), 0);
  });

  test("after a crash between the create and the write, the restarted poller records the job", async () => {
    const dataset = await h.dataset(12);
    const tag = "ct-crash-test";
    // The state a crash leaves: the intent written, the remote job created, no jobs row.
    const file = await h.provider.uploadTrainingFile(dataset.storedPath);
    await new JobIntentRepository(sqliteStore(h.db)).insert({
      tag,
      guildId: "g2",
      provider: "sandbox",
      createdAt: new Date(h.clock.now()).toISOString(),
      input: {
        guildId: "g2",
        datasetId: dataset.id,
        datasetName: dataset.fileName,
        examples: 12,
        requesterId: "u2",
        model: dataset.baseModel,
        suffix: null,
        epochs: null,
        seed: null,
        trainingFileId: file.id,
        estimatedCostUsd: 0.01,
        notifyChannelId: null,
        testQuestions: [],
      },
    });
    await h.provider.createJob({
      model: dataset.baseModel,
      trainingFileId: file.id,
      metadata: { classtune_job_id: tag },
    });
    await h.restart();
    await h.poller.tick();
    await h.poller.tick();
    const job = await new JobRepository(sqliteStore(h.db)).getByTag("g2", tag);
    assert.ok(job, "recorded after the restart");
    assert.equal(job.requesterId, "u2");
    assert.equal(h.sent.filter((n) => n.kind === "job_created" && n.payload.jobId === job.id).length, 1);
    assert.equal(
      await new JobRepository(sqliteStore(h.db)).getByTag("g1", tag),
      undefined,
      "only in its own guild",
    );
  });

  test("a create that never reached the provider is forgotten after a while, not before", async () => {
    const dataset = await h.dataset(12, { guildId: "g3" });
    h.sandbox.faults.next({ method: "POST", path: "/fine_tuning/jobs", status: 500, reset: true });
    for (let i = 0; i < 12; i++) h.tamper.push(on("GET", /\/fine_tuning\/jobs$/));
    await assert.rejects(
      h.jobs.start({ guildId: "g3", datasetId: dataset.id, requesterId: "u3" }),
      UserError,
    );
    h.tamper.length = 0;
    const pending = await pendingCount(h);
    assert.ok(pending >= 1);
    await h.jobs.reconcilePendingCreates();
    assert.equal(await pendingCount(h), pending, "kept while it may still be on its way");
    h.clock.advance(INTENT_GIVE_UP_MS + 1000);
    const { forgotten } = await h.jobs.reconcilePendingCreates();
    assert.ok(forgotten >= 1);
    assert.equal((await new JobRepository(sqliteStore(h.db)).list("g3", 100)).length, 0);
  });
});
