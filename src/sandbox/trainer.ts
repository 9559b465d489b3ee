// Simulated training: a job's whole life is a timeline fixed at creation (validation, queue, one step
// per example per epoch at batch size 1, the new model), computed from its row. `advanceJob` writes
// the events that are due by the clock and moves the status, lazily, whenever a request touches the job.
import { randomBytes } from "node:crypto";
import { FINE_TUNED_OWNER } from "./catalog.ts";
import type { EventRow, JobProgress, JobRow, SandboxStore } from "./store.ts";
import { TERMINAL } from "./store.ts";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** An OpenAI-looking identifier: prefix + random base62. */
export function randomId(prefix: string, length = 24): string {
  const bytes = randomBytes(length);
  let out = prefix;
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}

/** At most this many "Step n/N" events per job: big jobs report every k-th step, like OpenAI does. */
export const MAX_METRIC_EVENTS = 200;

/** `ft:<base>:classtune-sandbox:<suffix>:<short id>`, fixed when the job is created. */
export function fineTunedModelName(job: Pick<JobRow, "id" | "baseModel" | "suffix">): string {
  return `ft:${job.baseModel}:${FINE_TUNED_OWNER}:${job.suffix ?? ""}:${job.id.slice(-8)}`;
}

interface PlannedEvent {
  atMs: number;
  level: EventRow["level"];
  type: EventRow["type"];
  message: string;
  data: Record<string, unknown> | null;
  apply?: (p: JobProgress) => void;
}

/**
 * The metrics a step reports, with seeded noise: a supervised loss falling from ~2.5 towards ~0.2; a DPO loss
 * from ln 2 ≈ 0.693 (the policy equals its reference at step 0, so the preference loss is −log σ(0)) towards ~0.1.
 */
export function stepMetrics(
  seed: number,
  totalSteps: number,
  method: "supervised" | "dpo" = "supervised",
): (step: number) => { train_loss: number; train_mean_token_accuracy: number } {
  const rng = mulberry32(seed);
  const dpo = method === "dpo";
  const start = dpo ? Math.LN2 : 2.1 + rng() * 0.8;
  const floor = dpo ? 0.05 + rng() * 0.15 : 0.12 + rng() * 0.25;
  const cache: Array<{ train_loss: number; train_mean_token_accuracy: number }> = [];
  for (let s = 1; s <= totalSteps; s++) {
    const progress = s / totalSteps;
    const decay = Math.exp(-4 * progress);
    const noise = 1 + (rng() - 0.5) * 0.16;
    const loss = (floor + (start - floor) * decay) * noise;
    const accuracy = Math.min(0.999, 0.5 + 0.47 * (1 - decay) + (rng() - 0.5) * 0.02);
    cache.push({ train_loss: round(loss, 4), train_mean_token_accuracy: round(accuracy, 4) });
  }
  return (step) => cache[step - 1] ?? { train_loss: 0, train_mean_token_accuracy: 0 };
}

/** Every event of the job's planned life, in order, with the status change each one brings. */
export function planTimeline(job: JobRow): PlannedEvent[] {
  const events: PlannedEvent[] = [];
  const info = (atMs: number, message: string, apply?: (p: JobProgress) => void): void => {
    events.push({ atMs, level: "info", type: "message", message, data: {}, ...(apply ? { apply } : {}) });
  };
  const fail = (atMs: number): void => {
    const error = job.plannedError;
    if (!error) return;
    events.push({
      atMs,
      level: "error",
      type: "message",
      message: error.message,
      data: {},
      apply: (p) => {
        p.status = "failed";
        p.finishedAtMs = atMs;
        p.error = error;
      },
    });
  };

  const t0 = job.createdAtMs;
  info(t0, `Created fine-tuning job: ${job.id}`);
  info(
    t0,
    job.validationFile
      ? `Validating training file: ${job.trainingFile} and validation file: ${job.validationFile}`
      : `Validating training file: ${job.trainingFile}`,
  );
  const validated = t0 + job.validateMs;
  if (job.plannedError && job.plannedErrorAfterSteps === null) {
    fail(validated);
    return events;
  }
  info(validated, "Files validated, moving job to queued state", (p) => {
    p.status = "queued";
  });
  const started = validated + job.queueMs;
  info(started, "Fine-tuning job started", (p) => {
    p.status = "running";
    p.startedAtMs = started;
  });

  const total = job.totalSteps;
  const failAfter = job.plannedError
    ? Math.min(job.plannedErrorAfterSteps ?? 0, Math.max(0, total - 1))
    : null;
  const stride = Math.max(1, Math.ceil(total / MAX_METRIC_EVENTS));
  const stepsPerEpoch = Math.max(1, Math.round(total / Math.max(1, job.nEpochs)));
  const metrics = stepMetrics(job.seed, total, job.method);
  const lastStep = failAfter ?? total;
  for (let step = 1; step <= lastStep; step++) {
    const atMs = started + step * job.stepMs;
    if (step % stride === 0 || step === 1 || step === total) {
      const m = metrics(step);
      events.push({
        atMs,
        level: "info",
        type: "metrics",
        message: `Step ${step}/${total}: training loss=${m.train_loss.toFixed(3)}`,
        data: {
          step,
          train_loss: m.train_loss,
          total_steps: total,
          train_mean_token_accuracy: m.train_mean_token_accuracy,
        },
      });
    }
    if (step % stepsPerEpoch === 0 && step < total) info(atMs, `Checkpoint created at step ${step}`);
  }
  if (failAfter !== null) {
    fail(started + failAfter * job.stepMs);
    return events;
  }

  const finished = started + total * job.stepMs;
  const model = fineTunedModelName(job);
  info(finished, `New fine-tuned model created: ${model}`);
  info(finished, "Evaluating model against our usage policies");
  info(finished, "Usage policy evaluations completed, model is now enabled for sampling");
  info(finished, "The job has successfully completed", (p) => {
    p.status = "succeeded";
    p.finishedAtMs = finished;
    p.fineTunedModel = model;
    p.trainedTokens = job.trainedTokensPlanned;
  });
  return events;
}

