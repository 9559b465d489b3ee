import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  builtInCatalog,
  DEFAULT_MODEL,
  loadCatalog,
  loadCatalogSet,
  resolveModel,
} from "../../src/datasets/catalog.ts";
import { UserError } from "../../src/domain/errors.ts";
import { FAMILIES, isOpenTokenizerFamily } from "../../src/tokenizers/families.ts";

const dir = mkdtempSync(join(tmpdir(), "classtune-models-"));
const LLAMA = "meta-llama/Llama-3.1-8B-Instruct";
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

describe("the catalogs of each provider kind", () => {
  const kinds = ["openai", "azure", "nebius", "together", "fireworks", "localai", "sandbox"] as const;
  const fields = (id: string, kind: (typeof kinds)[number]) => {
    const m = resolveModel(id, builtInCatalog(kind));
    return [m.tokenizer, m.chatTemplate, m.maxTokensPerExample, m.minExamples, m.methods, m.serving];
  };

  it("dates and sources every model's price, and names a serving mode and methods", () => {
    for (const kind of kinds) {
      const catalog = builtInCatalog(kind);
      assert.ok(catalog.models.length >= 2, kind);
      assert.ok(resolveModel(catalog.defaultModel, catalog), `${kind}'s default is one of its models`);
      for (const m of catalog.models) {
        assert.match(m.priceAsOf, /^\d{4}-\d{2}-\d{2}$/, `${kind} ${m.id}`);
        assert.ok(m.priceSource.length > 10, `${kind} ${m.id} says where its price comes from`);
        assert.ok(m.trainingPricePerMillionUsd >= 0 && m.minExamples >= 1 && m.methods.length >= 1);
        assert.ok(["immediate", "deploy", "dedicated"].includes(m.serving));
      }
    }
  });

  it("has Nebius's and Together's required open models, with their own tokenizer and chat template", () => {
    assert.deepEqual(fields("meta-llama/Llama-3.1-8B-Instruct", "nebius"), [
      "llama3.1",
      "llama3.1",
      8192,
      10,
      ["supervised"],
      "deploy",
    ]);
    assert.equal(fields("meta-llama/Llama-3.3-70B-Instruct", "nebius")[0], "llama3.1");
    assert.equal(fields("Qwen/Qwen2.5-7B-Instruct", "nebius")[0], "qwen2.5");
    assert.deepEqual(fields("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "together"), [
      "llama3.1",
      "llama3.1",
      131_072,
      1,
      ["supervised", "preference"],
      "dedicated",
    ]);
    assert.equal(fields("meta-llama/Meta-Llama-3.1-70B-Instruct-Reference", "together")[0], "llama3.1");
    assert.equal(fields("Qwen/Qwen2.5-7B-Instruct", "together")[0], "qwen2.5");
    assert.equal(resolveModel("meta-llama/Meta-Llama-3.1-8B-Instruct", builtInCatalog("nebius")).id, LLAMA);
  });

  it("counts an open model only with a family whose template was checked for that very model", () => {
    for (const kind of kinds) {
      for (const m of builtInCatalog(kind).models) {
        if (!isOpenTokenizerFamily(m.tokenizer)) continue;
        assert.ok(FAMILIES[m.tokenizer].models.includes(m.id), `${kind}: ${m.id} is a ${m.tokenizer} model`);
      }
    }
  });

  it("keeps OpenAI's cookbook rule for OpenAI's models, on OpenAI and on Azure (which must deploy)", () => {
    assert.deepEqual(fields("gpt-4o-mini", "openai"), [
      "o200k_base",
      "openai-cookbook",
      65_536,
      10,
      ["supervised", "preference"],
      "immediate",
    ]);
    assert.deepEqual(fields("gpt-4.1-mini", "azure").slice(0, 2), ["o200k_base", "openai-cookbook"]);
    assert.equal(fields("gpt-4.1-mini", "azure")[5], "dedicated");
  });

  it("gives the sandbox OpenAI's models and the open ones, each with the rules of the catalog it comes from", () => {
    const sandbox = builtInCatalog("sandbox");
    for (const id of [
      "gpt-4o-mini-2024-07-18",
      "gpt-3.5-turbo-0125",
      LLAMA,
      "meta-llama/Llama-3.3-70B-Instruct",
      "Qwen/Qwen2.5-7B-Instruct",
      "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
      "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference",
    ]) {
      assert.ok(resolveModel(id, sandbox), id);
    }
    assert.equal(sandbox.defaultModel, "gpt-4o-mini-2024-07-18");
    assert.equal(resolveModel(LLAMA, sandbox).trainerName, "Nebius");
    assert.equal(resolveModel("gpt-4o-mini", sandbox).trainerName, "OpenAI");
  });
});

