// Dedicated endpoints shaped as Together AI's (POST/GET/DELETE /endpoints, driven by the together-ai SDK): the one
// home of serving a fine-tune on one. deploy() makes an endpoint (one replica) under classtune's deterministic
// name, its display_name, after looking for it first (reading each endpoint when the list leaves display_name
// out, as Together's ListEndpoint schema does), so a retried deploy (or one whose answer was lost) finds the
// endpoint the first call made; getDeployment() reads its state as a Deployment, called by the endpoint's own
// `name`; undeploy() deletes it, which stops the billing. Used by together.ts, and by the sandbox's dedicated
// hosting (sandboxHosting.ts), whose server imitates the same API.
import type Together from "together-ai";
import { UserError } from "../domain/errors.ts";
import type { Logger } from "../logger.ts";
import { requireDeploymentName } from "./deployments.ts";
import { classifyProviderError } from "./errors.ts";
import type { DeployInput, Deployment } from "./types.ts";

/** The smallest GPU Together lists for dedicated endpoints of 8B-class models. */
export const DEFAULT_TOGETHER_HARDWARE = "1x_nvidia_h100_80gb_sxm";

export interface TogetherEndpointsOptions {
  client: Together;
  /** The endpoint's GPU (Together's hardware id); default DEFAULT_TOGETHER_HARDWARE. */
  hardware?: string | undefined;
  /** Who hosts the endpoints, as messages name it: "Together", "The sandbox". */
  host: string;
  /** Prefixes the log lines ("together", "sandbox"). */
  logName: string;
  logger: Logger;
  /** How a read is made (together.ts tries one again after a 500); default: once. */
  read?: (<T>(call: () => PromiseLike<T>) => Promise<T>) | undefined;
}

interface EndpointLike {
  id: string;
  name: string;
  display_name?: string;
  state: string;
}

export class TogetherEndpoints {
  private readonly client: Together;
  /** The GPU every endpoint is created on: what its hosting is priced by (the adapter's billedWhileRunning). */
  readonly hardware: string;
  private readonly host: string;
  private readonly logName: string;
  private readonly logger: Logger;
  private readonly read: <T>(call: () => PromiseLike<T>) => Promise<T>;

  constructor(o: TogetherEndpointsOptions) {
    this.client = o.client;
    this.hardware = o.hardware ?? DEFAULT_TOGETHER_HARDWARE;
    this.host = o.host;
    this.logName = o.logName;
    this.logger = o.logger;
    this.read = o.read ?? (async (call) => await call());
  }

  /** A dedicated endpoint for the fine-tuned model, one replica, named `input.name`; the existing one if any. */
  async deploy(input: DeployInput): Promise<Deployment> {
    requireDeploymentName(input.name);
    const existing = await this.getDeployment(input.name);
    if (existing) return existing;
    const model = input.fineTunedModel;
    if (!model) {
      throw new UserError(`Job ${input.jobId} has no output model to deploy yet.`, "no_model");
    }
    // Never retried by the SDK: a second create is a second endpoint, billed while it runs.
    const endpoint = await this.client.endpoints.create(
      {
        model,
        hardware: this.hardware,
        autoscaling: { min_replicas: 1, max_replicas: 1 },
        display_name: input.name,
      },
      { maxRetries: 0 },
    );
    this.logger.info(
      { job: input.jobId, deployment: input.name, endpoint: endpoint.id },
      `${this.logName}: dedicated endpoint requested`,
    );
    return toDeployment(input.name, endpoint, this.host);
  }

  async getDeployment(name: string): Promise<Deployment | null> {
    const endpoint = await this.find(name);
    return endpoint ? toDeployment(name, endpoint, this.host) : null;
  }

  /** Stops and deletes the endpoint (the billing stops); false when there was none. */
  async undeploy(name: string): Promise<boolean> {
    const endpoint = await this.find(name);
    if (!endpoint) return false;
    await this.client.endpoints.delete(endpoint.id);
    this.logger.info(
      { deployment: name, endpoint: endpoint.id },
      `${this.logName}: dedicated endpoint deleted`,
    );
    return true;
  }

  /**
   * The dedicated endpoint whose display_name is `name`. Together's list items (its ListEndpoint schema) need not
   * carry display_name: those without one are read one by one, so the endpoint is found whichever way Together
   * answers. An endpoint not found here would be made again on every tick, each billed while it runs.
   */
  private async find(name: string): Promise<EndpointLike | undefined> {
    const list = await this.read(() => this.client.endpoints.list({ type: "dedicated" }));
    const items = (list.data ?? []) as EndpointLike[];
    const named = items.find((e) => e.display_name === name);
    if (named) return named;
    for (const item of items) {
      if (item.display_name !== undefined) continue;
      let full: EndpointLike;
      try {
        full = await this.read(() => this.client.endpoints.retrieve(item.id));
      } catch (err) {
        // Deleted since it was listed: not the one.
        if (classifyProviderError(err)?.status === 404) continue;
        throw err;
      }
      if (full.display_name === name) return full;
    }
    return undefined;
  }
}

/** Together's endpoint states as a Deployment: STARTED is ready (by its `name`), ERROR failed, STOPPED gone. */
export function toDeployment(name: string, e: EndpointLike, host = "Together"): Deployment {
  switch (e.state) {
    case "STARTED":
      return { name, status: "ready", servedAs: e.name, message: null };
    case "ERROR":
      return {
        name,
        status: "failed",
        servedAs: null,
        message: `${host} reports endpoint ${e.name} in ERROR.`,
      };
    case "STOPPING":
    case "STOPPED":
      return {
        name,
        status: "failed",
        servedAs: null,
        message: `${host}'s endpoint ${e.name} is ${e.state.toLowerCase()}: start it again to serve.`,
      };
    default:
      return { name, status: "deploying", servedAs: null, message: null };
  }
}
