// A renamed provider: jobs recorded under a name that is no longer configured (PROVIDER_NAME changed from
// "school-openai" to "openai" over the same OPENAI_BASE_URL) are still polled, because each job records its
// provider's endpoint; their rows, pending creates and models move to the new name, logged once. A job whose
// provider matches nothing is left as it is (never failed) and logged once.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { datasetFieldsFromReport } from "../../src/datasets/store.ts";
import { validateFile } from "../../src/datasets/validator.ts";
import { DatasetRepository, type DatasetRow } from "../../src/db/datasets.ts";
import { JobIntentRepository } from "../../src/db/jobIntents.ts";
import { JobRepository } from "../../src/db/jobs.ts";
import { ModelRepository } from "../../src/db/models.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { JobService } from "../../src/finetuning/jobs.ts";
import { JobPoller } from "../../src/finetuning/poller.ts";
import { createLogger } from "../../src/logger.ts";
import { OpenAICompatibleProvider } from "../../src/providers/openaiCompatible.ts";
import type { ProviderRegistry } from "../../src/providers/registry.ts";
import { manualClock } from "../../src/sandbox/clock.ts";
import { type SandboxHandle, startSandbox } from "../../src/sandbox/server.ts";
import { registryOf } from "../helpers/providers.ts";
import { chatLines } from "./jobs.fixture.ts";

const RENAMED = "fine-tuning provider renamed: its jobs are polled under the new name";
const UNMATCHED =
  "jobs recorded under a fine-tuning provider that matches none configured are not polled (left as they are); configure a provider of that name, or one at that endpoint";

const clock = manualClock();
const now = () => new Date(clock.now());
let dir: string;
let db: Db;
let sandboxDb: Db;
let sandbox: SandboxHandle;
let n = 0;

/** An OpenAI-kind provider called `name` at `baseURL` (the sandbox, standing in for OpenAI). */
function openaiAt(name: string, baseURL: string): ProviderRegistry {
  const client = new OpenAI({ apiKey: "sandbox", baseURL, maxRetries: 0, timeout: 5_000 });
  return registryOf([
    { name, kind: "openai", baseURL, jobs: new OpenAICompatibleProvider({ client, name }) },
  ]);
}

