// Provider failures, classified once: `classifyProviderError` is the one place that reads the openai SDK's
// typed errors (and classtune's own for calls made without the SDK). Two wordings sit on top of it: the
// teachers' (`describeProviderError`, for jobs and deploys) and the students' (`explainProviderError`, for
// /ask). Everything else asks the classification (transient? ambiguous? model gone?) and never the SDK.
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai";
import * as TogetherErrors from "together-ai/core/error";
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

/**
 * A provider call made with plain fetch failed (Nebius's /v0 deploy API, Azure Resource Manager, the Entra
 * token endpoint): an HTTP error answer (`status`), or no answer at all (`status` null: connection refused,
 * reset, timed out). `providerMessage` is the provider's own words, never a token or a secret.
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

export type ProviderErrorCode =
  | "aborted"
  | "timeout"
  | "connection_error"
  | "rate_limited"
  | "insufficient_quota"
  | "daily_limit"
  | "auth"
  | "permission"
  | "training_not_available"
  | "model_not_found"
  | "not_found"
  | "bad_request"
  | "provider_error"
  | "http_error";

export interface ProviderErrorClass {
  code: ProviderErrorCode;
  /** HTTP status, when there was an answer. */
  status: number | null;
  /** The provider's own code (`insufficient_quota`, `model_not_found`, …). */
  providerCode: string | null;
  /** The provider's own message, without the SDK's leading status. */
  detail: string;
  /** Rate limits and outages: try again on a later tick; never a reason to fail a job. */
  transient: boolean;
  /** The request may have taken effect anyway (timeout, connection lost, 408, 5xx): never blindly repeat a create. */
  ambiguous: boolean;
  /** 404 naming a model: the model is gone (worth the fallback model). */
  modelGone: boolean;
  /** OpenAI closed fine-tuning for this organisation (403 training_not_available). */
  trainingClosed: boolean;
  /** What the provider's support asks for. */
  requestId: string | null;
}

/** The classification of a provider failure; undefined when `err` is not one (a bug, the database, Discord). */
export function classifyProviderError(err: unknown): ProviderErrorClass | undefined {
  if (err instanceof APIUserAbortError) return base("aborted", { transient: false, ambiguous: false });
  if (err instanceof APIConnectionTimeoutError) return base("timeout", { detail: "timed out" });
  if (err instanceof APIConnectionError) return base("connection_error", { detail: "connection error" });
  if (err instanceof APIError) {
    return fromStatus(err.status ?? null, typeof err.code === "string" ? err.code : null, sdkDetail(err), {
      requestId: err.requestID ?? null,
    });
  }
  if (err instanceof TogetherErrors.APIUserAbortError)
    return base("aborted", { transient: false, ambiguous: false });
  if (err instanceof TogetherErrors.APIConnectionTimeoutError)
    return base("timeout", { detail: "timed out" });
  if (err instanceof TogetherErrors.APIConnectionError)
    return base("connection_error", { detail: "connection error" });
  if (err instanceof TogetherErrors.APIError) {
    // Together's body is {error: {message, code, type}}: the SDK keeps the whole body in `error`.
    const inner = (err.error as { error?: { message?: unknown; code?: unknown } } | undefined)?.error;
    const code = typeof inner?.code === "string" ? inner.code : null;
    const detail =
      typeof inner?.message === "string" && inner.message !== ""
        ? inner.message
        : err.message.replace(/^\d{3}\s+/, "");
    return fromStatus(err.status ?? null, code, detail, {
      requestId: err.headers?.get("x-request-id") ?? null,
    });
  }
  if (err instanceof ProviderHttpError) {
    if (err.status === null) return base("connection_error", { detail: err.providerMessage });
    return fromStatus(err.status, err.code, err.providerMessage, { requestId: err.requestId });
  }
  return undefined;
}

function base(code: ProviderErrorCode, over: Partial<ProviderErrorClass> = {}): ProviderErrorClass {
  return {
    code,
    status: null,
    providerCode: null,
    detail: "",
    transient: true,
    ambiguous: true,
    modelGone: false,
    trainingClosed: false,
    requestId: null,
    ...over,
  };
}

