// FineTuningProvider over the openai SDK: OpenAI itself, any host speaking its fine-tuning API
// (base URL + key) and the classtune sandbox. The SDK does the retrying (configured maxRetries/timeout on
// the client); the one exception is job creation, see createJob. Serving is immediate: a succeeded job's
// model answers at once. Hosts with a deploy step (nebius.ts, azure.ts) extend this class.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import type OpenAI from "openai";
import { toStreamingFile } from "openai";
import type { FineTuningJob, JobCreateParams } from "openai/resources/fine-tuning/jobs/jobs";
import { normaliseStatus } from "../domain/jobs.ts";
import type { Logger } from "../logger.ts";
import { silentLogger } from "../logger.ts";
import { AmbiguousCreateError, isAmbiguousFailure, logProviderError } from "./errors.ts";
import { readProviderEvent } from "./events.ts";
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

export interface OpenAICompatibleOptions {
  client: OpenAI;
  /** Shown to people and stored on job rows: "sandbox", "openai", "azure", … */
  name: string;
  logger?: Logger;
}

/** Jobs scanned when a host ignores the `metadata` filter (the newest page). */
const SCAN_PAGE = 100;

export class OpenAICompatibleProvider implements FineTuningProvider {
  readonly name: string;
  readonly kind: string = "openai-compatible";
  readonly serving: Serving = "immediate";
  readonly billedWhileRunning: BilledHosting | null = null;
  protected readonly client: OpenAI;
  protected readonly logger: Logger;

  constructor({ client, name, logger = silentLogger }: OpenAICompatibleOptions) {
    this.client = client;
    this.name = name;
    this.logger = logger;
  }

  async uploadTrainingFile(path: string): Promise<UploadedFile> {
    const { size } = await stat(path);
    const file = toStreamingFile(createReadStream(path), basename(path), { type: "application/jsonl" });
    const uploaded = await this.client.files.create({ file, purpose: "fine-tune" });
    return { id: uploaded.id, bytes: uploaded.bytes ?? size, filename: uploaded.filename };
  }

  async deleteFile(id: string): Promise<void> {
    await this.client.files.delete(id);
  }

  /** OpenAI's `method: {type: "dpo", dpo: {hyperparameters: {beta, n_epochs}}}` (hosts without it override). */
  readonly trainsPreference: boolean = true;

  /**
   * The create request's body. OpenAI takes epochs under `method.supervised`; it has no LoRA settings, so
   * `lora`, `contextLength` and `packing` are not sent. Hosts with other fields override this.
   */
  protected createBody(input: CreateJobInput): Record<string, unknown> {
    return {
      model: input.model,
      training_file: input.trainingFileId,
      ...(input.suffix !== undefined ? { suffix: input.suffix } : {}),
      ...(input.seed !== undefined ? { seed: input.seed } : {}),
      ...methodBody(input),
      metadata: { ...input.metadata },
    };
  }

  /**
   * Creating a job is not idempotent and may cost money, so the SDK must not retry it (maxRetries: 0).
   * After an ambiguous failure (timeout, connection loss, 5xx) the job may exist anyway: look it up by
   * classtune's tag before reporting, so one click never starts two paid jobs.
   */
  async createJob(input: CreateJobInput): Promise<ProviderJob> {
    const tag = input.metadata.classtune_job_id;
    try {
      // The body may carry host-specific fields the SDK's type does not list; the SDK sends it as given.
      const job = await this.client.fineTuning.jobs.create(
        this.createBody(input) as unknown as JobCreateParams,
        {
          maxRetries: 0,
          idempotencyKey: tag,
        },
      );
      return toJob(job);
    } catch (err) {
      if (!isAmbiguousFailure(err)) throw err;
      logProviderError(this.logger, err, { tag }, "job create failed ambiguously: looking it up by its tag");
      let found: ProviderJob | undefined;
      try {
        found = await this.findJobByMetadata("classtune_job_id", tag);
      } catch (lookupError) {
        throw new AmbiguousCreateError(tag, err, lookupError);
      }
      if (found) {
        this.logger.info({ tag, remoteId: found.id }, "the job was created despite the error");
        return found;
      }
      // Not there yet is not "never": a create that timed out may still land. The caller keeps its intent.
      throw new AmbiguousCreateError(tag, err, undefined);
    }
  }

