// Which model names belong to another guild's job: the one cross-guild decision behind /model add and routing.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { DatasetRepository } from "../../src/db/datasets.ts";
import { JobRepository } from "../../src/db/jobs.ts";
import { appMigrationsDir, loadMigrations, migrate } from "../../src/db/migrate.ts";
import { derivationKeys, ModelRepository, modelIdKey } from "../../src/db/models.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";

const MODEL_A = "ft:gpt-4o-mini-2024-07-18:school-a:bio:AbC123xY";

/** A guild's succeeded job with its provider names, and its model registered, as the poller leaves them. */
async function trained(db: Db, guildId: string, n: number, fineTunedModel: string) {
  const dataset = await new DatasetRepository(sqliteStore(db)).insert({
    guildId,
    uploaderId: "teacher",
    fileName: "lessons.jsonl",
    sha256: `sha-${n}`,
    bytes: 1,
    format: "chat",
    examples: 10,
    valid: 10,
    invalid: 0,
    totalTokens: 100,
    baseModel: "gpt-4o-mini-2024-07-18",
    fineTunable: true,
    reportJson: "{}",
    storedPath: `/tmp/${n}.jsonl`,
    cleanedPath: null,
  });
  const jobs = new JobRepository(sqliteStore(db));
  const job = await jobs.insert({
    tag: `ct-${n}`,
    guildId,
    provider: "sandbox",
    remoteId: `ftjob-Remote${n}`,
    datasetId: dataset.id,
    requesterId: "teacher",
    baseModel: "gpt-4o-mini-2024-07-18",
    suffix: "bio",
    hyperparameters: { nEpochs: "auto", seed: null },
    trainingFileId: `file-Train${n}`,
    status: "succeeded",
    rawStatus: "succeeded",
    estimatedCostUsd: null,
    notifyChannelId: null,
    testQuestions: [],
  });
  await jobs.update(guildId, job.id, { fineTunedModel });
  new ModelRepository(db).register({
    guildId,
    name: fineTunedModel,
    provider: "sandbox",
    baseModel: "gpt-4o-mini-2024-07-18",
    jobId: job.id,
  });
}

describe("model id keys", () => {
  it("ignore case, whitespace, zero-width characters and full-width forms", () => {
    const key = modelIdKey(MODEL_A);
    for (const variant of [
      ` ${MODEL_A.toUpperCase()}\t`,
      MODEL_A.replace(":bio", "\u200b:bio"),
      MODEL_A.replace(":bio", "\uff1abio"),
      MODEL_A.replace(":bio", ": bio"),
    ]) {
      assert.equal(modelIdKey(variant), key, JSON.stringify(variant));
    }
  });

  it("a name may derive from each of its prefixes that ends before a separator", () => {
    const keys = derivationKeys(`${MODEL_A}:ckpt-step-20`);
    assert.ok(keys.includes(modelIdKey(MODEL_A)));
    assert.ok(keys.includes(modelIdKey(`${MODEL_A}:ckpt-step-20`)));
    assert.ok(!keys.includes(modelIdKey(MODEL_A).slice(0, -1)), "never mid-word");
  });
});

describe("ModelRepository.trainedByAnotherGuild", () => {
  const db = openDb(":memory:");
  before(() => trained(db, "A", 1, MODEL_A));
  const models = new ModelRepository(db);

  it("refuses another guild's model, its checkpoints and other derived names, in any spelling", () => {
    for (const name of [
      MODEL_A,
      `${MODEL_A}:ckpt-step-20`,
      ` ${MODEL_A.toUpperCase()}:CKPT-STEP-20 `,
      `${MODEL_A}\u200b:ckpt-step-20`,
      `${MODEL_A}-v2`,
    ]) {
      assert.equal(models.trainedByAnotherGuild("B", name), true, JSON.stringify(name));
    }
  });

  it("refuses the other names the provider gave that job: its remote id and its training file", () => {
    assert.equal(models.trainedByAnotherGuild("B", "ftjob-Remote1"), true);
    assert.equal(models.trainedByAnotherGuild("B", "FTJOB-REMOTE1"), true);
    assert.equal(models.trainedByAnotherGuild("B", "file-Train1"), true);
  });

  it("leaves the guild's own names, base models and look-alikes that do not derive from them", () => {
    assert.equal(models.trainedByAnotherGuild("A", `${MODEL_A}:ckpt-step-20`), false, "A's own");
    for (const name of [
      "gpt-4o-mini-2024-07-18",
      "ft:gpt-4o-mini-2024-07-18:school-a:bio",
      `${MODEL_A}9:ckpt-step-20`,
      "ftjob-Remote12",
      "llama-3.1-8b",
    ]) {
      assert.equal(models.trainedByAnotherGuild("B", name), false, name);
    }
  });
});

