// Fireworks AI: its own REST API under /v1/accounts/<account>/ (no official JS SDK: plain fetch), and the openai
// SDK for chat at the OpenAI-compatible /inference/v1. Shapes from docs.fireworks.ai's API reference:
// - datasets: POST …/datasets {datasetId, dataset}, POST …/datasets/<id>:upload (multipart "file", < 150 MB;
//   larger: :getUploadEndpoint {filenameToSize} -> filenameToSignedUrls, PUT there, :validateUpload), then
//   GET …/datasets/<id> until state READY;
// - jobs: POST …/supervisedFineTuningJobs?supervisedFineTuningJobId=<id> with the id chosen here (classtune's tag),
//   so a create retried after a lost answer meets 409 ALREADY_EXISTS and reads the one job; GET, list
//   (pageSize/pageToken -> supervisedFineTuningJobs, nextPageToken), POST …/<id>:cancel; states JOB_STATE_*;
//   progress in jobProgress.percent; no events endpoint: the loss is in the JSONL file at metricsFileSignedUrl;
// - serving: only on a deployment, billed per GPU-hour: a live-merge deployment of the LoRA
//   (POST …/deployments?deploymentId=<name> {baseModel: <the fine-tuned model>}), states CREATING → READY, called
//   as "<model>#accounts/<a>/deployments/<name>"; DELETE stops the billing (undeploy).
// Idempotent calls (GET, cancel, delete, and the create by chosen id) are retried a few times with backoff on
// 429/5xx/no answer; the poller tries again on its next tick after that.

import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type OpenAI from "openai";
import { UserError } from "../domain/errors.ts";
import type { JobStatus } from "../domain/jobs.ts";
import type { Logger } from "../logger.ts";
import { silentLogger } from "../logger.ts";
import { requireDeploymentName } from "./deployments.ts";
import {
  AmbiguousCreateError,
  isAmbiguousFailure,
  isTransientFailure,
  logProviderError,
  ProviderHttpError,
} from "./errors.ts";
import { readProviderEvent } from "./events.ts";
import { DEFAULT_HTTP_TIMEOUT_MS, httpError, type JsonResponse } from "./http.ts";
import { chatCompletion } from "./openaiCompatible.ts";
import type {
  BilledHosting,
  ChatInput,
  ChatResult,
  CreateJobInput,
  DeployInput,
  Deployment,
  EventListItem,
  FineTuningProvider,
  Page,
  ProviderCheckpoint,
  ProviderJob,
  ProviderModel,
  Serving,
  UploadedFile,
} from "./types.ts";

export const FIREWORKS_INFERENCE_URL = "https://api.fireworks.ai/inference/v1";
/** Fireworks' limit for the direct multipart upload (larger files go through getUploadEndpoint). */
export const FIREWORKS_MAX_DIRECT_UPLOAD_BYTES = 150 * 1024 * 1024;

/** The REST root beside the inference base URL: "https://api.fireworks.ai/inference/v1" -> "https://api.fireworks.ai". */
export function fireworksRestRoot(baseURL: string): string {
  return baseURL.replace(/\/+$/, "").replace(/\/inference\/v1$/, "");
}

/**
 * The job id classtune chooses for a tag: Fireworks resource ids are 1–63 lowercase letters, digits and "-",
 * starting with a letter. classtune's tags (`ct-<uuid>`) already are one; anything else is made one.
 */
export function fireworksJobIdFor(tag: string): string {
  const id = tag
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/^[^a-z]+/, "");
  return (id === "" ? `ct-${tag.length}` : id).slice(0, 63).replace(/-+$/, "");
}