  async retrieveJob(id: string): Promise<ProviderJob> {
    return toJob(await this.client.fineTuning.jobs.retrieve(id));
  }

  async listJobs(
    opts: { after?: string | undefined; limit?: number | undefined } = {},
  ): Promise<Page<ProviderJob>> {
    const page = await this.client.fineTuning.jobs.list({
      ...(opts.after !== undefined ? { after: opts.after } : {}),
      limit: opts.limit ?? 100,
    });
    return { data: page.data.map(toJob), hasMore: page.has_more };
  }

  async findJobByMetadata(key: string, value: string): Promise<ProviderJob | undefined> {
    const matches = (j: ProviderJob) => j.metadata[key] === value;
    // Checked on our side too: a host that ignores the filter returns unrelated jobs.
    const filtered = await this.client.fineTuning.jobs.list({ metadata: { [key]: value }, limit: 10 });
    const hit = filtered.data.map(toJob).find(matches);
    if (hit) return hit;
    const newest = await this.client.fineTuning.jobs.list({ limit: SCAN_PAGE });
    return newest.data.map(toJob).find(matches);
  }

  async cancelJob(id: string): Promise<ProviderJob> {
    return toJob(await this.client.fineTuning.jobs.cancel(id));
  }

  async listEvents(
    jobId: string,
    opts: { after?: string | undefined; limit?: number | undefined } = {},
  ): Promise<Page<EventListItem>> {
    const page = await this.client.fineTuning.jobs.listEvents(jobId, {
      ...(opts.after !== undefined ? { after: opts.after } : {}),
      limit: opts.limit ?? 100,
    });
    // The SDK's types are a promise about the wire, not a check: each item is read defensively.
    const items: unknown[] = Array.isArray(page.data) ? page.data : [];
    return { data: items.map(readProviderEvent), hasMore: page.has_more === true };
  }

  async listCheckpoints(jobId: string): Promise<ProviderCheckpoint[]> {
    const page = await this.client.fineTuning.jobs.checkpoints.list(jobId, { limit: 100 });
    return page.data.map((c) => ({
      id: c.id,
      stepNumber: c.step_number,
      model: c.fine_tuned_model_checkpoint,
      createdAt: c.created_at * 1000,
      metrics: Object.fromEntries(
        Object.entries(c.metrics ?? {}).filter((e): e is [string, number] => typeof e[1] === "number"),
      ),
    }));
  }

  async listModels(): Promise<ProviderModel[]> {
    const page = await this.client.models.list();
    return page.data.map(toModel);
  }

  async retrieveModel(id: string): Promise<ProviderModel> {
    return toModel(await this.client.models.retrieve(id));
  }

  async deleteModel(id: string): Promise<{ id: string; deleted: boolean }> {
    const res = await this.client.models.delete(id);
    return { id: res.id, deleted: res.deleted };
  }

  chat(input: ChatInput): Promise<ChatResult> {
    return chatCompletion(this.client, input);
  }

  /** deploy() always works here (nothing to deploy); hosts that may need a person override this. */
  manualDeployStep(_input: DeployInput): string | null {
    return null;
  }

  readonly servingCaveat: string | null = null;

  /** Nothing to deploy: the fine-tuned model answers as soon as its job succeeded. */
  async deploy(input: DeployInput): Promise<Deployment> {
    return { name: input.name, status: "ready", servedAs: input.fineTunedModel, message: null };
  }

