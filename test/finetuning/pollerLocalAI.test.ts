// A school's own GPU through the one wiring (buildServices over FINETUNE_PROVIDERS) and a loopback fake of
// LocalAI's fine-tuning API: a create whose answer and lookup were both lost is found by the poller's reconcile
// by its uploaded dataset and recorded once; a 429/500 storm while polling fails nothing; the loss curve comes
// from the progress stream; the finished job is exported under its deterministic name and answers /ask.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { JobIntentRepository } from "../../src/db/jobIntents.ts";
import { JobMetricsRepository, JobRepository, type JobRow } from "../../src/db/jobs.ts";
import type { Db } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { UserError } from "../../src/domain/errors.ts";
import type { OutboxNotice } from "../../src/domain/notices.ts";
import { deploymentNameFor } from "../../src/providers/deployments.ts";
import type { Services } from "../../src/wire.ts";
import { type FakeLocalAI, startFakeLocalAI } from "../fakes/localai/index.ts";
import { startJobAt } from "../helpers/finetune.ts";
import { startServices, type TestServices } from "../helpers/services.ts";

const LLAMA = "meta-llama/Llama-3.1-8B-Instruct";
const G = "guild-gpu";

let dir: string;
let fake: FakeLocalAI;
let started: TestServices;
let db: Db;
let services: Services;
let sent: OutboxNotice[];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "classtune-localai-poller-"));
  fake = await startFakeLocalAI({ autoAdvance: true, closeStreams: true });
  started = await startServices({
    DATA_DIR: join(dir, "data"),
    OPENAI_MAX_RETRIES: "0",
    FINETUNE_PROVIDERS: JSON.stringify([{ kind: "localai", name: "gpu", baseURL: fake.url }]),
  });
  ({ db, services, sent } = started);
});
after(async () => {
  await started.close();
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

const start = (): Promise<JobRow> =>
  startJobAt(services, { guildId: G, dir, provider: "gpu", model: LLAMA, epochs: 2 });

const rows = async () => await new JobRepository(sqliteStore(db)).list(G, 100);

describe("LocalAI through JobService and the poller", () => {
  test("a create whose answer and lookup were lost is recorded once, by its dataset, on the next tick", async () => {
    fake.failAfterHandling({ method: "POST", path: /^\/api\/fine-tuning\/jobs$/ });
    fake.fail({ method: "GET", path: /^\/api\/fine-tuning\/jobs$/ }, 500);
    const made = fake.jobs.size;
    await assert.rejects(start(), (e: unknown) => e instanceof UserError && e.code === "create_unconfirmed");
    assert.equal(fake.jobs.size, made + 1, "LocalAI did start it");
    assert.equal((await rows()).length, 0);
    assert.equal((await new JobIntentRepository(sqliteStore(db)).listForProvider("gpu")).length, 1);

    await services.poller.tick();
    const recorded = await rows();
    assert.equal(recorded.length, 1, "the job LocalAI started is now watched");
    const remote = await fake.jobs.get(recorded[0]?.remoteId ?? "");
    assert.ok(remote, "recorded under LocalAI's own job id");
    assert.equal((await new JobIntentRepository(sqliteStore(db)).listForProvider("gpu")).length, 0);
    await services.poller.tick();
    assert.equal((await rows()).length, 1, "never twice");
    assert.equal(fake.jobs.size, made + 1, "and never a second job on the GPU");
    fake.setStatus(remote.id, "stopped");
    await services.poller.tick();
  });

  test("a 429/500 storm while polling fails no job; then it trains, charts its loss, exports and answers", async () => {
    const job = await start();
    assert.equal(job.provider, "gpu");
    for (const status of [429, 500, 503, 429]) {
      // The poller reads jobs through the listing (a job missing from it is got by id).
      fake.fail({ method: "GET", path: /^\/api\/fine-tuning\/jobs$/ }, status);
      await services.poller.tick();
      const now = await services.jobs.require(G, job.id);
      assert.equal(now.status, "queued", `after a ${status}: not failed, not moved`);
    }
    let done = await services.jobs.require(G, job.id);
    for (
      let i = 0;
      i < 20 &&
      !(done.status === "succeeded" && (await services.serving.forJob(G, job.id))?.servingStatus === "ready");
      i++
    ) {
      await services.poller.tick();
      done = await services.jobs.require(G, job.id);
    }
    assert.equal(done.status, "succeeded");
    const model = await services.serving.forJob(G, job.id);
    const name = deploymentNameFor(done.remoteId);
    assert.equal(model?.servingStatus, "ready");
    assert.equal(model?.deploymentName, name);
    assert.equal(model?.servedAs, name, "served under the name it was exported as");
    assert.equal(
      fake.requests.filter((r) => r.path === `/api/fine-tuning/jobs/${done.remoteId}/export`).length,
      1,
    );

    const points = await new JobMetricsRepository(sqliteStore(db)).list(G, job.id);
    assert.deepEqual(
      points.map((p) => p.step),
      [1, 2, 3, 4, 5, 6],
      "every step of the progress stream",
    );
    assert.ok(points.every((p) => typeof p.trainLoss === "number"));
    assert.ok((points[0]?.trainLoss ?? 0) > (points.at(-1)?.trainLoss ?? 0), "the loss went down");
    assert.ok(sent.some((n) => n.kind === "job_succeeded" && n.payload.jobId === job.id));

    const reply = await services.classroom.ask({
      guildId: G,
      channelId: "c1",
      userId: "teacher",
      isTeacher: true,
      question: "What should I remember about fractions lesson 2?",
      model: model?.name ?? "",
    });
    assert.ok(reply.ok, JSON.stringify(reply));
    const chat = fake.requests.filter((r) => r.path === "/v1/chat/completions").at(-1);
    assert.equal(((chat?.body ?? {}) as { model?: string }).model, name, "asked by the exported name");
  });

  test("a teacher's cancel stops the job on the GPU and records it cancelled", async () => {
    const job = await start();
    const cancelled = await services.jobs.cancel(G, job.id);
    assert.equal(cancelled.status, "cancelled");
    assert.equal(fake.jobs.get(job.remoteId)?.status, "stopped");
    assert.ok(
      fake.requests.some(
        (r) => r.method === "POST" && r.path === `/api/fine-tuning/jobs/${job.remoteId}/stop`,
      ),
    );
  });
});
