// The fine-tuning provider registry's configuration (src/providerSpecs.ts through loadConfig): the list forms,
// each kind's fields and defaults, the legacy OPENAI_* provider and the sandbox, and every configuration error,
// all reported in one ConfigError.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  type Config,
  ConfigError,
  type FineTuneProviderSpec,
  loadConfig,
  PROVIDER_KINDS,
} from "../src/config.ts";
import { runCliCaptured } from "./helpers/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "classtune-finetune-providers-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const NEBIUS = {
  name: "nebius",
  kind: "nebius",
  baseURL: "https://api.tokenfactory.nebius.com/v1/",
  apiKeyEnv: "NEBIUS_API_KEY",
};
const AZURE = {
  name: "azure-ft",
  kind: "azure",
  baseURL: "https://school.openai.azure.com/openai/v1",
  apiKeyEnv: "AZURE_OPENAI_API_KEY",
};
const ARM = {
  subscriptionId: "11111111-2222-3333-4444-555555555555",
  resourceGroup: "classtune-rg",
  account: "school",
  tenantIdEnv: "AZURE_TENANT_ID",
  clientIdEnv: "AZURE_CLIENT_ID",
  clientSecretEnv: "AZURE_CLIENT_SECRET",
};
const ARM_VARS = {
  AZURE_TENANT_ID: "tenant-guid",
  AZURE_CLIENT_ID: "client-guid",
  AZURE_CLIENT_SECRET: "entra-client-secret-value",
};

function inline(...providers: unknown[]): NodeJS.ProcessEnv {
  return { FINETUNE_PROVIDERS: JSON.stringify(providers) };
}

