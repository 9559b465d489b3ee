// JSON over the injected fetch, for the provider calls the openai SDK does not make (Nebius's /v0 deploy
// API, Azure Resource Manager, the Entra token endpoint). No retry loop here: deploys are idempotent and the
// poller tries again on its next tick. Failures become ProviderHttpError with the provider's own words.
import { ProviderHttpError } from "./errors.ts";

export const DEFAULT_HTTP_TIMEOUT_MS = 60_000;

export interface JsonRequest {
  fetch: typeof fetch;
  method: "GET" | "POST" | "PUT" | "DELETE";
  url: string;
  headers?: Record<string, string>;
  /** Sent as JSON, or as a form when it is URLSearchParams. */
  body?: unknown;
  /** What is being done, in words, for errors: "deploy the model". */
  action: string;
  timeoutMs?: number | undefined;
}

export interface JsonResponse {
  status: number;
  ok: boolean;
  /** The parsed JSON body; undefined when the body was empty or not JSON (see text). */
  body: unknown;
  text: string;
  requestId: string | null;
}

/** One request; throws ProviderHttpError (status null) only when no answer came back at all. */
export async function requestJson(r: JsonRequest): Promise<JsonResponse> {
  const headers: Record<string, string> = { accept: "application/json", ...r.headers };
  let payload: string | undefined;
  if (r.body instanceof URLSearchParams) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    payload = r.body.toString();
  } else if (r.body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(r.body);
  }
  let res: Response;
  let text: string;
  try {
    res = await r.fetch(r.url, {
      method: r.method,
      headers,
      ...(payload !== undefined ? { body: payload } : {}),
      signal: AbortSignal.timeout(r.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS),
    });
    text = await res.text();
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
    throw new ProviderHttpError(
      r.action,
      null,
      timedOut ? "timed out" : `connection error: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  let body: unknown;
  try {
    body = text === "" ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  const requestId =
    res.headers.get("x-request-id") ?? res.headers.get("x-ms-request-id") ?? res.headers.get("request-id");
  return { status: res.status, ok: res.ok, body, text, requestId };
}

/**
 * The provider's own words from an error body: OpenAI's and ARM's {error: {message, code}}, Entra's
 * {error, error_description}, gRPC-gateway's {code, message}, LocalAI's {error: "..."}, FastAPI's {detail: "..."} or {detail: [{loc, msg}]}, else the text itself.
 */
export function providerWords(res: JsonResponse): { message: string; code: string | null } {
  const b = res.body as Record<string, unknown> | undefined;
  if (b && typeof b === "object") {
    const e = b.error;
    if (e && typeof e === "object") {
      const { message, code } = e as { message?: unknown; code?: unknown };
      if (typeof message === "string" && message !== "") {
        return { message, code: typeof code === "string" ? code : null };
      }
    }
    if (typeof e === "string" && typeof b.error_description === "string") {
      // Entra puts a trace and timestamp on new lines after the first sentence.
      return { message: b.error_description.split(/\r?\n/)[0] ?? b.error_description, code: e };
    }
    // gRPC-gateway (Fireworks' REST API): {code: 6, message, details}; the code's name, when sent, is `status`.
    if (typeof b.message === "string" && b.message !== "" && typeof b.code === "number") {
      return { message: b.message, code: typeof b.status === "string" ? b.status : null };
    }
    // LocalAI's own API (fine-tuning): {"error": "<words>"}.
    if (typeof e === "string" && e !== "") return { message: e, code: null };
    const d = b.detail;
    if (typeof d === "string" && d !== "") return { message: d, code: null };
    if (Array.isArray(d)) {
      const parts = d.map((item) => {
        const { loc, msg } = (item ?? {}) as { loc?: unknown; msg?: unknown };
        const where = Array.isArray(loc) ? loc.filter((p) => p !== "body").join(".") : "";
        return `${where ? `${where}: ` : ""}${typeof msg === "string" ? msg : "invalid"}`;
      });
      if (parts.length > 0) return { message: parts.join("; "), code: null };
    }
  }
  const text = res.text.trim().slice(0, 300);
  return { message: text || `HTTP ${res.status}`, code: null };
}

/** The ProviderHttpError for an answer that was not ok. */
export function httpError(action: string, res: JsonResponse): ProviderHttpError {
  const { message, code } = providerWords(res);
  return new ProviderHttpError(action, res.status, message, code, res.requestId);
}
