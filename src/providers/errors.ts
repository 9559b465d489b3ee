// Provider failures in plain words, and which of them leave a create "ambiguous" (the request may
// have reached the provider and started something). Branches on the openai SDK's typed errors.
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
import { UserError } from "../domain/errors.ts";
import type { Logger } from "../logger.ts";

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

/** One sentence a teacher can act on; never a stack trace. */
export function describeProviderError(err: unknown): string {
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
  return err instanceof APIError || err instanceof AmbiguousCreateError
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
  if (err instanceof APIUserAbortError) return false;
  if (err instanceof APIConnectionError) return true; // includes timeouts
  if (err instanceof APIError && err.status !== undefined) return err.status >= 500 || err.status === 408;
  return false;
}

/** Rate limits and outages: retry on a later tick; never a reason to fail a job. */
export function isTransientFailure(err: unknown): boolean {
  if (err instanceof RateLimitError) return true;
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