function fromStatus(
  status: number | null,
  providerCode: string | null,
  detail: string,
  extra: { requestId: string | null },
): ProviderErrorClass {
  const answered = { status, providerCode, detail, requestId: extra.requestId, ambiguous: false };
  const c = (code: ProviderErrorCode, over: Partial<ProviderErrorClass> = {}) =>
    base(code, { ...answered, transient: false, ...over });
  if (status === 429) {
    if (providerCode === "insufficient_quota") return c("insufficient_quota", { transient: true });
    if (providerCode === "daily_rate_limit_exceeded") return c("daily_limit", { transient: true });
    return c("rate_limited", { transient: true });
  }
  if (status === 401) return c("auth");
  if (status === 403) {
    if (providerCode === "training_not_available")
      return c("training_not_available", { trainingClosed: true });
    return c("permission");
  }
  if (status === 404) {
    // OpenAI says code model_not_found; vLLM and Ollama say "model … does not exist / not found" in words.
    // Any other 404 is a wrong address (or a vanished job), not a vanished model.
    const modelGone = providerCode === "model_not_found" || /\bmodel\b/i.test(detail);
    return c(providerCode === "model_not_found" ? "model_not_found" : "not_found", { modelGone });
  }
  if (status === 400) {
    return providerCode === "insufficient_quota" ? c("insufficient_quota") : c("bad_request");
  }
  if (status !== null && (status >= 500 || status === 408)) {
    return c(status === 408 ? "http_error" : "provider_error", { transient: true, ambiguous: true });
  }
  return c("http_error");
}

/** The provider's own message, without the SDK's leading status code. */
function sdkDetail(err: APIError): string {
  const body = err.error as { message?: unknown } | undefined;
  if (body && typeof body.message === "string" && body.message !== "") return body.message;
  return err.message.replace(/^\d{3}\s+/, "");
}

/** OpenAI's answer to a job create once it has closed fine-tuning for the organisation. */
export const TRAINING_CLOSED_CODE = "training_not_available";

/** What the teacher reads when OpenAI refuses every new fine-tuning job (403 training_not_available). */
export const TRAINING_CLOSED_MESSAGE =
  "OpenAI has closed fine-tuning for this organisation (training_not_available): it accepts no new fine-tuning jobs. Pick another provider with `/finetune start provider:` (`--provider` on the command line), or see the README's Providers section";

/** A create refused because the provider has closed fine-tuning (OpenAI's 403 training_not_available). */
export function isTrainingClosed(err: unknown): boolean {
  return classifyProviderError(err)?.trainingClosed ?? false;
}

/** A failed call made without the SDK, in the teacher's words with what was being done. */
function describeHttpError(err: ProviderHttpError, e: ProviderErrorClass): string {
  if (err.status === null) return `could not reach the provider to ${err.action} (${err.providerMessage})`;
  if (e.trainingClosed) return TRAINING_CLOSED_MESSAGE;
  if (err.status === 401)
    return `the provider rejected our credentials while trying to ${err.action}: ${err.providerMessage}`;
  if (err.status === 429)
    return `the provider is rate-limiting us (while trying to ${err.action}) — try again in a minute`;
  if (err.status >= 500) {
    return `the provider had an internal error (${err.status}) while trying to ${err.action} — try again shortly`;
  }
  return `the provider refused to ${err.action} (${err.status}): ${err.providerMessage}`;
}

/** One sentence a teacher can act on; never a stack trace. */
export function describeProviderError(err: unknown): string {
  if (err instanceof AmbiguousCreateError) {
    return `${describeProviderError(err.createError)}; the job may have started anyway (classtune tag ${err.tag}) — check the provider's job list before trying again`;
  }
  const e = classifyProviderError(err);
  if (!e) return err instanceof UserError || err instanceof Error ? err.message : String(err);
  if (err instanceof ProviderHttpError) return describeHttpError(err, e);
  switch (e.code) {
    case "aborted":
      return "the request to the provider was cancelled";
    case "timeout":
      return "the provider did not answer in time — try again shortly";
    case "connection_error":
      return "could not reach the provider (connection error) — check the network and the provider's base URL";
    case "insufficient_quota":
      return e.status === 429
        ? "the provider account has run out of credit (insufficient_quota) — add credit or check billing, then try again"
        : "the provider account has run out of credit (insufficient_quota)";
    case "daily_limit":
      return "the provider's daily limit on fine-tuning jobs is reached — try again tomorrow";
    case "rate_limited":
      return "the provider is rate-limiting us — try again in a minute";
    case "auth":
      return "the provider rejected the API key — check the key configured for it";
    case "training_not_available":
      return TRAINING_CLOSED_MESSAGE;
    case "permission":
      return `the API key is not allowed to do this (${e.detail})`;
    case "model_not_found":
      return `that model does not exist or this account cannot use it (${e.detail})`;
    case "not_found":
      return `not found at the provider (${e.detail})`;
    case "bad_request":
      return `the provider refused the request: ${e.detail}`;
    case "provider_error":
      return `the provider had an internal error (${e.status}) — try again shortly`;
    case "http_error":
      return `the provider answered ${e.status ?? "?"}: ${e.detail}`;
  }
}

