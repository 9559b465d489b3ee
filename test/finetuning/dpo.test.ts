// DPO jobs through JobService: the create body OpenAI takes (`method.dpo.hyperparameters.beta`), as the sandbox
// received it through the real openai SDK; held-out preference examples asked by their input messages; the DPO
// loss curve; the estimate's DPO rule; and the refusals before anything is uploaded: the wrong format for the
// method, a provider whose adapter has no DPO (Fireworks, its fake saw nothing), a model whose catalog lists
// only supervised training.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { loadCatalogSet } from "../../src/datasets/catalog.ts";
import { preferenceBilling } from "../../src/datasets/estimate.ts";
import { datasetFieldsFromReport } from "../../src/datasets/store.ts";
import { validateFile } from "../../src/datasets/validator.ts";
import { DatasetRepository, type DatasetRow } from "../../src/db/datasets.ts";
import { JobMetricsRepository } from "../../src/db/jobs.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { JobService } from "../../src/finetuning/jobs.ts";
import { createOpenAIClient } from "../../src/providers/factory.ts";
import { FireworksProvider } from "../../src/providers/fireworks.ts";
import { type FakeFireworks, startFakeFireworks } from "../fakes/fireworks/index.ts";
import { registryOf } from "../helpers/providers.ts";
import { type Harness, harness, preferenceLines, tickUntil } from "./jobs.fixture.ts";

async function storePreference(db: Db, dir: string, n: number, guildId = "g1"): Promise<DatasetRow> {
  const path = join(dir, `preference-${n}-${Math.random().toString(36).slice(2)}.jsonl`);
  await writeFile(path, preferenceLines(n));
  const report = await validateFile(path);
  assert.equal(report.format, "preference");
  return new DatasetRepository(sqliteStore(db)).insert({
    guildId,
    uploaderId: "teacher",
    fileName: "pairs.jsonl",
    ...datasetFieldsFromReport(report),
    storedPath: path,
    cleanedPath: null,
  });
}

