// LocalAI (self-hosted, a school's own GPU): its experimental fine-tuning API beside the OpenAI-compatible /v1.
// Shapes from mudler/LocalAI (core/schema/finetune.go, core/http/endpoints/localai/finetune.go, and
// localai.io "Fine-tuning"): POST /api/fine-tuning/datasets (multipart field "file") -> {path}; POST
// /api/fine-tuning/jobs {model, backend, training_method, training_type, dataset_source, num_epochs, …} -> 201
// {id, status, message}; GET /api/fine-tuning/jobs (a bare list) and /jobs/:id (id, model, status, message,
// created_at, export_status, export_model_name, config); POST /jobs/:id/stop; GET /jobs/:id/progress (SSE lines
// `data: {current_step, total_steps, current_epoch, loss, eval_loss, eta_seconds, …}`); POST /jobs/:id/export
// {name, export_format} -> 202 {status: "exporting", model_name}, after which the model answers
// /v1/chat/completions under that name. Errors are {"error": "<words>"}.
//
// No idempotency key and no metadata: an ambiguous create is found again by its dataset_source (the upload's
// path, unique per upload) and its creation time. LocalAI has no authentication by default, so a plain-http
// base URL off this machine is refused unless the entry says allowInsecure.

import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { Readable } from "node:stream";
import type OpenAI from "openai";
import { UserError } from "../domain/errors.ts";
import type { Logger } from "../logger.ts";
import type { LocalAIExportFormat } from "../providerSpecs.ts";
import { requireDeploymentName } from "./deployments.ts";
import { AmbiguousCreateError, isAmbiguousFailure, logProviderError, ProviderHttpError } from "./errors.ts";
import { readProviderEvent } from "./events.ts";
import { httpError, type JsonResponse, requestJson } from "./http.ts";
import { chatCompletion } from "./openaiCompatible.ts";
import type {
  ChatInput,
  ChatResult,
  CreateJobInput,
  DeployInput,
  Deployment,
  EventListItem,
  FindJobHint,
  FineTuningProvider,
  JobStatus,
  Page,
  ProviderCheckpoint,
  ProviderJob,
  ProviderModel,
  Serving,
  UploadedFile,
} from "./types.ts";

/** gguf runs on LocalAI's llama.cpp backend, the one every LocalAI image has. */
export const DEFAULT_LOCALAI_EXPORT_FORMAT: LocalAIExportFormat = "gguf";
/** The quantization a gguf export is made with: small enough for one school GPU, close to full quality. */
export const LOCALAI_GGUF_QUANTIZATION = "q4_k_m";

/** How long one tick reads a job's progress stream before it lets go (the stream stays open while training). */
export const DEFAULT_PROGRESS_READ_MS = 1_500;
/** At most this many progress events (and bytes) are read per tick: a runaway stream cannot fill memory. */
export const MAX_PROGRESS_EVENTS = 5_000;
const MAX_PROGRESS_BYTES = 4 * 1024 * 1024;
/** A job found after an ambiguous create may carry a creation time this much before ours (clock skew). */
export const CREATE_CLOCK_SKEW_MS = 15 * 60_000;

/** Every LocalAI job status, as classtune reads it; anything else counts as running and is kept raw. */
export const LOCALAI_STATUS: Readonly<Record<string, JobStatus>> = {
  queued: "queued",
  loading_model: "running",
  loading_dataset: "running",
  training: "running",
  saving: "running",
  completed: "succeeded",
  failed: "failed",
  stopped: "cancelled",
};

export function localaiStatus(raw: string): JobStatus {
  return LOCALAI_STATUS[raw.trim().toLowerCase()] ?? "running";
}

/** Said once, at start-up, when an entry allows a plain-http LocalAI off this machine. */
export const LOCALAI_INSECURE_WARNING =
  "LocalAI is reached over plain http on another machine (allowInsecure: true): training data, questions and answers cross the network unencrypted, and LocalAI has no authentication unless it was started with an API key. Keep it on a private network, or put it behind TLS and a key.";

