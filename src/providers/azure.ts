// Azure OpenAI: files and jobs through https://RESOURCE.openai.azure.com/openai/v1/ with the plain openai
// client (OpenAI's shapes), the training tier in the create body, and a deploy step before a fine-tune
// answers: a deployment made through Azure Resource Manager, whose name chat completions then take.
//
// From learn.microsoft.com (MicrosoftDocs/azure-ai-docs, "Customize a model … REST API" and "Deploy a
// fine-tuned model"): the create body takes `"trainingType": "globalstandard"` or `"developerTier"` (and
// "standard"); a deployment is `PUT https://management.azure.com/subscriptions/<sub>/resourceGroups/<rg>/
// providers/Microsoft.CognitiveServices/accounts/<account>/deployments/<name>?api-version=…` with a Microsoft
// Entra bearer token and `{"sku": {"name", "capacity"}, "properties": {"model": {"format": "OpenAI", "name":
// <fine_tuned_model>, "version": "1"}}}`; its progress is `properties.provisioningState`. The token comes from
// the OAuth2 client-credentials grant of a service principal (the API key cannot deploy). Without those
// credentials, deploy() tells the teacher the `az` command to run instead.
import type OpenAI from "openai";
import { UserError } from "../domain/errors.ts";
import type { Logger } from "../logger.ts";
import { requireDeploymentName, settleDeployAnswer } from "./deployments.ts";
import { logProviderError } from "./errors.ts";
import { httpError, type JsonResponse, requestJson } from "./http.ts";
import { OpenAICompatibleProvider } from "./openaiCompatible.ts";
import type { BilledHosting, CreateJobInput, DeployInput, Deployment, Serving } from "./types.ts";

/** Azure's training tiers, as classtune's configuration names them. */
export type AzureTrainingType = "Standard" | "GlobalStandard" | "Developer";

/** ARM deployment SKUs for fine-tuned models (Standard, Global Standard, Developer). */
export type AzureDeploymentSku = "standard" | "globalstandard" | "developertier";

/** What each tier is called in the job create body (the spelling of Microsoft's REST examples). */
export const AZURE_TRAINING_TYPE_WIRE: Readonly<Record<AzureTrainingType, string>> = {
  Standard: "standard",
  GlobalStandard: "globalstandard",
  Developer: "developerTier",
};

/** The deployment SKU that matches a training tier, when none is configured. */
export const AZURE_SKU_FOR_TRAINING: Readonly<Record<AzureTrainingType, AzureDeploymentSku>> = {
  Standard: "standard",
  GlobalStandard: "globalstandard",
  Developer: "developertier",
};

/** `az … --sku-name` spells the SKUs in PascalCase. */
const CLI_SKU: Readonly<Record<AzureDeploymentSku, string>> = {
  standard: "Standard",
  globalstandard: "GlobalStandard",
  developertier: "DeveloperTier",
};

export const AZURE_ARM_BASE_URL = "https://management.azure.com";
export const AZURE_AUTHORITY_HOST = "https://login.microsoftonline.com";
/** The Cognitive Services control-plane API version Microsoft's deployment examples use. */
export const AZURE_ARM_API_VERSION = "2024-10-01";
export const AZURE_ARM_SCOPE = "https://management.azure.com/.default";
/** A cached token is renewed this long before it expires. */
export const TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;

/** Said wherever an Azure deployment is announced: Azure removes deployments on its own. */
export const AZURE_DEPLOYMENT_LIFETIME_WARNING =
  "Azure deletes Developer-tier deployments 24 hours after they are made, and Standard deployments that go unused for 15 days; when one is gone, deploy it again with /finetune deploy.";

/** The job API's base URL for an Azure OpenAI resource. */
export function azureOpenAIBaseURL(resource: string): string {
  return `https://${resource}.openai.azure.com/openai/v1/`;
}

