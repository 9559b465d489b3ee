// Several fine-tuning providers at once: two sandboxes over loopback ("alpha", the default, and "beta", a
// standalone one), each with its own store, on one clock. Each job is polled, cancelled, reconciled and asked at
// its own provider, and one provider's outage (5xx, 429, a slow answer) never fails or holds back the other's.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import OpenAI from "openai";
import { datasetFieldsFromReport } from "../../src/datasets/store.ts";
import { validateFile } from "../../src/datasets/validator.ts";
import { DatasetRepository, type DatasetRow } from "../../src/db/datasets.ts";
import { JobRepository } from "../../src/db/jobs.ts";
import { ModelRepository } from "../../src/db/models.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import type { JobSucceededPayload, OutboxNotice } from "../../src/domain/notices.ts";
import { JobService } from "../../src/finetuning/jobs.ts";
import { JobPoller, type TickResult } from "../../src/finetuning/poller.ts";
import { Notifier } from "../../src/notices/notifier.ts";
import { OpenAICompatibleProvider } from "../../src/providers/openaiCompatible.ts";
import { endpointOf } from "../../src/providers/registry.ts";
import { manualClock } from "../../src/sandbox/clock.ts";
import { type SandboxHandle, startSandbox } from "../../src/sandbox/server.ts";
import { registryOf } from "../helpers/providers.ts";
import { chatLines } from "./jobs.fixture.ts";

const clock = manualClock();
let dir: string;
let db: Db;
const sandboxDbs: Db[] = [];
let alpha: SandboxHandle;
let beta: SandboxHandle;
let betaProvider: OpenAICompatibleProvider;
let jobs: JobService;
let poller: JobPoller;
const sent: OutboxNotice[] = [];
let datasets = 0;
/** While set, beta's job listings wait for it: a provider as slow as the test wants, whatever the machine's load. */
let betaHold: Promise<void> | undefined;
const betaFetch: typeof fetch = async (input, init) => {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  if ((init?.method ?? "GET") === "GET" && new URL(url).pathname.endsWith("/fine_tuning/jobs"))
    await betaHold;
  return fetch(input, init);
};

async function sandbox(name: string): Promise<SandboxHandle> {
  const own = openDb(join(dir, `${name}-sandbox.db`));
  sandboxDbs.push(own);
  return startSandbox({ db: own, dataDir: join(dir, name), clock, secondsPerStep: 1 });
}

async function dataset(): Promise<DatasetRow> {
  datasets += 1;
  const path = join(dir, `lessons-${datasets}.jsonl`);
  await writeFile(path, chatLines(12));
  return new DatasetRepository(sqliteStore(db)).insert({
    guildId: "g1",
    uploaderId: "teacher",
    fileName: `lessons-${datasets}.jsonl`,
    ...datasetFieldsFromReport(await validateFile(path)),
    storedPath: path,
    cleanedPath: null,
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "classtune-providers-"));
  db = openDb(join(dir, "classtune.db"));
  alpha = await sandbox("alpha");
  beta = await sandbox("beta");
  const client = (url: string, maxRetries: number, doFetch: typeof fetch = fetch) =>
    new OpenAI({ apiKey: "sandbox", baseURL: url, maxRetries, timeout: 30_000, fetch: doFetch });
  betaProvider = new OpenAICompatibleProvider({ client: client(beta.url, 0, betaFetch), name: "beta" });
  const providers = registryOf([
    {
      jobs: new OpenAICompatibleProvider({ client: client(alpha.url, 2), name: "alpha" }),
      runtimeBaseURL: alpha.url,
    },
    { jobs: betaProvider, baseURL: beta.url },
  ]);
  const now = () => new Date(clock.now());
  jobs = new JobService({ store: sqliteStore(db), providers, maxJobCostUsd: 25, dataDir: dir, now });
  poller = new JobPoller({
    store: sqliteStore(db),
    providers,
    notifier: new Notifier({
      store: sqliteStore(db),
      sender: {
        async send(n) {
          sent.push(n);
          return { messageId: `msg-${n.id}` };
        },
      },
    }),
    reconcileCreates: (provider) => jobs.reconcilePendingCreates(provider),
    now,
    progressNoticeIntervalMs: 0,
  });
});
after(async () => {
  await poller.stop();
  await alpha.close();
  await beta.close();
  db.close();
  for (const d of sandboxDbs) d.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  alpha.faults.clear();
  beta.faults.clear();
});

