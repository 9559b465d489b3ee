// Together AI behind the provider port, over the official together-ai SDK (0.52) for everything but the file
// upload. Its upload is broken on Node 20 (an unhandled rejection under ESM, "duplex option is required" under
// CommonJS, and it reads TOGETHER_API_BASE_URL at load, ignoring the client's baseURL), so the two-step upload is
// done here: POST {baseURL}/files with redirect manual -> 302 with Location (a signed URL) and
// x-together-file-id, then PUT the bytes streamed from disk. Jobs: POST /fine-tunes (LoRA, SFT) has no
// idempotency key and no metadata, so an ambiguous create is found again by its training file (unique per
// upload) created no earlier than the create was sent. The loss curve comes from listMetrics ("train/loss" by
// "train/global_step"), given to the poller as metrics events. Serving: a dedicated endpoint per fine-tune,
// made under classtune's deterministic name (its display_name) and called by the endpoint's own `name`
// (togetherEndpoints.ts, shared with the sandbox's dedicated hosting).
// The SDK retries 408/409/429/>=501 but not 500: reads here are tried again on a 500; the create never is.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, extname } from "node:path";
import type Together from "together-ai";
import type { FineTuningListResponse, FinetuneResponse } from "together-ai/resources/fine-tuning";
import { UserError } from "../domain/errors.ts";
import { normaliseStatus } from "../domain/jobs.ts";
import type { Logger } from "../logger.ts";
import { silentLogger } from "../logger.ts";
import {
  AmbiguousCreateError,
  classifyProviderError,
  isAmbiguousFailure,
  logProviderError,
  ProviderHttpError,
} from "./errors.ts";
import { readProviderEvent } from "./events.ts";
import { DEFAULT_TOGETHER_HARDWARE, TogetherEndpoints } from "./togetherEndpoints.ts";
import type {
  BilledHosting,
  ChatInput,
  ChatResult,
  CreateJobInput,
  DeployInput,
  Deployment,
  EventListItem,
  FindJobHint,
  FineTuningProvider,
  Page,
  ProviderCheckpoint,
  ProviderJob,
  ProviderModel,
  Serving,
  UploadedFile,
} from "./types.ts";

export const TOGETHER_BASE_URL = "https://api.together.xyz/v1";
export { DEFAULT_TOGETHER_HARDWARE };

/** A job's created_at may trail the moment the create was sent by the two clocks' difference. */
export const CLOCK_SKEW_MS = 5 * 60_000;
/** Reads tried again after a 500 (the SDK does not), with this pause between. */
const READ_RETRIES_ON_500 = 2;
/** Metrics sort after events of the same millisecond. */
const METRIC_SEQ = 1e9;
const RETRY_PAUSE_MS = 250;

export interface TogetherOptions {
  client: Together;
  name: string;
  /** Start a dedicated endpoint after every job without a teacher asking (the entry's autoDeploy; default no). */
  autoDeploy?: boolean | undefined;
  /** The API root the client uses (…/v1): the upload goes there too. */
  baseURL: string;
  apiKey: string;
  /** The dedicated endpoint's GPU (Together's hardware id). */
  hardware?: string | undefined;
  fetch?: typeof fetch | undefined;
  logger?: Logger | undefined;
  timeoutMs?: number | undefined;
  /** Pause between tries of a read after a 500 (tests: 0). */
  retryPauseMs?: number | undefined;
}

export class TogetherProvider implements FineTuningProvider {
  readonly name: string;
  readonly kind = "together";
  readonly serving: Serving = "deploy";
  /** Together takes `training_method: {method: "dpo", dpo_beta}` (see createJob). */
  readonly trainsPreference = true;
  readonly billedWhileRunning: BilledHosting;
  readonly servingCaveat: string | null =
    "Together bills a dedicated endpoint by the minute while it runs, even when nobody asks it anything.";
  private readonly client: Together;
  private readonly baseURL: string;
  private readonly apiKey: string;
  private readonly endpoints: TogetherEndpoints;
  private readonly doFetch: typeof fetch;
  private readonly logger: Logger;
  private readonly timeoutMs: number;
  private readonly retryPauseMs: number;

