// The JSON shapes the sandbox answers with, per OpenAI's spec: FineTuningJob, FineTuningJobEvent,
// FineTuningJobCheckpoint, OpenAIFile, Model. Open-model jobs add what Nebius's job objects carry
// (docs.tokenfactory.nebius.com, "Get fine-tuning job info"): the LoRA hyperparameters, trained_steps and
// total_steps, and checkpoints with valid_loss next to train_loss.
import { createHash } from "node:crypto";
import { type BaseModel, FINE_TUNED_OWNER, ORGANIZATION_ID, resolveBaseModel } from "./catalog.ts";
import { LORA_DEFAULTS, type LoraHyperparameters } from "./requests.ts";
import type { EventRow, FileRow, JobRow } from "./store.ts";
import { estimatedFinishMs, fineTunedModelName, stepMetrics } from "./trainer.ts";

const seconds = (ms: number): number => Math.floor(ms / 1000);
const secondsOrNull = (ms: number | null): number | null => (ms === null ? null : seconds(ms));

/** Learning-rate multiplier and DPO beta the sandbox reports when left on "auto". */
export const AUTO_LEARNING_RATE_MULTIPLIER = 1.8;
export const AUTO_DPO_BETA = 0.1;

const isOpenModelJob = (job: JobRow): boolean => resolveBaseModel(job.baseModel)?.openWeight === true;

/** The LoRA settings an open-model job runs with: as requested, defaults for the rest. */
function loraOf(job: JobRow): LoraHyperparameters {
  const r = job.requestedHyperparameters;
  const pick = <K extends keyof LoraHyperparameters>(key: K): LoraHyperparameters[K] =>
    (typeof r[key] === typeof LORA_DEFAULTS[key] ? r[key] : LORA_DEFAULTS[key]) as LoraHyperparameters[K];
  return {
    lora: pick("lora"),
    lora_r: pick("lora_r"),
    lora_alpha: pick("lora_alpha"),
    lora_dropout: pick("lora_dropout"),
    context_length: pick("context_length"),
    packing: pick("packing"),
  };
}

function hyperparameters(job: JobRow): Record<string, unknown> {
  const requested = job.requestedHyperparameters;
  // Until the file is validated (or when it never is), OpenAI shows the values as requested ("auto").
  const resolved = !(
    job.status === "validating_files" ||
    (job.plannedError && job.plannedErrorAfterSteps === null)
  );
  if (!resolved) return { ...requested };
  const hp: Record<string, unknown> = {
    batch_size: job.batchSize,
    learning_rate_multiplier: job.learningRateMultiplier,
    n_epochs: job.nEpochs,
  };
  if (job.method === "dpo") hp.beta = typeof requested.beta === "number" ? requested.beta : AUTO_DPO_BETA;
  return isOpenModelJob(job) ? { ...hp, ...loraOf(job) } : hp;
}

/** Steps trained by `now` and planned (null until the file is validated), as Nebius reports them. */
function stepCounts(job: JobRow, now: number): { trained_steps: number; total_steps: number | null } {
  const validated =
    job.status !== "validating_files" && !(job.plannedError && job.plannedErrorAfterSteps === null);
  if (job.startedAtMs === null) return { trained_steps: 0, total_steps: validated ? job.totalSteps : null };
  const end = job.finishedAtMs ?? now;
  const trained = Math.max(0, Math.min(job.totalSteps, Math.floor((end - job.startedAtMs) / job.stepMs)));
  return { trained_steps: trained, total_steps: job.totalSteps };
}

export function jobView(job: JobRow, now: number): Record<string, unknown> {
  const hp = hyperparameters(job);
  const estimated = job.status === "running" ? estimatedFinishMs(job) : null;
  return {
    object: "fine_tuning.job",
    id: job.id,
    model: job.model,
    created_at: seconds(job.createdAtMs),
    // OpenAI answers `"error": {}` on jobs that have not failed; keep that quirk so clients handle it.
    error: job.error ?? {},
    fine_tuned_model: job.fineTunedModel,
    finished_at: secondsOrNull(job.finishedAtMs),
    hyperparameters: hp,
    organization_id: ORGANIZATION_ID,
    result_files: [],
    status: job.status,
    trained_tokens: job.trainedTokens,
    training_file: job.trainingFile,
    validation_file: job.validationFile,
    integrations: [],
    seed: job.seed,
    estimated_finish: estimated === null ? null : seconds(estimated),
    method: { type: job.method, [job.method]: { hyperparameters: hp } },
    metadata: job.metadata,
    user_provided_suffix: job.suffix,
    ...(isOpenModelJob(job) ? stepCounts(job, now) : {}),
  };
}

export function eventView(e: EventRow): Record<string, unknown> {
  return {
    object: "fine_tuning.job.event",
    id: e.id,
    created_at: e.createdAt,
    level: e.level,
    message: e.message,
    data: e.data,
    type: e.type,
  };
}

export interface CheckpointView {
  object: "fine_tuning.job.checkpoint";
  id: string;
  created_at: number;
  fine_tuned_model_checkpoint: string;
  fine_tuning_job_id: string;
  metrics: Record<string, number>;
  step_number: number;
}

/** One checkpoint per epoch of a job that succeeded, newest first (ids stable: derived from the job). */
export function checkpointsOf(job: JobRow): CheckpointView[] {
  if (job.status !== "succeeded" || job.startedAtMs === null) return [];
  const started = job.startedAtMs;
  const model = fineTunedModelName(job);
  const metrics = stepMetrics(job.seed, job.totalSteps, job.method);
  const open = isOpenModelJob(job);
  const out: CheckpointView[] = [];
  for (let epoch = 1; epoch <= job.nEpochs; epoch++) {
    const step = epoch === job.nEpochs ? job.totalSteps : Math.round((job.totalSteps * epoch) / job.nEpochs);
    const m = metrics(step);
    out.push({
      object: "fine_tuning.job.checkpoint",
      id: `ftckpt_${createHash("sha256").update(`${job.id}:${epoch}`).digest("base64url").replace(/[-_]/g, "").slice(0, 24)}`,
      created_at: seconds(started + step * job.stepMs),
      fine_tuned_model_checkpoint: `${model}:ckpt-step-${step}`,
      fine_tuning_job_id: job.id,
      metrics: {
        step,
        train_loss: m.train_loss,
        train_mean_token_accuracy: m.train_mean_token_accuracy,
        // Held-out loss sits a little above the training loss, as it does on a healthy run.
        ...(open ? { valid_loss: Math.round((m.train_loss * 1.08 + 0.03) * 10_000) / 10_000 } : {}),
      },
      step_number: step,
    });
  }
  return out.reverse();
}

export function fileView(f: FileRow): Record<string, unknown> {
  return {
    object: "file",
    id: f.id,
    purpose: f.purpose,
    filename: f.filename,
    bytes: f.bytes,
    created_at: f.createdAt,
    status: "processed",
    status_details: null,
  };
}

export function baseModelView(m: BaseModel): Record<string, unknown> {
  return { id: m.id, object: "model", created: m.created, owned_by: "system" };
}

export function fineTunedModelView(job: JobRow): Record<string, unknown> {
  return {
    id: job.fineTunedModel,
    object: "model",
    created: seconds(job.finishedAtMs ?? job.createdAtMs),
    owned_by: FINE_TUNED_OWNER,
  };
}
