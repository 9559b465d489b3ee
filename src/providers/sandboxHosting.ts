// The sandbox with `"hosting": "dedicated"`: OpenAI's job API as ever (openaiCompatible.ts), but a finished
// fine-tune answers only on a dedicated endpoint, the way Together serves one: billed (in the imitation) for as
// long as it runs, started when a teacher asks or after every job with autoDeploy. deploy, getDeployment and
// undeploy drive the sandbox's Together-shaped /v1/endpoints with the together-ai SDK, through the very code
// Together's adapter uses (togetherEndpoints.ts), so auto-stop and hosting cost can be rehearsed without keys.
import type Together from "together-ai";
import { type OpenAICompatibleOptions, OpenAICompatibleProvider } from "./openaiCompatible.ts";
import { TogetherEndpoints } from "./togetherEndpoints.ts";
import type { BilledHosting, DeployInput, Deployment, Serving } from "./types.ts";

export interface SandboxDedicatedOptions extends OpenAICompatibleOptions {
  /** The together-ai SDK client at the sandbox's /v1 (its endpoints API). */
  endpointsClient: Together;
  /** Start an endpoint after every job without a teacher asking (the entry's autoDeploy; default no). */
  autoDeploy?: boolean | undefined;
  /** The endpoint's GPU (a Together hardware id; the sandbox only records it). */
  hardware?: string | undefined;
}

export class SandboxDedicatedProvider extends OpenAICompatibleProvider {
  override readonly kind: string = "sandbox-dedicated";
  override readonly serving: Serving = "deploy";
  override readonly billedWhileRunning: BilledHosting;
  override readonly servingCaveat: string | null =
    "The sandbox imitates a dedicated endpoint billed by the minute while it runs, even idle; it bills nothing.";
  private readonly endpoints: TogetherEndpoints;

  constructor(o: SandboxDedicatedOptions) {
    super({ client: o.client, name: o.name, ...(o.logger ? { logger: o.logger } : {}) });
    this.endpoints = new TogetherEndpoints({
      client: o.endpointsClient,
      hardware: o.hardware,
      host: "The sandbox",
      logName: "sandbox",
      logger: this.logger,
    });
    this.billedWhileRunning = { autoDeploy: o.autoDeploy ?? false, hardware: this.endpoints.hardware };
  }

  /** A dedicated endpoint, one replica, named `input.name` (its display_name): see togetherEndpoints.ts. */
  override deploy(input: DeployInput): Promise<Deployment> {
    return this.endpoints.deploy(input);
  }

  override getDeployment(name: string): Promise<Deployment | null> {
    return this.endpoints.getDeployment(name);
  }

  /** Deletes the endpoint (the imitated billing stops); false when there was none. */
  undeploy(name: string): Promise<boolean> {
    return this.endpoints.undeploy(name);
  }
}