/** Every documented JOB_STATE_*, in classtune's words (anything else: running, kept raw). */
const JOB_STATES: Record<string, JobStatus> = {
  JOB_STATE_UNSPECIFIED: "queued",
  JOB_STATE_CREATING: "queued",
  JOB_STATE_PENDING: "queued",
  JOB_STATE_RE_QUEUEING: "queued",
  JOB_STATE_IDLE: "queued",
  JOB_STATE_CREATING_INPUT_DATASET: "validating_files",
  JOB_STATE_VALIDATING: "validating_files",
  JOB_STATE_RUNNING: "running",
  JOB_STATE_WRITING_RESULTS: "running",
  JOB_STATE_EVALUATION: "running",
  JOB_STATE_POLICY_UPDATE: "running",
  JOB_STATE_ROLLOUT: "running",
  // Still going until Fireworks says cancelled.
  JOB_STATE_CANCELLING: "running",
  JOB_STATE_PAUSED: "paused",
  JOB_STATE_COMPLETED: "succeeded",
  // Early stopping keeps the best checkpoint: a finished model.
  JOB_STATE_EARLY_STOPPED: "succeeded",
  JOB_STATE_FAILED: "failed",
  JOB_STATE_EXPIRED: "failed",
  JOB_STATE_CANCELLED: "cancelled",
  // Someone deleted the job at Fireworks: it will train no further.
  JOB_STATE_DELETING: "cancelled",
  JOB_STATE_DELETING_CLEANING_UP: "cancelled",
  JOB_STATE_DELETED: "cancelled",
};

/** Archived jobs keep their model when they had one. */
export function fireworksJobStatus(state: string, outputModel: string | null): JobStatus {
  if (state === "JOB_STATE_ARCHIVED") return outputModel ? "succeeded" : "cancelled";
  return JOB_STATES[state] ?? "running";
}

export const FIREWORKS_JOB_STATES: readonly string[] = [...Object.keys(JOB_STATES), "JOB_STATE_ARCHIVED"];

/** One H100 per deployment replica: the GPU Fireworks lists first for 8B-class models. */
export const DEFAULT_FIREWORKS_ACCELERATOR = "NVIDIA_H100_80GB";

export interface FireworksOptions {
  /** The openai SDK client on the inference base URL (…/inference/v1). */
  client: OpenAI;
  name: string;
  /** Start a deployment after every job without a teacher asking (the entry's autoDeploy; default no). */
  autoDeploy?: boolean | undefined;
  /** The deployment's GPU (Fireworks' acceleratorType); default DEFAULT_FIREWORKS_ACCELERATOR. */
  acceleratorType?: string | undefined;
  accountId: string;
  /** The entry's baseURL (the inference root); the REST root is beside it (fireworksRestRoot). */
  baseURL: string;
  apiKey: string;
  fetch?: typeof fetch | undefined;
  logger?: Logger | undefined;
  timeoutMs?: number | undefined;
  /** Attempts for an idempotent call (default 3) and the first backoff (default 500 ms, doubled each time). */
  maxAttempts?: number | undefined;
  backoffMs?: number | undefined;
  /** How long an upload waits for the dataset to be READY (default 5 min) and how often it looks (2 s). */
  datasetReadyTimeoutMs?: number | undefined;
  datasetPollMs?: number | undefined;
  /** Files this size and larger go through a signed upload URL (default 150 MB, Fireworks' limit). */
  maxDirectUploadBytes?: number | undefined;
  /** Deployment replicas: min 0 lets Fireworks scale an idle deployment to zero. */
  minReplicaCount?: number | undefined;
}

/** Jobs remembered for listJobs' cursor (the last id of a page -> Fireworks' page token). */
const PAGE_TOKENS_CAP = 100;
const RETRY_AFTER_CAP_MS = 30_000;

interface FwJob {
  name?: string;
  displayName?: string;
  dataset?: string;
  state?: string;
  status?: { code?: string; message?: string };
  outputModel?: string;
  baseModel?: string;
  createTime?: string;
  completedTime?: string;
  updateTime?: string;
  epochs?: number;
  jobProgress?: { percent?: number; epoch?: number };
  metricsFileSignedUrl?: string;
}

export class FireworksProvider implements FineTuningProvider {
  readonly name: string;
  readonly kind = "fireworks";
  readonly serving: Serving = "deploy";
  readonly billedWhileRunning: BilledHosting;
  readonly servingCaveat: string | null =
    "Fireworks bills a deployment per GPU-hour for as long as it runs, answered or idle.";
  private readonly client: OpenAI;
  private readonly account: string;
  private readonly root: string;
  private readonly apiKey: string;
  private readonly doFetch: typeof fetch;
  private readonly logger: Logger;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly backoffMs: number;
  private readonly datasetReadyTimeoutMs: number;
  private readonly datasetPollMs: number;
  private readonly minReplicaCount: number;
  private readonly maxDirectUploadBytes: number;
  private readonly pageTokens = new Map<string, string>();