  constructor(o: TogetherOptions) {
    this.client = o.client;
    this.name = o.name;
    this.baseURL = o.baseURL.replace(/\/+$/, "");
    this.apiKey = o.apiKey;
    this.doFetch = o.fetch ?? fetch;
    this.logger = o.logger ?? silentLogger;
    this.timeoutMs = o.timeoutMs ?? 600_000;
    this.retryPauseMs = o.retryPauseMs ?? RETRY_PAUSE_MS;
    this.endpoints = new TogetherEndpoints({
      client: o.client,
      hardware: o.hardware,
      host: "Together",
      logName: "together",
      logger: this.logger,
      read: (call) => this.read(call),
    });
    this.billedWhileRunning = { autoDeploy: o.autoDeploy ?? false, hardware: this.endpoints.hardware };
  }

  /** The two-step upload, streamed from disk, at the configured baseURL. Not retried: a retry is another file. */
  async uploadTrainingFile(path: string): Promise<UploadedFile> {
    const { size } = await stat(path);
    const fileName = basename(path);
    const fileType = extname(path).replace(".", "") || "jsonl";
    const params = new URLSearchParams({ file_name: fileName, file_type: fileType, purpose: "fine-tune" });
    const signal = AbortSignal.timeout(this.timeoutMs);
    const action = "upload the training file";
    let first: Response;
    try {
      first = await this.doFetch(`${this.baseURL}/files?${params}`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          authorization: `Bearer ${this.apiKey}`,
        },
        body: params.toString(),
        redirect: "manual",
        signal,
      });
    } catch (err) {
      throw noAnswer(action, err);
    }
    const location = first.headers.get("location");
    const fileId = first.headers.get("x-together-file-id");
    if (first.status !== 302 || !location || !fileId) {
      throw await answerError(action, first);
    }
    await first.body?.cancel();
    let put: Response;
    try {
      put = await this.doFetch(new URL(location, `${this.baseURL}/`).toString(), {
        method: "PUT",
        headers: { "content-type": "application/octet-stream", "content-length": String(size) },
        // A Node stream as the body: undici needs duplex "half" for it.
        body: createReadStream(path) as unknown as RequestInit["body"],
        duplex: "half",
        signal,
      } as RequestInit & { duplex: "half" });
    } catch (err) {
      throw noAnswer(action, err);
    }
    if (!put.ok) throw await answerError(action, put);
    await put.body?.cancel();
    const file = await this.read(() => this.client.files.retrieve(fileId));
    return { id: file.id, bytes: file.bytes ?? size, filename: file.filename ?? fileName };
  }

  async deleteFile(id: string): Promise<void> {
    await this.client.files.delete(id);
  }

  /**
   * Never retried (maxRetries 0): Together has no idempotency key. After an ambiguous failure the job is looked
   * for by its training file and creation time, so one click never starts two paid jobs.
   */
  async createJob(input: CreateJobInput): Promise<ProviderJob> {
    const tag = input.metadata.classtune_job_id;
    const sentAt = Date.now();
    const lora = input.lora;
    try {
      const job = await this.client.fineTuning.create(
        {
          model: input.model,
          training_file: input.trainingFileId,
          ...(input.epochs !== undefined ? { n_epochs: input.epochs } : {}),
          ...(input.suffix !== undefined ? { suffix: input.suffix } : {}),
          ...(input.seed !== undefined ? { random_seed: input.seed } : {}),
          ...(input.contextLength !== undefined ? { max_seq_length: input.contextLength } : {}),
          ...(input.packing !== undefined ? { packing: input.packing } : {}),
          training_type: {
            type: "Lora",
            ...(lora?.r !== undefined ? { lora_r: lora.r } : {}),
            ...(lora?.alpha !== undefined ? { lora_alpha: lora.alpha } : {}),
            ...(lora?.dropout !== undefined ? { lora_dropout: lora.dropout } : {}),
          } as FinetuneResponse.LoRaTrainingType,
          training_method:
            input.method?.type === "dpo"
              ? {
                  method: "dpo",
                  ...(input.method.beta !== undefined ? { dpo_beta: input.method.beta } : {}),
                }
              : { method: "sft", train_on_inputs: "auto" },
        },
        { maxRetries: 0 },
      );
      return toJob(job as FinetuneResponse, tag);
    } catch (err) {
      if (!isAmbiguousFailure(err)) throw err;
      logProviderError(this.logger, err, { tag }, "together: create failed ambiguously; looking for it");
      let found: ProviderJob | undefined;
      try {
        found = await this.findJobByMetadata("classtune_job_id", tag, {
          trainingFileId: input.trainingFileId,
          createdAfter: sentAt,
        });
      } catch (lookupError) {
        throw new AmbiguousCreateError(tag, err, lookupError);
      }
      if (found) return found;
      throw new AmbiguousCreateError(tag, err, undefined);
    }
  }

  async retrieveJob(id: string): Promise<ProviderJob> {
    return toJob(await this.read(() => this.client.fineTuning.retrieve(id)));
  }

  /** Together lists every job at once (no pagination): newest first here. */
  async listJobs(): Promise<Page<ProviderJob>> {
    const list = await this.read(() => this.client.fineTuning.list());
    const jobs = (list.data ?? []).map((j) => toJob(j as FinetuneResponse));
    jobs.sort((a, b) => b.createdAt - a.createdAt);
    return { data: jobs, hasMore: false };
  }

  /**
   * Together keeps no metadata: the job is the one trained on the hinted file (one upload per create), created
   * no earlier than the create was sent (less the clocks' skew). Without a hint there is nothing to match.
   */
  async findJobByMetadata(key: string, value: string, hint?: FindJobHint): Promise<ProviderJob | undefined> {
    if (!hint) return undefined;
    const { data } = await this.listJobs();
    const hit = data
      .filter(
        (j) => j.trainingFile === hint.trainingFileId && j.createdAt >= hint.createdAfter - CLOCK_SKEW_MS,
      )
      .at(-1); // the oldest match: the first create
    return hit ? { ...hit, metadata: { ...hit.metadata, [key]: value } } : undefined;
  }

  async cancelJob(id: string): Promise<ProviderJob> {
    return toJob((await this.client.fineTuning.cancel(id)) as FinetuneResponse);
  }

  /**
   * Together's events carry no loss: its metrics do. Both come as one list, newest first, each metric point as an
   * event `metric-<step>` with data {step, train_loss, valid_loss} (what the poller's loss curve reads).
   */
  async listEvents(jobId: string): Promise<Page<EventListItem>> {
    const [events, metrics] = await Promise.all([
      this.read(() => this.client.fineTuning.listEvents(jobId)),
      this.read(() => this.client.fineTuning.listMetrics(jobId)),
    ]);
    // Newest first; ties (one millisecond) by kind, then by their own order, so a page always reads the same.
    const raw: Array<{ at: number; seq: number; item: unknown }> = [];
    (events.data ?? []).forEach((e, i) => {
      const at = Date.parse(e.created_at);
      raw.push({
        at,
        seq: i,
        item: {
          id: `event-${i}-${e.type}`,
          created_at: Number.isNaN(at) ? e.created_at : Math.floor(at / 1000),
          level: e.level ?? "info",
          message: e.message,
          type: e.type,
          data: null,
        },
      });
    });
    // Together's events may say the planned steps (FinetuneEvent.total_steps); its metrics never do.
    const planned = Math.max(0, ...(events.data ?? []).map((e) => e.total_steps ?? 0));
    for (const point of metricsPoints(metrics.metrics ?? [])) {
      raw.push({
        at: point.at,
        seq: METRIC_SEQ + point.step,
        item: {
          id: `metric-${point.step}`,
          created_at: Math.floor(point.at / 1000),
          level: "info",
          message: `Step ${point.step}: training loss=${point.trainLoss ?? "?"}`,
          type: "metrics",
          data: {
            step: point.step,
            ...(planned > 0 ? { total_steps: Math.max(planned, point.step) } : {}),
            ...(point.trainLoss !== null ? { train_loss: point.trainLoss } : {}),
            ...(point.validLoss !== null ? { valid_loss: point.validLoss } : {}),
          },
        },
      });
    }
    raw.sort((a, b) => b.at - a.at || b.seq - a.seq);
    return { data: raw.map((r) => readProviderEvent(r.item)), hasMore: false };
  }

  async listCheckpoints(jobId: string): Promise<ProviderCheckpoint[]> {
    const res = await this.read(() => this.client.fineTuning.listCheckpoints(jobId));
    return (res.data ?? []).map((c) => ({
      id: c.object_name ?? c.path,
      stepNumber: c.step,
      model: c.object_name ?? c.path,
      createdAt: Date.parse(c.created_at) || 0,
      metrics: {},
    }));
  }

  async listModels(): Promise<ProviderModel[]> {
    const models = await this.read(() => this.client.models.list());
    return models.map((m) => ({
      id: m.id,
      createdAt: (m.created ?? 0) * 1000,
      ownedBy: m.organization ?? "together",
      shutdownDate: null,
    }));
  }

  /** Together has no retrieve-one-model call: the model is looked for in its list. */
  async retrieveModel(id: string): Promise<ProviderModel> {
    const found = (await this.listModels()).find((m) => m.id === id);
    return found ?? { id, createdAt: 0, ownedBy: "together", shutdownDate: null };
  }

  async deleteModel(id: string): Promise<{ id: string; deleted: boolean }> {
    throw new UserError(
      `Together AI has no API to delete a fine-tuned model (${id}); delete it in Together's dashboard.`,
      "not_supported",
    );
  }

  async chat(input: ChatInput): Promise<ChatResult> {
    const res = await this.client.chat.completions.create({
      model: input.model,
      messages: input.messages,
      ...(input.temperature !== undefined ? { temperature: input.temperature } : {}),
      ...(input.maxTokens !== undefined ? { max_tokens: input.maxTokens } : {}),
    });
    const usage = res.usage;
    return {
      text: res.choices?.[0]?.message?.content ?? "",
      usage: {
        promptTokens: usage?.prompt_tokens ?? 0,
        completionTokens: usage?.completion_tokens ?? 0,
        totalTokens: usage?.total_tokens ?? 0,
      },
      model: res.model ?? input.model,
    };
  }

  manualDeployStep(_input: DeployInput): string | null {
    return null;
  }

  /** A dedicated endpoint, one replica, named `input.name` (its display_name): see togetherEndpoints.ts. */
  deploy(input: DeployInput): Promise<Deployment> {
    return this.endpoints.deploy(input);
  }

  getDeployment(name: string): Promise<Deployment | null> {
    return this.endpoints.getDeployment(name);
  }

  /** Stops and deletes the endpoint (the billing stops); false when there was none. */
  undeploy(name: string): Promise<boolean> {
    return this.endpoints.undeploy(name);
  }

  /** A read the SDK would not retry after a 500: tried again a couple of times. */
  private async read<T>(call: () => PromiseLike<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (attempt >= READ_RETRIES_ON_500 || classifyProviderError(err)?.status !== 500) throw err;
        await new Promise((r) => setTimeout(r, this.retryPauseMs * (attempt + 1)));
      }
    }
  }
}

