import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ChatPriceTable } from "../../src/classroom/prices.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { ChatProviderRegistry } from "../../src/providers/chatRegistry.ts";

const GROQ = { name: "groq", baseURL: "https://api.groq.com/openai/v1", apiKeyEnv: "GROQ_API_KEY" };

describe("chat provider configuration", () => {
  it("resolves each provider's key from the variable it names", () => {
    const config = loadConfig({ CHAT_PROVIDERS: JSON.stringify([GROQ]), GROQ_API_KEY: "gsk-secret" });
    assert.equal(config.chatProviders.length, 1);
    assert.equal(config.chatProviders[0]?.apiKey, "gsk-secret");
    assert.equal(config.chatProviders[0]?.maxRetries, 2);
    assert.equal(config.ask.defaultModel, "gpt-4o-mini-2024-07-18");
    assert.equal(config.ask.dailyBudgetUsd, 2);
  });

  it("names a missing key variable without printing any key", () => {
    assert.throws(
      () =>
        loadConfig({
          CHAT_PROVIDERS: JSON.stringify([
            GROQ,
            { name: "tog", baseURL: "https://t.test/v1", apiKeyEnv: "TOG_KEY" },
          ]),
          TOG_KEY: "tog-secret",
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /GROQ_API_KEY: not set/);
        assert.doesNotMatch(err.message, /tog-secret/);
        return true;
      },
    );
  });

  it("rejects bad entries, duplicates and the fine-tuning provider's name", () => {
    assert.throws(
      () => loadConfig({ CHAT_PROVIDERS: JSON.stringify([{ name: "x", baseURL: "ftp://x" }]) }),
      /CHAT_PROVIDERS\[0\.baseURL\]/,
    );
    assert.throws(() => loadConfig({ CHAT_PROVIDERS: "[" }), /not valid JSON/);
    assert.throws(
      () =>
        loadConfig({
          CHAT_PROVIDERS: JSON.stringify([{ name: "sandbox", baseURL: "http://127.0.0.1:1/v1" }]),
        }),
      /fine-tuning provider's name/,
    );
    assert.throws(
      () =>
        loadConfig({
          CHAT_PROVIDERS: JSON.stringify([{ ...GROQ, apiKeyEnv: "gsk-abc" }]),
          GROQ_API_KEY: "k",
        }),
      /NAME of an environment variable/,
    );
  });

  it("loads the shipped example file when its key variables are set", () => {
    const config = loadConfig({
      CHAT_PROVIDERS_FILE: "examples/providers.json",
      AZURE_OPENAI_API_KEY: "a",
      TOGETHER_API_KEY: "b",
      FIREWORKS_API_KEY: "c",
      GROQ_API_KEY: "d",
      SCHOOL_VLLM_API_KEY: "e",
    });
    assert.deepEqual(
      config.chatProviders.map((p) => [p.name, p.free]),
      [
        ["azure", false],
        ["together", false],
        ["fireworks", false],
        ["groq", false],
        ["school-vllm", true],
        ["ollama", true],
      ],
    );
    const registry = new ChatProviderRegistry({
      fineTuning: [{ ...config.provider, baseURL: "http://127.0.0.1:9/v1", free: true }],
      extra: config.chatProviders,
    });
    assert.deepEqual(registry.names(), [
      "sandbox",
      "azure",
      "together",
      "fireworks",
      "groq",
      "school-vllm",
      "ollama",
    ]);
    assert.throws(() => registry.assertKnown("openrouter"), /Configured providers: sandbox, azure/);
  });

  it("reports an unreadable providers file", () => {
    const dir = mkdtempSync(join(tmpdir(), "classtune-providers-"));
    writeFileSync(join(dir, "p.json"), JSON.stringify({ providers: [GROQ] }));
    assert.equal(
      loadConfig({ CHAT_PROVIDERS_FILE: join(dir, "p.json"), GROQ_API_KEY: "k" }).chatProviders.length,
      1,
    );
    assert.throws(() => loadConfig({ CHAT_PROVIDERS_FILE: join(dir, "missing.json") }), /cannot read/);
  });
});

describe("chat prices", () => {
  const prices = ChatPriceTable.load();
  it("prices base models by family and fine-tunes at the fine-tuned rate", () => {
    assert.deepEqual(prices.price("gpt-4o-mini-2024-07-18"), { input: 0.15, output: 0.6 });
    assert.deepEqual(prices.price("ft:gpt-4o-mini-2024-07-18:acme::abc"), { input: 0.3, output: 1.2 });
    assert.deepEqual(prices.price("gpt-4o-2024-08-06"), { input: 2.5, output: 10 });
    assert.deepEqual(prices.price("ft:gpt-4.1-nano-2025-04-14:acme:x:1"), { input: 0.2, output: 0.8 });
    assert.deepEqual(prices.price("gpt-3.5-turbo-0125"), { input: 0.5, output: 1.5 });
    assert.deepEqual(prices.price("llama-3.1-8b-instant"), { input: 0, output: 0 });
    assert.equal(prices.cost("gpt-4o", 1_000_000, 500_000), 7.5);
    assert.equal(prices.isBaseModel("gpt-4.1-mini"), true);
    assert.equal(prices.isBaseModel("ft:gpt-4.1-mini:x::1"), false);
  });
});