  constructor(o: FireworksOptions) {
    this.billedWhileRunning = {
      autoDeploy: o.autoDeploy ?? false,
      hardware: o.acceleratorType ?? DEFAULT_FIREWORKS_ACCELERATOR,
    };
    this.client = o.client;
    this.name = o.name;
    this.account = o.accountId;
    this.root = fireworksRestRoot(o.baseURL);
    this.apiKey = o.apiKey;
    this.doFetch = o.fetch ?? fetch;
    this.logger = o.logger ?? silentLogger;
    this.timeoutMs = o.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
    this.maxAttempts = o.maxAttempts ?? 3;
    this.backoffMs = o.backoffMs ?? 500;
    this.datasetReadyTimeoutMs = o.datasetReadyTimeoutMs ?? 5 * 60_000;
    this.datasetPollMs = o.datasetPollMs ?? 2_000;
    this.minReplicaCount = o.minReplicaCount ?? 0;
    this.maxDirectUploadBytes = o.maxDirectUploadBytes ?? FIREWORKS_MAX_DIRECT_UPLOAD_BYTES;
  }

  private path(rest: string): string {
    return `/v1/accounts/${encodeURIComponent(this.account)}${rest}`;
  }

  // --- files (datasets) ---

  async uploadTrainingFile(path: string): Promise<UploadedFile> {
    const { size } = await stat(path);
    // Unique per upload; the dataset's id is what a job names.
    const datasetId = `ct-ds-${randomUUID()}`;
    const created = await this.call("POST", this.path("/datasets"), "create the dataset", {
      body: { datasetId, dataset: { displayName: basename(path).slice(0, 60), userUploaded: {} } },
      retry: false,
    });
    if (!created.ok) throw httpError("create the dataset", created);
    if (size < this.maxDirectUploadBytes) {
      const uploaded = await this.uploadMultipart(path, size, datasetId);
      if (!uploaded.ok) throw httpError("upload the training file", uploaded);
    } else {
      await this.uploadSigned(path, size, datasetId);
    }
    await this.waitForDataset(datasetId);
    return { id: datasetId, bytes: size, filename: basename(path) };
  }

