// Provider failures in plain words, and which of them leave a create "ambiguous" (the request may
// have reached the provider and started something). Branches on the openai SDK's typed errors, and on
// ProviderHttpError for the calls the SDK does not make (Nebius's /v0 deploy API, Azure Resource Manager,
// the Entra token endpoint).
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
} from "openai";
import { UserError } from "../../errors.ts";
import type { Logger } from "../../logger.ts";

/**
 * A create failed ambiguously (timeout, 5xx, connection lost) and the lookup by tag did not find the job, or
 * failed too: the job may exist now or appear shortly. Never retry the create; look for it later by tag.
 */
export class AmbiguousCreateError extends Error {
  constructor(
    readonly tag: string,
    readonly createError: unknown,
    readonly lookupError: unknown,
  ) {
    super(
      lookupError === undefined
        ? `job create failed ambiguously and no job with tag ${tag} was found yet`
        : `job create failed ambiguously and the lookup by tag ${tag} failed too`,
    );
    this.name = "AmbiguousCreateError";
  }
}

/**
 * A provider call made with plain fetch failed: an HTTP error answer (`status`), or no answer at all
 * (`status` null: connection refused, reset, timed out). `providerMessage` is the provider's own words,
 * never a token or a secret (the adapters pass only the error body's message).
 */
export class ProviderHttpError extends Error {
  constructor(
    /** What was being done, e.g. "deploy the model". */
    readonly action: string,
    readonly status: number | null,
    readonly providerMessage: string,
    readonly code: string | null = null,
    readonly requestId: string | null = null,
  ) {
    super(
      status === null
        ? `could not ${action}: no answer from the provider (${providerMessage})`
        : `could not ${action}: the provider answered ${status}: ${providerMessage}`,
    );
    this.name = "ProviderHttpError";
  }
}

/** OpenAI's answer to a job create once it has closed fine-tuning for the organisation. */
export const TRAINING_CLOSED_CODE = "training_not_available";

/** What the teacher reads when OpenAI refuses every new fine-tuning job (403 training_not_available). */
export const TRAINING_CLOSED_MESSAGE =
  "OpenAI has closed fine-tuning for this organisation (training_not_available): it accepts no new fine-tuning jobs. Pick another provider with `/finetune start provider:` (`--provider` on the command line), or see the README's Providers section";

/** A create refused because the provider has closed fine-tuning (OpenAI's 403 training_not_available). */
export function isTrainingClosed(err: unknown): boolean {
  return err instanceof APIError && err.status === 403 && err.code === TRAINING_CLOSED_CODE;
}

/** One sentence a teacher can act on; never a stack trace. */
export function describeProviderError(err: unknown): string {
  if (isTrainingClosed(err)) return TRAINING_CLOSED_MESSAGE;
  if (err instanceof ProviderHttpError) {
    if (err.status === null) return `could not reach the provider to ${err.action} (${err.providerMessage})`;
    if (err.status === 401)
      return `the provider rejected our credentials while trying to ${err.action}: ${err.providerMessage}`;
    if (err.status === 429)
      return `the provider is rate-limiting us (while trying to ${err.action}) — try again in a minute`;
    if (err.status >= 500) {
      return `the provider had an internal error (${err.status}) while trying to ${err.action} — try again shortly`;
    }
    return `the provider refused to ${err.action} (${err.status}): ${err.providerMessage}`;
  }
  if (err instanceof AmbiguousCreateError) {
    return `${describeProviderError(err.createError)}; the job may have started anyway (classtune tag ${err.tag}) — check the provider's job list before trying again`;
  }
  if (err instanceof APIUserAbortError) return "the request to the provider was cancelled";
  if (err instanceof APIConnectionTimeoutError)
    return "the provider did not answer in time — try again shortly";
  if (err instanceof APIConnectionError) {
    return "could not reach the provider (connection error) — check the network and OPENAI_BASE_URL";
  }
  if (err instanceof RateLimitError) {
    if (err.code === "insufficient_quota") {
      return "the provider account has run out of credit (insufficient_quota) — add credit or check billing, then try again";
    }
    if (err.code === "daily_rate_limit_exceeded") {
      return "the provider's daily limit on fine-tuning jobs is reached — try again tomorrow";
    }
    return "the provider is rate-limiting us — try again in a minute";
  }
  if (err instanceof AuthenticationError) return "the provider rejected the API key — check OPENAI_API_KEY";
  if (err instanceof PermissionDeniedError) {
    return `the API key is not allowed to do this (${messageOf(err)})`;
  }
  if (err instanceof NotFoundError) {
    if (err.code === "model_not_found")
      return `that model does not exist or this account cannot use it (${messageOf(err)})`;
    return `not found at the provider (${messageOf(err)})`;
  }
  if (err instanceof BadRequestError) {
    if (err.code === "insufficient_quota")
      return "the provider account has run out of credit (insufficient_quota)";
    return `the provider refused the request: ${messageOf(err)}`;
  }
  if (err instanceof InternalServerError) {
    return `the provider had an internal error (${err.status}) — try again shortly`;
  }
  if (err instanceof APIError) return `the provider answered ${err.status ?? "?"}: ${messageOf(err)}`;
  if (err instanceof UserError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * describeProviderError for provider failures only, undefined for anything else: what the bot's error boundary
 * shows users. Any other error (a bug, the database, Discord) is logged and answered with the generic message,
 * never with its own text.
 */
export function describeProviderFailure(err: unknown): string | undefined {
  return err instanceof APIError || err instanceof AmbiguousCreateError || err instanceof ProviderHttpError
    ? describeProviderError(err)
    : undefined;
}

/** The provider's own message, without the SDK's leading status code. */
function messageOf(err: APIError): string {
  const body = err.error as { message?: unknown } | undefined;
  if (body && typeof body.message === "string" && body.message !== "") return body.message;
  return err.message.replace(/^\d{3}\s+/, "");
}

/** A failure after which the request may still have taken effect: timeout, connection loss, 5xx. */
export function isAmbiguousFailure(err: unknown): boolean {
  if (err instanceof ProviderHttpError) return err.status === null || err.status >= 500 || err.status === 408;
  if (err instanceof APIUserAbortError) return false;
  if (err instanceof APIConnectionError) return true; // includes timeouts
  if (err instanceof APIError && err.status !== undefined) return err.status >= 500 || err.status === 408;
  return false;
}

/** Rate limits and outages: retry on a later tick; never a reason to fail a job. */
export function isTransientFailure(err: unknown): boolean {
  if (err instanceof RateLimitError) return true;
  if (err instanceof ProviderHttpError && err.status === 429) return true;
  return isAmbiguousFailure(err);
}

/** Logs a provider failure as an object, with the request id the provider's support asks for. */
export function logProviderError(
  logger: Logger,
  err: unknown,
  context: Record<string, unknown>,
  msg: string,
): void {
  if (err instanceof APIError) {
    logger.warn(
      {
        ...context,
        status: err.status,
        code: err.code,
        type: err.type,
        requestID: err.requestID,
        err: err.message,
      },
      msg,
    );
  } else if (err instanceof ProviderHttpError) {
    logger.warn(
      {
        ...context,
        status: err.status,
        code: err.code,
        requestID: err.requestId,
        err: err.message,
      },
      msg,
    );
  } else {
    logger.warn({ ...context, err }, msg);
  }
}

/** A provider failure as a UserError: "Could not <action>: <plain words>". */
export function providerUserError(action: string, err: unknown): UserError {
  return new UserError(
    `Could not ${action}: ${describeProviderError(err).replace(/[.\s]+$/, "")}.`,
    "provider_error",
  );
}
