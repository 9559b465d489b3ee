import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../src/config.ts";
import { loadCatalog } from "../../src/datasets/catalog.ts";
import { ModelRepository } from "../../src/db/models.ts";
import { openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { baseModelChoices, guildModelChoices } from "../../src/discord/modelChoices.ts";

const G = "100000000000000001";
const OTHER_G = "100000000000000002";

describe("baseModelChoices", () => {
  const catalog = loadCatalog();

  it("offers the catalog's base models by id or alias, the default marked, with the training price", () => {
    const byAlias = baseModelChoices("gpt-4o-mini", catalog);
    assert.deepEqual(
      byAlias.map((c) => c.value),
      ["gpt-4o-mini-2024-07-18"],
    );
    assert.match(
      String(byAlias[0]?.name),
      /^gpt-4o-mini-2024-07-18 \(default\) · \$[\d.]+\/1M training tokens$/,
    );
    assert.equal(baseModelChoices("", catalog).length, Math.min(catalog.models.length, 25));
    assert.deepEqual(baseModelChoices("no-such-model", catalog), []);
  });
});

describe("guildModelChoices", () => {
  const ctx = () => {
    const db = openDb(":memory:");
    const models = new ModelRepository(sqliteStore(db));
    const config = loadConfig({ ASK_DEFAULT_MODEL: "llama-3.1-8b-instant" });
    return { models, config };
  };

  it("offers the guild's own models (labelled) and the /ask default, never another guild's", async () => {
    const c = ctx();
    await c.models.register({ guildId: G, name: "ft:bio", provider: "sandbox", baseModel: "b", jobId: null });
    await c.models.setLabel(G, "ft:bio", "Biology");
    await c.models.register({
      guildId: OTHER_G,
      name: "ft:secret",
      provider: "sandbox",
      baseModel: "b",
      jobId: null,
    });
    assert.deepEqual(await guildModelChoices(c, G, ""), [
      { name: "Biology (ft:bio)", value: "ft:bio" },
      { name: "llama-3.1-8b-instant (base model)", value: "llama-3.1-8b-instant" },
    ]);
    assert.deepEqual(await guildModelChoices(c, G, "secret"), []);
  });

  it("offers only the given unregistered names, once, and skips names Discord cannot carry", async () => {
    const c = ctx();
    await c.models.register({ guildId: G, name: "chosen", provider: "sandbox", baseModel: "b", jobId: null });
    await c.models.register({
      guildId: G,
      name: "x".repeat(101),
      provider: "sandbox",
      baseModel: "b",
      jobId: null,
    });
    assert.deepEqual(
      (await guildModelChoices(c, G, "", ["chosen", "fallback"])).map((x) => x.value),
      ["chosen", "fallback"],
    );
  });
});

describe("guildModelChoices and the serving step", () => {
  it("offers a trained model only once it is ready, also when it is a channel's chosen model", async () => {
    const db = openDb(":memory:");
    const c = { models: new ModelRepository(sqliteStore(db)), config: loadConfig({}) };
    await c.models.register({
      guildId: G,
      name: "ft:llama-deploying",
      provider: "nebius",
      baseModel: "b",
      jobId: null,
      serving: { status: "deploying", servedAs: null, deploymentName: "ct-a-000000", attempt: 1 },
    });
    await c.models.register({
      guildId: G,
      name: "ft:llama-failed",
      provider: "nebius",
      baseModel: "b",
      jobId: null,
      serving: { status: "failed", servedAs: null, deploymentName: "ct-b-000000", attempt: 1 },
    });
    await c.models.register({
      guildId: G,
      name: "ft:ready",
      provider: "nebius",
      baseModel: "b",
      jobId: null,
    });
    assert.deepEqual(
      (await guildModelChoices(c, G, "ft:", ["ft:llama-deploying"])).map((x) => x.value),
      ["ft:ready"],
    );
  });
});