const status = async (id: number) => (await jobs.require("g1", id)).status;
const succeededNotice = (id: number) =>
  sent.find((n) => n.kind === "job_succeeded" && n.payload.jobId === id)?.payload as
    | JobSucceededPayload
    | undefined;

describe("several providers polled at once", () => {
  test("a job goes to the provider it names, the default otherwise, and records where it went", async () => {
    const onDefault = await jobs.start({ guildId: "g1", datasetId: (await dataset()).id, requesterId: "u1" });
    const onBeta = await jobs.start({
      guildId: "g1",
      datasetId: (await dataset()).id,
      requesterId: "u1",
      provider: "beta",
    });
    assert.equal(onDefault.provider, "alpha");
    assert.equal(onDefault.providerEndpoint, "sandbox:embedded");
    assert.equal(onBeta.provider, "beta");
    assert.equal(onBeta.providerKind, "sandbox");
    assert.equal(onBeta.providerEndpoint, endpointOf({ kind: "sandbox", baseURL: beta.url }));
    // Each job exists at its own provider only.
    assert.equal((await betaProvider.retrieveJob(onBeta.remoteId)).id, onBeta.remoteId);
    await assert.rejects(betaProvider.retrieveJob(onDefault.remoteId), /404/);
    for (const id of [onDefault.id, onBeta.id]) await jobs.cancel("g1", id);
  });

  test("while one provider answers 503 to everything, the other's job still runs to its model and notice", async () => {
    const a = await jobs.start({ guildId: "g1", datasetId: (await dataset()).id, requesterId: "u1" });
    const b = await jobs.start({
      guildId: "g1",
      datasetId: (await dataset()).id,
      requesterId: "u1",
      provider: "beta",
    });
    beta.faults.next({ path: /^\/fine_tuning\/jobs/, status: 503, times: Number.POSITIVE_INFINITY });
    const ticks: TickResult[] = [];
    for (let i = 0; i < 30 && (await status(a.id)) !== "succeeded"; i++) {
      clock.advance(5_000);
      ticks.push(await poller.tick());
    }
    assert.equal(await status(a.id), "succeeded");
    const notice = succeededNotice(a.id);
    assert.ok(notice, "alpha's success was posted");
    assert.ok(notice.testAnswers.every((t) => typeof t.answer === "string"));
    assert.equal(
      (await new ModelRepository(sqliteStore(db)).get("g1", notice.fineTunedModel))?.provider,
      "alpha",
    );
    assert.ok(ticks.every((t) => (t.byProvider.beta?.errors ?? 0) >= 1 && t.byProvider.alpha?.errors === 0));
    assert.ok(
      ticks.every((t) => (t.byProvider.alpha?.listCalls ?? 0) <= 2),
      "⌈1/100⌉ + 1 list calls a tick at most",
    );
    assert.ok(!["failed", "succeeded"].includes(await status(b.id)), "an outage never fails a job");
    assert.equal(succeededNotice(b.id), undefined);

    // Beta comes back: its job is polled where it lives, and its model is asked there (alpha does not know it).
    beta.faults.clear();
    for (let i = 0; i < 30 && (await status(b.id)) !== "succeeded"; i++) {
      clock.advance(5_000);
      await poller.tick();
    }
    const betaNotice = succeededNotice(b.id);
    assert.ok(betaNotice, "beta's success was posted once it answered again");
    assert.equal(betaNotice.provider, "beta");
    assert.ok(
      betaNotice.testAnswers.length > 0 && betaNotice.testAnswers.every((t) => t.error === null),
      JSON.stringify(betaNotice.testAnswers),
    );
    assert.equal(
      (await new ModelRepository(sqliteStore(db)).get("g1", betaNotice.fineTunedModel))?.provider,
      "beta",
    );
  });

  test("a rate-limited provider stops only its own calls", async () => {
    const a = await jobs.start({ guildId: "g1", datasetId: (await dataset()).id, requesterId: "u1" });
    const b = await jobs.start({
      guildId: "g1",
      datasetId: (await dataset()).id,
      requesterId: "u1",
      provider: "beta",
    });
    beta.faults.next({ path: "/fine_tuning/jobs", method: "GET", status: 429, retryAfterMs: 1, times: 50 });
    clock.advance(60_000);
    const r = await poller.tick();
    assert.ok((r.byProvider.beta?.errors ?? 0) >= 1);
    assert.equal(r.byProvider.alpha?.errors, 0);
    assert.notEqual(
      (await jobs.require("g1", a.id)).remoteFingerprint,
      null,
      "alpha's job was read and updated",
    );
    assert.equal(
      (await jobs.require("g1", b.id)).remoteFingerprint,
      null,
      "beta's was not (and is not failed)",
    );
    assert.ok(!["failed", "succeeded"].includes(await status(b.id)));
    for (const id of [a.id, b.id]) await jobs.cancel("g1", id).catch(() => undefined);
  });

  test("a slow provider never holds back the other's notices, and is not polled twice at once", async () => {
    const a = await jobs.start({ guildId: "g1", datasetId: (await dataset()).id, requesterId: "u1" });
    const b = await jobs.start({
      guildId: "g1",
      datasetId: (await dataset()).id,
      requesterId: "u1",
      provider: "beta",
    });
    // Far enough ahead that alpha's job has finished by the next listing; beta answers when the test says.
    clock.advance(3_600_000);
    let release: () => void = () => {};
    betaHold = new Promise<void>((r) => {
      release = r;
    });
    let firstDone = false;
    const first = poller.tick().then((r) => {
      firstDone = true;
      return r;
    });
    const started = Date.now();
    while (!succeededNotice(a.id) && Date.now() - started < 30_000)
      await new Promise((r) => setTimeout(r, 20));
    assert.ok(succeededNotice(a.id), "alpha's success was posted");
    assert.equal(firstDone, false, "…while beta's part of the tick was still waiting");

    // A tick while beta still waits: alpha's new job is polled, beta is left to the tick it is busy in.
    const a2 = await jobs.start({ guildId: "g1", datasetId: (await dataset()).id, requesterId: "u1" });
    const second = await poller.tick();
    assert.deepEqual(second.busy, ["beta"], "beta, still busy, is skipped");
    assert.equal(second.byProvider.beta, undefined);
    assert.equal(second.byProvider.alpha?.tracked, 1);
    assert.equal(firstDone, false);

    betaHold = undefined;
    release();
    const r = await first;
    assert.equal(r.byProvider.beta?.errors, 0, "slow is not failed");
    assert.equal(await status(b.id), "succeeded");
    assert.ok(succeededNotice(b.id));
    await jobs.cancel("g1", a2.id);
  });

  test("cancel and a lost create's reconciliation go to the job's own provider", async () => {
    const b = await jobs.start({
      guildId: "g1",
      datasetId: (await dataset()).id,
      requesterId: "u1",
      provider: "beta",
    });
    const cancelled = await jobs.cancel("g1", b.id);
    assert.equal(cancelled.status, "cancelled");
    assert.equal((await betaProvider.retrieveJob(b.remoteId)).status, "cancelled");

    // Beta creates the job but its answer is lost, and so is the lookup right after: the create is pending.
    beta.faults.next({ method: "POST", path: "/fine_tuning/jobs", status: 500, afterHandling: true });
    beta.faults.next({ method: "GET", path: "/fine_tuning/jobs", status: 503 });
    const ds = await dataset();
    await assert.rejects(
      jobs.start({ guildId: "g1", datasetId: ds.id, requesterId: "u1", provider: "beta" }),
      /did not confirm the job/,
    );
    const r = await poller.tick();
    assert.equal(r.byProvider.beta?.errors, 0);
    const recorded = (await new JobRepository(sqliteStore(db)).list("g1", 100)).find(
      (j) => j.datasetId === ds.id,
    );
    assert.ok(recorded, "the pending create was found at beta and recorded");
    assert.equal(recorded.provider, "beta");
    assert.equal((await betaProvider.retrieveJob(recorded.remoteId)).id, recorded.remoteId);
    await jobs.cancel("g1", recorded.id);
  });
});
