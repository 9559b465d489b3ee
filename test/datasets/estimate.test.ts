import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadCatalog, loadCatalogSet, resolveModel } from "../../src/datasets/catalog.ts";
import {
  billingTokens,
  defaultEpochs,
  preferenceBilling,
  pricePerMillionFor,
  trainingCostUsd,
} from "../../src/datasets/estimate.ts";
import { validateFile } from "../../src/datasets/validator.ts";
import { chatLines, preferenceLines } from "../finetuning/jobs.fixture.ts";

describe("defaultEpochs", () => {
  it("is 3 for a typical dataset", () => assert.equal(defaultEpochs(100), 3));
  it("is raised so examples × epochs reaches 100", () => {
    assert.equal(defaultEpochs(5), 20);
    assert.equal(defaultEpochs(7), 15);
    assert.equal(defaultEpochs(20), 5);
  });
  it("is capped at 25 for tiny datasets", () => assert.equal(defaultEpochs(1), 25));
  it("is lowered so examples × epochs stays under 25,000, at least 1", () => {
    assert.equal(defaultEpochs(10_000), 2);
    assert.equal(defaultEpochs(100_000), 1);
  });
});

describe("billing and cost", () => {
  it("bills epochs × Σ min(limit, tokens)", () => {
    assert.equal(billingTokens([45, 111, 26, 28, 8032], 16_385, 20), 164_840);
    assert.equal(billingTokens([10, 500], 100, 2), 220);
  });
  it("prices the toy vector for gpt-3.5-turbo at $8/1M", () => {
    const model = resolveModel("gpt-3.5-turbo", loadCatalog());
    assert.equal(model.trainingPricePerMillionUsd, 8);
    assert.equal(trainingCostUsd(164_840, model.trainingPricePerMillionUsd), 1.3187);
  });
});

describe("the DPO estimate", () => {
  const dir = mkdtempSync(join(tmpdir(), "classtune-dpo-price-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const pairs = join(dir, "pairs.jsonl");
  writeFileSync(pairs, preferenceLines(12));

  it("bills a preference file's prompt and both answers at the trainer's DPO price: OpenAI's supervised one", async () => {
    const catalog = loadCatalogSet([{ name: "openai", kind: "openai" }], "openai").catalogFor("openai");
    const r = await validateFile(pairs, { catalog });
    const model = resolveModel(r.model, catalog);
    assert.equal(r.format, "preference");
    assert.equal(r.pricePerMillionTrainingTokensUsd, model.trainingPricePerMillionUsd);
    assert.deepEqual(r.preferenceBilling, preferenceBilling("OpenAI"));
    assert.match(r.preferenceBilling?.source ?? "", /help\.openai\.com.*unconfirmed/);
    assert.equal(r.estimatedCostUsd, trainingCostUsd(r.billingTokens, model.trainingPricePerMillionUsd));
  });

  it("prices DPO at Together at its rule (2.5× the supervised rate, marked unconfirmed); a chat file as before", async () => {
    const catalog = loadCatalogSet([{ name: "together", kind: "together" }], "together").catalogFor(
      "together",
    );
    const r = await validateFile(pairs, { catalog });
    const supervised = resolveModel(r.model, catalog).trainingPricePerMillionUsd;
    assert.equal(
      r.pricePerMillionTrainingTokensUsd,
      pricePerMillionFor("preference", supervised, "Together AI"),
    );
    assert.equal(preferenceBilling("Together AI").factor, 2.5);
    assert.match(r.preferenceBilling?.source ?? "", /unconfirmed/);
    assert.equal(r.estimatedCostUsd, trainingCostUsd(r.billingTokens, supervised * 2.5));
    const chat = join(dir, "chat.jsonl");
    writeFileSync(chat, chatLines(12));
    const c = await validateFile(chat, { catalog });
    assert.equal(c.pricePerMillionTrainingTokensUsd, supervised);
    assert.equal(c.preferenceBilling, undefined);
  });

  it("an unknown trainer's DPO price is the supervised one, said to be unconfirmed", () => {
    assert.deepEqual(preferenceBilling("Some School GPU").factor, 1);
    assert.match(preferenceBilling("Some School GPU").source, /^unconfirmed/);
  });
});
