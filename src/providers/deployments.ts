// Deployment names: deterministic per job, so a retried or repeated deploy finds the deployment the first
// call made instead of creating a second one. Fits both hosts' rules: Azure deployment names (2–64
// characters: letters, digits, "-", "_", ".") and Nebius custom model names (kept to lowercase letters,
// digits and "-").
import { createHash } from "node:crypto";

/** Azure's limit on a deployment name; Nebius names stay well inside it. */
export const MAX_DEPLOYMENT_NAME_LENGTH = 64;
const SUFFIX_CHARS = 12;

/**
 * `ct-<the job id's last 12 letters and digits, lowercased>-<6 hex of the id's hash>`: readable next to the
 * job, and the hash keeps two ids that differ only in case (base62 ids) from sharing a name.
 */
export function deploymentNameFor(remoteJobId: string): string {
  const alnum = remoteJobId.replace(/^[a-z]+[-_]/i, "").replace(/[^a-zA-Z0-9]/g, "");
  const suffix = alnum.slice(-SUFFIX_CHARS).toLowerCase() || "job";
  const hash = createHash("sha256").update(remoteJobId).digest("hex").slice(0, 6);
  return `ct-${suffix}-${hash}`;
}

/** Whether a name is one this file could have made (what the adapters accept from their callers). */
export function isValidDeploymentName(name: string): boolean {
  return /^[a-z0-9][a-z0-9-]{1,63}$/.test(name) && name.length <= MAX_DEPLOYMENT_NAME_LENGTH;
}
