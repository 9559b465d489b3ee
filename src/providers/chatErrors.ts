// Provider failures in plain words. The SDK has already retried what is worth retrying by the time we see them.
import OpenAI from "openai";

export interface ExplainedProviderError {
  /** Short code recorded in the usage table. */
  code: string;
  /** What the student reads. */
  message: string;
  /** The model is gone (404 model_not_found): worth trying the fallback model. */
  modelGone: boolean;
}

/** Explains an error from chat.completions.create; undefined when it is not a provider error (a bug: rethrow). */
export function explainProviderError(err: unknown, provider: string): ExplainedProviderError | undefined {
  if (err instanceof OpenAI.APIConnectionTimeoutError) {
    return {
      code: "timeout",
      message: `${provider} took too long to answer (timed out). Try again in a moment.`,
      modelGone: false,
    };
  }
  if (err instanceof OpenAI.APIConnectionError) {
    return {
      code: "connection_error",
      message: `Couldn't reach ${provider} right now. Try again in a few minutes.`,
      modelGone: false,
    };
  }
  if (!(err instanceof OpenAI.APIError)) return undefined;
  const code = typeof err.code === "string" ? err.code : undefined;
  if (err.status === 404) {
    // OpenAI says code model_not_found; vLLM and Ollama say "model … does not exist / not found" in words.
    // Any other 404 is a wrong address, not a vanished model: no fallback, no notice to the teachers.
    if (code === "model_not_found" || /\bmodel\b/i.test(err.message)) {
      return { code: "model_not_found", message: "This model is no longer available.", modelGone: true };
    }
    return {
      code: code ?? "not_found",
      message: `${provider} answered "not found" for this request: its base URL may be wrong. A teacher should check the provider's configuration.`,
      modelGone: false,
    };
  }
  if (err.status === 429 && code === "insufficient_quota") {
    return {
      code: "insufficient_quota",
      message: `The ${provider} account behind this model has run out of credit (insufficient_quota), so it can't answer. A teacher needs to add credit or pick another model with /model use.`,
      modelGone: false,
    };
  }
  if (err.status === 429) {
    return {
      code: "provider_rate_limited",
      message: `${provider} is rate-limiting us — try again in a minute.`,
      modelGone: false,
    };
  }
  if (err.status === 401 || err.status === 403) {
    return {
      code: "provider_auth",
      message: `${provider} refused this bot's API key. A teacher needs to check the key configured for it.`,
      modelGone: false,
    };
  }
  if (err.status !== undefined && err.status >= 500) {
    return {
      code: "provider_unavailable",
      message: `${provider} is having trouble right now (HTTP ${err.status}). Try again in a few minutes.`,
      modelGone: false,
    };
  }
  const detail =
    err.error && typeof err.error === "object" && "message" in err.error ? String(err.error.message) : "";
  return {
    code: code ?? `http_${err.status ?? "error"}`,
    message: `${provider} refused the question${detail ? `: ${detail.slice(0, 200)}` : "."}`,
    modelGone: false,
  };
}
