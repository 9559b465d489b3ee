// Every notice classtune posts: its kind, its payload's type, and its dedupe key. The writers (the job
// service, the poller, the model-unavailable hook) and the readers (the Discord sender, the CLI) all use
// these, so a payload is typed from enqueue to render and each key is built in one place.
import type { JobProgress, JobStatus, TestQuestion } from "./jobs.ts";
import type { CategoryScore, ModerationFailPolicy, ModerationTarget } from "./moderation.ts";
import type { ServingStatus } from "./serving.ts";

export type NoticeKind =
  | "job_created"
  | "job_progress"
  | "job_succeeded"
  | "job_failed"
  | "job_cancelled"
  | "model_ready"
  | "model_deploy_failed"
  | "model_unavailable"
  | "hosting_stopped"
  | "moderation_flagged"
  | "moderation_unavailable";

/** What every job notice carries: enough for a card without another lookup. */
export interface JobNoticeBase {
  jobId: number;
  remoteId: string;
  provider: string;
  /** The job ran on a sandbox (any sandbox-kind provider): every card says so. Absent on older notices. */
  sandbox?: boolean | undefined;
  baseModel: string;
  suffix: string | null;
  datasetId: number;
  datasetName: string;
  /** Mention only this user. */
  requesterId: string;
}

export interface JobCreatedPayload extends JobNoticeBase {
  estimatedCostUsd: number | null;
  nEpochs: number | "auto";
  examples: number;
  /** Absent: supervised. */
  method?: "dpo" | undefined;
}

export interface JobProgressPayload extends JobNoticeBase {
  status: JobStatus;
  rawStatus: string;
  progress: JobProgress | null;
}

export interface TestAnswer extends TestQuestion {
  /** The fine-tuned model's answer; null when asking failed (see `error`). */
  answer: string | null;
  error: string | null;
}

/** Where a trained model's serving step stands when its job's success is announced. */
export interface ServingNote {
  status: ServingStatus;
  /** The id to call once ready (the fine-tuned model where serving is immediate); null before. */
  servedAs: string | null;
  /** The deployment being made (deploy providers); null where serving is immediate. */
  deploymentName: string | null;
  /** "manual": the exact step a teacher runs, and the `/model add` that registers the deployment. */
  instructions: string | null;
  /** The provider's warning about its deployments' lifetime (Azure); null when it has none. */
  caveat: string | null;
}

export interface JobSucceededPayload extends JobNoticeBase {
  fineTunedModel: string;
  trainedTokens: number | null;
  durationMs: number | null;
  /** Asked at once where serving is immediate; empty while the model is still to be deployed (the ready notice has them). */
  testAnswers: TestAnswer[];
  /** Absent on notices written before migration 007: ready, served as the fine-tuned model. */
  serving?: ServingNote | undefined;
}

/** A deploy attempt of a trained model, announced when it ends: ready, or failed. */
export interface ModelServingPayload extends JobNoticeBase {
  fineTunedModel: string;
  deploymentName: string | null;
  /** 1 for the deploy that followed training; each `/finetune deploy` adds one. */
  attempt: number;
  caveat: string | null;
}

export interface ModelReadyPayload extends ModelServingPayload {
  /** The id chat completions take (the deployed name). */
  servedAs: string;
  /** The job's test questions, asked of the deployed model. */
  testAnswers: TestAnswer[];
  /** Set where the deployment is billed while it runs: what it costs and when classtune stops it. */
  hosting?: HostingNote | undefined;
}

/** A billed deployment's price and its automatic stops, as a notice states them. */
export interface HostingNote {
  usdPerHour: number;
  hardware: string | null;
  idleMinutes: number;
  dailyBudgetUsd: number;
}

/** classtune stopped a billed deployment (idle, the day's budget), or a stop has not been confirmed yet. */
export interface HostingStoppedPayload {
  model: string;
  label: string | null;
  provider: string;
  /** The provider is a sandbox (its hosting is imitated, billed nothing). */
  sandbox?: boolean | undefined;
  deploymentName: string;
  reason: "teacher" | "idle" | "budget" | "failed" | "gone";
  /** Billed minutes of the session until the stop, and their cost. */
  minutes: number;
  costUsd: number;
  usdPerHour: number;
  idleMinutes: number;
  dailyBudgetUsd: number;
  spentTodayUsd: number;
  /** Set when the provider has not confirmed the stop after a few tries: the deployment may still bill. */
  stopError?: string | undefined;
}

export interface ModelDeployFailedPayload extends ModelServingPayload {
  /** The provider's own words. */
  errorMessage: string;
}

export interface JobFailedPayload extends JobNoticeBase {
  errorCode: string | null;
  /** The provider's own message. */
  errorMessage: string;
}

export type JobCancelledPayload = JobNoticeBase;

export interface ModelUnavailablePayload {
  model: string;
  provider: string;
  shutdownDate: string | null;
  reason: string;
  /** A deployed model's job: its deployment may have vanished, and `/finetune deploy job:` makes it again. */
  redeployJobId?: number | null | undefined;
}