export interface AzureArmOptions {
  subscriptionId: string;
  resourceGroup: string;
  /** The Azure OpenAI (Cognitive Services) account, i.e. the resource name. */
  account: string;
  /** Default: the SKU matching the training tier. */
  sku?: AzureDeploymentSku | undefined;
  /** Capacity units (thousands of tokens per minute); default 1. */
  capacity?: number | undefined;
  apiVersion?: string | undefined;
  armBaseURL?: string | undefined;
  authorityHost?: string | undefined;
  /** The service principal. Without all three, deploy() returns the `az` command to run instead. */
  tenantId?: string | undefined;
  clientId?: string | undefined;
  clientSecret?: string | undefined;
}

export interface AzureOptions {
  /** The plain openai client with baseURL https://RESOURCE.openai.azure.com/openai/v1/ and the API key. */
  client: OpenAI;
  name: string;
  trainingType?: AzureTrainingType | undefined;
  arm?: AzureArmOptions | undefined;
  fetch?: typeof fetch | undefined;
  logger?: Logger | undefined;
  /** Per ARM/Entra request; default 60 s. */
  timeoutMs?: number | undefined;
  /** For the token cache; default Date.now. */
  now?: (() => number) | undefined;
}

interface Credentials {
  tenantId: string;
  clientId: string;
  clientSecret: string;
}

export class AzureOpenAIProvider extends OpenAICompatibleProvider {
  override readonly kind: string = "azure";
  override readonly serving: Serving = "deploy";
  readonly trainingType: AzureTrainingType | undefined;
  /**
   * A Standard or Global Standard deployment bills hosting by the hour whether asked or not (Developer tier bills
   * none): classtune deploys it after every job as before, records it, and deletes it when idle or over the day's
   * hosting budget. Without ARM credentials classtune neither makes nor stops deployments: null.
   */
  override readonly billedWhileRunning: BilledHosting | null;
  private readonly arm: AzureArmOptions | undefined;
  private readonly credentials: Credentials | undefined;
  private readonly doFetch: typeof fetch;
  private readonly timeoutMs: number | undefined;
  private readonly now: () => number;
  private token: { value: string; expiresAt: number } | undefined;
  private pendingToken: Promise<string> | undefined;

