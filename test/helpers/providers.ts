// A ProviderRegistry around adapters a test built itself (the sandbox over loopback, the real openai SDK):
// what the factory makes from the configuration, without the configuration.
import type { FineTuneProviderSpec } from "../../src/providerSpecs.ts";
import { ProviderRegistry, type RegistryEntry } from "../../src/providers/registry.ts";
import type { FineTuningProvider } from "../../src/providers/types.ts";

export interface TestProvider {
  /** The adapter; its name is the provider's name. Unset: a kind that takes no jobs yet. */
  jobs?: FineTuningProvider | undefined;
  name?: string;
  /** Default "sandbox". */
  kind?: "sandbox" | "openai" | "together" | "fireworks";
  /** The API root; unset for a sandbox: the embedded one (endpoint "sandbox:embedded"). */
  baseURL?: string | undefined;
  /** Where its chat is (the embedded sandbox's URL). */
  runtimeBaseURL?: string | undefined;
}

function specOf(p: TestProvider): FineTuneProviderSpec {
  const name = p.name ?? p.jobs?.name ?? "sandbox";
  const common = { name, maxRetries: 0, timeoutMs: 10_000, note: undefined } as const;
  switch (p.kind ?? "sandbox") {
    case "sandbox":
      return {
        kind: "sandbox",
        ...common,
        source: "built-in",
        baseURL: p.baseURL,
        apiKeyEnv: undefined,
        apiKey: undefined,
      };
    case "openai":
      return {
        kind: "openai",
        ...common,
        source: "FINETUNE_PROVIDERS",
        baseURL: p.baseURL ?? "https://api.openai.com/v1",
        apiKeyEnv: "OPENAI_API_KEY",
        apiKey: ["sk", "test"].join("-"),
      };
    case "together":
      return {
        kind: "together",
        ...common,
        source: "FINETUNE_PROVIDERS",
        baseURL: p.baseURL ?? "https://api.together.xyz/v1",
        apiKeyEnv: "TOGETHER_API_KEY",
        apiKey: ["tg", "test"].join("-"),
        autoDeploy: false,
      };
    case "fireworks":
      return {
        kind: "fireworks",
        ...common,
        source: "FINETUNE_PROVIDERS",
        baseURL: p.baseURL ?? "https://api.fireworks.ai/inference/v1",
        apiKeyEnv: "FIREWORKS_API_KEY",
        apiKey: ["fw", "test"].join("-"),
        accountId: "school",
        acceleratorType: undefined,
        autoDeploy: false,
      };
  }
}

/** The registry; the first provider is the default unless `defaultName` says otherwise. */
export function registryOf(providers: TestProvider[], defaultName?: string): ProviderRegistry {
  const entries: RegistryEntry[] = providers.map((p) => ({
    spec: specOf(p),
    jobs: p.jobs,
    runtimeBaseURL: p.runtimeBaseURL,
  }));
  return new ProviderRegistry(entries, defaultName ?? entries[0]?.spec.name ?? "sandbox");
}