type RawJob = FinetuneResponse | FineTuningListResponse.Data;

/** Together's statuses: compressing and uploading are the end of training (running); cancel_requested too. */
export function togetherStatus(raw: string): ProviderJob["status"] {
  switch (raw) {
    case "pending":
    case "queued":
      return "queued";
    case "running":
    case "compressing":
    case "uploading":
    case "cancel_requested":
      return "running";
    case "cancelled":
      return "cancelled";
    case "error":
      return "failed";
    case "completed":
      return "succeeded";
    default:
      return normaliseStatus(raw) === "succeeded" ? "succeeded" : "running";
  }
}

const iso = (s: string | undefined): number | null => {
  if (!s) return null;
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : t;
};

export function toJob(j: RawJob, tag?: string): ProviderJob {
  const rawStatus = String(j.status);
  const status = togetherStatus(rawStatus);
  const lastError = (j as FinetuneResponse).events?.findLast((e) => e.type === "job_error")?.message;
  const progress = (j as FinetuneResponse).progress;
  return {
    id: j.id,
    status,
    rawStatus,
    model: j.model ?? "",
    fineTunedModel: status === "succeeded" ? (j.model_output_name ?? null) : null,
    trainedTokens: j.token_count ?? null,
    createdAt: iso(j.created_at) ?? 0,
    finishedAt: isFinished(status) ? (iso(j.updated_at) ?? null) : null,
    // Rounded to the minute: now + remaining is about constant, and a changing value would read as news each tick.
    estimatedFinish:
      progress?.estimate_available === true
        ? Math.round((Date.now() + progress.seconds_remaining * 1000) / 60_000) * 60_000
        : null,
    error:
      status === "failed"
        ? {
            code: "job_error",
            message: lastError || "Together reported the job as failed without a message.",
            param: null,
          }
        : null,
    metadata: tag ? { classtune_job_id: tag } : {},
    nEpochs: j.n_epochs ?? null,
    trainingFile: j.training_file ?? "",
    trainedSteps: null,
    totalSteps: null,
  };
}