/**
 * describeProviderError for provider failures only, undefined for anything else: what the bot's error boundary
 * shows users. Any other error (a bug, the database, Discord) is logged and answered with the generic message,
 * never with its own text.
 */
export function describeProviderFailure(err: unknown): string | undefined {
  return classifyProviderError(err) !== undefined || err instanceof AmbiguousCreateError
    ? describeProviderError(err)
    : undefined;
}

export interface ExplainedProviderError {
  /** Short code recorded in the usage table. */
  code: string;
  /** What the student reads. */
  message: string;
  /** The model is gone (404 model_not_found): worth trying the fallback model. */
  modelGone: boolean;
}

/** A chat failure in a student's words; undefined when it is not a provider error (a bug: rethrow). */
export function explainProviderError(err: unknown, provider: string): ExplainedProviderError | undefined {
  const e = classifyProviderError(err);
  if (!e || e.code === "aborted") return undefined;
  const say = (code: string, message: string) => ({ code, message, modelGone: false });
  switch (e.code) {
    case "timeout":
      return say("timeout", `${provider} took too long to answer (timed out). Try again in a moment.`);
    case "connection_error":
      return say("connection_error", `Couldn't reach ${provider} right now. Try again in a few minutes.`);
    case "model_not_found":
    case "not_found":
      if (e.modelGone) {
        return { code: "model_not_found", message: "This model is no longer available.", modelGone: true };
      }
      return say(
        e.providerCode ?? "not_found",
        `${provider} answered "not found" for this request: its base URL may be wrong. A teacher should check the provider's configuration.`,
      );
    default:
      break;
  }
  if (e.status === 429 && e.code === "insufficient_quota") {
    return say(
      "insufficient_quota",
      `The ${provider} account behind this model has run out of credit (insufficient_quota), so it can't answer. A teacher needs to add credit or pick another model with /model use.`,
    );
  }
  if (e.status === 429)
    return say("provider_rate_limited", `${provider} is rate-limiting us — try again in a minute.`);
  if (e.status === 401 || e.status === 403) {
    return say(
      "provider_auth",
      `${provider} refused this bot's API key. A teacher needs to check the key configured for it.`,
    );
  }
  if (e.status !== null && e.status >= 500) {
    return say(
      "provider_unavailable",
      `${provider} is having trouble right now (HTTP ${e.status}). Try again in a few minutes.`,
    );
  }
  return say(
    e.providerCode ?? `http_${e.status ?? "error"}`,
    `${provider} refused the question${e.detail ? `: ${e.detail.slice(0, 200)}` : "."}`,
  );
}

/** A failure after which the request may still have taken effect: timeout, connection loss, 408, 5xx. */
export function isAmbiguousFailure(err: unknown): boolean {
  return classifyProviderError(err)?.ambiguous ?? false;
}

/** Rate limits and outages: retry on a later tick; never a reason to fail a job. */
export function isTransientFailure(err: unknown): boolean {
  return classifyProviderError(err)?.transient ?? false;
}

/** Logs a provider failure as an object, with the request id the provider's support asks for. */
export function logProviderError(
  logger: Logger,
  err: unknown,
  context: Record<string, unknown>,
  msg: string,
): void {
  const e = classifyProviderError(err);
  if (e && e.status !== null) {
    logger.warn(
      { ...context, status: e.status, code: e.providerCode, requestID: e.requestId, err: e.detail },
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

/** A 429: the rest of a tick's calls to that provider wait (hammering on would only extend it). */
export const isRateLimited = (err: unknown): boolean => classifyProviderError(err)?.status === 429;
