// What classtune needs from a fine-tuning provider, in classtune's own shapes. openaiCompatible.ts serves
// OpenAI, OpenAI-compatible hosts and the sandbox; nebius.ts and azure.ts add their serving (deploy) step to
// it; a provider with its own job API (fireworks.ts) is one more file implementing FineTuningProvider.

import type { ChatMessage } from "../domain/assistant.ts";
import type { JobStatus } from "../domain/jobs.ts";

export type { JobStatus };

export interface ProviderJobError {
  code: string | null;
  message: string;
  param: string | null;
}

export interface ProviderJob {
  id: string;
  status: JobStatus;
  /** Exactly what the provider said (kept for unknown statuses). */
  rawStatus: string;
  model: string;
  fineTunedModel: string | null;
  trainedTokens: number | null;
  /** Epoch milliseconds. */
  createdAt: number;
  finishedAt: number | null;
  estimatedFinish: number | null;
  /** Set only when status is "failed" (OpenAI sends `"error": {}` on healthy jobs). */
  error: ProviderJobError | null;
  metadata: Record<string, string>;
  nEpochs: number | "auto" | null;
  trainingFile: string;
  /**
   * Steps done so far and planned in all (Nebius reports them; OpenAI does not: null). Optional so that job
   * objects built elsewhere (the poller's goneJob) need not list them; the adapters always set them.
   */
  trainedSteps?: number | null;
  totalSteps?: number | null;
}

/** A provider event as classtune reads it: checked at the provider boundary (see MalformedEvent). */
export interface ProviderEvent {
  id: string;
  /** Epoch milliseconds, within what an ISO date can show. */
  createdAt: number;
  level: string;
  message: string;
  type: string | null;
  /** An object (OpenAI's metrics events: step, total_steps, train_loss, … as numbers), or null. */
  data: Record<string, unknown> | null;
}

/**
 * An item of a provider's event list that classtune cannot read: a `created_at` that is no epoch time, a
 * `data` that is no object, a loss that is no number, a missing field. Skipped, logged, never fatal.
 */
export interface MalformedEvent {
  malformed: true;
  /** Its id when it had one: still where the next page starts and where the next read stops. */
  id: string | null;
  /** What was wrong, in words. */
  problem: string;
  /** The item as sent, cut short: for the log. */
  excerpt: string;
}

/** One item of a page of events: a well-formed event or the news that one could not be read. */
export type EventListItem = ProviderEvent | MalformedEvent;

export const isMalformedEvent = (e: EventListItem): e is MalformedEvent => "malformed" in e;

export interface ProviderCheckpoint {
  id: string;
  stepNumber: number;
  model: string;
  createdAt: number;
  metrics: Record<string, number>;
}

export interface ProviderModel {
  id: string;
  createdAt: number;
  ownedBy: string;
  /** ISO date when the provider announced one (retirement), else null. */
  shutdownDate: string | null;
}

export interface Page<T> {
  data: T[];
  hasMore: boolean;
}

export interface CreateJobInput {
  model: string;
  trainingFileId: string;
  suffix?: string | undefined;
  seed?: number | undefined;
  /** Unset: the provider's own "auto". */
  epochs?: number | undefined;
  /** LoRA adapter settings, for providers that train LoRA on open models (Nebius); others ignore them. */
  lora?: { r?: number | undefined; alpha?: number | undefined; dropout?: number | undefined } | undefined;
  /** Training context length in tokens (open-model providers); unset: the provider's default. */
  contextLength?: number | undefined;
  /** Pack several short examples into one training sequence (open-model providers). */
  packing?: boolean | undefined;
  /** classtune's own id for the job: how an ambiguous create is found again. */
  metadata: { classtune_job_id: string };
  /** Unset: supervised. DPO trains on a preference file; beta unset: the provider's default. */
  method?: { type: "dpo"; beta?: number | undefined } | undefined;
}

/** What identifies a create where the provider keeps no metadata: its upload and when it was sent. */
export interface FindJobHint {
  /** The uploaded training file's id (unique per upload, one upload per create). */
  trainingFileId: string;
  /** Epoch milliseconds: when the create was sent (or its intent written, just before). */
  createdAfter: number;
}

export type { ChatMessage };

export interface ChatInput {
  model: string;
  messages: ChatMessage[];
  temperature?: number | undefined;
  maxTokens?: number | undefined;
}

export interface ChatResult {
  text: string;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
  model: string;
}

export interface UploadedFile {
  id: string;
  bytes: number;
  filename: string;
}

