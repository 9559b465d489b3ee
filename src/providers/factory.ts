// Builds the provider registry from config.finetuneProviders: one FineTuningProvider per entry (openai ->
// OpenAICompatibleProvider, nebius -> NebiusProvider, azure -> AzureOpenAIProvider with ARM when configured,
// together -> TogetherProvider over the together-ai SDK at the entry's baseURL, fireworks -> FireworksProvider,
// localai -> LocalAIProvider, sandbox -> the embedded sandbox, started once, or a standalone one at its baseURL,
// with "hosting": "dedicated" a SandboxDedicatedProvider served on its Together-shaped endpoints), and the kinds
// without a job adapter yet listed with none. Shared by the bot, the CLI and the benchmark.
import OpenAI from "openai";
import Together from "together-ai";
import type { Config } from "../config.ts";
import type { Db } from "../db/open.ts";
import type { Logger } from "../logger.ts";
import type { FineTuneProviderSpec, SandboxProviderSpec } from "../providerSpecs.ts";
import { type SandboxHandle, startSandbox } from "../sandbox/server.ts";
import { AzureOpenAIProvider } from "./azure.ts";
import { FireworksProvider } from "./fireworks.ts";
import { LocalAIProvider } from "./localai.ts";
import { NebiusProvider } from "./nebius.ts";
import { OpenAICompatibleProvider } from "./openaiCompatible.ts";
import { ProviderRegistry, type RegistryEntry } from "./registry.ts";
import { SandboxDedicatedProvider } from "./sandboxHosting.ts";
import { TogetherProvider } from "./together.ts";
import type { FineTuningProvider } from "./types.ts";

export type { SandboxHandle };

export interface ProviderRuntime {
  providers: ProviderRegistry;
  /** The embedded sandbox, when one was started (its url ends in /v1). */
  sandbox: SandboxHandle | undefined;
  /**
   * MODERATION_PROVIDER=sandbox: the sandbox that answers /v1/moderations (the embedded or a standalone
   * fine-tuning sandbox, else one started for moderation alone); undefined otherwise.
   */
  moderationSandboxURL: string | undefined;
  close(): Promise<void>;
}

export interface RuntimeDeps {
  /** The embedded sandbox's database, opened when a sandbox starts (src/wire.ts decides which file). */
  sandboxDb: () => Db;
  logger: Logger;
  dataDir: string;
  /** Wraps every provider HTTP call (tests, the benchmark's call counter). */
  fetch?: typeof fetch | undefined;
}

export async function createProviderRegistry(config: Config, deps: RuntimeDeps): Promise<ProviderRuntime> {
  let sandbox: SandboxHandle | undefined;
  const entries: RegistryEntry[] = [];
  try {
    for (const spec of config.finetuneProviders) {
      const logger = deps.logger.child({ provider: spec.name });
      if (spec.kind === "sandbox" && spec.baseURL === undefined) {
        // Configuration allows one embedded sandbox; it is started once, here.
        sandbox = await startSandbox({
          db: deps.sandboxDb(),
          dataDir: deps.dataDir,
          port: config.sandbox.port,
          secondsPerStep: config.sandbox.secondsPerStep,
          streamTokensPerSecond: config.sandbox.streamTokensPerSecond,
          logger,
        });
        entries.push({
          spec,
          jobs: sandboxAdapter(spec, { apiKey: "sandbox", baseURL: sandbox.url }, deps.fetch, logger),
          runtimeBaseURL: sandbox.url,
        });
        continue;
      }
      entries.push({ spec, jobs: jobAdapter(spec, deps.fetch, logger) });
    }
  } catch (err) {
    await sandbox?.close();
    throw err;
  }
  const started = sandbox;
  let moderationOnly: SandboxHandle | undefined;
  let moderationSandboxURL: string | undefined;
  if (config.moderation.provider === "sandbox") {
    const standalone = config.finetuneProviders.find((p) => p.kind === "sandbox" && p.baseURL !== undefined);
    moderationSandboxURL = started?.url ?? standalone?.baseURL;
    if (moderationSandboxURL === undefined) {
      try {
        // No sandbox trains here: one on a free port answers moderation alone (its word list, for rehearsal).
        moderationOnly = await startSandbox({
          db: deps.sandboxDb(),
          dataDir: deps.dataDir,
          logger: deps.logger.child({ service: "moderation-sandbox" }),
        });
      } catch (err) {
        await started?.close();
        throw err;
      }
      moderationSandboxURL = moderationOnly.url;
    }
  }
  return {
    providers: new ProviderRegistry(entries, config.defaultFinetuneProvider),
    sandbox: started,
    moderationSandboxURL,
    close: async () => {
      await started?.close();
      await moderationOnly?.close();
    },
  };
}

