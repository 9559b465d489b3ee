import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadCatalog, resolveModel } from "../../src/datasets/catalog.ts";
import { billingTokens, defaultEpochs, trainingCostUsd } from "../../src/datasets/estimate.ts";

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
