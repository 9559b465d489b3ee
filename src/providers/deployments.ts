// Deployment names: deterministic per job, so a retried or repeated deploy finds the deployment the first
// call made instead of creating a second one. Fits both hosts' rules: Azure deployment names (2–64
// characters: letters, digits, "-", "_", ".") and Nebius custom model names (kept to lowercase letters,
// digits and "-").

import { createHash } from "node:crypto";
import { UserError } from "../domain/errors.ts";
import type { Logger } from "../logger.ts";
import { logProviderError } from "./errors.ts";
import { httpError, type JsonResponse } from "./http.ts";
import type { DeployInput, Deployment } from "./types.ts";

/** Azure's limit on a deployment name; Nebius names stay well inside it. */
export const MAX_DEPLOYMENT_NAME_LENGTH = 64;
const SUFFIX_CHARS = 12;

/**
 * `ct-<the job id's last 12 letters and digits, lowercased>-<6 hex of the id's hash>`: readable next to the
 * job, and the hash keeps two ids that differ only in case (base62 ids) from sharing a name. A later attempt
 * (`/finetune deploy` after a failed or vanished deployment) gets its own name, `…-<hash of id and
 * attempt>-<attempt>`, so it never meets the failed one, and is still found again when it is retried.
 */
export function deploymentNameFor(remoteJobId: string, attempt = 1): string {
  const alnum = remoteJobId.replace(/^[a-z]+[-_]/i, "").replace(/[^a-zA-Z0-9]/g, "");
  const suffix = alnum.slice(-SUFFIX_CHARS).toLowerCase() || "job";
  const seed = attempt > 1 ? `${remoteJobId}\u0000${attempt}` : remoteJobId;
  const hash = createHash("sha256").update(seed).digest("hex").slice(0, 6);
  return attempt > 1 ? `ct-${suffix}-${hash}-${attempt}` : `ct-${suffix}-${hash}`;
}

/** Whether a name is one this file could have made (what the adapters accept from their callers). */
export function isValidDeploymentName(name: string): boolean {
  return /^[a-z0-9][a-z0-9-]{1,63}$/.test(name) && name.length <= MAX_DEPLOYMENT_NAME_LENGTH;
}

/** The check every deploy() makes first: a name deploymentNameFor made, else a UserError. */
export function requireDeploymentName(name: string): void {
  if (!isValidDeploymentName(name)) {
    throw new UserError(`"${name}" is not a valid deployment name (use deploymentNameFor).`, "bad_name");
  }
}

/**
 * The answer to a create-deployment request, the same for every provider: 409 means one of that name exists
 * (a retried deploy, or an answer lost on the way), so it is looked up instead of made twice; any other
 * refusal is logged with the provider's words and thrown. Returns the existing deployment after a 409, or
 * null when the request was taken (the caller reads its answer).
 */
export async function settleDeployAnswer(
  res: JsonResponse,
  input: DeployInput,
  deps: { provider: string; logger: Logger; lookup: (name: string) => Promise<Deployment | null> },
): Promise<Deployment | null> {
  if (res.status === 409) {
    const found = await deps.lookup(input.name);
    if (found) return found;
    throw httpError("deploy the model", res);
  }
  if (!res.ok) {
    const err = httpError("deploy the model", res);
    logProviderError(
      deps.logger,
      err,
      { job: input.jobId, deployment: input.name },
      `${deps.provider}: deploy failed`,
    );
    throw err;
  }
  return null;
}
