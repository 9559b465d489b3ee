// A fine-tuning job's status and progress, normalised across providers: the one vocabulary the database,
// the poller, the notices and the renderers share.

/** Job status, normalised across providers. */
export type JobStatus =
  | "validating_files"
  | "queued"
  | "running"
  | "paused"
  | "succeeded"
  | "failed"
  | "cancelled";

export const JOB_STATUSES: readonly JobStatus[] = [
  "validating_files",
  "queued",
  "running",
  "paused",
  "succeeded",
  "failed",
  "cancelled",
];

export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(["succeeded", "failed", "cancelled"]);

export const isTerminal = (status: JobStatus): boolean => TERMINAL_STATUSES.has(status);

/** Maps a provider's raw status; anything unknown counts as still running (the raw value is kept next to it). */
export function normaliseStatus(raw: string): JobStatus {
  const s = raw.trim().toLowerCase();
  if ((JOB_STATUSES as readonly string[]).includes(s)) return s as JobStatus;
  switch (s) {
    case "canceled":
      return "cancelled";
    case "pending":
    case "created":
      return "queued";
    case "completed":
    case "complete":
      return "succeeded";
    case "error":
      return "failed";
    default:
      return "running";
  }
}

/** Training progress as the card shows it. */
export interface JobProgress {
  step: number;
  totalSteps: number;
  loss: number | null;
}

/** A question asked of the finished model. */
export interface TestQuestion {
  question: string;
  /** The dataset's own answer, when the question was held out of training. */
  expected: string | null;
}

/**
 * Whether a job ran on a sandbox (simulated: no cost, no real training): its recorded provider kind, or for a row
 * from before kinds were recorded, the embedded sandbox's name. The one home of "say it is the sandbox".
 */
export function isSandboxJob(job: { provider: string; providerKind?: string | null | undefined }): boolean {
  return job.providerKind == null ? job.provider === "sandbox" : job.providerKind === "sandbox";
}
