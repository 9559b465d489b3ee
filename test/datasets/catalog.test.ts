import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DEFAULT_MODEL, loadCatalog, resolveModel } from "../../src/datasets/catalog.ts";
import { UserError } from "../../src/domain/errors.ts";

const dir = mkdtempSync(join(tmpdir(), "classtune-models-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("the model catalog", () => {
  const catalog = loadCatalog();

  it("knows the base models with their encodings, limits and prices", () => {
    const expected: [string, string, number, number][] = [
      ["gpt-4o-mini-2024-07-18", "o200k_base", 65_536, 3],
      ["gpt-4o-2024-08-06", "o200k_base", 65_536, 25],
      ["gpt-4.1-2025-04-14", "o200k_base", 65_536, 25],
      ["gpt-4.1-mini-2025-04-14", "o200k_base", 65_536, 5],
      ["gpt-4.1-nano-2025-04-14", "o200k_base", 65_536, 1.5],
      ["gpt-3.5-turbo-0125", "cl100k_base", 16_385, 8],
    ];
    for (const [id, encoding, limit, price] of expected) {
      const m = resolveModel(id, catalog);
      assert.deepEqual(
        [m.tokenizer, m.maxTokensPerExample, m.trainingPricePerMillionUsd],
        [encoding, limit, price],
      );
    }
    assert.equal(DEFAULT_MODEL, "gpt-4o-mini-2024-07-18");
    assert.match(catalog.pricesAsOf, /^\d{4}-\d{2}-\d{2}$/);
  });

  it("resolves aliases and fine-tuned model names to their base", () => {
    assert.equal(resolveModel("gpt-4o-mini", catalog).id, "gpt-4o-mini-2024-07-18");
    assert.equal(
      resolveModel("ft:gpt-4o-mini-2024-07-18:org:suffix:abc123", catalog).id,
      "gpt-4o-mini-2024-07-18",
    );
    assert.equal(resolveModel("ft:gpt-3.5-turbo-0125:acme::xyz", catalog).tokenizer, "cl100k_base");
  });

  it("rejects an unknown model with a UserError naming the known ones", () => {
    assert.throws(
      () => resolveModel("gpt-2", catalog),
      (err: unknown) =>
        err instanceof UserError && /gpt-2/.test(err.message) && /gpt-4o-mini-2024-07-18/.test(err.message),
    );
  });

  it("adds models from a models file and takes prices from a price file", () => {
    const modelsFile = join(dir, "models.json");
    writeFileSync(
      modelsFile,
      JSON.stringify({
        models: [
          { id: "my-model-2025", encoding: "o200k_base", maxTokensPerExample: 1000, aliases: ["mine"] },
          {
            id: "free-model",
            encoding: "cl100k_base",
            maxTokensPerExample: 500,
            trainingPricePerMillionUsd: 0,
          },
        ],
      }),
    );
    const pricesFile = join(dir, "prices.json");
    writeFileSync(
      pricesFile,
      JSON.stringify({
        asOf: "2030-01-01",
        trainingPerMillionTokens: { "my-model-2025": 2, "gpt-4o-2024-08-06": 20 },
      }),
    );
    const custom = loadCatalog({ modelsFile, pricesFile });
    assert.equal(resolveModel("mine", custom).trainingPricePerMillionUsd, 2);
    assert.equal(resolveModel("free-model", custom).trainingPricePerMillionUsd, 0);
    assert.equal(resolveModel("gpt-4o", custom).trainingPricePerMillionUsd, 20);
    assert.equal(
      resolveModel("gpt-4.1-nano", custom).trainingPricePerMillionUsd,
      1.5,
      "built-in prices stay",
    );
    assert.equal(custom.pricesAsOf, "2030-01-01");
  });

  it("reports a model without a price, and a malformed file, as UserErrors", () => {
    const noPrice = join(dir, "noprice.json");
    writeFileSync(
      noPrice,
      JSON.stringify({ models: [{ id: "x", encoding: "o200k_base", maxTokensPerExample: 10 }] }),
    );
    assert.throws(() => loadCatalog({ modelsFile: noPrice }), /no training price for model x/);
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ models: [{ id: "y", encoding: "p50k", maxTokensPerExample: 10 }] }));
    assert.throws(() => loadCatalog({ modelsFile: bad }), UserError);
    assert.throws(() => loadCatalog({ pricesFile: join(dir, "missing.json") }), /cannot read the price file/);
  });
});