/** The problems loadConfig reports for env (it must refuse it). */
function problemsOf(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, not ${String(err)}`);
    return err.message;
  }
  assert.fail("the configuration was accepted");
}

function spec<K extends FineTuneProviderSpec["kind"]>(
  config: Config,
  name: string,
  kind: K,
): Extract<FineTuneProviderSpec, { kind: K }> {
  const p = config.finetuneProviders.find((s) => s.name === name);
  assert.ok(p, `provider "${name}" is configured`);
  assert.equal(p.kind, kind);
  return p as Extract<FineTuneProviderSpec, { kind: K }>;
}

describe("fine-tuning providers: the legacy variables and the sandbox", () => {
  it("uses the embedded sandbox named sandbox when there is no key and no list", () => {
    const config = loadConfig({});
    assert.deepEqual(
      config.finetuneProviders.map((p) => [p.name, p.kind, p.baseURL]),
      [["sandbox", "sandbox", undefined]],
    );
    assert.equal(config.defaultFinetuneProvider, "sandbox");
    assert.equal(config.provider.kind, "sandbox");
    assert.equal(config.provider.name, "sandbox");
    // As before: PROVIDER_NAME and OPENAI_BASE_URL without a key still mean the sandbox.
    assert.equal(
      loadConfig({ PROVIDER_NAME: "x", OPENAI_BASE_URL: "https://h.test/v1" }).provider.name,
      "sandbox",
    );
  });

  it("treats an empty list like no list", () => {
    assert.equal(loadConfig({ FINETUNE_PROVIDERS: "[]" }).defaultFinetuneProvider, "sandbox");
  });

  it("keeps OPENAI_API_KEY, OPENAI_BASE_URL and PROVIDER_NAME defining one provider of kind openai", () => {
    const plain = loadConfig({
      OPENAI_API_KEY: "sk-legacy",
      OPENAI_MAX_RETRIES: "4",
      OPENAI_TIMEOUT_MS: "9000",
    });
    assert.deepEqual(plain.finetuneProviders, [
      {
        kind: "openai",
        name: "openai",
        source: "OPENAI_API_KEY",
        baseURL: "https://api.openai.com/v1",
        apiKeyEnv: "OPENAI_API_KEY",
        apiKey: "sk-legacy",
        maxRetries: 4,
        timeoutMs: 9000,
        note: undefined,
      },
    ]);
    assert.deepEqual(
      { ...plain.provider },
      {
        kind: "openai-compatible",
        name: "openai",
        apiKey: "sk-legacy",
        baseURL: "https://api.openai.com/v1",
        maxRetries: 4,
        timeoutMs: 9000,
      },
    );
    const compatible = loadConfig({ OPENAI_API_KEY: "k", OPENAI_BASE_URL: "https://h.test/openai/v1/" });
    assert.equal(compatible.provider.name, "openai-compatible");
    assert.equal(compatible.finetuneProviders[0]?.baseURL, "https://h.test/openai/v1");
    const named = loadConfig({
      OPENAI_API_KEY: "k",
      OPENAI_BASE_URL: "https://h.test/v1",
      PROVIDER_NAME: "school",
    });
    assert.equal(named.provider.name, "school");
    assert.equal(named.defaultFinetuneProvider, "school");
  });
});

describe("fine-tuning providers: the list", () => {
  it("reads the inline list, resolves each key from the variable it names and defaults to the first", () => {
    const config = loadConfig({
      ...inline(NEBIUS, {
        name: "together-ft",
        kind: "together",
        baseURL: "https://api.together.xyz/v1",
        apiKeyEnv: "TOGETHER_API_KEY",
        maxRetries: 5,
        timeoutMs: 1234,
        note: "hi",
      }),
      NEBIUS_API_KEY: " nebius-key ",
      TOGETHER_API_KEY: "together-key",
    });
    assert.deepEqual(
      config.finetuneProviders.map((p) => [p.name, p.kind, p.source, p.apiKey]),
      [
        ["nebius", "nebius", "FINETUNE_PROVIDERS", "nebius-key"],
        ["together-ft", "together", "FINETUNE_PROVIDERS", "together-key"],
      ],
    );
    const together = spec(config, "together-ft", "together");
    assert.deepEqual([together.maxRetries, together.timeoutMs, together.note], [5, 1234, "hi"]);
    assert.deepEqual(
      [spec(config, "nebius", "nebius").maxRetries, spec(config, "nebius", "nebius").timeoutMs],
      [2, 60_000],
    );
    assert.equal(config.defaultFinetuneProvider, "nebius");
    assert.equal(config.provider.name, "nebius");
    assert.equal(config.provider.kind, "openai-compatible");
    assert.equal(config.provider.apiKey, "nebius-key");
    assert.equal(config.provider.baseURL, "https://api.tokenfactory.nebius.com/v1");
  });

  it("reads a file of { providers: [...] } or a bare list", () => {
    writeFileSync(join(dir, "wrapped.json"), JSON.stringify({ about: "x", providers: [NEBIUS] }));
    writeFileSync(join(dir, "bare.json"), JSON.stringify([NEBIUS]));
    for (const file of ["wrapped.json", "bare.json"]) {
      const config = loadConfig({ FINETUNE_PROVIDERS_FILE: join(dir, file), NEBIUS_API_KEY: "k" });
      assert.equal(spec(config, "nebius", "nebius").source, "FINETUNE_PROVIDERS_FILE");
    }
    assert.match(
      problemsOf({ FINETUNE_PROVIDERS_FILE: join(dir, "missing.json") }),
      /FINETUNE_PROVIDERS_FILE: cannot read/,
    );
  });

  it("uses the inline list and the file together, with names unique across both", () => {
    writeFileSync(
      join(dir, "one.json"),
      JSON.stringify({ providers: [{ name: "rehearsal", kind: "sandbox" }] }),
    );
    const both = loadConfig({
      ...inline(NEBIUS),
      FINETUNE_PROVIDERS_FILE: join(dir, "one.json"),
      NEBIUS_API_KEY: "k",
    });
    assert.deepEqual(
      both.finetuneProviders.map((p) => p.name),
      ["nebius", "rehearsal"],
    );
    writeFileSync(join(dir, "dup.json"), JSON.stringify([{ ...NEBIUS, name: "NEBIUS" }]));
    assert.match(
      problemsOf({ ...inline(NEBIUS), FINETUNE_PROVIDERS_FILE: join(dir, "dup.json"), NEBIUS_API_KEY: "k" }),
      /FINETUNE_PROVIDERS_FILE\[0\] \("NEBIUS"\): fine-tuning provider "NEBIUS" is defined twice/,
    );
  });

  it("names the default with FINETUNE_DEFAULT_PROVIDER and refuses one that is not configured", () => {
    const env = { ...inline(NEBIUS, { name: "rehearsal", kind: "sandbox" }), NEBIUS_API_KEY: "k" };
    const config = loadConfig({ ...env, FINETUNE_DEFAULT_PROVIDER: "rehearsal" });
    assert.equal(config.defaultFinetuneProvider, "rehearsal");
    assert.equal(config.provider.kind, "sandbox");
    assert.equal(config.provider.name, "rehearsal");
    assert.match(
      problemsOf({ ...env, FINETUNE_DEFAULT_PROVIDER: "azure" }),
      /FINETUNE_DEFAULT_PROVIDER: "azure" is not a configured fine-tuning provider \(configured: nebius, rehearsal\)/,
    );
    assert.match(problemsOf({ FINETUNE_DEFAULT_PROVIDER: "openai" }), /configured: sandbox/);
    // A listed provider that is only missing its key still counts as configured, and vice versa.
    const text = problemsOf({ ...inline(NEBIUS), FINETUNE_DEFAULT_PROVIDER: "nebuis" });
    assert.match(text, /NEBIUS_API_KEY: not set/);
    assert.match(text, /FINETUNE_DEFAULT_PROVIDER: "nebuis" is not a configured fine-tuning provider/);
    assert.doesNotMatch(
      problemsOf({ ...inline(NEBIUS), FINETUNE_DEFAULT_PROVIDER: "nebius" }),
      /FINETUNE_DEFAULT_PROVIDER/,
    );
  });

  it("adds the OPENAI_API_KEY provider after the list, and refuses it when a listed provider has its name", () => {
    const config = loadConfig({ ...inline(NEBIUS), NEBIUS_API_KEY: "k", OPENAI_API_KEY: "sk-legacy" });
    assert.deepEqual(
      config.finetuneProviders.map((p) => [p.name, p.kind]),
      [
        ["nebius", "nebius"],
        ["openai", "openai"],
      ],
    );
    assert.equal(config.defaultFinetuneProvider, "nebius");
    assert.equal(
      loadConfig({
        ...inline(NEBIUS),
        NEBIUS_API_KEY: "k",
        OPENAI_API_KEY: "sk",
        FINETUNE_DEFAULT_PROVIDER: "openai",
      }).provider.apiKey,
      "sk",
    );
    assert.match(
      problemsOf({ ...inline(NEBIUS), NEBIUS_API_KEY: "k", OPENAI_API_KEY: "sk", PROVIDER_NAME: "nebius" }),
      /PROVIDER_NAME: the provider that OPENAI_API_KEY defines is called "nebius", like a listed fine-tuning provider/,
    );
  });

  it("lets a listed provider take its key from OPENAI_API_KEY instead of defining a second one", () => {
    const listed = { name: "openai", kind: "openai", apiKeyEnv: "OPENAI_API_KEY", maxRetries: 0 };
    const config = loadConfig({ ...inline(listed), OPENAI_API_KEY: "sk-listed" });
    assert.deepEqual(
      config.finetuneProviders.map((p) => [p.name, p.source, p.apiKey, p.baseURL, p.maxRetries]),
      [["openai", "FINETUNE_PROVIDERS", "sk-listed", "https://api.openai.com/v1", 0]],
    );
    assert.match(
      problemsOf({ ...inline(listed), OPENAI_API_KEY: "sk", PROVIDER_NAME: "school" }),
      /PROVIDER_NAME: ignored, because OPENAI_API_KEY is the key of FINETUNE_PROVIDERS\[0\] \("openai"\)/,
    );
  });

  it("refuses a chat provider named like a fine-tuning provider", () => {
    assert.match(
      problemsOf({
        ...inline(NEBIUS),
        NEBIUS_API_KEY: "k",
        CHAT_PROVIDERS: JSON.stringify([
          { name: "Nebius", baseURL: "https://api.tokenfactory.nebius.com/v1" },
        ]),
      }),
      /CHAT_PROVIDERS: "Nebius" is a fine-tuning provider's name/,
    );
  });
});

describe("fine-tuning providers: each kind's fields", () => {
  it("knows the seven kinds", () => {
    assert.deepEqual(
      [...PROVIDER_KINDS],
      ["openai", "azure", "nebius", "together", "fireworks", "localai", "sandbox"],
    );
  });

  it("derives Nebius's deploy URL as the /v0 beside its /v1, unless one is given", () => {
    const derived = loadConfig({ ...inline(NEBIUS), NEBIUS_API_KEY: "k" });
    assert.equal(spec(derived, "nebius", "nebius").baseURL, "https://api.tokenfactory.nebius.com/v1");
    assert.equal(spec(derived, "nebius", "nebius").deployBaseURL, "https://api.tokenfactory.nebius.com/v0");
    const given = loadConfig({
      ...inline({
        ...NEBIUS,
        baseURL: "http://127.0.0.1:8787/nebius",
        deployBaseURL: "http://127.0.0.1:8787/deploy/",
      }),
      NEBIUS_API_KEY: "k",
    });
    assert.equal(spec(given, "nebius", "nebius").deployBaseURL, "http://127.0.0.1:8787/deploy");
    assert.match(
      problemsOf({ ...inline({ ...NEBIUS, baseURL: "http://127.0.0.1:8787/nebius" }), NEBIUS_API_KEY: "k" }),
      /\("nebius"\)\.deployBaseURL: cannot be derived, because baseURL does not end in \/v1/,
    );
  });

  it("fills Azure's defaults: Standard training, the matching SKU, capacity 1 and no ARM access", () => {
    const azure = spec(loadConfig({ ...inline(AZURE), AZURE_OPENAI_API_KEY: "az-key" }), "azure-ft", "azure");
    assert.deepEqual(
      [azure.trainingType, azure.deploymentSku, azure.deploymentCapacity, azure.arm, azure.apiKey],
      ["Standard", "standard", 1, undefined, "az-key"],
    );
    for (const [trainingType, sku] of [
      ["GlobalStandard", "globalstandard"],
      ["Developer", "developertier"],
    ]) {
      const p = spec(
        loadConfig({ ...inline({ ...AZURE, trainingType }), AZURE_OPENAI_API_KEY: "k" }),
        "azure-ft",
        "azure",
      );
      assert.equal(p.deploymentSku, sku);
    }
    const chosen = spec(
      loadConfig({
        ...inline({ ...AZURE, trainingType: "Developer", deploymentSku: "standard", deploymentCapacity: 3 }),
        AZURE_OPENAI_API_KEY: "k",
      }),
      "azure-ft",
      "azure",
    );
    assert.deepEqual([chosen.deploymentSku, chosen.deploymentCapacity], ["standard", 3]);
  });

  it("resolves Azure's ARM group and Entra credentials from the variables the entry names", () => {
    const azure = spec(
      loadConfig({ ...inline({ ...AZURE, ...ARM }), AZURE_OPENAI_API_KEY: "k", ...ARM_VARS }),
      "azure-ft",
      "azure",
    );
    assert.deepEqual(azure.arm, {
      ...ARM,
      armApiVersion: "2024-10-01",
      armBaseURL: "https://management.azure.com",
      authorityHost: "https://login.microsoftonline.com",
      tenantId: "tenant-guid",
      clientId: "client-guid",
      clientSecret: "entra-client-secret-value",
    });
    const local = spec(
      loadConfig({
        ...inline({
          ...AZURE,
          ...ARM,
          armBaseURL: "http://127.0.0.1:9999/",
          authorityHost: "http://127.0.0.1:9998",
          armApiVersion: "2025-04-01-preview",
        }),
        AZURE_OPENAI_API_KEY: "k",
        ...ARM_VARS,
      }),
      "azure-ft",
      "azure",
    );
    assert.deepEqual(
      [local.arm?.armBaseURL, local.arm?.authorityHost, local.arm?.armApiVersion],
      ["http://127.0.0.1:9999", "http://127.0.0.1:9998", "2025-04-01-preview"],
    );
  });

  it("refuses a partly set ARM group, naming what is missing", () => {
    const { clientSecretEnv: _, account: __, ...partial } = ARM;
    const text = problemsOf({ ...inline({ ...AZURE, ...partial }), AZURE_OPENAI_API_KEY: "k", ...ARM_VARS });
    assert.match(
      text,
      /\("azure-ft"\): the ARM deploy settings are partly set \(missing account, clientSecretEnv\)/,
    );
    assert.match(
      problemsOf({ ...inline({ ...AZURE, armBaseURL: "http://127.0.0.1:1" }), AZURE_OPENAI_API_KEY: "k" }),
      /partly set \(missing subscriptionId, resourceGroup, account, tenantIdEnv, clientIdEnv, clientSecretEnv\)/,
    );
  });

  it("checks Azure's path segments before they go into an ARM URL", () => {
    const text = problemsOf({
      ...inline({ ...AZURE, ...ARM, subscriptionId: "my-sub", resourceGroup: "a/b", trainingType: "Cheap" }),
      AZURE_OPENAI_API_KEY: "k",
      ...ARM_VARS,
    });
    assert.match(text, /\.subscriptionId: must be a subscription id \(a GUID\)/);
    assert.match(text, /\.resourceGroup: must be a resource group name/);
    assert.match(text, /\.trainingType: /);
  });

  it("accepts Together, Fireworks (with its account) and LocalAI (with or without a key)", () => {
    const config = loadConfig({
      ...inline(
        {
          name: "t",
          kind: "together",
          baseURL: "https://api.together.xyz/v1",
          apiKeyEnv: "TOGETHER_API_KEY",
        },
        {
          name: "f",
          kind: "fireworks",
          baseURL: "https://api.fireworks.ai/inference/v1",
          apiKeyEnv: "FIREWORKS_API_KEY",
          accountId: "school",
        },
        { name: "l", kind: "localai", baseURL: "http://127.0.0.1:8080/v1" },
        { name: "l2", kind: "localai", baseURL: "http://127.0.0.1:8081/v1", apiKeyEnv: "LOCALAI_API_KEY" },
      ),
      TOGETHER_API_KEY: "t",
      FIREWORKS_API_KEY: "f",
      LOCALAI_API_KEY: "l",
    });
    assert.equal(spec(config, "f", "fireworks").accountId, "school");
    assert.deepEqual(
      config.finetuneProviders.map((p) => [p.name, p.apiKey]),
      [
        ["t", "t"],
        ["f", "f"],
        ["l", undefined],
        ["l2", "l"],
      ],
    );
  });

  it("takes Together's endpointHardware (the dedicated endpoint's GPU) and refuses one that is no hardware id", () => {
    const entry = (endpointHardware: string) => ({
      name: "t",
      kind: "together",
      baseURL: "https://api.together.xyz/v1",
      apiKeyEnv: "TOGETHER_API_KEY",
      endpointHardware,
    });
    const config = loadConfig({ ...inline(entry("2x_nvidia_h100_80gb_sxm")), TOGETHER_API_KEY: "t" });
    assert.equal(spec(config, "t", "together").endpointHardware, "2x_nvidia_h100_80gb_sxm");
    assert.match(
      problemsOf({ ...inline(entry("an h100, please")), TOGETHER_API_KEY: "t" }),
      /endpointHardware: must be a Together hardware id/,
    );
  });

  it('takes a sandbox\'s "hosting": "dedicated" with autoDeploy (default false) and endpointHardware; the default serves at once', () => {
    const config = loadConfig(
      inline(
        { name: "plain", kind: "sandbox" },
        { name: "dedicated", kind: "sandbox", baseURL: "http://127.0.0.1:8787/v1", hosting: "dedicated" },
        {
          name: "rehearsal",
          kind: "sandbox",
          baseURL: "http://127.0.0.1:8788/v1",
          hosting: "dedicated",
          autoDeploy: true,
          endpointHardware: "2x_nvidia_h100_80gb_sxm",
        },
        { name: "immediate", kind: "sandbox", baseURL: "http://127.0.0.1:8789/v1", hosting: "immediate" },
      ),
    );
    assert.equal(spec(config, "plain", "sandbox").dedicatedHosting, undefined);
    assert.ok(!("dedicatedHosting" in spec(config, "plain", "sandbox")), "the default spec is as before");
    assert.deepEqual(spec(config, "dedicated", "sandbox").dedicatedHosting, {
      autoDeploy: false,
      endpointHardware: undefined,
    });
    assert.deepEqual(spec(config, "rehearsal", "sandbox").dedicatedHosting, {
      autoDeploy: true,
      endpointHardware: "2x_nvidia_h100_80gb_sxm",
    });
    assert.equal(spec(config, "immediate", "sandbox").dedicatedHosting, undefined);
  });

  it("refuses a sandbox's autoDeploy or endpointHardware without dedicated hosting, and an unknown hosting", () => {
    const problems = problemsOf(
      inline(
        { name: "a", kind: "sandbox", autoDeploy: true },
        { name: "b", kind: "sandbox", baseURL: "http://127.0.0.1:8787/v1", endpointHardware: "1x_h100" },
        { name: "c", kind: "sandbox", baseURL: "http://127.0.0.1:8788/v1", hosting: "serverless" },
        {
          name: "d",
          kind: "sandbox",
          baseURL: "http://127.0.0.1:8789/v1",
          hosting: "dedicated",
          endpointHardware: "an h100, please",
        },
      ),
    );
    assert.match(problems, /\("a"\)\.autoDeploy: applies only to a sandbox with "hosting": "dedicated"/);
    assert.match(
      problems,
      /\("b"\)\.endpointHardware: applies only to a sandbox with "hosting": "dedicated"/,
    );
    assert.match(problems, /\("c"\)\.hosting: /);
    assert.match(problems, /\("d"\)\.endpointHardware: must be a Together hardware id/);
  });

  it("reads LocalAI's allowInsecure (default false) and exportFormat (default gguf), and refuses other formats", () => {
    const config = loadConfig(
      inline(
        { name: "l", kind: "localai", baseURL: "http://127.0.0.1:8080/v1" },
        {
          name: "l2",
          kind: "localai",
          baseURL: "http://10.0.0.5:8080/v1",
          allowInsecure: true,
          exportFormat: "merged_16bit",
        },
      ),
    );
    assert.deepEqual(
      [spec(config, "l", "localai"), spec(config, "l2", "localai")].map((p) => [
        p.allowInsecure,
        p.exportFormat,
      ]),
      [
        [false, "gguf"],
        [true, "merged_16bit"],
      ],
    );
    const text = problemsOf(
      inline({ name: "l", kind: "localai", baseURL: "http://127.0.0.1:8080/v1", exportFormat: "onnx" }),
    );
    assert.match(text, /FINETUNE_PROVIDERS\[0\] \("l"\)\.exportFormat/);
  });

  it("requires a baseURL for every kind but openai and sandbox, and Fireworks's accountId", () => {
    const text = problemsOf({
      ...inline(
        { name: "n", kind: "nebius", apiKeyEnv: "N" },
        { name: "a", kind: "azure", apiKeyEnv: "A" },
        { name: "t", kind: "together", apiKeyEnv: "T" },
        { name: "f", kind: "fireworks", baseURL: "https://api.fireworks.ai/inference/v1", apiKeyEnv: "F" },
        { name: "l", kind: "localai" },
        { name: "o", kind: "openai", apiKeyEnv: "O" },
        { name: "s", kind: "sandbox" },
      ),
      N: "1",
      A: "1",
      T: "1",
      F: "1",
      O: "1",
    });
    for (const [index, name, field] of [
      [0, "n", "baseURL"],
      [1, "a", "baseURL"],
      [2, "t", "baseURL"],
      [3, "f", "accountId"],
      [4, "l", "baseURL"],
    ]) {
      assert.match(text, new RegExp(`FINETUNE_PROVIDERS\\[${index}\\] \\("${name}"\\)\\.${field}: required`));
    }
    assert.doesNotMatch(text, /\("o"\)|\("s"\)/);
  });

  it("refuses a field of another kind, and a second embedded sandbox", () => {
    assert.match(
      problemsOf({ ...inline({ ...AZURE, deployBaseURL: "https://x.test/v0" }), AZURE_OPENAI_API_KEY: "k" }),
      /\("azure-ft"\): unknown field "deployBaseURL" for kind "azure"/,
    );
    assert.match(
      problemsOf(inline({ name: "a", kind: "sandbox" }, { name: "b", kind: "sandbox" })),
      /FINETUNE_PROVIDERS\[1\] \("b"\): "a" is already the embedded sandbox/,
    );
  });
});

describe("fine-tuning providers: configuration errors", () => {
  it("reports bad JSON, a list that is not a list and an unknown kind", () => {
    assert.match(problemsOf({ FINETUNE_PROVIDERS: "[{" }), /FINETUNE_PROVIDERS: not valid JSON/);
    // Built from parts: a fake key that secret scanners do not take for a real one.
    const pasted = problemsOf({
      FINETUNE_PROVIDERS: `[{"name": ${["sk", "proj", "PASTEDKEY0123456789"].join("-")}}]`,
    });
    assert.match(pasted, /FINETUNE_PROVIDERS: not valid JSON \(Unexpected token/);
    assert.ok(!pasted.includes("sk-proj"), "the text around the error, maybe a key, is not quoted");
    assert.match(
      problemsOf({ FINETUNE_PROVIDERS: '{"name":"x"}' }),
      /FINETUNE_PROVIDERS: must be a JSON list/,
    );
    const text = problemsOf(
      inline({ name: "hf", kind: "huggingface", baseURL: "https://x.test/v1" }, { name: "k" }),
    );
    assert.match(
      text,
      /FINETUNE_PROVIDERS\[0\] \("hf"\)\.kind: kind must be one of openai, azure, nebius, together, fireworks, localai, sandbox; got "huggingface"/,
    );
    assert.match(text, /FINETUNE_PROVIDERS\[1\] \("k"\)\.kind: kind must be one of/);
    assert.match(problemsOf(inline({ ...NEBIUS, name: "no spaces" })), /a provider name is 1–32 letters/);
  });

  it("names every missing variable in one message, without any key that is set", () => {
    const text = problemsOf({
      ...inline(
        NEBIUS,
        { ...AZURE, ...ARM },
        {
          name: "f",
          kind: "fireworks",
          baseURL: "https://f.test/v1",
          apiKeyEnv: "FIREWORKS_API_KEY",
          accountId: "a",
        },
      ),
      AZURE_CLIENT_ID: "the-client-id-that-is-set",
      FIREWORKS_API_KEY: "   ",
    });
    for (const variable of [
      "NEBIUS_API_KEY",
      "AZURE_OPENAI_API_KEY",
      "AZURE_TENANT_ID",
      "AZURE_CLIENT_SECRET",
      "FIREWORKS_API_KEY",
    ]) {
      assert.match(text, new RegExp(`${variable}: not set, but fine-tuning provider "`), variable);
    }
    assert.match(text, /Configuration has 5 problem\(s\)/);
    assert.doesNotMatch(text, /AZURE_CLIENT_ID: not set|the-client-id-that-is-set/);
  });

  it("refuses an apiKeyEnv that is a key or not a variable's name, without repeating it", () => {
    const key = ["sk", "proj", "abcdefghijklmnop0123456789"].join("-");
    const text = problemsOf(
      inline({ ...NEBIUS, apiKeyEnv: key }, { ...AZURE, ...ARM, clientSecretEnv: "my secret var" }),
    );
    assert.match(
      text,
      /\("nebius"\)\.apiKeyEnv: this looks like a key itself: put the key in an environment variable/,
    );
    assert.match(
      text,
      /\("azure-ft"\)\.clientSecretEnv: must be the NAME of an environment variable in UPPER_SNAKE case/,
    );
    assert.ok(!text.includes(key), "the key is not repeated");
    assert.ok(!text.includes("my secret var"));
  });

  it("refuses a key or secret written into the entry itself, without repeating it", () => {
    const text = problemsOf({
      ...inline(
        { ...NEBIUS, apiKey: "nebius-secret-in-file" },
        { ...AZURE, ...ARM, clientSecret: "entra-secret-in-file" },
      ),
      NEBIUS_API_KEY: "k",
      AZURE_OPENAI_API_KEY: "k",
      ...ARM_VARS,
    });
    assert.match(
      text,
      /\("nebius"\)\.apiKey: secrets and ids never go in the provider list; .* in "apiKeyEnv"/,
    );
    assert.match(text, /\("azure-ft"\)\.clientSecret: .* in "clientSecretEnv"/);
    assert.ok(!text.includes("nebius-secret-in-file") && !text.includes("entra-secret-in-file"));
  });

  it("reports bad variables and provider problems in the same message", () => {
    const text = problemsOf({ ...inline(NEBIUS), LOG_LEVEL: "loud", OPENAI_TIMEOUT_MS: "soon" });
    assert.match(text, /LOG_LEVEL: /);
    assert.match(text, /OPENAI_TIMEOUT_MS: must be a whole number/);
    assert.match(text, /NEBIUS_API_KEY: not set/);
  });

  it("makes the CLI fail with exit code 2, naming every missing variable", async () => {
    const run = await runCliCaptured(["validate", join(dir, "none.jsonl")], {
      ...inline(NEBIUS, { ...AZURE, ...ARM }),
      DATA_DIR: join(dir, "data"),
      LOG_LEVEL: "silent",
    });
    assert.equal(run.code, 2);
    for (const variable of [
      "NEBIUS_API_KEY",
      "AZURE_OPENAI_API_KEY",
      "AZURE_TENANT_ID",
      "AZURE_CLIENT_ID",
      "AZURE_CLIENT_SECRET",
    ]) {
      assert.match(run.err, new RegExp(`${variable}: not set`));
    }
  });
});