  /**
   * Immediate serving keeps no deployments to look up: always ready, and `servedAs` null because the
   * served id is the job's fine-tuned model (what deploy returned). A deleted model shows in retrieveModel.
   */
  async getDeployment(name: string): Promise<Deployment | null> {
    return { name, status: "ready", servedAs: null, message: null };
  }
}

const ms = (seconds: number | null | undefined): number | null =>
  typeof seconds === "number" ? seconds * 1000 : null;

/** A count the host may add to OpenAI's job object (Nebius: trained_steps, total_steps). */
const countOf = (value: unknown): number | null =>
  typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : null;

export function toJob(j: FineTuningJob): ProviderJob {
  const extra = j as FineTuningJob & { trained_steps?: unknown; total_steps?: unknown };
  const rawStatus = String(j.status);
  const status = normaliseStatus(rawStatus);
  const err = j.error as Partial<FineTuningJob.Error> | null | undefined;
  const epochs: number | "auto" | null =
    j.method?.supervised?.hyperparameters?.n_epochs ?? j.hyperparameters?.n_epochs ?? null;
  return {
    id: j.id,
    status,
    rawStatus,
    model: j.model,
    fineTunedModel: j.fine_tuned_model ?? null,
    trainedTokens: j.trained_tokens ?? null,
    createdAt: (j.created_at ?? 0) * 1000,
    finishedAt: ms(j.finished_at),
    estimatedFinish: ms(j.estimated_finish),
    error:
      status === "failed"
        ? {
            code: err?.code ?? null,
            message: err?.message || "The provider reported the job as failed without a message.",
            param: err?.param ?? null,
          }
        : null,
    metadata: Object.fromEntries(
      Object.entries(j.metadata ?? {}).filter((e): e is [string, string] => typeof e[1] === "string"),
    ),
    nEpochs: epochs,
    trainingFile: j.training_file,
    trainedSteps: countOf(extra.trained_steps),
    totalSteps: countOf(extra.total_steps),
  };
}

function toModel(m: OpenAI.Models.Model): ProviderModel {
  const raw = (m as OpenAI.Models.Model & { shutdown_date?: unknown }).shutdown_date;
  let shutdownDate: string | null = null;
  if (typeof raw === "number") shutdownDate = new Date(raw * 1000).toISOString();
  else if (typeof raw === "string" && raw !== "") {
    const t = Date.parse(raw);
    shutdownDate = Number.isNaN(t) ? raw : new Date(t).toISOString();
  }
  return { id: m.id, createdAt: (m.created ?? 0) * 1000, ownedBy: m.owned_by, shutdownDate };
}

/** One chat completion over the openai SDK, in classtune's shape: every OpenAI-compatible chat endpoint. */
export async function chatCompletion(client: OpenAI, input: ChatInput): Promise<ChatResult> {
  const res = await client.chat.completions.create({
    model: input.model,
    messages: input.messages,
    ...(input.temperature !== undefined ? { temperature: input.temperature } : {}),
    ...(input.maxTokens !== undefined ? { max_tokens: input.maxTokens } : {}),
  });
  return {
    text: res.choices[0]?.message.content ?? "",
    usage: {
      promptTokens: res.usage?.prompt_tokens ?? 0,
      completionTokens: res.usage?.completion_tokens ?? 0,
      totalTokens: res.usage?.total_tokens ?? 0,
    },
    model: res.model,
  };
}

/**
 * The `method` of OpenAI's job create: supervised only when epochs are asked for (today's body, unchanged), DPO
 * always (with beta and epochs when asked for).
 */
function methodBody(input: CreateJobInput): { method?: Record<string, unknown> } {
  const epochs = input.epochs !== undefined ? { n_epochs: input.epochs } : {};
  if (input.method?.type === "dpo") {
    const beta = input.method.beta !== undefined ? { beta: input.method.beta } : {};
    return { method: { type: "dpo", dpo: { hyperparameters: { ...beta, ...epochs } } } };
  }
  return input.epochs !== undefined
    ? { method: { type: "supervised", supervised: { hyperparameters: epochs } } }
    : {};
}