/** A process: the services over the one database with this configuration, and the log lines it wrote. */
function processWith(providers: ProviderRegistry) {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger("info", {
    write: (line: string) => {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  const jobs = new JobService({ store: sqliteStore(db), providers, maxJobCostUsd: 25, dataDir: dir, now });
  const poller = new JobPoller({
    store: sqliteStore(db),
    providers,
    logger,
    reconcileCreates: (p) => jobs.reconcilePendingCreates(p),
    now,
  });
  return { jobs, poller, logged: (msg: string) => lines.filter((l) => l.msg === msg) };
}

async function dataset(guildId = "g1"): Promise<DatasetRow> {
  n += 1;
  const path = join(dir, `lessons-${n}.jsonl`);
  await writeFile(path, chatLines(12));
  return new DatasetRepository(sqliteStore(db)).insert({
    guildId,
    uploaderId: "teacher",
    fileName: `lessons-${n}.jsonl`,
    ...datasetFieldsFromReport(await validateFile(path)),
    storedPath: path,
    cleanedPath: null,
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "classtune-renamed-"));
  db = openDb(join(dir, "classtune.db"));
  sandboxDb = openDb(join(dir, "sandbox.db"));
  sandbox = await startSandbox({ db: sandboxDb, dataDir: dir, clock, secondsPerStep: 1 });
});
after(async () => {
  await sandbox.close();
  db.close();
  sandboxDb.close();
  await rm(dir, { recursive: true, force: true });
});

describe("a renamed provider", () => {
  test("its jobs are still polled to the end under the new name, with their pending creates and models", async () => {
    const before = processWith(openaiAt("school-openai", sandbox.url));
    const job = await before.jobs.start({
      guildId: "g1",
      datasetId: (await dataset()).id,
      requesterId: "u1",
    });
    assert.equal(job.provider, "school-openai");
    await new JobIntentRepository(sqliteStore(db)).insert({
      tag: "ct-pending",
      guildId: "g1",
      provider: "school-openai",
      providerKind: "openai",
      providerEndpoint: job.providerEndpoint,
      input: {},
      createdAt: now().toISOString(),
    });

    // Restarted with PROVIDER_NAME=openai and the same OPENAI_BASE_URL (here with a trailing slash).
    const after = processWith(openaiAt("openai", `${sandbox.url}/`));
    for (let i = 0; i < 30 && (await after.jobs.require("g1", job.id)).status !== "succeeded"; i++) {
      clock.advance(5_000);
      await after.poller.tick();
    }
    const done = await after.jobs.require("g1", job.id);
    assert.equal(done.status, "succeeded", "polled to the end");
    assert.equal(done.provider, "openai");
    assert.equal(
      (await new ModelRepository(sqliteStore(db)).get("g1", done.fineTunedModel ?? ""))?.provider,
      "openai",
    );
    assert.equal((await new JobIntentRepository(sqliteStore(db)).listForProvider("school-openai")).length, 0);
    assert.equal((await new JobIntentRepository(sqliteStore(db)).listForProvider("openai")).length, 1);
    const renamed = after.logged(RENAMED);
    assert.equal(renamed.length, 1, "logged once");
    assert.equal(renamed[0]?.from, "school-openai");
    assert.equal(renamed[0]?.to, "openai");
    await new JobIntentRepository(sqliteStore(db)).delete("ct-pending");
  });

  test("jobs from before endpoints were recorded get theirs from the provider configured under their name", async () => {
    const first = processWith(openaiAt("openai", sandbox.url));
    const job = await first.jobs.start({ guildId: "g1", datasetId: (await dataset()).id, requesterId: "u1" });
    db.prepare("UPDATE jobs SET provider_kind = NULL, provider_endpoint = NULL WHERE id = ?").run(job.id);
    await first.poller.tick();
    assert.equal((await first.jobs.require("g1", job.id)).providerEndpoint, job.providerEndpoint);
    // So a rename after the upgrade is followed too.
    const renamed = processWith(openaiAt("school", sandbox.url));
    await renamed.poller.tick();
    assert.equal((await renamed.jobs.require("g1", job.id)).provider, "school");
    await renamed.jobs.cancel("g1", job.id);
  });

  test("a job whose provider matches nothing configured is left untouched and logged once", async () => {
    const first = processWith(openaiAt("openai", sandbox.url));
    const job = await first.jobs.start({ guildId: "g1", datasetId: (await dataset()).id, requesterId: "u1" });
    const elsewhere = processWith(openaiAt("elsewhere", "http://127.0.0.1:9/v1"));
    for (let i = 0; i < 3; i++) {
      clock.advance(60_000);
      const r = await elsewhere.poller.tick();
      assert.equal(r.errors, 0);
      assert.equal(r.tracked, 0);
    }
    const untouched = await new JobRepository(sqliteStore(db)).get("g1", job.id);
    assert.deepEqual(untouched, job, "not failed, not re-pointed, not even touched");
    const logged = elsewhere.logged(UNMATCHED);
    assert.equal(logged.length, 1, "logged once per process");
    assert.equal(logged[0]?.provider, "openai");
    assert.match(String(logged[0]?.reason), /no configured provider has its endpoint/);

    // Two configured providers at that endpoint (two accounts on one host): which one is unknown, so neither.
    const client = new OpenAI({ apiKey: "sandbox", baseURL: sandbox.url, maxRetries: 0 });
    const twins = processWith(
      registryOf(
        ["a", "b"].map((name) => ({
          name,
          kind: "openai" as const,
          baseURL: sandbox.url,
          jobs: new OpenAICompatibleProvider({ client, name }),
        })),
      ),
    );
    await twins.poller.tick();
    assert.equal((await new JobRepository(sqliteStore(db)).get("g1", job.id))?.provider, "openai");
    assert.match(String(twins.logged(UNMATCHED)[0]?.reason), /several configured providers share/);
  });
});