/** When the job is estimated to finish (ms), or null when it is not planned to. */
export function estimatedFinishMs(job: JobRow): number | null {
  if (job.plannedError) return null;
  return job.createdAtMs + job.validateMs + job.queueMs + job.totalSteps * job.stepMs;
}

export function progressOf(job: JobRow): JobProgress {
  return {
    status: job.status,
    eventsEmitted: job.eventsEmitted,
    nextEventAtMs: job.nextEventAtMs,
    startedAtMs: job.startedAtMs,
    finishedAtMs: job.finishedAtMs,
    cancelledAtMs: job.cancelledAtMs,
    fineTunedModel: job.fineTunedModel,
    trainedTokens: job.trainedTokens,
    error: job.error,
  };
}

const toEventRow = (jobId: string, seq: number, e: Omit<PlannedEvent, "apply">): EventRow => ({
  id: randomId("ftevent-"),
  jobId,
  seq,
  createdAt: Math.floor(e.atMs / 1000),
  level: e.level,
  message: e.message,
  type: e.type,
  data: e.data,
});

/** Materialises every event due by `nowMs`; returns the job as it now stands. Cheap when nothing is due. */
export function advanceJob(store: SandboxStore, job: JobRow, nowMs: number): JobRow {
  if (TERMINAL.has(job.status) || job.nextEventAtMs === null || job.nextEventAtMs > nowMs) return job;
  const plan = planTimeline(job);
  const progress = progressOf(job);
  const fresh: EventRow[] = [];
  let i = job.eventsEmitted;
  for (; i < plan.length; i++) {
    const e = plan[i];
    if (!e || e.atMs > nowMs) break;
    e.apply?.(progress);
    fresh.push(toEventRow(job.id, i, e));
  }
  progress.eventsEmitted = i;
  progress.nextEventAtMs = TERMINAL.has(progress.status) ? null : (plan[i]?.atMs ?? null);
  store.saveProgress(job.id, progress, fresh);
  return { ...job, ...progress };
}

/** Cancels a job that has not ended: events due so far, then the cancellation. */
export function cancelJob(store: SandboxStore, job: JobRow, nowMs: number): JobRow {
  const current = advanceJob(store, job, nowMs);
  if (TERMINAL.has(current.status)) return current;
  const progress: JobProgress = {
    ...progressOf(current),
    status: "cancelled",
    cancelledAtMs: nowMs,
    finishedAtMs: nowMs,
    nextEventAtMs: null,
    eventsEmitted: current.eventsEmitted + 1,
  };
  const event = toEventRow(job.id, current.eventsEmitted, {
    atMs: nowMs,
    level: "info",
    type: "message",
    message: "Fine-tuning job cancelled",
    data: {},
  });
  store.saveProgress(job.id, progress, [event]);
  return { ...current, ...progress };
}

/** The first event of a new job is due at once. */
export function initialProgress(createdAtMs: number): JobProgress {
  return {
    status: "validating_files",
    eventsEmitted: 0,
    nextEventAtMs: createdAtMs,
    startedAtMs: null,
    finishedAtMs: null,
    cancelledAtMs: null,
    fineTunedModel: null,
    trainedTokens: null,
    error: null,
  };
}

/** Deterministic PRNG (mulberry32): the same seed gives the same losses, and the benchmark the same data. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;
