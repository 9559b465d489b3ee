// Builds the configured fine-tuning provider: the embedded sandbox (no API key) or an OpenAI-compatible
// host (OPENAI_BASE_URL + OPENAI_API_KEY). Shared by the bot, the CLI and the benchmark.
import OpenAI from "openai";
import type { Config } from "../config.ts";
import type { Db } from "../db/open.ts";
import type { Logger } from "../logger.ts";
import { type SandboxHandle, startSandbox } from "../sandbox/server.ts";

export type { SandboxHandle };

import { OpenAICompatibleProvider } from "./openaiCompatible.ts";
import type { FineTuningProvider } from "./types.ts";

export interface ProviderRuntime {
  provider: FineTuningProvider;
  /** The embedded sandbox, when one was started (its url ends in /v1). */
  sandbox: SandboxHandle | undefined;
  close(): Promise<void>;
}

export interface RuntimeDeps {
  db: Db;
  logger: Logger;
  dataDir: string;
  /** Wraps every provider HTTP call (tests, the benchmark's call counter). */
  fetch?: typeof fetch | undefined;
}

export async function createProviderFromConfig(config: Config, deps: RuntimeDeps): Promise<ProviderRuntime> {
  const { provider: p } = config;
  const logger = deps.logger.child({ provider: p.name });
  if (p.kind === "sandbox") {
    const sandbox = await startSandbox({
      db: deps.db,
      dataDir: deps.dataDir,
      port: config.sandbox.port,
      secondsPerStep: config.sandbox.secondsPerStep,
      logger,
    });
    const provider = new OpenAICompatibleProvider({
      client: createOpenAIClient({ ...p, apiKey: "sandbox", baseURL: sandbox.url }, deps.fetch),
      name: "sandbox",
      logger,
    });
    return { provider, sandbox, close: () => Promise.resolve(sandbox.close()) };
  }
  const provider = new OpenAICompatibleProvider({
    client: createOpenAIClient(p, deps.fetch),
    name: p.name,
    logger,
  });
  return { provider, sandbox: undefined, close: async () => {} };
}

/** The SDK client with the configured retries and timeout (the SDK backs off and honours retry-after). */
export function createOpenAIClient(
  p: Pick<Config["provider"], "apiKey" | "baseURL" | "maxRetries" | "timeoutMs">,
  doFetch?: typeof fetch,
): OpenAI {
  return new OpenAI({
    apiKey: p.apiKey ?? "sandbox",
    baseURL: p.baseURL ?? null,
    maxRetries: p.maxRetries,
    timeout: p.timeoutMs,
    ...(doFetch ? { fetch: doFetch } : {}),
  });
}
