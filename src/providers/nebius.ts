// Nebius Token Factory: OpenAI's fine-tuning API over the stock openai SDK (base URL
// https://api.tokenfactory.nebius.com/v1/), training LoRA adapters on open-weight models, and a deploy step
// before a fine-tune answers: POST {deployBaseURL}/models with {source: "<ftjob-id>:<ftckpt-id>",
// base_model, name}, then GET {deployBaseURL}/models/{name} until its status is "active". The deployed
// model's full name (e.g. "meta-llama/Meta-Llama-3.1-8B-Instruct-LoRa:my-model-udpd") is what chat
// completions take. Shapes from docs.tokenfactory.nebius.com: "Create a fine-tuning job" (LoRA settings in
// `hyperparameters`; jobs add trained_steps/total_steps), "List fine-tuning checkpoints" (metrics with
// train_loss, valid_loss), "Create a custom model" (status validating | active | error | deleted) and
// "Get a custom model by short name" (status_reason).
import type OpenAI from "openai";
import { UserError } from "../domain/errors.ts";
import type { Logger } from "../logger.ts";
import { requireDeploymentName, settleDeployAnswer } from "./deployments.ts";
import { ProviderHttpError } from "./errors.ts";
import { httpError, type JsonResponse, requestJson } from "./http.ts";
import { OpenAICompatibleProvider } from "./openaiCompatible.ts";
import type { CreateJobInput, DeployInput, Deployment, ProviderCheckpoint, Serving } from "./types.ts";

export const NEBIUS_BASE_URL = "https://api.tokenfactory.nebius.com/v1/";

/** The deploy API beside the job API: ".../v1" or ".../v1/" becomes ".../v0". */
export function defaultNebiusDeployBaseURL(baseURL: string): string {
  return baseURL.replace(/\/+$/, "").replace(/\/v1$/, "/v0");
}

export interface NebiusOptions {
  /** The openai SDK client on the job API (baseURL .../v1/, the API key, retries and timeout). */
  client: OpenAI;
  /** Shown to people and stored on job rows. */
  name: string;
  /** e.g. https://api.tokenfactory.nebius.com/v0 (see defaultNebiusDeployBaseURL). */
  deployBaseURL: string;
  /** Sent as the Bearer token to the deploy API (the SDK client holds its own copy). */
  apiKey: string;
  fetch?: typeof fetch | undefined;
  logger?: Logger | undefined;
  /** Per deploy-API request; default 60 s. */
  timeoutMs?: number | undefined;
}

export class NebiusProvider extends OpenAICompatibleProvider {
  override readonly kind: string = "nebius";
  override readonly serving: Serving = "deploy";
  private readonly deployBaseURL: string;
  private readonly apiKey: string;
  private readonly doFetch: typeof fetch;
  private readonly timeoutMs: number | undefined;

