// The models table on both engines: which model names belong to another guild's job (the one cross-guild decision
// behind /model add and routing), serving state, and the reads and writes the poller, hosting and /model use.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { appMigrationsDir, loadMigrations, migrate } from "../../src/db/migrate.ts";
import { derivationKeys, ModelRepository, modelIdKey } from "../../src/db/models.ts";
import { type Store, sqliteStore } from "../../src/db/query/store.ts";
import { forEachEngine } from "../helpers/engines.ts";

const MODEL_A = "ft:gpt-4o-mini-2024-07-18:school-a:bio:AbC123xY";
const AT = "2026-01-01T00:00:00.000Z";

/**
 * A guild's succeeded job with its provider names, and its model registered, as the poller leaves them (the
 * dataset and job written directly: their repositories are not this test's). Returns the job's id.
 */
async function trained(
  store: Store,
  guildId: string,
  n: number,
  fineTunedModel: string,
  job: { provider?: string; endpoint?: string | null } = {},
): Promise<number> {
  const dataset = await store.db
    .insertInto("datasets")
    .values({
      guild_id: guildId,
      uploader_id: "teacher",
      file_name: "lessons.jsonl",
      sha256: `sha-${n}`,
      bytes: 1,
      format: "chat",
      examples: 10,
      valid: 10,
      invalid: 0,
      total_tokens: 100,
      base_model: "gpt-4o-mini-2024-07-18",
      fine_tunable: 1,
      report_json: "{}",
      stored_path: `/tmp/${n}.jsonl`,
      cleaned_path: null,
      created_at: AT,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  const { id } = await store.db
    .insertInto("jobs")
    .values({
      tag: `ct-${n}`,
      guild_id: guildId,
      provider: job.provider ?? "sandbox",
      provider_endpoint: job.endpoint ?? null,
      remote_id: `ftjob-Remote${n}`,
      dataset_id: dataset.id,
      requester_id: "teacher",
      base_model: "gpt-4o-mini-2024-07-18",
      suffix: "bio",
      hyperparameters: "{}",
      training_file_id: `file-Train${n}`,
      status: "succeeded",
      raw_status: "succeeded",
      fine_tuned_model: fineTunedModel,
      created_at: AT,
      updated_at: AT,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  await new ModelRepository(store).register({
    guildId,
    name: fineTunedModel,
    provider: job.provider ?? "sandbox",
    baseModel: "gpt-4o-mini-2024-07-18",
    jobId: id,
  });
  return id;
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

forEachEngine("ModelRepository.trainedByAnotherGuild", (open) => {
  it("refuses another guild's model, its checkpoints and other derived names, in any spelling", async (t) => {
    const store = await open(t);
    await trained(store, "A", 1, MODEL_A);
    const models = new ModelRepository(store);
    for (const name of [
      MODEL_A,
      `${MODEL_A}:ckpt-step-20`,
      ` ${MODEL_A.toUpperCase()}:CKPT-STEP-20 `,
      `${MODEL_A}\u200b:ckpt-step-20`,
      `${MODEL_A}-v2`,
    ]) {
      assert.equal(await models.trainedByAnotherGuild("B", name), true, JSON.stringify(name));
    }
  });

  it("refuses the other names the provider gave that job: its remote id and its training file", async (t) => {
    const store = await open(t);
    await trained(store, "A", 1, MODEL_A);
    const models = new ModelRepository(store);
    assert.equal(await models.trainedByAnotherGuild("B", "ftjob-Remote1"), true);
    assert.equal(await models.trainedByAnotherGuild("B", "FTJOB-REMOTE1"), true);
    assert.equal(await models.trainedByAnotherGuild("B", "file-Train1"), true);
  });

  it("leaves the guild's own names, base models and look-alikes that do not derive from them", async (t) => {
    const store = await open(t);
    await trained(store, "A", 1, MODEL_A);
    const models = new ModelRepository(store);
    assert.equal(await models.trainedByAnotherGuild("A", `${MODEL_A}:ckpt-step-20`), false, "A's own");
    for (const name of [
      "gpt-4o-mini-2024-07-18",
      "ft:gpt-4o-mini-2024-07-18:school-a:bio",
      `${MODEL_A}9:ckpt-step-20`,
      "ftjob-Remote12",
      "llama-3.1-8b",
    ]) {
      assert.equal(await models.trainedByAnotherGuild("B", name), false, name);
    }
  });

  it("another guild's served and deployed names count as that guild's job's names", async (t) => {
    const store = await open(t);
    await trained(store, "A", 2, "ft:meta-llama/Llama-3.1-8B-Instruct:org::Xy12");
    await store.db
      .updateTable("models")
      .set({
        served_as: "meta-llama/Llama-3.1-8B-Instruct-LoRa:ct-abc-123456-wxyz",
        deployment_name: "ct-abc-123456",
      })
      .execute();
    const models = new ModelRepository(store);
    assert.equal(
      await models.trainedByAnotherGuild("B", "meta-llama/Llama-3.1-8B-Instruct-LoRa:ct-abc-123456-wxyz"),
      true,
    );
    assert.equal(await models.trainedByAnotherGuild("B", "ct-abc-123456"), true);
    assert.equal(
      await models.trainedByAnotherGuild("B", "meta-llama/Llama-3.1-8B-Instruct"),
      false,
      "its base model",
    );
  });

  it("a model added by hand (no job) in another guild is not a trained name", async (t) => {
    const store = await open(t);
    const models = new ModelRepository(store);
    await models.register({
      guildId: "A",
      name: "ft:hand-added:x",
      provider: "p",
      baseModel: "b",
      jobId: null,
    });
    assert.equal(await models.trainedByAnotherGuild("B", "ft:hand-added:x"), false);
  });
});

describe("ModelRepository serving state (migration 007)", () => {
  it("rows from before the migration are ready, served as their name", async () => {
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
    const row = await new ModelRepository(sqliteStore(db)).get("A", "ft:old");
    assert.equal(row?.servingStatus, "ready");
    assert.equal(row?.servedAs, "ft:old");
    assert.equal(row?.deploymentName, null);
    assert.equal(row?.deployAttempt, 0);
    assert.equal(row?.servingUpdatedAt, "2026-01-01T00:00:00.000Z");
    db.close();
  });
});

forEachEngine("ModelRepository", (open) => {
  it("registers once per name, reads by name, id and job, within the guild only", async (t) => {
    const store = await open(t);
    const models = new ModelRepository(store);
    const jobId = await trained(store, "A", 1, MODEL_A);
    const row = await models.get("A", MODEL_A);
    assert.ok(row);
    assert.deepEqual(
      { ...row, id: 0, createdAt: "", servingUpdatedAt: "" },
      {
        id: 0,
        guildId: "A",
        name: MODEL_A,
        provider: "sandbox",
        baseModel: "gpt-4o-mini-2024-07-18",
        jobId,
        label: null,
        createdAt: "",
        shutdownDate: null,
        servingStatus: "ready",
        servedAs: MODEL_A,
        deploymentName: null,
        deployAttempt: 0,
        servingError: null,
        servingUpdatedAt: "",
      },
    );
    assert.equal(typeof row.id, "number");
    assert.equal(row.servingUpdatedAt, row.createdAt);
    const again = await models.register({
      guildId: "A",
      name: MODEL_A,
      provider: "other",
      baseModel: "other",
      jobId: null,
      label: "ignored",
    });
    assert.deepEqual(again, row, "registering again returns the existing row");
    assert.deepEqual(await models.getById("A", row.id), row);
    assert.equal(await models.getById("B", row.id), undefined, "another guild's id finds nothing");
    assert.deepEqual(await models.getByJob("A", jobId), row);
    assert.equal(await models.getByJob("B", jobId), undefined);
    assert.equal(await models.get("B", MODEL_A), undefined);
  });

  it("lists and searches newest first, by name or label, only ready models when asked", async (t) => {
    const store = await open(t);
    const models = new ModelRepository(store);
    await models.register({ guildId: "A", name: "ready-one", provider: "p", baseModel: "b", jobId: null });
    await models.register({
      guildId: "A",
      name: "deploying-one",
      provider: "nebius",
      baseModel: "b",
      jobId: null,
      serving: { status: "deploying", servedAs: null, deploymentName: "ct-x-123456", attempt: 1 },
    });
    await models.register({
      guildId: "A",
      name: "ft:abc",
      provider: "p",
      baseModel: "b",
      jobId: null,
      label: "Year 9 Biology",
    });
    await models.register({ guildId: "A", name: "100%_sure", provider: "p", baseModel: "b", jobId: null });
    await models.register({ guildId: "B", name: "b-one", provider: "p", baseModel: "b", jobId: null });
    assert.deepEqual(
      (await models.list("A")).map((m) => m.name),
      ["100%_sure", "ft:abc", "deploying-one", "ready-one"],
    );
    assert.deepEqual(
      (await models.list("A", 2)).map((m) => m.name),
      ["100%_sure", "ft:abc"],
    );
    assert.deepEqual(
      (await models.list("A", 10, { ready: true })).map((m) => m.name),
      ["100%_sure", "ft:abc", "ready-one"],
    );
    assert.deepEqual(
      (await models.search("A", "one", 10, { ready: true })).map((m) => m.name),
      ["ready-one"],
    );
    assert.deepEqual(
      (await models.search("A", "one", 10)).map((m) => m.name),
      ["deploying-one", "ready-one"],
    );
    assert.deepEqual(
      (await models.search("A", "one", 1)).map((m) => m.name),
      ["deploying-one"],
    );
    assert.deepEqual(
      (await models.search("A", "biology")).map((m) => m.name),
      ["ft:abc"],
      "by label, in any case",
    );
    assert.deepEqual(
      (await models.search("A", "READY")).map((m) => m.name),
      ["ready-one"],
      "by name, in any case",
    );
    assert.deepEqual(
      (await models.search("A", "%_")).map((m) => m.name),
      ["100%_sure"],
      "% and _ match themselves",
    );
    assert.deepEqual(
      (await models.search("A", "")).map((m) => m.name),
      ["100%_sure", "ft:abc", "deploying-one", "ready-one"],
    );
  });

  it("moves a serving state on only from the expected state and attempt, keeping fields left undefined", async (t) => {
    const store = await open(t);
    const models = new ModelRepository(store);
    await models.register({
      guildId: "A",
      name: "deploying-one",
      provider: "nebius",
      baseModel: "b",
      jobId: null,
      serving: {
        status: "deploying",
        servedAs: null,
        deploymentName: "ct-x-123456",
        attempt: 1,
        error: "slow",
      },
    });
    assert.deepEqual(
      (await models.listDeploying("nebius")).map((m) => m.name),
      ["deploying-one"],
    );
    assert.deepEqual(
      (await models.listDeploying("nebius", "A")).map((m) => m.name),
      ["deploying-one"],
    );
    assert.equal((await models.listDeploying("nebius", "B")).length, 0);
    assert.equal((await models.listDeploying("other")).length, 0);
    const wrongAttempt = { from: ["deploying"] as const, attempt: 2 };
    assert.equal(
      await models.updateServing("A", "deploying-one", wrongAttempt, { status: "ready", servedAs: "x" }),
      false,
    );
    assert.equal(
      await models.updateServing(
        "A",
        "deploying-one",
        { from: ["manual", "failed"], attempt: 1 },
        { status: "ready", servedAs: "x" },
      ),
      false,
      "not in one of `from`",
    );
    const right = { from: ["manual", "deploying"] as const, attempt: 1 };
    const at = new Date("2026-02-01T00:00:00.000Z");
    assert.equal(
      await models.updateServing("A", "deploying-one", right, { status: "ready", servedAs: "full/x" }, at),
      true,
    );
    const ready = await models.get("A", "deploying-one");
    assert.equal(ready?.servedAs, "full/x");
    assert.equal(ready?.servingStatus, "ready");
    assert.equal(ready?.servingError, "slow", "error left undefined is kept");
    assert.equal(ready?.servingUpdatedAt, at.toISOString());
    assert.equal(
      await models.updateServing("A", "deploying-one", right, { status: "failed", error: "late" }),
      false,
    );
    assert.equal(
      await models.updateServing(
        "A",
        "deploying-one",
        { from: ["ready"], attempt: 1 },
        { status: "asleep", error: null },
      ),
      true,
    );
    const asleep = await models.get("A", "deploying-one");
    assert.equal(asleep?.servedAs, "full/x", "servedAs left undefined is kept");
    assert.equal(asleep?.servingError, null, "null clears");
    assert.equal((await models.listDeploying("nebius")).length, 0);
  });

  it("starts one deploy attempt from the previous one, and finds the model awaiting that deployment", async (t) => {
    const store = await open(t);
    const models = new ModelRepository(store);
    const name = "ft:meta-llama/Llama-3.1-8B-Instruct:org::Xy12";
    await trained(store, "A", 1, name, { provider: "nebius" });
    await models.updateServing(
      "A",
      name,
      { from: ["ready"], attempt: 0 },
      { status: "failed", error: "boom" },
    );
    const next = { attempt: 1, deploymentName: "ct-a-1", status: "deploying" as const, error: null };
    assert.equal(await models.startDeployAttempt("A", name, 0, next), true);
    assert.equal(await models.startDeployAttempt("A", name, 0, { ...next, deploymentName: "ct-a-2" }), false);
    const row = await models.get("A", name);
    assert.equal(row?.deployAttempt, 1);
    assert.equal(row?.deploymentName, "ct-a-1");
    assert.equal(row?.servedAs, null);
    assert.equal(row?.servingError, null);
    assert.equal(row?.servingStatus, "deploying");
    assert.equal((await models.awaitingDeployment("A", "nebius", "ct-a-1"))?.name, name);
    assert.equal(await models.awaitingDeployment("B", "nebius", "ct-a-1"), undefined);
    assert.equal(await models.awaitingDeployment("A", "other", "ct-a-1"), undefined);
    assert.equal(await models.awaitingDeployment("A", "nebius", "ct-a-2"), undefined);
    await models.updateServing(
      "A",
      name,
      { from: ["deploying"], attempt: 1 },
      { status: "ready", servedAs: "s" },
    );
    assert.equal(await models.awaitingDeployment("A", "nebius", "ct-a-1"), undefined, "ready: not awaiting");
  });

  it("lists trained deployments no hosting session tracks, and the providers of deployments", async (t) => {
    const store = await open(t);
    const models = new ModelRepository(store);
    await trained(store, "A", 1, "ft:one", { provider: "nebius", endpoint: "https://nebius.example/v1" });
    await trained(store, "B", 2, "ft:two", { provider: "nebius", endpoint: "https://nebius.example/v1" });
    await trained(store, "A", 3, "ft:three", { provider: "nebius", endpoint: "https://nebius.example/v1" });
    await models.register({
      guildId: "A",
      name: "by-hand",
      provider: "nebius",
      baseModel: "b",
      jobId: null,
      serving: { status: "deploying", servedAs: null, deploymentName: "ct-hand", attempt: 1 },
    });
    await models.startDeployAttempt("A", "ft:one", 0, {
      attempt: 1,
      deploymentName: "ct-one",
      status: "deploying",
      error: null,
    });
    await models.startDeployAttempt("B", "ft:two", 0, {
      attempt: 1,
      deploymentName: "ct-two",
      status: "deploying",
      error: null,
    });
    await models.startDeployAttempt("A", "ft:three", 0, {
      attempt: 1,
      deploymentName: "ct-three",
      status: "manual",
      error: "deploy it yourself",
    });
    await store.db
      .insertInto("hosting_sessions")
      .values({
        guild_id: "B",
        model_name: "ft:two",
        provider: "nebius",
        deployment_name: "ct-two",
        hardware: null,
        usd_per_hour: 1,
        price_source: "test",
        started_by: "teacher",
        started_at: AT,
        ready_at: null,
        last_asked_at: null,
        stop_reason: null,
        stopped_by: null,
        stop_requested_at: null,
        stop_error: null,
        stopped_at: null,
      })
      .execute();
    assert.deepEqual(
      (await models.listServedUntracked("nebius")).map((m) => m.name),
      ["ft:one"],
      "tracked, by hand and manual left out",
    );
    assert.deepEqual(
      (await models.listServedUntracked("nebius", "A")).map((m) => m.name),
      ["ft:one"],
    );
    assert.equal((await models.listServedUntracked("nebius", "B")).length, 0);
    assert.equal((await models.listServedUntracked("other")).length, 0);
    // Ordered by provider only: the two endpoints of one provider come in either order.
    const byEndpoint = (refs: { endpoint: string | null }[]) =>
      refs.map((r) => r.endpoint ?? "(none)").sort();
    assert.deepEqual(byEndpoint(await models.deployingProviders()), ["(none)", "https://nebius.example/v1"]);
    assert.ok((await models.deployingProviders()).every((r) => r.provider === "nebius"));
    assert.deepEqual(await models.deployingProviders("B"), [
      { provider: "nebius", endpoint: "https://nebius.example/v1" },
    ]);
    assert.deepEqual(await models.deployingProviders("C"), []);
  });

  it("repoints a renamed provider's trained models whose jobs moved, one guild's or all", async (t) => {
    const store = await open(t);
    const models = new ModelRepository(store);
    await trained(store, "A", 1, "ft:a", { provider: "new", endpoint: "https://e/v1" });
    await trained(store, "B", 2, "ft:b", { provider: "new", endpoint: "https://e/v1" });
    await trained(store, "A", 3, "ft:other-endpoint", { provider: "new", endpoint: "https://other/v1" });
    await store.db.updateTable("models").set({ provider: "old" }).execute();
    await models.register({ guildId: "A", name: "by-hand", provider: "old", baseModel: "b", jobId: null });
    const change = { from: "old", to: "new", endpoint: "https://e/v1" };
    assert.equal(await models.repointTrained({ ...change, guildId: "A" }), 1);
    assert.equal((await models.get("A", "ft:a"))?.provider, "new");
    assert.equal((await models.get("B", "ft:b"))?.provider, "old");
    assert.equal(await models.repointTrained(change), 1);
    assert.equal((await models.get("B", "ft:b"))?.provider, "new");
    assert.equal((await models.get("A", "ft:other-endpoint"))?.provider, "old");
    assert.equal((await models.get("A", "by-hand"))?.provider, "old", "added by hand: left as it is");
    assert.equal(await models.repointTrained(change), 0);
  });

  it("sets a label and a shutdown date, and removes, within the guild", async (t) => {
    const store = await open(t);
    const models = new ModelRepository(store);
    await models.register({ guildId: "A", name: "m", provider: "p", baseModel: "b", jobId: null });
    assert.equal(await models.setLabel("A", "m", "Biology"), true);
    assert.equal(await models.setLabel("B", "m", "theirs"), false);
    assert.equal(await models.setShutdownDate("A", "m", "2027-01-01"), true);
    assert.equal(await models.setShutdownDate("A", "missing", "2027-01-01"), false);
    let row = await models.get("A", "m");
    assert.equal(row?.label, "Biology");
    assert.equal(row?.shutdownDate, "2027-01-01");
    assert.equal(await models.setLabel("A", "m", null), true);
    assert.equal(await models.setShutdownDate("A", "m", null), true);
    row = await models.get("A", "m");
    assert.equal(row?.label, null);
    assert.equal(row?.shutdownDate, null);
    assert.equal(await models.remove("B", "m"), false);
    assert.equal(await models.remove("A", "m"), true);
    assert.equal(await models.remove("A", "m"), false);
    assert.equal(await models.get("A", "m"), undefined);
  });

  it("runs on a transaction of its store", async (t) => {
    const store = await open(t);
    const models = new ModelRepository(store);
    await assert.rejects(
      store.transaction(async (tx) => {
        await models.in(tx).register({ guildId: "A", name: "m", provider: "p", baseModel: "b", jobId: null });
        assert.equal((await models.in(tx).get("A", "m"))?.name, "m");
        throw new Error("roll back");
      }),
      /roll back/,
    );
    assert.equal(await models.get("A", "m"), undefined);
  });
});
