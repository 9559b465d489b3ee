// `classtune providers [--json]` and `classtune validate --provider`, through the real entry point
// (`node scripts/run.js src/cli.ts`) as other tools call them, with a registry of a Together-kind and a
// Nebius-kind provider next to the embedded sandbox. Nothing is called: catalogs and validation are local.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { ValidationReport } from "../../src/datasets/types.ts";
import { spawnCli } from "../helpers/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "classtune-cli-providers-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const REGISTRY = JSON.stringify([
  { name: "sandbox", kind: "sandbox" },
  {
    name: "school-together",
    kind: "together",
    baseURL: "https://api.together.xyz/v1",
    apiKeyEnv: "TOGETHER_API_KEY",
  },
  {
    name: "school-nebius",
    kind: "nebius",
    baseURL: "https://api.tokenfactory.nebius.com/v1",
    apiKeyEnv: "NEBIUS_API_KEY",
  },
]);

const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnCli(args, {
    cwd: dir,
    env: {
      DATA_DIR: join(dir, "data"),
      FINETUNE_PROVIDERS: REGISTRY,
      FINETUNE_DEFAULT_PROVIDER: "sandbox",
      // Fake keys, built from parts: nothing is called.
      TOGETHER_API_KEY: ["tg", "test"].join("-"),
      NEBIUS_API_KEY: ["nb", "test"].join("-"),
      ...env,
    },
  });

interface ProvidersJson {
  providers: {
    name: string;
    kind: string;
    default: boolean;
    models: {
      id: string;
      tokenizer: string;
      maxTokensPerExample: number;
      trainingPricePerMillionUsd: number;
      methods: string[];
      serving: string;
    }[];
  }[];
}

const TOY = new URL("../datasets/fixtures/toy_chat_fine_tuning.jsonl", import.meta.url);

describe("classtune providers", () => {
  it("--json lists every configured provider and its models in the contract's shape, exit 0", async () => {
    const r = await cli(["providers", "--json"]);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out) as ProvidersJson;
    assert.deepEqual(
      doc.providers.map((p) => [p.name, p.kind, p.default]),
      [
        ["sandbox", "sandbox", true],
        ["school-together", "together", false],
        ["school-nebius", "nebius", false],
      ],
    );
    for (const p of doc.providers) {
      for (const m of p.models) {
        assert.equal(typeof m.id, "string");
        assert.ok(["o200k_base", "cl100k_base", "llama3.1", "qwen2.5"].includes(m.tokenizer), m.tokenizer);
        assert.ok(Number.isInteger(m.maxTokensPerExample) && m.maxTokensPerExample > 0);
        assert.equal(typeof m.trainingPricePerMillionUsd, "number");
        assert.ok(m.methods.length > 0 && m.methods.every((x) => x === "supervised" || x === "preference"));
        assert.ok(["immediate", "deploy", "dedicated"].includes(m.serving));
      }
    }
    const together = doc.providers[1]?.models ?? [];
    assert.deepEqual(
      together.find((m) => m.id === "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"),
      {
        ...together.find((m) => m.id === "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"),
        tokenizer: "llama3.1",
        maxTokensPerExample: 131_072,
        methods: ["supervised", "preference"],
        serving: "dedicated",
      },
    );
    assert.deepEqual(
      doc.providers[2]?.models.map((m) => m.id),
      ["meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.3-70B-Instruct", "Qwen/Qwen2.5-7B-Instruct"],
    );
  });

  it("prints each provider and its models for people, and names a missing key variable", async () => {
    const r = await cli(["providers"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^school-together \(together\): 3 base model\(s\)$/m);
    assert.match(
      r.out,
      /meta-llama\/Llama-3\.1-8B-Instruct \(default\): llama3\.1 · ≤ 8,192 tokens\/example/,
    );
    const missing = await cli(["providers", "--json"], { NEBIUS_API_KEY: "" });
    assert.equal(missing.code, 2);
    assert.equal(missing.out, "");
    assert.match(missing.err, /NEBIUS_API_KEY: not set, but fine-tuning provider "school-nebius"/);
  });
});

describe("classtune validate --provider", () => {
  it("checks a file for a Together-kind provider's Llama model (no job adapter needed), JSON with provider", async () => {
    const r = await cli([
      "validate",
      fileURLToPath(TOY),
      "--provider",
      "school-together",
      "--model",
      "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
      "--json",
    ]);
    assert.equal(r.code, 0, r.err);
    const report = JSON.parse(r.out) as ValidationReport;
    assert.deepEqual(
      [report.provider, report.providerKind, report.model, report.tokenizer, report.fineTunable],
      ["school-together", "together", "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "llama3.1", true],
    );
    assert.equal(report.tokens.total, 66 + 138 + 51 + 48 + 8053);
  });

  it("says which provider and model it checked against, in words", async () => {
    const r = await cli(["validate", fileURLToPath(TOY), "--provider", "school-nebius"]);
    assert.equal(r.code, 1, "5 examples are fewer than Nebius's 10");
    assert.match(
      r.out,
      /checked for meta-llama\/Llama-3\.1-8B-Instruct on provider school-nebius \(nebius; llama3\.1 tokens, its own chat template; at most 8,192 per example\)/,
    );
    assert.match(r.out, /Nebius needs at least 10 valid example\(s\) for meta-llama\/Llama-3\.1-8B-Instruct/);
  });

  it("exits 2 naming the choices for an unknown provider, and that provider's models for an unknown model", async () => {
    const file = join(dir, "one.jsonl");
    writeFileSync(file, readFileSync(TOY, "utf8").split("\n")[0] ?? "");
    const provider = await cli(["validate", file, "--provider", "school-fireworks"]);
    assert.equal(provider.code, 2);
    assert.match(
      provider.err.trim(),
      /^classtune validate: unknown provider "school-fireworks": the configured fine-tuning providers are sandbox \(sandbox, default\), school-together \(together\), school-nebius \(nebius\)$/,
    );
    const model = await cli(["validate", file, "--provider", "school-together", "--model", "gpt-4o-mini"]);
    assert.equal(model.code, 2);
    assert.match(
      model.err,
      /unknown model "gpt-4o-mini": known models are meta-llama\/Meta-Llama-3\.1-8B-Instruct-Reference, meta-llama\/Meta-Llama-3\.1-70B-Instruct-Reference, Qwen\/Qwen2\.5-7B-Instruct \(those of provider school-together, kind together/,
    );
  });
});