/**
 * A fine-tuned model made callable. `servedAs` is the id chat completions take (the deployment's name on
 * Azure, the deployed model's full name on Nebius, the fine-tuned model itself where serving is immediate);
 * `message` holds the provider's own words when it failed.
 */
export interface Deployment {
  name: string;
  status: "deploying" | "ready" | "failed";
  servedAs: string | null;
  message: string | null;
}

export interface DeployInput {
  /** The provider's job id (the remote id). */
  jobId: string;
  fineTunedModel: string | null;
  baseModel: string;
  /** Deterministic per job (see deploymentNameFor in deployments.ts), so a retried deploy finds the first. */
  name: string;
}

/** How a finished job's model becomes callable: at once, or after a deploy step. */
export type Serving = "immediate" | "deploy";

/** A deployment billed for as long as it runs: whether one starts after every job, and on which hardware. */
export interface BilledHosting {
  /** The provider's entry deploys after every job (`"autoDeploy": true`) instead of waiting for a teacher. */
  autoDeploy: boolean;
  /** The provider's hardware id a deployment runs on: what its price per hour is looked up by (the catalog's hosting table). */
  hardware: string;
}

export interface FineTuningProvider {
  /** Shown to people ("sandbox", "openai", …) and stored on every job row. */
  readonly name: string;
  /** Which implementation ("openai-compatible", "together", …). */
  readonly kind: string;
  /** "deploy": a succeeded job's model is callable only after deploy() reports it ready. */
  readonly serving: Serving;
  /**
   * Set when a deployment here is billed for as long as it runs, even idle (a dedicated endpoint): what it
   * costs, in words. Such a deployment is started only when a teacher asks (`/finetune deploy`), or after every
   * job when the provider's entry says `"autoDeploy": true`. Null: serving costs nothing while idle.
   */
  readonly billedWhileRunning: BilledHosting | null;
  /**
   * What a person must do instead of deploy() when this provider cannot deploy by itself (Azure without
   * Resource Manager credentials): the exact command and how to register the deployment afterwards. Null when
   * deploy() works (or nothing needs deploying). Asked before deploy(), never learnt from its error.
   */
  manualDeployStep(input: DeployInput): string | null;
  /** Said whenever one of this provider's deployments is announced (Azure deletes them on its own); else null. */
  readonly servingCaveat: string | null;
  /**
   * True when createJob sends `method` (DPO) as this provider's API takes it; absent or false: a DPO job is
   * refused before anything is uploaded (JobService.quote), whatever the catalog says.
   */
  readonly trainsPreference?: boolean;
  /** Streams the file from disk; never reads it whole into memory. */
  uploadTrainingFile(path: string): Promise<UploadedFile>;
  /** Deletes an uploaded file (a training file no job will use: the create was refused). */
  deleteFile(id: string): Promise<void>;
  /** Never creates two jobs for one call: see openaiCompatible.ts. */
  createJob(input: CreateJobInput): Promise<ProviderJob>;
  retrieveJob(id: string): Promise<ProviderJob>;
  /** Newest first. */
  listJobs(opts?: { after?: string | undefined; limit?: number | undefined }): Promise<Page<ProviderJob>>;
  /**
   * The job created with classtune's tag. Providers without metadata (Together, LocalAI) find it by the hint instead:
   * the job trained on that upload, created no earlier than the create was sent.
   */
  findJobByMetadata(key: string, value: string, hint?: FindJobHint): Promise<ProviderJob | undefined>;
  cancelJob(id: string): Promise<ProviderJob>;
  /**
   * Newest first; `after` is an event id (OpenAI's cursor: older than that event). Every item is checked
   * here: one that cannot be read comes as a MalformedEvent in its place, never as an error.
   */
  listEvents(
    jobId: string,
    opts?: { after?: string | undefined; limit?: number | undefined },
  ): Promise<Page<EventListItem>>;
  listCheckpoints(jobId: string): Promise<ProviderCheckpoint[]>;
  listModels(): Promise<ProviderModel[]>;
  retrieveModel(id: string): Promise<ProviderModel>;
  deleteModel(id: string): Promise<{ id: string; deleted: boolean }>;
  chat(input: ChatInput): Promise<ChatResult>;
  /**
   * Makes a succeeded job's model callable. Idempotent by `name`: called twice (or again after a lost
   * answer) it never creates a second deployment. Immediate providers answer ready at once.
   */
  deploy(input: DeployInput): Promise<Deployment>;
  /** The deployment as it stands now; null when there is none (never made, or vanished). */
  getDeployment(name: string): Promise<Deployment | null>;
  /** Stops a deployment's billing (deletes it); false when there was none. Only providers that bill hosting. */
  undeploy?(name: string): Promise<boolean>;
}
