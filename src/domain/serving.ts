// Whether a trained model can be asked yet: training and serving are separate states. A provider that serves
// at once (OpenAI, the sandbox as OpenAI) makes a succeeded job's model "ready" at once; one with a deploy step
// (Nebius, Azure) makes it "deploying" until the provider reports the deployment ready or failed, and Azure
// without Resource Manager credentials leaves it "manual": a person deploys it and registers the deployment
// with /model add. A deployment billed for as long as it runs (a dedicated endpoint: Together, Fireworks) that
// classtune stopped (idle, the day's hosting budget, or a teacher) leaves its model "asleep" until a teacher wakes
// it (/model deploy). The one vocabulary of the models table, the poller, the notices, /ask and the CLI.

export type ServingStatus = "deploying" | "ready" | "failed" | "manual" | "asleep";

export const SERVING_STATUSES: readonly ServingStatus[] = [
  "deploying",
  "ready",
  "failed",
  "manual",
  "asleep",
];

/** Only a ready model is offered to /ask and /model use, and asked. */
export const isReady = (status: ServingStatus): boolean => status === "ready";

/**
 * What `classtune finetune --json` reports as `status` once the job succeeded: the serving step's state
 * ("ready", "deploying", "deploy_failed", "deploy_manually"); before that, the job's own status.
 */
export const CLI_SERVING_STATUS: Readonly<Record<ServingStatus, string>> = {
  deploying: "deploying",
  ready: "ready",
  failed: "deploy_failed",
  manual: "deploy_manually",
  asleep: "asleep",
};

/** A model's serving state in a few words, for lists and cards ("deploying", "deploy failed", …). */
export const SERVING_WORDS: Readonly<Record<ServingStatus, string>> = {
  deploying: "deploying",
  ready: "ready",
  failed: "deploy failed",
  manual: "waiting for a manual deploy",
  asleep: "asleep (its hosting is stopped)",
};
