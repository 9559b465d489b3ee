// The jobs repositories (JobRepository, JobMetricsRepository, JobIntentRepository and the provider rows they share)
// on both engines: every method, with the guild scope, the ordering, NULL handling and the renamed provider's
// repoint (a job whose remote id the new name already holds is left as it is).
import assert from "node:assert/strict";
import { it } from "node:test";
import { JobIntentRepository } from "../../src/db/jobIntents.ts";
import { JobMetricsRepository, JobRepository, type NewJob } from "../../src/db/jobs.ts";
import type { Store } from "../../src/db/query/store.ts";
import { forEachEngine } from "../helpers/engines.ts";

const AT = "2026-12-03T10:00:00.000Z";

async function dataset(store: Store, guildId: string): Promise<number> {
  const row = await store.db
    .insertInto("datasets")
    .values({
      guild_id: guildId,
      uploader_id: "u1",
      file_name: "bio.jsonl",
      sha256: "ab".repeat(32),
      bytes: 10,
      format: "chat",
      examples: 12,
      valid: 12,
      invalid: 0,
      total_tokens: 1000,
      base_model: "gpt-4o-mini-2024-07-18",
      fine_tunable: 1,
      report_json: "{}",
      stored_path: "/tmp/bio.jsonl",
      cleaned_path: null,
      created_at: AT,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return row.id;
}

const job = (datasetId: number, n: number, over: Partial<NewJob> = {}): NewJob => ({
  tag: `ct-${n}`,
  guildId: "g1",
  provider: "openai",
  remoteId: `ftjob-${n}`,
  datasetId,
  requesterId: "teacher",
  baseModel: "gpt-4o-mini-2024-07-18",
  suffix: null,
  hyperparameters: { nEpochs: "auto", seed: null },
  trainingFileId: `file-${n}`,
  status: "queued",
  rawStatus: "validating_files",
  estimatedCostUsd: null,
  notifyChannelId: null,
  testQuestions: [],
  createdAt: AT,
  ...over,
});

forEachEngine("JobRepository", (open) => {
  it("inserts a job and reads it back by id, tag and remote id, only in its own guild", async (t) => {
    const store = await open(t);
    const jobs = new JobRepository(store);
    const ds = await dataset(store, "g1");
    const row = await jobs.insert(
      job(ds, 1, {
        suffix: "bio",
        hyperparameters: { nEpochs: 3, seed: 42, method: "dpo", beta: 0.25 },
        estimatedCostUsd: 0.125,
        notifyChannelId: "c1",
        testQuestions: [{ question: "What is a cell?", expected: null }],
        providerKind: "openai",
        providerEndpoint: "https://api.openai.com/v1",
      }),
    );
    assert.equal(typeof row.id, "number");
    assert.deepEqual(row, {
      id: row.id,
      tag: "ct-1",
      guildId: "g1",
      provider: "openai",
      providerKind: "openai",
      providerEndpoint: "https://api.openai.com/v1",
      remoteId: "ftjob-1",
      datasetId: ds,
      requesterId: "teacher",
      baseModel: "gpt-4o-mini-2024-07-18",
      suffix: "bio",
      hyperparameters: { nEpochs: 3, seed: 42, method: "dpo", beta: 0.25 },
      trainingFileId: "file-1",
      status: "queued",
      rawStatus: "validating_files",
      fineTunedModel: null,
      trainedTokens: null,
      errorCode: null,
      errorMessage: null,
      lastEventId: null,
      lastEventsAt: null,
      progress: null,
      remoteFingerprint: null,
      estimatedCostUsd: 0.125,
      notifyChannelId: "c1",
      testQuestions: [{ question: "What is a cell?", expected: null }],
      createdAt: AT,
      startedAt: null,
      finishedAt: null,
      updatedAt: AT,
    });
    assert.deepEqual(await jobs.get("g1", row.id), row);
    assert.deepEqual(await jobs.getByTag("g1", "ct-1"), row);
    assert.deepEqual(await jobs.getByRemoteId("g1", "ftjob-1"), row);
    assert.equal(await jobs.get("g2", row.id), undefined, "another guild's job is not found");
    assert.equal(await jobs.getByTag("g2", "ct-1"), undefined);
    assert.equal(await jobs.getByRemoteId("g2", "ftjob-1"), undefined);
    const unknown = await jobs.insert(job(ds, 2));
    assert.equal(unknown.providerKind, null, "unset kind: unknown, as before migration 006");
    assert.equal(unknown.providerEndpoint, null);
  });

  it("lists a guild's jobs newest first, up to the limit", async (t) => {
    const store = await open(t);
    const jobs = new JobRepository(store);
    const ds = await dataset(store, "g1");
    const ids: number[] = [];
    for (let n = 1; n <= 4; n++) ids.push((await jobs.insert(job(ds, n))).id);
    await jobs.insert(job(ds, 5, { guildId: "g2" }));
    assert.deepEqual(
      (await jobs.list("g1")).map((j) => j.id),
      [...ids].reverse(),
    );
    assert.deepEqual(
      (await jobs.list("g1", 2)).map((j) => j.id),
      [ids[3], ids[2]],
    );
  });

  it("searches the id, remote id, suffix, base and fine-tuned model, case-insensitively, % and _ literal", async (t) => {
    const store = await open(t);
    const jobs = new JobRepository(store);
    const ds = await dataset(store, "g1");
    const a = await jobs.insert(job(ds, 1, { suffix: "Bio_100%", remoteId: "r-a", baseModel: "base" }));
    const b = await jobs.insert(job(ds, 2, { remoteId: "r-b", baseModel: "Llama" }));
    const c = await jobs.insert(job(ds, 3, { remoteId: "ftjob-XYZ", baseModel: "base" }));
    await jobs.update("g1", c.id, { fineTunedModel: "ft:gpt-4o-mini:school::chem" });
    await jobs.insert(job(ds, 4, { guildId: "g2", suffix: "bio" }));
    const found = async (text: string, limit?: number) =>
      (await jobs.search("g1", text, limit)).map((j) => j.id);
    assert.deepEqual(await found("bio"), [a.id], "suffix, any case; not another guild's");
    assert.deepEqual(await found("_100%"), [a.id], "% and _ match themselves");
    assert.deepEqual(await found("Bi_"), [], "_ is no wildcard");
    assert.deepEqual(await found("0%"), [a.id], "% is no wildcard");
    assert.deepEqual(await found("LLAMA"), [b.id], "base model");
    assert.deepEqual(await found("xyz"), [c.id], "remote id");
    assert.deepEqual(await found("chem"), [c.id], "fine-tuned model");
    assert.deepEqual(await found(String(b.id)), [b.id], "the id");
    assert.deepEqual(await found(""), [c.id, b.id, a.id], "everything, newest first");
    assert.deepEqual(await found("", 2), [c.id, b.id], "up to the limit");
  });

  it("lists unfinished jobs at a provider, across guilds or in one, oldest first, and their providers", async (t) => {
    const store = await open(t);
    const jobs = new JobRepository(store);
    const ds = await dataset(store, "g1");
    const a = await jobs.insert(job(ds, 1, { status: "running", providerEndpoint: "https://a" }));
    const b = await jobs.insert(
      job(ds, 2, { guildId: "g2", status: "queued", providerEndpoint: "https://a" }),
    );
    for (const [n, status] of [
      [3, "succeeded"],
      [4, "failed"],
      [5, "cancelled"],
    ] as const) {
      await jobs.insert(job(ds, n, { status, provider: "ended" }));
    }
    const c = await jobs.insert(job(ds, 6, { provider: "nebius", status: "queued" }));
    assert.deepEqual(
      (await jobs.listActiveAcrossGuilds("openai")).map((j) => j.id),
      [a.id, b.id],
    );
    assert.deepEqual(
      (await jobs.listActive("g2", "openai")).map((j) => j.id),
      [b.id],
    );
    assert.deepEqual(await jobs.listActiveAcrossGuilds("ended"), [], "ended jobs are not visited");
    assert.deepEqual(await jobs.activeProviders(), [
      { provider: "nebius", endpoint: null },
      { provider: "openai", endpoint: "https://a" },
    ]);
    assert.deepEqual(await jobs.activeProviders("g2"), [{ provider: "openai", endpoint: "https://a" }]);
    await jobs.update("g1", c.id, { status: "succeeded" });
    assert.deepEqual(await jobs.activeProviders("g1"), [{ provider: "openai", endpoint: "https://a" }]);
  });

  it("updates only the fields given (null included), always updated_at, in its own guild only", async (t) => {
    const store = await open(t);
    const jobs = new JobRepository(store);
    const ds = await dataset(store, "g1");
    const row = await jobs.insert(job(ds, 1));
    const later = new Date("2026-12-03T11:00:00.000Z");
    await jobs.update(
      "g1",
      row.id,
      {
        status: "running",
        rawStatus: "running",
        progress: { step: 12, totalSteps: 120, loss: 1.25 },
        startedAt: later.toISOString(),
      },
      later,
    );
    let now = await jobs.get("g1", row.id);
    assert.equal(now?.status, "running");
    assert.equal(now?.rawStatus, "running");
    assert.deepEqual(now?.progress, { step: 12, totalSteps: 120, loss: 1.25 });
    assert.equal(now?.startedAt, later.toISOString());
    assert.equal(now?.errorCode, null);
    assert.equal(now?.updatedAt, later.toISOString());
    assert.equal(now?.createdAt, AT, "created_at stays");

    const end = new Date("2026-12-03T12:00:00.000Z");
    await jobs.update(
      "g1",
      row.id,
      {
        status: "failed",
        progress: null,
        errorCode: "invalid_file",
        errorMessage: "bad line",
        trainedTokens: 29_628,
        fineTunedModel: null,
        lastEventId: "ev-9",
        lastEventsAt: end.toISOString(),
        remoteFingerprint: "fp",
        finishedAt: end.toISOString(),
      },
      end,
    );
    now = await jobs.get("g1", row.id);
    assert.equal(now?.status, "failed");
    assert.equal(now?.rawStatus, "running", "a field not given is left as it is");
    assert.equal(now?.progress, null, "null is written");
    assert.equal(now?.errorCode, "invalid_file");
    assert.equal(now?.errorMessage, "bad line");
    assert.equal(now?.trainedTokens, 29_628);
    assert.equal(now?.lastEventId, "ev-9");
    assert.equal(now?.lastEventsAt, end.toISOString());
    assert.equal(now?.remoteFingerprint, "fp");
    assert.equal(now?.finishedAt, end.toISOString());
    assert.equal(now?.startedAt, later.toISOString());

    const touched = new Date("2026-12-03T13:00:00.000Z");
    await jobs.update("g1", row.id, {}, touched);
    assert.equal((await jobs.get("g1", row.id))?.updatedAt, touched.toISOString(), "an empty patch touches");
    await jobs.update("g2", row.id, { status: "succeeded" });
    assert.equal((await jobs.get("g1", row.id))?.status, "failed", "another guild cannot update it");
  });

  it("runs on a transaction of its store with in(tx), committed or rolled back with it", async (t) => {
    const store = await open(t);
    const jobs = new JobRepository(store);
    const ds = await dataset(store, "g1");
    const kept = await store.transaction(async (tx) => jobs.in(tx).insert(job(ds, 1)));
    await assert.rejects(
      store.transaction(async (tx) => {
        await jobs.in(tx).insert(job(ds, 2));
        await jobs.in(tx).update("g1", kept.id, { status: "running" });
        throw new Error("roll back");
      }),
      /roll back/,
    );
    assert.deepEqual(
      (await jobs.list("g1")).map((j) => [j.id, j.status]),
      [[kept.id, "queued"]],
    );
  });

  it("fills the endpoint of rows written before it was kept, and repoints a renamed provider's jobs", async (t) => {
    const store = await open(t);
    const jobs = new JobRepository(store);
    const ds = await dataset(store, "g1");
    const a = await jobs.insert(job(ds, 1, { provider: "school" }));
    const b = await jobs.insert(job(ds, 2, { provider: "school", guildId: "g2", status: "succeeded" }));
    const known = await jobs.insert(
      job(ds, 3, { provider: "school", providerKind: "nebius", providerEndpoint: "https://other" }),
    );
    assert.equal(await jobs.fillEndpoint("school", "openai", "https://api", "g1"), 1, "this guild's only");
    assert.equal((await jobs.get("g2", b.id))?.providerEndpoint, null);
    assert.equal(await jobs.fillEndpoint("school", "openai", "https://api"), 1, "every guild's");
    assert.equal(await jobs.fillEndpoint("school", "openai", "https://api"), 0, "once");
    assert.equal((await jobs.get("g1", a.id))?.providerKind, "openai");
    assert.equal((await jobs.get("g1", known.id))?.providerEndpoint, "https://other", "a known one stays");

    // A job the new name already holds (the same remote job recorded twice) is left under the old name.
    const twin = await jobs.insert(job(ds, 4, { provider: "openai", remoteId: "ftjob-2", guildId: "g2" }));
    const change = { from: "school", to: "openai", kind: "openai", endpoint: "https://api" };
    assert.equal(await jobs.repointProvider({ ...change, guildId: "g1" }), 1, "this guild's only");
    assert.equal((await jobs.get("g1", a.id))?.provider, "openai");
    assert.equal(await jobs.repointProvider(change), 0, "b's remote id is taken: left as it is");
    assert.equal((await jobs.get("g2", b.id))?.provider, "school");
    assert.equal((await jobs.get("g2", twin.id))?.provider, "openai");
    assert.equal((await jobs.get("g1", known.id))?.provider, "school", "another endpoint's job stays");
    const same = { from: "school", to: "school", kind: "nebius", endpoint: "https://other" };
    assert.equal(await jobs.repointProvider(same), 1, "a row never conflicts with itself");
  });
});

forEachEngine("JobMetricsRepository", (open) => {
  it("adds points idempotently and lists them in step order, through the job's guild", async (t) => {
    const store = await open(t);
    const jobs = new JobRepository(store);
    const metrics = new JobMetricsRepository(store);
    const ds = await dataset(store, "g1");
    const row = await jobs.insert(job(ds, 1));
    const p = (step: number, trainLoss: number | null) => ({
      step,
      trainLoss,
      validLoss: step === 2 ? 1e-7 : null,
      trainAccuracy: step === 1 ? 0.125 : null,
      createdAt: AT,
    });
    await metrics.add(row.id, [p(2, 1 / 3), p(1, 2.5)]);
    await metrics.add(row.id, [p(1, 9), p(3, null)]);
    assert.deepEqual(await metrics.list("g1", row.id), [p(1, 2.5), p(2, 1 / 3), p(3, null)]);
    assert.deepEqual(await metrics.list("g2", row.id), [], "another guild's job has no points");
    await store.transaction(async (tx) => metrics.in(tx).add(row.id, [p(4, 0.5)]));
    assert.equal((await metrics.list("g1", row.id)).length, 4);
  });
});

forEachEngine("JobIntentRepository", (open) => {
  it("inserts, lists per provider oldest first, lists providers, and deletes", async (t) => {
    const store = await open(t);
    const intents = new JobIntentRepository<{ requesterId: string }>(store);
    await intents.insert({
      tag: "ct-b",
      guildId: "g1",
      provider: "openai",
      providerKind: "openai",
      providerEndpoint: "https://api",
      input: { requesterId: "t1" },
      createdAt: "2026-12-03T10:00:02.000Z",
    });
    await intents.insert({
      tag: "ct-a",
      guildId: "g2",
      provider: "openai",
      input: { requesterId: "t2" },
      createdAt: "2026-12-03T10:00:01.000Z",
    });
    await intents.insert({
      tag: "ct-c",
      guildId: "g1",
      provider: "nebius",
      input: { requesterId: "t3" },
      createdAt: AT,
    });
    assert.deepEqual(await intents.listForProvider("openai"), [
      {
        tag: "ct-a",
        guildId: "g2",
        provider: "openai",
        providerKind: null,
        providerEndpoint: null,
        input: { requesterId: "t2" },
        createdAt: "2026-12-03T10:00:01.000Z",
      },
      {
        tag: "ct-b",
        guildId: "g1",
        provider: "openai",
        providerKind: "openai",
        providerEndpoint: "https://api",
        input: { requesterId: "t1" },
        createdAt: "2026-12-03T10:00:02.000Z",
      },
    ]);
    assert.deepEqual(
      (await intents.listForProvider("openai", 1)).map((i) => i.tag),
      ["ct-a"],
    );
    const refs = await intents.providers();
    assert.deepEqual(
      refs.map((r) => r.provider),
      ["nebius", "openai", "openai"],
      "by provider, each endpoint once",
    );
    assert.deepEqual(
      new Set(refs.map((r) => `${r.provider} ${r.endpoint}`)),
      new Set(["nebius null", "openai https://api", "openai null"]),
    );
    assert.deepEqual(await intents.providers("g2"), [{ provider: "openai", endpoint: null }]);
    await intents.delete("ct-a");
    await intents.delete("ct-missing");
    assert.deepEqual(
      (await intents.listForProvider("openai")).map((i) => i.tag),
      ["ct-b"],
    );
  });

  it("fills endpoints and repoints a renamed provider's pending creates", async (t) => {
    const store = await open(t);
    const intents = new JobIntentRepository<null>(store);
    for (const [tag, guildId] of [
      ["ct-1", "g1"],
      ["ct-2", "g2"],
    ] as const) {
      await intents.insert({ tag, guildId, provider: "school", input: null, createdAt: AT });
    }
    assert.equal(await intents.fillEndpoint("school", "openai", "https://api", "g1"), 1);
    assert.equal(await intents.fillEndpoint("school", "openai", "https://api"), 1);
    assert.equal(await intents.fillEndpoint("school", "openai", "https://api"), 0);
    const change = { from: "school", to: "openai", kind: "openai", endpoint: "https://api" };
    assert.equal(
      await store.transaction(async (tx) => intents.in(tx).repointProvider({ ...change, guildId: "g2" })),
      1,
    );
    assert.deepEqual(
      (await intents.listForProvider("openai")).map((i) => [i.tag, i.providerKind]),
      [["ct-2", "openai"]],
    );
    assert.equal(await intents.repointProvider(change), 1);
    assert.equal(await intents.repointProvider(change), 0);
    assert.equal((await intents.listForProvider("openai")).length, 2);
  });
});