function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * Why a LocalAI base URL is refused, or null: plain http to another machine is allowed only when the entry
 * says allowInsecure. https, and http on this machine, are always fine.
 */
export function insecureBaseURLProblem(baseURL: string, allowInsecure: boolean): string | null {
  const url = new URL(baseURL);
  if (url.protocol !== "http:" || isLoopbackHost(url.hostname) || allowInsecure) return null;
  return `LocalAI at ${url.protocol}//${url.host} is plain http on another machine: use https (a reverse proxy with TLS), or set "allowInsecure": true in its FINETUNE_PROVIDERS entry if it is on a private network you trust`;
}

export interface LocalAIOptions {
  /** The openai SDK client on LocalAI's /v1 (chat completions and /v1/models). */
  client: OpenAI;
  name: string;
  /** The OpenAI-compatible root, e.g. http://127.0.0.1:8080/v1; the fine-tuning API is at its /api beside it. */
  baseURL: string;
  /** Sent as Bearer when the server was started with API keys. */
  apiKey?: string | undefined;
  allowInsecure?: boolean | undefined;
  exportFormat?: LocalAIExportFormat | undefined;
  fetch?: typeof fetch | undefined;
  logger?: Logger | undefined;
  timeoutMs?: number | undefined;
  progressReadMs?: number | undefined;
  now?: (() => number) | undefined;
}

/** A LocalAI job as it comes over the wire (FineTuneJob); only what classtune reads. */
interface WireJob {
  id?: unknown;
  model?: unknown;
  status?: unknown;
  message?: unknown;
  created_at?: unknown;
  export_status?: unknown;
  export_message?: unknown;
  export_model_name?: unknown;
  config?: { dataset_source?: unknown; num_epochs?: unknown } | null;
}

/** What toJob names a succeeded job's model: `ft:<base>:localai:<job id>`. */
const FINE_TUNED_NAME = /^ft:.+:localai:[^:]+$/;
const fineTunedName = (model: string, id: string) => `ft:${model}:localai:${id}`;

const str = (v: unknown): string => (typeof v === "string" ? v : "");

export class LocalAIProvider implements FineTuningProvider {
  readonly kind = "localai";
  readonly serving: Serving = "deploy";
  /** The school's own GPU serves its exports: nothing is billed by the hour. */
  readonly billedWhileRunning = null;
  readonly servingCaveat: string | null = null;
  readonly name: string;
  private readonly client: OpenAI;
  /** The server root (baseURL without its /v1). */
  private readonly root: string;
  private readonly apiKey: string | undefined;
  private readonly exportFormat: LocalAIExportFormat;
  private readonly doFetch: typeof fetch;
  private readonly logger: Logger | undefined;
  private readonly timeoutMs: number | undefined;
  private readonly progressReadMs: number;
  private readonly now: () => number;