  constructor(options: AzureOptions) {
    super({
      client: options.client,
      name: options.name,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    this.trainingType = options.trainingType;
    this.arm = options.arm;
    const { tenantId, clientId, clientSecret } = options.arm ?? {};
    this.credentials =
      tenantId && clientId && clientSecret ? { tenantId, clientId, clientSecret } : undefined;
    this.doFetch = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs;
    this.now = options.now ?? Date.now;
    this.billedWhileRunning =
      this.canDeploy && this.sku !== "developertier" ? { autoDeploy: true, hardware: this.sku } : null;
  }

  /** Whether deploy() can make deployments itself (ARM location and service principal configured). */
  get canDeploy(): boolean {
    return this.credentials !== undefined && this.arm !== undefined;
  }

  override readonly servingCaveat: string | null = AZURE_DEPLOYMENT_LIFETIME_WARNING;

  /** Without ARM credentials: the `az` command and the `/model add` that registers the deployment. */
  override manualDeployStep(input: DeployInput): string | null {
    if (this.canDeploy) return null;
    return this.manualDeployInstructions(input.name, input.fineTunedModel ?? "<fine-tuned model>");
  }

  protected override createBody(input: CreateJobInput): Record<string, unknown> {
    const body = super.createBody(input);
    return this.trainingType ? { ...body, trainingType: AZURE_TRAINING_TYPE_WIRE[this.trainingType] } : body;
  }

  private get sku(): AzureDeploymentSku {
    return this.arm?.sku ?? AZURE_SKU_FOR_TRAINING[this.trainingType ?? "Standard"];
  }

  private get capacity(): number {
    return this.arm?.capacity ?? 1;
  }

  /**
   * Deploys the fine-tuned model under `name` through ARM. Looks first: a deployment that exists (and has not
   * failed) is returned as it is, so a repeated or retried call never makes a second one; a PUT of the same
   * name updates rather than duplicates, and a 409 (another operation on it in progress) reads as "exists".
   * Without credentials: a UserError with the `az` command, and how to register the deployment afterwards.
   */
  override async deploy(input: DeployInput): Promise<Deployment> {
    requireDeploymentName(input.name);
    if (!input.fineTunedModel) {
      throw new UserError(`Job ${input.jobId} has no fine-tuned model to deploy yet.`, "no_fine_tuned_model");
    }
    if (!this.credentials || !this.arm) {
      throw new UserError(this.manualDeployInstructions(input.name, input.fineTunedModel), "deploy_manually");
    }
    const existing = await this.getDeployment(input.name);
    if (existing && existing.status !== "failed") return existing;
    const res = await this.armCall("PUT", input.name, "deploy the model", {
      sku: { name: this.sku, capacity: this.capacity },
      properties: { model: { format: "OpenAI", name: input.fineTunedModel, version: "1" } },
    });
    const alreadyThere = await settleDeployAnswer(res, input, {
      provider: "azure",
      logger: this.logger,
      lookup: (n) => this.getDeployment(n),
    });
    if (alreadyThere) return alreadyThere;
    this.logger.info(
      { job: input.jobId, deployment: input.name, sku: this.sku },
      "azure: deployment requested",
    );
    return toAzureDeployment(input.name, res.body);
  }

  /** Deletes the deployment through ARM (its hourly hosting stops); false when there was none. */
  async undeploy(name: string): Promise<boolean> {
    requireDeploymentName(name);
    if (!this.credentials || !this.arm) {
      throw new UserError(
        `classtune cannot delete Azure deployments for provider "${this.name}" without Azure Resource Manager credentials: delete ${name} in the Azure portal.`,
        "no_arm_credentials",
      );
    }
    const res = await this.armCall("DELETE", name, "delete the deployment");
    // ARM answers 200 (deleted) or 202 (deleting), 204 when there was none.
    if (res.status === 404 || res.status === 204) return false;
    if (!res.ok) throw httpError("delete the deployment", res);
    this.logger.info({ deployment: name }, "azure: deployment deleted");
    return true;
  }

  /** The deployment's provisioningState; null on 404 (never made, or deleted by Azure or someone). */
  override async getDeployment(name: string): Promise<Deployment | null> {
    if (!this.credentials || !this.arm) {
      throw new UserError(
        `classtune cannot look up Azure deployments for provider "${this.name}" without Azure Resource Manager credentials.`,
        "no_arm_credentials",
      );
    }
    const res = await this.armCall("GET", name, "check the deployment");
    if (res.status === 404) return null;
    if (!res.ok) throw httpError("check the deployment", res);
    return toAzureDeployment(name, res.body);
  }

  /** What the teacher runs when classtune cannot deploy: the `az` command with every value it knows. */
  manualDeployInstructions(deploymentName: string, fineTunedModel: string): string {
    const account = this.arm?.account ?? accountFromBaseURL(this.client.baseURL) ?? "<azure-openai-resource>";
    const command = [
      "az cognitiveservices account deployment create",
      ...(this.arm?.subscriptionId ? [`--subscription ${this.arm.subscriptionId}`] : []),
      `--resource-group ${this.arm?.resourceGroup ?? "<resource-group>"}`,
      `--name ${account}`,
      `--deployment-name ${deploymentName}`,
      `--model-name ${fineTunedModel}`,
      "--model-version 1",
      "--model-format OpenAI",
      `--sku-name ${CLI_SKU[this.sku]}`,
      `--sku-capacity ${this.capacity}`,
    ].join(" ");
    return [
      `Azure must deploy ${fineTunedModel} before anyone can ask it, and classtune has no Azure Resource Manager credentials for provider "${this.name}". Deploy it yourself:`,
      `\`${command}\``,
      `Then register it with \`/model add model:${deploymentName} provider:${this.name}\`.`,
      AZURE_DEPLOYMENT_LIFETIME_WARNING,
    ].join("\n");
  }

  private deploymentURL(name: string): string {
    const arm = this.arm as AzureArmOptions;
    const base = (arm.armBaseURL ?? AZURE_ARM_BASE_URL).replace(/\/+$/, "");
    const path = [
      "subscriptions",
      arm.subscriptionId,
      "resourceGroups",
      arm.resourceGroup,
      "providers",
      "Microsoft.CognitiveServices",
      "accounts",
      arm.account,
      "deployments",
      name,
    ]
      .map(encodeURIComponent)
      .join("/");
    return `${base}/${path}?api-version=${encodeURIComponent(arm.apiVersion ?? AZURE_ARM_API_VERSION)}`;
  }

  private async armCall(
    method: "GET" | "PUT" | "DELETE",
    name: string,
    action: string,
    body?: unknown,
  ): Promise<JsonResponse> {
    const token = await this.accessToken();
    const res = await requestJson({
      fetch: this.doFetch,
      method,
      url: this.deploymentURL(name),
      headers: { authorization: `Bearer ${token}` },
      ...(body !== undefined ? { body } : {}),
      action,
      timeoutMs: this.timeoutMs,
    });
    // A token refused before its time (revoked, clock skew) is dropped: the next call fetches a new one.
    if (res.status === 401) this.token = undefined;
    return res;
  }

  /** An Entra token for ARM, cached until TOKEN_REFRESH_MARGIN_MS before it expires; one request at a time. */
  private accessToken(): Promise<string> {
    const cached = this.token;
    if (cached && this.now() < cached.expiresAt - TOKEN_REFRESH_MARGIN_MS)
      return Promise.resolve(cached.value);
    this.pendingToken ??= this.fetchToken().finally(() => {
      this.pendingToken = undefined;
    });
    return this.pendingToken;
  }

  private async fetchToken(): Promise<string> {
    const creds = this.credentials as Credentials;
    const authority = (this.arm?.authorityHost ?? AZURE_AUTHORITY_HOST).replace(/\/+$/, "");
    const action = "get an Azure access token";
    const res = await requestJson({
      fetch: this.doFetch,
      method: "POST",
      url: `${authority}/${encodeURIComponent(creds.tenantId)}/oauth2/v2.0/token`,
      body: new URLSearchParams({
        client_id: creds.clientId,
        client_secret: creds.clientSecret,
        grant_type: "client_credentials",
        scope: AZURE_ARM_SCOPE,
      }),
      action,
      timeoutMs: this.timeoutMs,
    });
    if (!res.ok) {
      const err = httpError(action, res);
      // The error carries Entra's words only (an AADSTS code and sentence), never the secret or a token.
      logProviderError(
        this.logger,
        err,
        { tenant: creds.tenantId, client: creds.clientId },
        "azure: token request failed",
      );
      throw err;
    }
    const b = (res.body ?? {}) as { access_token?: unknown; expires_in?: unknown };
    if (typeof b.access_token !== "string" || b.access_token === "") {
      throw httpError(action, { ...res, body: { error: { message: "the answer held no access_token" } } });
    }
    const seconds = Number(b.expires_in);
    this.token = {
      value: b.access_token,
      expiresAt: this.now() + (Number.isFinite(seconds) && seconds > 0 ? seconds : 3600) * 1000,
    };
    return b.access_token;
  }
}

/** RESOURCE from https://RESOURCE.openai.azure.com/openai/v1/, when the client points there. */
function accountFromBaseURL(baseURL: string): string | undefined {
  try {
    const m = /^([a-z0-9][a-z0-9-]*)\.openai\.azure\.com$/i.exec(new URL(baseURL).hostname);
    return m?.[1];
  } catch {
    return undefined;
  }
}

/** An ARM deployment as a Deployment: Succeeded is ready, Failed/Canceled failed, anything else deploying. */
export function toAzureDeployment(name: string, body: unknown): Deployment {
  const b = (body ?? {}) as { name?: unknown; properties?: { provisioningState?: unknown } };
  const servedAs = typeof b.name === "string" && b.name !== "" ? b.name : name;
  const state = typeof b.properties?.provisioningState === "string" ? b.properties.provisioningState : "";
  switch (state.toLowerCase()) {
    case "succeeded":
      return { name, status: "ready", servedAs, message: null };
    case "failed":
    case "canceled":
    case "cancelled":
      return { name, status: "failed", servedAs: null, message: `Azure reports the deployment as ${state}.` };
    default:
      return { name, status: "deploying", servedAs, message: null };
  }
}