/** The job adapter for a provider reached over HTTP; undefined for the kinds whose jobs come in the next issue. */
function jobAdapter(
  spec: FineTuneProviderSpec,
  doFetch: typeof fetch | undefined,
  logger: Logger,
): FineTuningProvider | undefined {
  switch (spec.kind) {
    case "openai":
      return new OpenAICompatibleProvider({
        client: createOpenAIClient(spec, doFetch),
        name: spec.name,
        logger,
      });
    case "sandbox":
      // A standalone `classtune sandbox` accepts any key.
      return sandboxAdapter(
        spec,
        // Only a standalone sandbox gets here: the embedded one (no baseURL) was started above.
        { apiKey: spec.apiKey ?? "sandbox", baseURL: spec.baseURL ?? "" },
        doFetch,
        logger,
      );
    case "nebius":
      return new NebiusProvider({
        client: createOpenAIClient(spec, doFetch),
        name: spec.name,
        deployBaseURL: spec.deployBaseURL,
        apiKey: spec.apiKey,
        fetch: doFetch,
        logger,
        timeoutMs: spec.timeoutMs,
      });
    case "azure": {
      const { arm } = spec;
      return new AzureOpenAIProvider({
        client: createOpenAIClient(spec, doFetch),
        name: spec.name,
        trainingType: spec.trainingType,
        arm: arm && {
          subscriptionId: arm.subscriptionId,
          resourceGroup: arm.resourceGroup,
          account: arm.account,
          sku: spec.deploymentSku,
          capacity: spec.deploymentCapacity,
          apiVersion: arm.armApiVersion,
          armBaseURL: arm.armBaseURL,
          authorityHost: arm.authorityHost,
          tenantId: arm.tenantId,
          clientId: arm.clientId,
          clientSecret: arm.clientSecret,
        },
        fetch: doFetch,
        logger,
        timeoutMs: spec.timeoutMs,
      });
    }
    case "localai":
      return new LocalAIProvider({
        client: createOpenAIClient({ ...spec, apiKey: spec.apiKey ?? "localai" }, doFetch),
        name: spec.name,
        baseURL: spec.baseURL,
        apiKey: spec.apiKey,
        allowInsecure: spec.allowInsecure,
        exportFormat: spec.exportFormat,
        fetch: doFetch,
        logger,
        timeoutMs: spec.timeoutMs,
      });
    case "together":
      return new TogetherProvider({
        client: new Together({
          apiKey: spec.apiKey,
          baseURL: spec.baseURL,
          maxRetries: spec.maxRetries,
          timeout: spec.timeoutMs,
          ...(doFetch ? { fetch: doFetch } : {}),
        }),
        name: spec.name,
        baseURL: spec.baseURL,
        apiKey: spec.apiKey,
        hardware: spec.endpointHardware,
        autoDeploy: spec.autoDeploy,
        fetch: doFetch,
        logger,
        timeoutMs: spec.timeoutMs,
      });
    case "fireworks":
      return new FireworksProvider({
        client: createOpenAIClient(spec, doFetch),
        name: spec.name,
        accountId: spec.accountId,
        acceleratorType: spec.acceleratorType,
        autoDeploy: spec.autoDeploy,
        baseURL: spec.baseURL,
        apiKey: spec.apiKey,
        fetch: doFetch,
        logger,
        timeoutMs: spec.timeoutMs,
      });
  }
}

/**
 * The sandbox's adapter, embedded or standalone: OpenAI's API served at once, or with `"hosting": "dedicated"` on
 * the sandbox's Together-shaped endpoints (driven by the together-ai SDK at the same /v1).
 */
function sandboxAdapter(
  spec: SandboxProviderSpec,
  at: { apiKey: string; baseURL: string },
  doFetch: typeof fetch | undefined,
  logger: Logger,
): FineTuningProvider {
  const client = createOpenAIClient({ ...spec, ...at }, doFetch);
  const hosting = spec.dedicatedHosting;
  if (!hosting) return new OpenAICompatibleProvider({ client, name: spec.name, logger });
  return new SandboxDedicatedProvider({
    client,
    name: spec.name,
    logger,
    endpointsClient: new Together({
      ...at,
      maxRetries: spec.maxRetries,
      timeout: spec.timeoutMs,
      ...(doFetch ? { fetch: doFetch } : {}),
    }),
    autoDeploy: hosting.autoDeploy,
    hardware: hosting.endpointHardware,
  });
}

/** The SDK client with the configured retries and timeout (the SDK backs off and honours retry-after). */
export function createOpenAIClient(
  p: { apiKey: string | undefined; baseURL: string | undefined; maxRetries: number; timeoutMs: number },
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