describe("the shipped example", () => {
  const keys = {
    NEBIUS_API_KEY: "n",
    AZURE_OPENAI_API_KEY: "a",
    TOGETHER_API_KEY: "t",
    FIREWORKS_API_KEY: "f",
    ...ARM_VARS,
  };

  it("has one provider of each kind but openai and loads beside the chat providers example", () => {
    const config = loadConfig({
      FINETUNE_PROVIDERS_FILE: "examples/finetune-providers.json",
      CHAT_PROVIDERS_FILE: "examples/providers.json",
      GROQ_API_KEY: "g",
      SCHOOL_VLLM_API_KEY: "v",
      ...keys,
    });
    assert.deepEqual(
      config.finetuneProviders.map((p) => p.kind).sort(),
      PROVIDER_KINDS.filter((k) => k !== "openai").sort(),
    );
    assert.ok(
      config.finetuneProviders.every((p) => p.note !== undefined),
      "every entry explains itself",
    );
    assert.ok(spec(config, "azure-eastus2", "azure").arm, "Azure deploys through ARM");
    assert.equal(spec(config, "rehearsal", "sandbox").baseURL, "http://127.0.0.1:8787/v1");
    assert.equal(config.defaultFinetuneProvider, "nebius");
  });

  it("names every variable it needs when none is set", () => {
    const text = problemsOf({ FINETUNE_PROVIDERS_FILE: "examples/finetune-providers.json" });
    for (const variable of Object.keys(keys)) assert.match(text, new RegExp(`${variable}: not set`));
  });
});