describe("a DPO job on an OpenAI-compatible provider (the sandbox)", () => {
  let h: Harness;
  const bodies: Record<string, unknown>[] = [];
  before(async () => {
    h = await harness();
  });
  after(() => h.close());
  beforeEach(() => {
    bodies.length = 0;
    // Reads the create body as it went on the wire; the response is left as it is (so the hook stays).
    h.tamper.push((url, init) => {
      if (init?.method === "POST" && new URL(url).pathname.endsWith("/fine_tuning/jobs")) {
        bodies.push(JSON.parse(String(init.body)) as Record<string, unknown>);
      }
      return undefined;
    });
  });
  afterEach(() => {
    h.tamper.length = 0;
  });

  it("sends method.dpo with beta, holds out preference examples, trains with a DPO loss and ends with its notice", async () => {
    const dataset = await storePreference(h.db, h.dir, 16);
    const quote = await h.jobs.quote({ guildId: "g1", datasetId: dataset.id, method: "dpo", beta: 0.25 });
    assert.equal(quote.method, "dpo");
    assert.equal(quote.beta, 0.25);
    assert.deepEqual(quote.preferenceBilling, preferenceBilling("OpenAI"));
    const job = await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "t1", quote });

    assert.equal(bodies.length, 1);
    const body = bodies[0] as Record<string, unknown>;
    assert.deepEqual(body.method, { type: "dpo", dpo: { hyperparameters: { beta: 0.25 } } });
    assert.equal(body.model, "gpt-4o-mini-2024-07-18");
    assert.match(String(body.training_file), /^file-/);
    assert.deepEqual(body.metadata, { classtune_job_id: job.tag }, "the existing fields are kept");
    assert.equal(job.hyperparameters.method, "dpo");
    assert.equal(job.hyperparameters.beta, 0.25);

    // Three held-out pairs, asked by their input's question, with the preferred answer as the expected one.
    assert.equal(job.testQuestions.length, 3);
    for (const q of job.testQuestions) {
      const m = /^What is (\d+) times 3\?$/.exec(q.question);
      assert.ok(m, q.question);
      assert.equal(q.expected, `${Number(m[1]) * 3}.`);
    }
    const remote = await h.client.fineTuning.jobs.retrieve(job.remoteId);
    assert.equal(remote.method?.type, "dpo");
    assert.equal(remote.method?.dpo?.hyperparameters?.beta, 0.25);

    await tickUntil(h, async () => (await h.jobs.get("g1", job.id))?.status === "succeeded");
    const metrics = await new JobMetricsRepository(sqliteStore(h.db)).list("g1", job.id);
    assert.ok(metrics.length > 0);
    // DPO's loss starts near ln 2 (the policy equals its reference), not at a supervised ~2.5.
    assert.ok((metrics[0]?.trainLoss ?? 9) < 0.8, `first loss ${metrics[0]?.trainLoss}`);
    assert.ok((metrics.at(-1)?.trainLoss ?? 9) < (metrics[0]?.trainLoss ?? 0));
    await h.notifier.drain();
    const created = h.sent.find((n) => n.kind === "job_created");
    assert.ok(created?.kind === "job_created", "the created notice");
    assert.equal(created.payload.method, "dpo");
    const done = h.sent.find((n) => n.kind === "job_succeeded");
    assert.ok(done, "the success notice");
    assert.equal((done.payload as { testAnswers: unknown[] }).testAnswers.length, 3);
  });

  it("leaves beta to the provider when none is given, and a preference dataset trains by DPO by default", async () => {
    const dataset = await storePreference(h.db, h.dir, 12);
    await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "t1", epochs: 2 });
    assert.deepEqual(bodies[0]?.method, { type: "dpo", dpo: { hyperparameters: { n_epochs: 2 } } });
  });

  it("keeps today's supervised body for a chat dataset", async () => {
    const dataset = await h.dataset(12);
    await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "t1" });
    assert.equal(bodies[0]?.method, undefined);
    await h.jobs.start({ guildId: "g1", datasetId: dataset.id, requesterId: "t1", epochs: 3 });
    assert.deepEqual(bodies[1]?.method, {
      type: "supervised",
      supervised: { hyperparameters: { n_epochs: 3 } },
    });
  });

  it("refuses the other format than the method trains on, and a beta without DPO, before any upload", async () => {
    const chat = await h.dataset(12);
    const pairs = await storePreference(h.db, h.dir, 12);
    const before = h.calls.length;
    await assert.rejects(
      h.jobs.start({ guildId: "g1", datasetId: chat.id, requesterId: "t1", method: "dpo" }),
      /holds chat examples, but a DPO job trains on preference examples/,
    );
    await assert.rejects(
      h.jobs.start({ guildId: "g1", datasetId: pairs.id, requesterId: "t1", method: "supervised" }),
      /holds preference examples: train it with method:dpo/,
    );
    await assert.rejects(
      h.jobs.quote({ guildId: "g1", datasetId: chat.id, beta: 0.1 }),
      /Beta is a DPO setting/,
    );
    await assert.rejects(
      h.jobs.quote({ guildId: "g1", datasetId: pairs.id, beta: 3 }),
      /Beta must be a number above 0 and at most 2 \(got 3\)/,
    );
    assert.deepEqual(h.calls.slice(before), [], "nothing was sent to the provider");
  });

  it("refuses a model whose catalog lists no preference training, before any upload", async () => {
    const catalogs = loadCatalogSet([{ name: "sandbox", kind: "sandbox" }], "sandbox");
    const jobs = new JobService({
      store: sqliteStore(h.db),
      providers: h.providers,
      maxJobCostUsd: 25,
      dataDir: h.dir,
      catalogs,
    });
    const pairs = await storePreference(h.db, h.dir, 12);
    const before = h.calls.length;
    await assert.rejects(
      jobs.start({
        guildId: "g1",
        datasetId: pairs.id,
        requesterId: "t1",
        model: "gpt-3.5-turbo-0125",
        method: "dpo",
      }),
      /gpt-3\.5-turbo-0125 on sandbox trains only supervised: no DPO\. Models there with DPO: .*gpt-4o-mini-2024-07-18.*Nothing was uploaded\./,
    );
    assert.deepEqual(h.calls.slice(before), []);
  });

  it("trains further from a succeeded fine-tune of the same guild, never another guild's", async () => {
    const chat = await h.dataset(12);
    const first = await h.jobs.start({ guildId: "g1", datasetId: chat.id, requesterId: "t1" });
    await tickUntil(h, async () => (await h.jobs.get("g1", first.id))?.status === "succeeded");
    const trained = (await h.jobs.get("g1", first.id))?.fineTunedModel;
    assert.ok(trained);
    const pairs = await storePreference(h.db, h.dir, 12);
    const quote = await h.jobs.quote({ guildId: "g1", datasetId: pairs.id, fromJobId: first.id });
    assert.equal(quote.fromModel, trained);
    assert.equal(quote.model, "gpt-4o-mini-2024-07-18", "the base's rules and price apply");
    const job = await h.jobs.start({ guildId: "g1", datasetId: pairs.id, requesterId: "t1", quote });
    assert.equal(bodies.at(-1)?.model, trained);
    assert.equal(job.hyperparameters.fromModel, trained);

    const theirs = await storePreference(h.db, h.dir, 12, "g2");
    await assert.rejects(
      h.jobs.quote({ guildId: "g2", datasetId: theirs.id, fromJobId: first.id }),
      new RegExp(`Job #${first.id} was not found in this server`),
    );
    const running = await h.jobs.start({ guildId: "g1", datasetId: chat.id, requesterId: "t1" });
    await assert.rejects(
      h.jobs.quote({ guildId: "g1", datasetId: pairs.id, fromJobId: running.id }),
      /has no fine-tuned model to start from/,
    );
  });
});

describe("a DPO job on a provider without DPO (Fireworks' adapter)", () => {
  let fake: FakeFireworks;
  let db: Db;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "classtune-dpo-"));
    db = openDb(join(dir, "classtune.db"));
    fake = await startFakeFireworks();
  });
  after(async () => {
    await fake.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("is refused with the providers that can, and the fake saw no request at all", async () => {
    const fw = new FireworksProvider({
      client: createOpenAIClient({
        apiKey: fake.apiKey,
        baseURL: fake.baseURL,
        maxRetries: 0,
        timeoutMs: 5_000,
      }),
      name: "fw",
      accountId: fake.account,
      baseURL: fake.baseURL,
      apiKey: fake.apiKey,
      backoffMs: 5,
      datasetPollMs: 5,
      timeoutMs: 5_000,
    });
    const providers = registryOf([{ jobs: fw, kind: "fireworks", baseURL: fake.baseURL, name: "fw" }]);
    const jobs = new JobService({ store: sqliteStore(db), providers, maxJobCostUsd: 25, dataDir: dir });
    const pairs = await storePreference(db, dir, 12);
    await assert.rejects(
      jobs.start({ guildId: "g1", datasetId: pairs.id, requesterId: "t1", method: "dpo" }),
      /fw cannot run DPO \(preference\) jobs here\. Nothing was uploaded\./,
    );
    assert.deepEqual(fake.requests, [], "no upload, no create");
  });
});