/** A flagged question (not sent to the model) or answer (not shown): the teachers' alert. */
export interface ModerationFlaggedPayload {
  /** The moderation_verdicts row: one alert per verdict. */
  verdictId: number;
  target: ModerationTarget;
  /** The student: named as a mention that never pings. */
  userId: string;
  /** Where it was asked. */
  channelId: string;
  /** The categories that decided the flag, highest first. */
  categories: CategoryScore[];
  /** A severe category (domain/moderation.ts SEVERE_CATEGORIES). */
  severe: boolean;
  /** Who judged ("openai", "sandbox", "guard:<provider>") and with which model. */
  provider: string;
  model: string;
  /** The question (the flagged one, or the one the flagged answer answers). */
  question: string;
  /** The flagged answer, for review; null for a flagged question. */
  answer: string | null;
  answerId: number | null;
  /** What the student was shown instead. */
  studentSaw: "refusal" | "help" | "withheld";
  /**
   * The role this alert pings (the server's safety role, `/config safety-role`): set only on a severe alert, on the
   * safety channel's copy (or on the teachers' copy when no safety channel is set). The only role classtune pings.
   */
  pingRoleId?: string | null | undefined;
  /** The safety channel's copy of a severe alert (`/config safety-channel`), beside the teachers' one. */
  safetyCopy?: boolean | undefined;
}

/** Moderation could not judge: questions were refused (closed) or answered unchecked (open). Once a day. */
export interface ModerationUnavailablePayload {
  policy: ModerationFailPolicy;
  provider: string;
  /** The first error's code that day. */
  error: string;
}

export interface NoticePayloads {
  job_created: JobCreatedPayload;
  job_progress: JobProgressPayload;
  job_succeeded: JobSucceededPayload;
  job_failed: JobFailedPayload;
  job_cancelled: JobCancelledPayload;
  model_ready: ModelReadyPayload;
  model_deploy_failed: ModelDeployFailedPayload;
  model_unavailable: ModelUnavailablePayload;
  hosting_stopped: HostingStoppedPayload;
  moderation_flagged: ModerationFlaggedPayload;
  moderation_unavailable: ModerationUnavailablePayload;
}

/** The sender's input: discriminated by `kind`. */
export type OutboxNotice = {
  [K in NoticeKind]: {
    id: number;
    guildId: string;
    /** Where to post; null: the sender picks the guild's notice channel. */
    channelId: string | null;
    kind: K;
    payload: NoticePayloads[K];
    /** Set when this notice was posted before (a progress card): edit that message instead of posting. */
    messageId: string | null;
    /** Stable per notice and revision: Discord's `nonce` + `enforce_nonce` turns a repeated post into one message. */
    nonce: string;
    attempts: number;
    createdAt: string;
  };
}[NoticeKind];

/** Whether a notice's job ran on a sandbox: its own flag, or for a notice written before it, the embedded sandbox's name. */
/**
 * How a sandbox fine-tune answers, said wherever its test answers are shown (the notices, `finetune --wait`), so
 * nobody mistakes retrieval for learning.
 */
export const SANDBOX_ANSWERS_BY_RETRIEVAL =
  "The sandbox's models answer by retrieval: a question close to one they were trained on gets that example's answer; anything else gets \"I don't know that yet\". The held-out questions are rephrasings of trained ones where the dataset has them.";

export const isSandboxNotice = (p: { provider: string; sandbox?: boolean | undefined }): boolean =>
  p.sandbox ?? p.provider === "sandbox";

/** Dedupe keys: one notice per job and event (progress is one card, edited in place). */
export const noticeKey = {
  jobCreated: (jobId: number) => `job:${jobId}:created`,
  jobProgress: (jobId: number) => `job:${jobId}:progress`,
  /** The ending notice: succeeded, failed or cancelled. */
  jobEnded: (jobId: number, status: JobStatus) => `job:${jobId}:${status}`,
  /** The end of one deploy attempt of a job's model: one notice per attempt and outcome. */
  modelServing: (jobId: number, attempt: number, outcome: "ready" | "failed") =>
    `job:${jobId}:deploy:${attempt}:${outcome}`,
  /** One notice per hosting session that classtune stopped on its own. */
  hostingStopped: (sessionId: number) => `hosting:${sessionId}:stopped`,
  /** One notice per hosting session whose stop the provider has not confirmed after a few tries. */
  hostingStopFailing: (sessionId: number) => `hosting:${sessionId}:stop_failing`,
  /** Once per guild, model and UTC day. */
  modelUnavailable: (guildId: string, model: string, day: Date) =>
    `model_unavailable:${guildId}:${model}:${day.toISOString().slice(0, 10)}`,
  /** One alert per moderation verdict. */
  moderationFlagged: (verdictId: number) => `moderation:${verdictId}:flagged`,
  /** The safety channel's copy of a severe alert: one per verdict. */
  moderationSafetyCopy: (verdictId: number) => `moderation:${verdictId}:safety`,
  /** Once per guild and UTC day. */
  moderationUnavailable: (guildId: string, day: Date) =>
    `moderation_unavailable:${guildId}:${day.toISOString().slice(0, 10)}`,
} as const;

/** A notice to enqueue, typed by its kind. */
export type NewNotice<K extends NoticeKind = NoticeKind> = {
  [P in K]: {
    guildId: string;
    /** Where to post; null: the guild's notice channel. */
    channelId: string | null;
    kind: P;
    payload: NoticePayloads[P];
    dedupeKey: string;
  };
}[K];