  /** multipart/form-data with one "file" part, the bytes streamed from disk (never read whole). */
  private async uploadMultipart(path: string, size: number, datasetId: string): Promise<JsonResponse> {
    const boundary = `----classtune${randomUUID().replace(/-/g, "")}`;
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${basename(path).replace(/"/g, "")}"\r\nContent-Type: application/jsonl\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    async function* parts(): AsyncGenerator<Uint8Array> {
      yield head;
      for await (const chunk of createReadStream(path)) yield chunk as Buffer;
      yield tail;
    }
    const body = ReadableStream.from(parts());
    return this.send(
      "POST",
      this.path(`/datasets/${encodeURIComponent(datasetId)}:upload`),
      "upload the training file",
      {
        body,
        headers: {
          "content-type": `multipart/form-data; boundary=${boundary}`,
          "content-length": String(head.length + size + tail.length),
        },
      },
    );
  }

  /** Files of 150 MB and more: a signed URL from :getUploadEndpoint, the bytes PUT there, then :validateUpload. */
  private async uploadSigned(path: string, size: number, datasetId: string): Promise<void> {
    const filename = basename(path);
    const at = this.path(`/datasets/${encodeURIComponent(datasetId)}`);
    const endpoint = await this.call("POST", `${at}:getUploadEndpoint`, "get the upload URL", {
      body: { filenameToSize: { [filename]: size } },
    });
    if (!endpoint.ok) throw httpError("get the upload URL", endpoint);
    const urls = (endpoint.body as { filenameToSignedUrls?: Record<string, unknown> } | undefined)
      ?.filenameToSignedUrls;
    const url = urls?.[filename];
    if (typeof url !== "string" || url === "") {
      throw new ProviderHttpError(
        "get the upload URL",
        endpoint.status,
        "no signed URL for the file in the answer",
      );
    }
    async function* bytes(): AsyncGenerator<Uint8Array> {
      for await (const chunk of createReadStream(path)) yield chunk as Buffer;
    }
    const put = await this.send("PUT", url, "upload the training file", {
      body: ReadableStream.from(bytes()),
      headers: {
        "content-type": "application/octet-stream",
        "content-length": String(size),
        "x-goog-content-length-range": `${size},${size}`,
      },
      absolute: true,
      auth: false,
    });
    if (!put.ok) throw httpError("upload the training file", put);
    const validated = await this.call("POST", `${at}:validateUpload`, "validate the upload", { body: {} });
    if (!validated.ok) throw httpError("validate the upload", validated);
  }

  private async waitForDataset(datasetId: string): Promise<void> {
    const deadline = Date.now() + this.datasetReadyTimeoutMs;
    for (;;) {
      const res = await this.call(
        "GET",
        this.path(`/datasets/${encodeURIComponent(datasetId)}`),
        "check the dataset",
      );
      if (!res.ok) throw httpError("check the dataset", res);
      const state = (res.body as { state?: unknown } | undefined)?.state;
      if (state === "READY") return;
      if (Date.now() >= deadline) {
        throw new ProviderHttpError(
          "check the dataset",
          null,
          `the dataset ${datasetId} was not READY after ${Math.round(this.datasetReadyTimeoutMs / 1000)} s (state ${String(state)})`,
        );
      }
      await sleep(this.datasetPollMs);
    }
  }

  async deleteFile(id: string): Promise<void> {
    const res = await this.call(
      "DELETE",
      this.path(`/datasets/${encodeURIComponent(id)}`),
      "delete the dataset",
    );
    if (!res.ok && res.status !== 404) throw httpError("delete the dataset", res);
  }

  // --- jobs ---

  /**
   * The job id is classtune's (fireworksJobIdFor(tag)), so the create may be retried: after a lost answer the
   * retry meets 409 ALREADY_EXISTS and reads the job the first request made. Never two jobs for one click.
   */
  async createJob(input: CreateJobInput): Promise<ProviderJob> {
    const tag = input.metadata.classtune_job_id;
    const jobId = fireworksJobIdFor(tag);
    const body: Record<string, unknown> = {
      dataset: `accounts/${this.account}/datasets/${input.trainingFileId}`,
      baseModel: input.model,
      displayName: tag,
      outputModel: `accounts/${this.account}/models/${jobId}`,
    };
    if (input.epochs !== undefined) body.epochs = input.epochs;
    if (input.lora?.r !== undefined) body.loraRank = input.lora.r;
    if (input.contextLength !== undefined) body.maxContextLength = input.contextLength;
    let res: JsonResponse;
    try {
      res = await this.call(
        "POST",
        `${this.path("/supervisedFineTuningJobs")}?supervisedFineTuningJobId=${encodeURIComponent(jobId)}`,
        "start the fine-tuning job",
        { body },
      );
    } catch (err) {
      return this.settleAmbiguousCreate(tag, err);
    }
    if (res.status === 409) {
      this.logger.info({ tag, jobId }, "fireworks: the job exists already (a retried create): reading it");
      try {
        return await this.retrieveJob(jobId);
      } catch (err) {
        // It exists, but could not be read now: JobService keeps its intent and the poller records it later.
        throw new AmbiguousCreateError(tag, err, err);
      }
    }
    if (!res.ok) {
      const err = httpError("start the fine-tuning job", res);
      if (isAmbiguousFailure(err)) return this.settleAmbiguousCreate(tag, err);
      throw err;
    }
    return this.toJob(res.body);
  }

  /**
   * Every attempt failed without a clear answer: the job may exist. Found by its id, it is returned; else
   * AmbiguousCreateError, so JobService keeps its intent and the poller's reconcile finds the job later.
   */
  private async settleAmbiguousCreate(tag: string, err: unknown): Promise<ProviderJob> {
    if (!isAmbiguousFailure(err)) throw err;
    logProviderError(this.logger, err, { tag }, "fireworks: job create failed ambiguously: looking it up");
    let found: ProviderJob | undefined;
    try {
      found = await this.findJobByMetadata("classtune_job_id", tag);
    } catch (lookupError) {
      throw new AmbiguousCreateError(tag, err, lookupError);
    }
    if (found) return found;
    throw new AmbiguousCreateError(tag, err, undefined);
  }

  async retrieveJob(id: string): Promise<ProviderJob> {
    return this.toJob(await this.getJobRaw(id));
  }

  private async getJobRaw(id: string): Promise<FwJob> {
    const res = await this.call(
      "GET",
      this.path(`/supervisedFineTuningJobs/${encodeURIComponent(id)}`),
      "check the fine-tuning job",
    );
    if (!res.ok) throw httpError("check the fine-tuning job", res);
    return res.body as FwJob;
  }

  async listJobs(
    opts: { after?: string | undefined; limit?: number | undefined } = {},
  ): Promise<Page<ProviderJob>> {
    const params = new URLSearchParams({ pageSize: String(Math.min(opts.limit ?? 100, 200)) });
    if (opts.after !== undefined) {
      const token = this.pageTokens.get(opts.after);
      // A cursor this process never handed out: nothing after it is known.
      if (token === undefined) return { data: [], hasMore: false };
      params.set("pageToken", token);
    }
    const res = await this.call(
      "GET",
      `${this.path("/supervisedFineTuningJobs")}?${params}`,
      "list the fine-tuning jobs",
    );
    if (!res.ok) throw httpError("list the fine-tuning jobs", res);
    const b = (res.body ?? {}) as { supervisedFineTuningJobs?: unknown; nextPageToken?: unknown };
    const data = (Array.isArray(b.supervisedFineTuningJobs) ? b.supervisedFineTuningJobs : []).map((j) =>
      this.toJob(j),
    );
    data.sort((a, b2) => b2.createdAt - a.createdAt);
    const next = typeof b.nextPageToken === "string" && b.nextPageToken !== "" ? b.nextPageToken : null;
    const last = data.at(-1);
    if (next && last) {
      if (this.pageTokens.size >= PAGE_TOKENS_CAP) {
        const oldest = this.pageTokens.keys().next().value;
        if (oldest !== undefined) this.pageTokens.delete(oldest);
      }
      this.pageTokens.set(last.id, next);
    }
    return { data, hasMore: next !== null };
  }

  /** The job is found by the id chosen from the tag: one GET, no scan. */
  async findJobByMetadata(key: string, value: string): Promise<ProviderJob | undefined> {
    if (key !== "classtune_job_id") return undefined;
    const res = await this.call(
      "GET",
      this.path(`/supervisedFineTuningJobs/${encodeURIComponent(fireworksJobIdFor(value))}`),
      "look up the fine-tuning job",
    );
    if (res.status === 404) return undefined;
    if (!res.ok) throw httpError("look up the fine-tuning job", res);
    return this.toJob(res.body);
  }

  async cancelJob(id: string): Promise<ProviderJob> {
    const res = await this.call(
      "POST",
      this.path(`/supervisedFineTuningJobs/${encodeURIComponent(id)}:cancel`),
      "cancel the fine-tuning job",
      { body: {} },
    );
    if (!res.ok) throw httpError("cancel the fine-tuning job", res);
    return this.retrieveJob(id);
  }

  /**
   * The loss curve as events: one per line of the job's metrics file (JSONL: {step, "train/loss", …}, or the
   * same keys under `data`), newest first; `after` an event id from this list (older than it). No file yet:
   * no events.
   */
  async listEvents(
    jobId: string,
    opts: { after?: string | undefined; limit?: number | undefined } = {},
  ): Promise<Page<EventListItem>> {
    const job = await this.getJobRaw(jobId);
    const url = job.metricsFileSignedUrl;
    if (!url) return { data: [], hasMore: false };
    const fallbackSeconds = Math.floor(Date.parse(job.updateTime ?? job.createTime ?? "") / 1000) || 0;
    const text = await this.fetchSigned(url);
    const items = metricsEvents(jobId, text, fallbackSeconds).reverse();
    let start = 0;
    if (opts.after !== undefined) {
      const at = items.findIndex((e) => e.id === opts.after);
      start = at === -1 ? items.length : at + 1;
    }
    const limit = opts.limit ?? 100;
    const page = items.slice(start, start + limit);
    return { data: page, hasMore: start + limit < items.length };
  }

  /** A signed URL carries its own authority: fetched without our key (it may point at another host). */
  private async fetchSigned(url: string): Promise<string> {
    const res = await this.send("GET", url, "read the metrics file", { absolute: true, auth: false });
    if (res.status === 404) return "";
    if (!res.ok) throw httpError("read the metrics file", res);
    return res.text;
  }

  async listCheckpoints(_jobId: string): Promise<ProviderCheckpoint[]> {
    // Fireworks keeps one output model per job (no checkpoint listing in the job API).
    return [];
  }

  async listModels(): Promise<ProviderModel[]> {
    const res = await this.call("GET", `${this.path("/models")}?pageSize=200`, "list the models");
    if (!res.ok) throw httpError("list the models", res);
    const models = (res.body as { models?: unknown } | undefined)?.models;
    return (Array.isArray(models) ? models : []).map(toModel);
  }

  async retrieveModel(id: string): Promise<ProviderModel> {
    const res = await this.call("GET", `/v1/${modelPath(id, this.account)}`, "check the model");
    if (!res.ok) throw httpError("check the model", res);
    return toModel(res.body);
  }

  async deleteModel(id: string): Promise<{ id: string; deleted: boolean }> {
    const res = await this.call("DELETE", `/v1/${modelPath(id, this.account)}`, "delete the model");
    if (!res.ok && res.status !== 404) throw httpError("delete the model", res);
    return { id, deleted: true };
  }

  chat(input: ChatInput): Promise<ChatResult> {
    return chatCompletion(this.client, input);
  }

  // --- serving ---

  manualDeployStep(_input: DeployInput): string | null {
    return null;
  }

  /**
   * A live-merge deployment of the fine-tuned model under `name` (deploymentNameFor): looked up first, and a
   * 409 (the name exists: a create whose answer was lost) read as that deployment. Never a second one.
   */
  async deploy(input: DeployInput): Promise<Deployment> {
    requireDeploymentName(input.name);
    if (!input.fineTunedModel) {
      throw new UserError(`Job ${input.jobId} has no fine-tuned model to deploy yet.`, "no_model");
    }
    const existing = await this.getDeployment(input.name);
    if (existing) return existing;
    const res = await this.call(
      "POST",
      `${this.path("/deployments")}?deploymentId=${encodeURIComponent(input.name)}`,
      "deploy the model",
      {
        body: {
          displayName: input.name,
          baseModel: input.fineTunedModel,
          minReplicaCount: this.minReplicaCount,
          maxReplicaCount: 1,
          acceleratorType: this.billedWhileRunning.hardware,
          acceleratorCount: 1,
        },
      },
    );
    if (res.status === 409) {
      const found = await this.getDeployment(input.name);
      if (found) return found;
      throw httpError("deploy the model", res);
    }
    if (!res.ok) {
      const err = httpError("deploy the model", res);
      logProviderError(
        this.logger,
        err,
        { job: input.jobId, deployment: input.name },
        "fireworks: deploy failed",
      );
      throw err;
    }
    this.logger.info({ job: input.jobId, deployment: input.name }, "fireworks: deploy requested");
    return this.toDeployment(input.name, res.body) ?? deploying(input.name);
  }

  async getDeployment(name: string): Promise<Deployment | null> {
    const res = await this.call(
      "GET",
      this.path(`/deployments/${encodeURIComponent(name)}`),
      "check the deployment",
    );
    if (res.status === 404) return null;
    if (!res.ok) throw httpError("check the deployment", res);
    return this.toDeployment(name, res.body);
  }

  /** Deletes the deployment: the GPU-hours stop. False when it was already gone. */
  async undeploy(name: string): Promise<boolean> {
    const res = await this.call(
      "DELETE",
      this.path(`/deployments/${encodeURIComponent(name)}`),
      "stop the deployment",
    );
    if (res.status === 404) return false;
    if (!res.ok) throw httpError("stop the deployment", res);
    return true;
  }

  private toDeployment(name: string, body: unknown): Deployment | null {
    if (!body || typeof body !== "object")
      throw new ProviderHttpError("check the deployment", 200, "not JSON");
    const b = body as { state?: unknown; baseModel?: unknown; status?: { message?: unknown } };
    const state = typeof b.state === "string" ? b.state : "";
    const model = typeof b.baseModel === "string" ? b.baseModel : null;
    switch (state) {
      case "DELETING":
      case "DELETED":
        return null;
      case "READY":
        return {
          name,
          status: "ready",
          servedAs: model ? `${model}#accounts/${this.account}/deployments/${name}` : null,
          message: null,
        };
      case "FAILED":
        return {
          name,
          status: "failed",
          servedAs: null,
          message:
            typeof b.status?.message === "string" && b.status.message !== ""
              ? b.status.message
              : "Fireworks reports the deployment as FAILED, without a reason.",
        };
      default:
        // CREATING, UPDATING, STATE_UNSPECIFIED and anything new: not callable yet.
        return deploying(name);
    }
  }

  // --- the wire ---

  private toJob(raw: unknown): ProviderJob {
    const j = (raw ?? {}) as FwJob;
    const id = (j.name ?? "").split("/").at(-1) ?? "";
    const rawStatus = typeof j.state === "string" ? j.state : "JOB_STATE_UNSPECIFIED";
    const outputModel = typeof j.outputModel === "string" && j.outputModel !== "" ? j.outputModel : null;
    const status = fireworksJobStatus(rawStatus, outputModel);
    const time = (s: string | undefined): number | null => {
      const t = s ? Date.parse(s) : Number.NaN;
      return Number.isNaN(t) ? null : t;
    };
    const percent = j.jobProgress?.percent;
    const tag = typeof j.displayName === "string" && j.displayName.startsWith("ct-") ? j.displayName : null;
    return {
      id,
      status,
      rawStatus,
      model: j.baseModel ?? "",
      fineTunedModel: status === "succeeded" ? outputModel : null,
      trainedTokens: null,
      createdAt: time(j.createTime) ?? 0,
      finishedAt: time(j.completedTime),
      estimatedFinish: null,
      error:
        status === "failed"
          ? {
              code: j.status?.code ?? null,
              message: j.status?.message || `Fireworks reported the job as ${rawStatus} without a message.`,
              param: null,
            }
          : null,
      metadata: tag ? { classtune_job_id: tag } : {},
      nEpochs: typeof j.epochs === "number" && j.epochs > 0 ? j.epochs : null,
      trainingFile: (j.dataset ?? "").split("/").at(-1) ?? "",
      // jobProgress gives a percentage, not steps: shown as n/100.
      trainedSteps: typeof percent === "number" && percent >= 0 ? Math.min(100, Math.round(percent)) : null,
      totalSteps: typeof percent === "number" ? 100 : null,
    };
  }

  /** An idempotent call with bounded retries on 429/5xx/no answer; `retry: false` for the one-shot ones. */
  private async call(
    method: "GET" | "POST" | "DELETE",
    path: string,
    action: string,
    opts: { body?: unknown; retry?: boolean } = {},
  ): Promise<JsonResponse> {
    const attempts = opts.retry === false ? 1 : this.maxAttempts;
    for (let attempt = 1; ; attempt++) {
      let res: (JsonResponse & { retryAfterMs: number | null }) | undefined;
      let failure: unknown;
      try {
        res = await this.send(method, path, action, opts.body === undefined ? {} : { json: opts.body });
      } catch (err) {
        failure = err;
      }
      const retryable = res ? res.status === 429 || res.status >= 500 : isTransientFailure(failure);
      if (!retryable || attempt >= attempts) {
        if (res) return res;
        throw failure;
      }
      const wait = Math.min(res?.retryAfterMs ?? this.backoffMs * 2 ** (attempt - 1), RETRY_AFTER_CAP_MS);
      this.logger.debug({ action, attempt, status: res?.status ?? null, wait }, "fireworks: retrying");
      await sleep(wait);
    }
  }

  private async send(
    method: "GET" | "POST" | "PUT" | "DELETE",
    pathOrUrl: string,
    action: string,
    opts: {
      json?: unknown;
      body?: ReadableStream<Uint8Array>;
      headers?: Record<string, string>;
      absolute?: boolean;
      auth?: boolean;
    } = {},
  ): Promise<JsonResponse & { retryAfterMs: number | null }> {
    const headers: Record<string, string> = { accept: "application/json", ...opts.headers };
    if (opts.auth !== false) headers.authorization = `Bearer ${this.apiKey}`;
    let body: string | ReadableStream<Uint8Array> | undefined = opts.body;
    if (opts.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(opts.json);
    }
    const url = opts.absolute ? pathOrUrl : `${this.root}${pathOrUrl}`;
    let res: Response;
    let text: string;
    try {
      res = await this.doFetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        // A streamed body needs half duplex in Node's fetch.
        ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      } as RequestInit);
      text = await res.text();
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
      throw new ProviderHttpError(
        action,
        null,
        timedOut ? "timed out" : `connection error: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const retryAfter = Number(res.headers.get("retry-after"));
    return {
      status: res.status,
      ok: res.ok,
      body: parsed,
      text,
      requestId: res.headers.get("x-request-id"),
      retryAfterMs: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : null,
    };
  }
}

const deploying = (name: string): Deployment => ({
  name,
  status: "deploying",
  servedAs: null,
  message: null,
});

function modelPath(id: string, account: string): string {
  return id.startsWith("accounts/") ? id : `accounts/${account}/models/${encodeURIComponent(id)}`;
}

function toModel(raw: unknown): ProviderModel {
  const m = (raw ?? {}) as { name?: unknown; createTime?: unknown };
  const name = typeof m.name === "string" ? m.name : "";
  const created = typeof m.createTime === "string" ? Date.parse(m.createTime) : Number.NaN;
  return {
    id: name,
    createdAt: Number.isNaN(created) ? 0 : created,
    ownedBy: name.split("/")[1] ?? "",
    shutdownDate: null,
  };
}

/**
 * The metrics file's lines as OpenAI-style metrics events, oldest first, each checked at the boundary
 * (readProviderEvent): {step, "train/loss" | loss, "train/total_steps"?, timestamp?}, flat or under `data`.
 * A line that is no JSON, or has no step, is no event.
 */
export function metricsEvents(jobId: string, text: string, fallbackSeconds: number): EventListItem[] {
  const out: EventListItem[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === "") continue;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (!rec || typeof rec !== "object") continue;
    const data = (rec.data && typeof rec.data === "object" ? rec.data : rec) as Record<string, unknown>;
    const step = rec.step ?? data["train/step"];
    if (typeof step !== "number") continue;
    const pick = (...keys: string[]) => keys.map((k) => data[k]).find((v) => v !== undefined);
    const loss = pick("train/loss", "loss", "train_loss");
    const valid = pick("eval/loss", "valid_loss");
    const total = pick("train/total_steps", "total_steps");
    const ts = typeof rec.timestamp === "number" ? rec.timestamp : fallbackSeconds;
    const lossWords = typeof loss === "number" ? `training loss=${loss}` : "metrics";
    out.push(
      readProviderEvent({
        id: `${jobId}-step-${step}`,
        created_at: Math.floor(ts),
        level: "info",
        message:
          typeof total === "number" ? `Step ${step}/${total}: ${lossWords}` : `Step ${step}: ${lossWords}`,
        type: "metrics",
        data: {
          step,
          ...(typeof total === "number" ? { total_steps: total } : {}),
          ...(loss !== undefined ? { train_loss: loss } : {}),
          ...(valid !== undefined ? { valid_loss: valid } : {}),
        },
      }),
    );
  }
  return out;
}