const isFinished = (s: ProviderJob["status"]) => s === "succeeded" || s === "failed" || s === "cancelled";

interface MetricsPoint {
  step: number;
  at: number;
  trainLoss: number | null;
  validLoss: number | null;
}

/**
 * listMetrics' objects ({timestamp (ns), "train/global_step", "train/loss"} or the "eval/*" ones) merged by step.
 * A point with no readable step is skipped.
 */
export function metricsPoints(raw: Array<Record<string, number>>): MetricsPoint[] {
  const bySteps = new Map<number, MetricsPoint>();
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);
  for (const m of raw) {
    const step = num(m["train/global_step"]) ?? num(m["eval/global_step"]) ?? num(m.step);
    if (step === null || !Number.isInteger(step) || step < 0) continue;
    const ts = num(m.timestamp);
    const at = ts === null ? 0 : ts > 1e14 ? Math.floor(ts / 1e6) : ts > 1e11 ? ts : ts * 1000;
    const p = bySteps.get(step) ?? { step, at, trainLoss: null, validLoss: null };
    p.trainLoss = num(m["train/loss"]) ?? p.trainLoss;
    p.validLoss = num(m["eval/loss"]) ?? p.validLoss;
    p.at = Math.max(p.at, at);
    bySteps.set(step, p);
  }
  return [...bySteps.values()].sort((a, b) => a.step - b.step);
}

const noAnswer = (action: string, err: unknown) => {
  const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
  return new ProviderHttpError(
    action,
    null,
    timedOut ? "timed out" : `connection error: ${err instanceof Error ? err.message : String(err)}`,
  );
};

/** Together's error body {error: {message, code}} (or plain text) as a ProviderHttpError. */
async function answerError(action: string, res: Response): Promise<ProviderHttpError> {
  const text = await res.text().catch(() => "");
  let message = text.trim().slice(0, 300) || `HTTP ${res.status}`;
  let code: string | null = null;
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown; code?: unknown } };
    if (typeof body.error?.message === "string") message = body.error.message;
    if (typeof body.error?.code === "string") code = body.error.code;
  } catch {
    // not JSON: the text itself
  }
  if (res.status === 302) message = "the upload was not redirected to storage (no Location or file id)";
  return new ProviderHttpError(action, res.status, message, code, res.headers.get("x-request-id"));
}