describe("ModelRepository serving state (migration 007)", () => {
  it("rows from before the migration are ready, served as their name", () => {
    const db = new Database(":memory:");
    const all = loadMigrations(appMigrationsDir);
    migrate(
      db,
      all.filter((m) => m.version < 7),
    );
    db.prepare(
      `INSERT INTO models (guild_id, name, provider, base_model, job_id, created_at)
       VALUES ('A', 'ft:old', 'openai', 'gpt-4o-mini-2024-07-18', NULL, '2026-01-01T00:00:00.000Z')`,
    ).run();
    migrate(db, all);
    const row = new ModelRepository(db).get("A", "ft:old");
    assert.equal(row?.servingStatus, "ready");
    assert.equal(row?.servedAs, "ft:old");
    assert.equal(row?.deploymentName, null);
    assert.equal(row?.deployAttempt, 0);
    assert.equal(row?.servingUpdatedAt, "2026-01-01T00:00:00.000Z");
  });

  it("lists and searches only ready models when asked, and moves a state on only from the expected one", () => {
    const db = openDb(":memory:");
    const models = new ModelRepository(db);
    models.register({ guildId: "A", name: "ready-one", provider: "p", baseModel: "b", jobId: null });
    models.register({
      guildId: "A",
      name: "deploying-one",
      provider: "nebius",
      baseModel: "b",
      jobId: null,
      serving: { status: "deploying", servedAs: null, deploymentName: "ct-x-123456", attempt: 1 },
    });
    assert.deepEqual(
      models.list("A", 10, { ready: true }).map((m) => m.name),
      ["ready-one"],
    );
    assert.deepEqual(
      models.search("A", "one", 10, { ready: true }).map((m) => m.name),
      ["ready-one"],
    );
    assert.equal(models.search("A", "one", 10).length, 2);
    assert.deepEqual(
      models.listDeploying("nebius").map((m) => m.name),
      ["deploying-one"],
    );
    const wrongAttempt = { from: ["deploying"] as const, attempt: 2 };
    assert.equal(
      models.updateServing("A", "deploying-one", wrongAttempt, { status: "ready", servedAs: "x" }),
      false,
    );
    const right = { from: ["deploying"] as const, attempt: 1 };
    assert.equal(
      models.updateServing("A", "deploying-one", right, { status: "ready", servedAs: "full/x" }),
      true,
    );
    assert.equal(
      models.updateServing("A", "deploying-one", right, { status: "failed", error: "late" }),
      false,
    );
    assert.equal(models.get("A", "deploying-one")?.servedAs, "full/x");
    assert.equal(models.listDeploying("nebius").length, 0);
  });

  it("another guild's served and deployed names count as that guild's job's names", async () => {
    const db = openDb(":memory:");
    await trained(db, "A", 2, "ft:meta-llama/Llama-3.1-8B-Instruct:org::Xy12");
    db.prepare("UPDATE models SET served_as = ?, deployment_name = ?").run(
      "meta-llama/Llama-3.1-8B-Instruct-LoRa:ct-abc-123456-wxyz",
      "ct-abc-123456",
    );
    const models = new ModelRepository(db);
    assert.equal(
      models.trainedByAnotherGuild("B", "meta-llama/Llama-3.1-8B-Instruct-LoRa:ct-abc-123456-wxyz"),
      true,
    );
    assert.equal(models.trainedByAnotherGuild("B", "ct-abc-123456"), true);
    assert.equal(
      models.trainedByAnotherGuild("B", "meta-llama/Llama-3.1-8B-Instruct"),
      false,
      "its base model",
    );
  });
});