  constructor(options: NebiusOptions) {
    super({
      client: options.client,
      name: options.name,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    this.deployBaseURL = options.deployBaseURL.replace(/\/+$/, "");
    this.apiKey = options.apiKey;
    this.doFetch = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs;
  }

  /** Nebius's job API has no DPO method: such a job is refused before upload. */
  override readonly trainsPreference: boolean = false;

  /** LoRA always (only LoRA adapters are served per token); the settings go inside `hyperparameters`. */
  protected override createBody(input: CreateJobInput): Record<string, unknown> {
    const hyperparameters: Record<string, unknown> = { lora: true };
    if (input.epochs !== undefined) hyperparameters.n_epochs = input.epochs;
    if (input.lora?.r !== undefined) hyperparameters.lora_r = input.lora.r;
    if (input.lora?.alpha !== undefined) hyperparameters.lora_alpha = input.lora.alpha;
    if (input.lora?.dropout !== undefined) hyperparameters.lora_dropout = input.lora.dropout;
    if (input.contextLength !== undefined) hyperparameters.context_length = input.contextLength;
    if (input.packing !== undefined) hyperparameters.packing = input.packing;
    return {
      model: input.model,
      training_file: input.trainingFileId,
      ...(input.suffix !== undefined ? { suffix: input.suffix } : {}),
      ...(input.seed !== undefined ? { seed: input.seed } : {}),
      hyperparameters,
      metadata: { ...input.metadata },
    };
  }

  /**
   * Deploys the job's last checkpoint under `name`. Looks first, so a repeated call returns the deployment
   * the first one made; a 409 (the name is taken: a create whose answer was lost) is read as "it exists".
   */
  override async deploy(input: DeployInput): Promise<Deployment> {
    requireDeploymentName(input.name);
    const existing = await this.getDeployment(input.name);
    if (existing) return existing;
    const last = lastCheckpoint(await this.listCheckpoints(input.jobId));
    if (!last) {
      throw new UserError(
        `Job ${input.jobId} has no checkpoint to deploy yet: Nebius lists checkpoints once training has saved one.`,
        "no_checkpoint",
      );
    }
    const res = await this.call("POST", "/models", "deploy the model", {
      source: `${input.jobId}:${last.id}`,
      base_model: input.baseModel,
      name: input.name,
    });
    const alreadyThere = await settleDeployAnswer(res, input, {
      provider: "nebius",
      logger: this.logger,
      lookup: (n) => this.getDeployment(n),
    });
    if (alreadyThere) return alreadyThere;
    this.logger.info(
      { job: input.jobId, deployment: input.name, checkpoint: last.id },
      "nebius: deploy requested",
    );
    return toDeployment(input.name, res.body) ?? deploying(input.name);
  }

  override async getDeployment(name: string): Promise<Deployment | null> {
    const res = await this.call("GET", `/models/${encodeURIComponent(name)}`, "check the deployment");
    if (res.status === 404) return null;
    if (!res.ok) throw httpError("check the deployment", res);
    return toDeployment(name, res.body);
  }

  private call(method: "GET" | "POST", path: string, action: string, body?: unknown): Promise<JsonResponse> {
    return requestJson({
      fetch: this.doFetch,
      method,
      url: `${this.deployBaseURL}${path}`,
      headers: { authorization: `Bearer ${this.apiKey}` },
      ...(body !== undefined ? { body } : {}),
      action,
      timeoutMs: this.timeoutMs,
    });
  }
}

/** The checkpoint with the most steps (the end of training), whatever order the host lists them in. */
export function lastCheckpoint(checkpoints: ProviderCheckpoint[]): ProviderCheckpoint | undefined {
  let best: ProviderCheckpoint | undefined;
  for (const c of checkpoints) {
    if (
      !best ||
      c.stepNumber > best.stepNumber ||
      (c.stepNumber === best.stepNumber && c.createdAt > best.createdAt)
    ) {
      best = c;
    }
  }
  return best;
}

const deploying = (name: string): Deployment => ({
  name,
  status: "deploying",
  servedAs: null,
  message: null,
});

/** Nebius's custom model as a Deployment; null when it is "deleted" (gone, as a 404 is). */
export function toDeployment(name: string, body: unknown): Deployment | null {
  if (!body || typeof body !== "object") throw new ProviderHttpError("check the deployment", 200, "not JSON");
  const b = body as { name?: unknown; status?: unknown; status_reason?: unknown };
  const status = typeof b.status === "string" ? b.status.toLowerCase() : "";
  const servedAs = typeof b.name === "string" && b.name !== "" ? b.name : name;
  switch (status) {
    case "deleted":
      return null;
    case "active":
      return { name, status: "ready", servedAs, message: null };
    case "error":
    case "failed":
      return {
        name,
        status: "failed",
        servedAs: null,
        message:
          typeof b.status_reason === "string" && b.status_reason !== ""
            ? b.status_reason
            : `Nebius reports the deployment as ${status}, without a reason.`,
      };
    default:
      return { name, status: "deploying", servedAs, message: null };
  }
}