describe("a catalog set: the configured providers' catalogs", () => {
  const providers = [
    { name: "school-openai", kind: "openai" as const },
    { name: "school-together", kind: "together" as const },
    { name: "school-nebius", kind: "nebius" as const },
  ];

  it("answers which catalog a provider has, in any case, and the default's when none is named", () => {
    const set = loadCatalogSet(providers, "school-together");
    assert.equal(set.default.provider, "school-together");
    assert.equal(set.catalogFor(undefined).kind, "together");
    assert.equal(set.catalogFor("SCHOOL-NEBIUS").kind, "nebius");
    assert.throws(
      () => set.catalogFor("school-fireworks"),
      (err: unknown) =>
        err instanceof UserError &&
        err.code === "unknown_provider" &&
        /unknown provider "school-fireworks": the configured fine-tuning providers are school-openai \(openai\), school-together \(together, default\), school-nebius \(nebius\)/.test(
          err.message,
        ),
    );
  });

  it("applies MODELS_FILE's top-level models to the default provider only, and `providers.<name>` to that one", () => {
    const modelsFile = join(dir, "models-per-provider.json");
    writeFileSync(
      modelsFile,
      JSON.stringify({
        models: [
          {
            id: "school-gpt",
            encoding: "o200k_base",
            maxTokensPerExample: 1000,
            trainingPricePerMillionUsd: 1,
          },
        ],
        providers: {
          "school-together": {
            models: [
              { id: "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", maxTokensPerExample: 4096 },
              {
                id: "Qwen/Qwen2.5-14B-Instruct",
                tokenizer: "qwen2.5",
                maxTokensPerExample: 32_768,
                trainingPricePerMillionUsd: 1.5,
                serving: "dedicated",
              },
            ],
          },
        },
      }),
    );
    const set = loadCatalogSet(providers, "school-openai", { modelsFile });
    assert.equal(resolveModel("school-gpt", set.catalogFor("school-openai")).maxTokensPerExample, 1000);
    assert.throws(() => resolveModel("school-gpt", set.catalogFor("school-together")), /unknown model/);
    const together = set.catalogFor("school-together");
    const llama = resolveModel("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", together);
    assert.deepEqual(
      [llama.maxTokensPerExample, llama.tokenizer, llama.trainingPricePerMillionUsd, llama.minExamples],
      [4096, "llama3.1", 0.48, 1],
      "a known model changes only the fields given",
    );
    const qwen = resolveModel("Qwen/Qwen2.5-14B-Instruct", together);
    assert.deepEqual(
      [qwen.tokenizer, qwen.chatTemplate, qwen.serving, qwen.minExamples, qwen.trainer.contentParts],
      ["qwen2.5", "qwen2.5", "dedicated", 1, false],
      "a new model takes the catalog's defaults and trainer rules",
    );
    assert.equal(
      resolveModel("meta-llama/Llama-3.1-8B-Instruct", set.catalogFor("school-nebius")).maxTokensPerExample,
      8192,
      "other providers untouched",
    );
  });

  it("applies PRICES_FILE per provider with its date and source, the top-level table to the default provider", () => {
    const pricesFile = join(dir, "prices-per-provider.json");
    writeFileSync(
      pricesFile,
      JSON.stringify({
        asOf: "2030-01-01",
        trainingPerMillionTokens: { "gpt-4o-mini-2024-07-18": 2 },
        providers: {
          "school-nebius": {
            asOf: "2030-02-02",
            source: "our contract with Nebius",
            trainingPerMillionTokens: { "meta-llama/Llama-3.1-8B-Instruct": 0.25 },
          },
        },
      }),
    );
    const set = loadCatalogSet(providers, "school-openai", { pricesFile });
    const mini = resolveModel("gpt-4o-mini", set.catalogFor("school-openai"));
    assert.deepEqual([mini.trainingPricePerMillionUsd, mini.priceAsOf], [2, "2030-01-01"]);
    const llama = resolveModel(LLAMA, set.catalogFor("school-nebius"));
    assert.deepEqual([llama.trainingPricePerMillionUsd, llama.priceAsOf], [0.25, "2030-02-02"]);
    assert.match(llama.priceSource, /^PRICES_FILE .*prices-per-provider\.json: our contract with Nebius$/);
    assert.equal(set.catalogFor("school-nebius").pricesAsOf, "2030-02-02");
    assert.equal(
      resolveModel("Qwen/Qwen2.5-7B-Instruct", set.catalogFor("school-together")).trainingPricePerMillionUsd,
      0.48,
      "a provider the file does not price keeps its catalog's prices",
    );
  });

  it("refuses a per-provider entry naming no configured provider, and a new model without a tokenizer", () => {
    const typo = join(dir, "typo.json");
    writeFileSync(
      typo,
      JSON.stringify({
        asOf: "2030-01-01",
        providers: { "school-togther": { trainingPerMillionTokens: {} } },
      }),
    );
    assert.throws(
      () => loadCatalogSet(providers, "school-openai", { pricesFile: typo }),
      /PRICES_FILE names provider "school-togther", which is not configured \(configured: school-openai, school-together, school-nebius\)/,
    );
    const incomplete = join(dir, "incomplete.json");
    writeFileSync(
      incomplete,
      JSON.stringify({ providers: { "school-nebius": { models: [{ id: "x", maxTokensPerExample: 9 }] } } }),
    );
    assert.throws(
      () => loadCatalogSet(providers, "school-openai", { modelsFile: incomplete }),
      /model x is not in school-nebius's catalog, so it needs "tokenizer"/,
    );
  });
});