  constructor(options: LocalAIOptions) {
    const problem = insecureBaseURLProblem(options.baseURL, options.allowInsecure ?? false);
    if (problem) throw new UserError(`provider "${options.name}": ${problem}`, "insecure_base_url");
    this.name = options.name;
    this.client = options.client;
    this.root = options.baseURL.replace(/\/+$/, "").replace(/\/v1$/, "");
    this.apiKey = options.apiKey;
    this.exportFormat = options.exportFormat ?? DEFAULT_LOCALAI_EXPORT_FORMAT;
    this.doFetch = options.fetch ?? fetch;
    this.logger = options.logger;
    this.timeoutMs = options.timeoutMs;
    this.progressReadMs = options.progressReadMs ?? DEFAULT_PROGRESS_READ_MS;
    this.now = options.now ?? Date.now;
    const url = new URL(options.baseURL);
    if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
      // Allowed (allowInsecure), but never silently: the provider is built once per process.
      this.logger?.warn({ provider: this.name, host: url.host }, LOCALAI_INSECURE_WARNING);
    }
  }

  manualDeployStep(_input: DeployInput): string | null {
    return null;
  }

  private headers(): Record<string, string> {
    return this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {};
  }

  private call(method: "GET" | "POST", path: string, action: string, body?: unknown): Promise<JsonResponse> {
    return requestJson({
      fetch: this.doFetch,
      method,
      url: `${this.root}${path}`,
      headers: this.headers(),
      ...(body !== undefined ? { body } : {}),
      action,
      timeoutMs: this.timeoutMs,
    });
  }

  private async ok(method: "GET" | "POST", path: string, action: string, body?: unknown): Promise<unknown> {
    const res = await this.call(method, path, action, body);
    if (!res.ok) throw httpError(action, res);
    return res.body;
  }

  /** Multipart, streamed from disk with a known length; the answer's `path` is the file's id from here on. */
  async uploadTrainingFile(path: string): Promise<UploadedFile> {
    const action = "upload the training file";
    const { size } = await stat(path);
    const filename = basename(path);
    const boundary = `----classtune${randomBytes(12).toString("hex")}`;
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename.replace(/["\r\n]/g, "_")}"\r\nContent-Type: application/jsonl\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    async function* parts(): AsyncGenerator<Buffer> {
      yield head;
      for await (const chunk of createReadStream(path)) yield chunk as Buffer;
      yield tail;
    }
    let res: Response;
    let text: string;
    try {
      res = await this.doFetch(`${this.root}/api/fine-tuning/datasets`, {
        method: "POST",
        headers: {
          ...this.headers(),
          accept: "application/json",
          "content-type": `multipart/form-data; boundary=${boundary}`,
          "content-length": String(head.length + size + tail.length),
        },
        body: Readable.toWeb(Readable.from(parts())) as ReadableStream<Uint8Array>,
        duplex: "half",
        signal: AbortSignal.timeout(this.timeoutMs ?? 600_000),
      } as RequestInit & { duplex: "half" });
      text = await res.text();
    } catch (err) {
      throw new ProviderHttpError(action, null, err instanceof Error ? err.message : String(err));
    }
    let body: unknown;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    const answer: JsonResponse = { status: res.status, ok: res.ok, body, text, requestId: null };
    if (!res.ok) throw httpError(action, answer);
    const stored = str((body as { path?: unknown } | undefined)?.path);
    if (stored === "") throw httpError(action, { ...answer, body: { error: "the answer held no path" } });
    return { id: stored, bytes: size, filename };
  }

  /** LocalAI has no endpoint to delete an uploaded dataset: it stays in its data directory. */
  async deleteFile(id: string): Promise<void> {
    this.logger?.info({ file: id }, "localai: datasets cannot be deleted over the API; left on the server");
  }

  private createBody(input: CreateJobInput): Record<string, unknown> {
    const { lora } = input;
    return {
      model: input.model,
      backend: "trl",
      training_method: "sft",
      training_type: "lora",
      dataset_source: input.trainingFileId,
      ...(input.epochs !== undefined ? { num_epochs: input.epochs } : {}),
      ...(input.seed !== undefined ? { seed: input.seed } : {}),
      ...(lora?.r !== undefined ? { adapter_rank: lora.r } : {}),
      ...(lora?.alpha !== undefined ? { adapter_alpha: lora.alpha } : {}),
      ...(lora?.dropout !== undefined ? { adapter_dropout: lora.dropout } : {}),
      ...(input.contextLength !== undefined
        ? { extra_options: { max_seq_length: String(input.contextLength) } }
        : {}),
    };
  }

  /**
   * Never retried: a second create would start a second training run on the school's GPU. After an ambiguous
   * failure the job is looked for by its dataset path (unique per upload) and creation time.
   */
  async createJob(input: CreateJobInput): Promise<ProviderJob> {
    const tag = input.metadata.classtune_job_id;
    const startedAt = this.now();
    try {
      const body = (await this.ok(
        "POST",
        "/api/fine-tuning/jobs",
        "start the fine-tuning job",
        this.createBody(input),
      )) as { id?: unknown; status?: unknown; message?: unknown } | undefined;
      const id = str(body?.id);
      if (id === "")
        throw new ProviderHttpError("start the fine-tuning job", 502, "the answer held no job id");
      return this.toJob({
        id,
        model: input.model,
        status: str(body?.status) || "queued",
        created_at: new Date(startedAt).toISOString(),
        config: { dataset_source: input.trainingFileId, num_epochs: input.epochs },
      });
    } catch (err) {
      if (!isAmbiguousFailure(err)) throw err;
      if (this.logger)
        logProviderError(
          this.logger,
          err,
          { tag },
          "localai: job create failed ambiguously: looking for it by its dataset",
        );
      let found: ProviderJob | undefined;
      try {
        found = await this.findByUpload({ trainingFileId: input.trainingFileId, createdAfter: startedAt });
      } catch (lookupError) {
        throw new AmbiguousCreateError(tag, err, lookupError);
      }
      if (found) {
        this.logger?.info({ tag, remoteId: found.id }, "localai: the job was created despite the error");
        return found;
      }
      throw new AmbiguousCreateError(tag, err, undefined);
    }
  }

  async retrieveJob(id: string): Promise<ProviderJob> {
    return this.toJob(
      (await this.ok("GET", `/api/fine-tuning/jobs/${encodeURIComponent(id)}`, "check the job")) as WireJob,
    );
  }

  private async allJobs(): Promise<ProviderJob[]> {
    const body = await this.ok("GET", "/api/fine-tuning/jobs", "list the jobs");
    const list = Array.isArray(body) ? (body as WireJob[]) : [];
    return list.map((j) => this.toJob(j)).sort((a, b) => b.createdAt - a.createdAt);
  }

  /** Newest first; LocalAI does not page, so the whole list is one page. */
  async listJobs(
    opts: { after?: string | undefined; limit?: number | undefined } = {},
  ): Promise<Page<ProviderJob>> {
    let jobs = await this.allJobs();
    if (opts.after !== undefined) {
      const at = jobs.findIndex((j) => j.id === opts.after);
      jobs = at === -1 ? [] : jobs.slice(at + 1);
    }
    const limit = opts.limit ?? 100;
    return { data: jobs.slice(0, limit), hasMore: jobs.length > limit };
  }

  /**
   * LocalAI keeps no metadata, so the tag alone finds nothing: the hint (the upload's path and when the
   * create was sent) finds the one job trained on that upload.
   */
  async findJobByMetadata(
    _key: string,
    _value: string,
    hint?: FindJobHint,
  ): Promise<ProviderJob | undefined> {
    return hint ? this.findByUpload(hint) : undefined;
  }

  private async findByUpload(hint: FindJobHint): Promise<ProviderJob | undefined> {
    const jobs = await this.allJobs();
    return jobs.find(
      (j) =>
        j.trainingFile === hint.trainingFileId && j.createdAt >= hint.createdAfter - CREATE_CLOCK_SKEW_MS,
    );
  }

  async cancelJob(id: string): Promise<ProviderJob> {
    await this.ok("POST", `/api/fine-tuning/jobs/${encodeURIComponent(id)}/stop`, "cancel the job");
    return this.retrieveJob(id);
  }

  /**
   * The job's progress stream, read for at most progressReadMs (and MAX_PROGRESS_EVENTS), never longer: the
   * stream stays open while the job trains, and the poller's tick must not wait on it. One event per step
   * (the last said about it), newest first, with OpenAI's metric names so the same loss chart is drawn.
   */
  async listEvents(
    jobId: string,
    opts: { after?: string | undefined; limit?: number | undefined } = {},
  ): Promise<Page<EventListItem>> {
    const raw = await this.readProgress(jobId);
    const byStep = new Map<number, Record<string, unknown>>();
    const readAt = Math.floor(this.now() / 1000);
    for (const p of raw) {
      const step = p.current_step;
      if (typeof step !== "number" || step <= 0) continue;
      byStep.set(step, p);
    }
    const events: EventListItem[] = [...byStep.entries()]
      .sort((a, b) => b[0] - a[0])
      .map(([step, p]) => {
        const total = typeof p.total_steps === "number" && p.total_steps > 0 ? p.total_steps : null;
        const evalLoss = typeof p.eval_loss === "number" && p.eval_loss > 0 ? p.eval_loss : null;
        return readProviderEvent({
          id: `${jobId}:step:${step}`,
          created_at: readAt,
          level: "info",
          message: `Step ${step}${total ? `/${total}` : ""}: training loss=${String(p.loss)}`,
          type: "metrics",
          data: {
            step,
            total_steps: total,
            train_loss: p.loss,
            valid_loss: evalLoss,
            epoch: p.current_epoch,
            eta_seconds: p.eta_seconds,
          },
        });
      });
    let page = events;
    if (opts.after !== undefined) {
      const at = page.findIndex((e) => e.id === opts.after);
      page = at === -1 ? [] : page.slice(at + 1);
    }
    const limit = opts.limit ?? page.length;
    return { data: page.slice(0, limit), hasMore: page.length > limit };
  }

  private async readProgress(jobId: string): Promise<Record<string, unknown>[]> {
    const action = "read the job's progress";
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.progressReadMs);
    const out: Record<string, unknown>[] = [];
    try {
      let res: Response;
      try {
        res = await this.doFetch(`${this.root}/api/fine-tuning/jobs/${encodeURIComponent(jobId)}/progress`, {
          headers: { ...this.headers(), accept: "text/event-stream" },
          signal: abort.signal,
        });
      } catch (err) {
        if (abort.signal.aborted) return out; // no answer within the window: nothing new this tick
        throw new ProviderHttpError(action, null, err instanceof Error ? err.message : String(err));
      }
      if (!res.ok) {
        const text = await res.text().catch(() => "");
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        throw httpError(action, { status: res.status, ok: false, body, text, requestId: null });
      }
      if (!res.body) return out;
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffered = "";
      let bytes = 0;
      try {
        while (out.length < MAX_PROGRESS_EVENTS && bytes < MAX_PROGRESS_BYTES) {
          const { done, value } = await reader.read();
          if (done) break;
          bytes += value.byteLength;
          buffered += decoder.decode(value, { stream: true });
          let nl = buffered.indexOf("\n");
          while (nl !== -1) {
            const line = buffered.slice(0, nl).replace(/\r$/, "");
            buffered = buffered.slice(nl + 1);
            nl = buffered.indexOf("\n");
            if (!line.startsWith("data:")) continue;
            try {
              const parsed = JSON.parse(line.slice(5).trim()) as unknown;
              if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
                out.push(parsed as Record<string, unknown>);
              }
            } catch {
              // A line that is no JSON (a keep-alive, a cut-off event) carries no progress.
            }
          }
        }
      } catch (err) {
        if (!abort.signal.aborted)
          throw new ProviderHttpError(action, null, err instanceof Error ? err.message : String(err));
      } finally {
        abort.abort();
        reader.releaseLock();
      }
      return out;
    } finally {
      clearTimeout(timer);
    }
  }

  /** LocalAI's checkpoints are server paths; classtune deploys through export instead, so none are read. */
  async listCheckpoints(_jobId: string): Promise<ProviderCheckpoint[]> {
    return [];
  }

  async listModels(): Promise<ProviderModel[]> {
    const page = await this.client.models.list();
    return page.data.map((m) => ({
      id: m.id,
      createdAt: (m.created ?? 0) * 1000,
      ownedBy: m.owned_by ?? "localai",
      shutdownDate: null,
    }));
  }

  /**
   * A listed model, or one of this adapter's fine-tune names (answered under its export name, so never listed
   * under this one): a self-hosted model is never retired, so neither has a shutdown date.
   */
  async retrieveModel(id: string): Promise<ProviderModel> {
    const found = (await this.listModels()).find((m) => m.id === id);
    if (found) return found;
    if (FINE_TUNED_NAME.test(id)) return { id, createdAt: 0, ownedBy: "localai", shutdownDate: null };
    throw new ProviderHttpError("find the model", 404, `model ${id} not found`);
  }

  async deleteModel(id: string): Promise<{ id: string; deleted: boolean }> {
    throw new UserError(
      `LocalAI has no API to delete a model: remove ${id} from the server's models directory.`,
      "not_supported",
    );
  }

  chat(input: ChatInput): Promise<ChatResult> {
    return chatCompletion(this.client, input);
  }

  /**
   * Exports the job's adapter under `name`, which registers it for /v1/chat/completions. Idempotent by name:
   * an export already made or under way (the job's export_model_name) is returned as it stands.
   */
  async deploy(input: DeployInput): Promise<Deployment> {
    requireDeploymentName(input.name);
    const existing = await this.getDeployment(input.name);
    if (existing && existing.status !== "failed") return existing;
    const action = "export the model";
    const res = await this.call(
      "POST",
      `/api/fine-tuning/jobs/${encodeURIComponent(input.jobId)}/export`,
      action,
      {
        name: input.name,
        export_format: this.exportFormat,
        ...(this.exportFormat === "gguf" ? { quantization_method: LOCALAI_GGUF_QUANTIZATION } : {}),
        model: input.baseModel,
      },
    );
    if (!res.ok) {
      const err = httpError(action, res);
      if (this.logger)
        logProviderError(
          this.logger,
          err,
          { job: input.jobId, deployment: input.name },
          "localai: export failed",
        );
      throw err;
    }
    this.logger?.info(
      { job: input.jobId, deployment: input.name, format: this.exportFormat },
      "localai: export requested",
    );
    const named = str((res.body as { model_name?: unknown } | undefined)?.model_name) || input.name;
    return { name: input.name, status: "deploying", servedAs: named, message: null };
  }

  /**
   * Ready once /v1/models lists the name; before that, the job whose export carries the name says whether it
   * is still exporting or failed; null when no job was exported under it.
   */
  async getDeployment(name: string): Promise<Deployment | null> {
    const models = await this.client.models.list();
    if (models.data.some((m) => m.id === name))
      return { name, status: "ready", servedAs: name, message: null };
    const body = await this.ok("GET", "/api/fine-tuning/jobs", "check the export");
    const job = (Array.isArray(body) ? (body as WireJob[]) : []).find(
      (j) => str(j.export_model_name) === name,
    );
    if (!job) return null;
    if (str(job.export_status) === "failed") {
      return {
        name,
        status: "failed",
        servedAs: null,
        message: `LocalAI could not export the model: ${str(job.export_message) || "no reason given"}`,
      };
    }
    return { name, status: "deploying", servedAs: name, message: null };
  }

  private toJob(j: WireJob): ProviderJob {
    const rawStatus = str(j.status);
    const status = localaiStatus(rawStatus);
    const id = str(j.id);
    const model = str(j.model);
    const created = Date.parse(str(j.created_at));
    const epochs = j.config?.num_epochs;
    return {
      id,
      status,
      rawStatus,
      model,
      // What the job produced, named like OpenAI's; it answers under its export name once deployed.
      fineTunedModel: status === "succeeded" ? fineTunedName(model, id) : null,
      trainedTokens: null,
      createdAt: Number.isFinite(created) ? created : 0,
      finishedAt: null,
      estimatedFinish: null,
      error:
        status === "failed"
          ? {
              code: null,
              message: str(j.message) || "LocalAI reported the job as failed without a message.",
              param: null,
            }
          : null,
      metadata: {},
      nEpochs: typeof epochs === "number" && epochs > 0 ? epochs : null,
      trainingFile: str(j.config?.dataset_source),
      trainedSteps: null,
      totalSteps: null,
    };
  }
}
