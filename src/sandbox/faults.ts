// Fault injection for tests: queue failures (429 with retry-after, 5xx, latency) for matching
// requests, break streamed chat completions (a cut, an error event, a refusal), make the next created job fail,
// the next deployment end in "error", or the next start of a dedicated endpoint end in ERROR, and serve odd events.
// Rules are consumed in order, `times` each.
import { SandboxApiError } from "./errors.ts";

export type RateLimitCode = "rate_limit_exceeded" | "daily_rate_limit_exceeded" | "insufficient_quota";

export interface FaultRule {
  /** Only requests with this method (GET, POST, PATCH, DELETE); any when unset. */
  method?: string;
  /**
   * Matches the path after /v1 (e.g. "/fine_tuning/jobs", "/endpoints/<id>"), or the whole path for the deploy API
   * ("/v0/models"): a regex, or a string for an exact match.
   */
  path?: RegExp | string;
  /** HTTP status to answer with; unset with `latencyMs` means "delay, then answer normally". */
  status?: number;
  code?: RateLimitCode | (string & {});
  message?: string;
  type?: string;
  /** For 429 (or any status): sets `retry-after` (seconds, rounded up) and `retry-after-ms`. */
  retryAfterSeconds?: number;
  /** Overrides `retry-after-ms` (the SDK prefers it), so a test retries in milliseconds. */
  retryAfterMs?: number;
  /** Delay before answering (the fault or the real response). */
  latencyMs?: number;
  /** How many matching requests this rule applies to; default 1, Infinity for "until cleared". */
  times?: number;
  /**
   * Handle the request first, then answer with the fault: the work is done but the answer is lost
   * (an ambiguous failure, e.g. a 500 after the job was created).
   */
  afterHandling?: boolean;
  /** Drop the connection instead of answering (a connection reset); with `afterHandling`, after the work. */
  reset?: boolean;

  // Streaming faults. A rule with one of the next three fields is a streaming rule: it applies only to chat
  // completions asked with `stream: true` (matched once the body is read, so no other request consumes it), and
  // it takes none of `status`, `latencyMs`, `retryAfter*`, `afterHandling` or `reset`. With n > 1 content chunks
  // are counted over all choices; a count at or past the answer's length strikes just before the finish chunk.
  // (A plain rule still applies to a streamed request before it is handled: a 429 is thrown by create() itself.)
  /** A streaming rule for this model only (as the request names it): a regex, or a string for an exact match. */
  model?: RegExp | string;
  /**
   * A provider cut: the socket is destroyed after this many content chunks (0: right after the role chunk),
   * with no finish chunk, no usage and no [DONE].
   */
  cutStreamAfterChunks?: number;
  /**
   * An SSE error event after this many content chunks, `data: {"error": {message, type, param, code}}` (type
   * "server_error" and OpenAI's 500 message unless `type`/`message`/`code` say otherwise), then the stream ends
   * without [DONE]: the SDK's iterator throws an APIError (no status) after the chunks before it.
   */
  errorStreamAfterChunks?: number;
  /**
   * Refuses `stream: true` with a 400 (param "stream", code "unsupported_value"), as a model that cannot stream
   * answers: for a client's fallback to a non-streaming request. `message` overrides the message.
   */
  refuseStream?: boolean;
}

/** What a streaming rule does to one streamed chat completion. */
export type StreamFault =
  | { kind: "refuse"; error: SandboxApiError }
  | { kind: "cut"; afterChunks: number }
  | { kind: "error"; afterChunks: number; error: SandboxApiError };

export interface JobFailure {
  code?: string;
  message?: string;
  param?: string | null;
  /** Fail after this many training steps; unset fails right after file validation. */
  afterSteps?: number;
}

export interface InjectedFault {
  status: number | undefined;
  latencyMs: number;
  error: SandboxApiError | undefined;
  headers: Record<string, string>;
  afterHandling: boolean;
  reset: boolean;
}

const DEFAULTS: Record<number, { type: string; code: string | null; message: string }> = {
  429: {
    type: "requests",
    code: "rate_limit_exceeded",
    message: "Rate limit reached for requests. Please try again later.",
  },
  500: {
    type: "server_error",
    code: null,
    message: "The server had an error while processing your request. Sorry about that!",
  },
  502: { type: "server_error", code: null, message: "Bad gateway." },
  503: {
    type: "server_error",
    code: null,
    message: "The engine is currently overloaded, please try again later.",
  },
};

const CODE_DEFAULTS: Record<string, { type: string; message: string }> = {
  training_not_available: {
    type: "invalid_request_error",
    message:
      "Fine-tuning is not available for this organization. OpenAI no longer accepts new fine-tuning jobs from it.",
  },
  insufficient_quota: {
    type: "insufficient_quota",
    message: "You exceeded your current quota, please check your plan and billing details.",
  },
  daily_rate_limit_exceeded: {
    type: "invalid_request_error",
    message: "This organization has reached its daily limit of fine-tuning jobs. Please try again tomorrow.",
  },
  rate_limit_exceeded: {
    type: "requests",
    message: "Rate limit reached for requests. Please try again later.",
  },
};

export class FaultInjector {
  private rules: Array<FaultRule & { remaining: number }> = [];
  private jobFailures: JobFailure[] = [];
  private deploymentFailures: string[] = [];
  private endpointFailures = 0;
  private readonly statusOverrides = new Map<string, string>();
  private readonly oddEvents = new Map<string, Record<string, unknown>>();
  /** How many faults were injected so far (latency-only rules included). */
  injected = 0;

  /** Queues a fault for the next matching request(s); a streaming rule for the next matching streamed chat(s). */
  next(rule: FaultRule): this {
    checkStreamRule(rule);
    this.rules.push({ ...rule, remaining: rule.times ?? 1 });
    return this;
  }

  /** The next created job fails (after validation, or after `afterSteps` steps) with this error. */
  failNextJob(failure: JobFailure = {}): this {
    this.jobFailures.push(failure);
    return this;
  }

  /** The next deployment (POST /v0/models) validates, then ends in status "error" with this reason. */
  failNextDeployment(reason = "The LoRA adapter could not be loaded onto the base model."): this {
    this.deploymentFailures.push(reason);
    return this;
  }

  /** Consumed by the server for each created deployment. */
  takeDeploymentFailure(): string | undefined {
    return this.deploymentFailures.shift();
  }

  /**
   * The next start of a dedicated endpoint (POST /v1/endpoints, or PATCH {state: "STARTED"} on a stopped one)
   * goes PENDING, STARTING, then ERROR instead of STARTED; `times` starts in a row.
   */
  failNextEndpoint(times = 1): this {
    this.endpointFailures += times;
    return this;
  }

  /** Consumed by the server for each endpoint start: true when this one is to end in ERROR. */
  takeEndpointFailure(): boolean {
    if (this.endpointFailures <= 0) return false;
    this.endpointFailures -= 1;
    return true;
  }

  /**
   * Reports this status for the job (retrieve and list) until cleared with `undefined`: for clients'
   * handling of statuses they do not know (OpenAI adds some, e.g. "paused").
   */
  overrideStatus(jobId: string, status: string | undefined): this {
    if (status === undefined) this.statusOverrides.delete(jobId);
    else this.statusOverrides.set(jobId, status);
    return this;
  }

  /** The status to report instead of the real one, if any. */
  statusOverride(jobId: string): string | undefined {
    return this.statusOverrides.get(jobId);
  }

  /**
   * Serves the job's event number `seq` (0 is its first) with these fields replaced until cleared with
   * `undefined`, whenever it is listed: an ISO string for `created_at`, a `data` that is no object, a loss
   * that is no number; a field set to `undefined` is left out. For clients' handling of events they cannot read.
   */
  oddEvent(jobId: string, seq: number, fields: Record<string, unknown> | undefined): this {
    const key = `${jobId}#${seq}`;
    if (fields === undefined) this.oddEvents.delete(key);
    else this.oddEvents.set(key, fields);
    return this;
  }

  /** The event as served: with the fields set by `oddEvent`, if any. */
  eventAsServed(jobId: string, seq: number, view: Record<string, unknown>): Record<string, unknown> {
    const fields = this.oddEvents.get(`${jobId}#${seq}`);
    return fields ? { ...view, ...fields } : view;
  }

  clear(): void {
    this.rules = [];
    this.jobFailures = [];
    this.deploymentFailures = [];
    this.endpointFailures = 0;
    this.statusOverrides.clear();
    this.oddEvents.clear();
  }

  /** Consumed by the server for each created job. */
  takeJobFailure(): JobFailure | undefined {
    return this.jobFailures.shift();
  }

  /** The first rule of this kind matching the request, consumed once; undefined when none. */
  private take(
    method: string,
    path: string,
    streamed: { model: string } | undefined,
  ): (FaultRule & { remaining: number }) | undefined {
    const index = this.rules.findIndex(
      (r) =>
        r.remaining > 0 &&
        isStreamRule(r) === (streamed !== undefined) &&
        (r.method === undefined || r.method.toUpperCase() === method) &&
        matches(r.path, path) &&
        (streamed === undefined || matches(r.model, streamed.model)),
    );
    const rule = this.rules[index];
    if (!rule) return undefined;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.rules.splice(index, 1);
    this.injected += 1;
    return rule;
  }

  /** Consumed by the chat route for each completion asked with `stream: true`: the streaming fault, if any. */
  matchStream(method: string, path: string, model: string): StreamFault | undefined {
    const rule = this.take(method, path, { model });
    if (!rule) return undefined;
    if (rule.refuseStream) {
      return {
        kind: "refuse",
        error: new SandboxApiError(
          400,
          rule.message ??
            `Streaming is not supported for the model \`${model}\`; send the request without stream: true.`,
          {
            param: "stream",
            code: rule.code ?? "unsupported_value",
            type: rule.type ?? "invalid_request_error",
          },
        ),
      };
    }
    if (rule.cutStreamAfterChunks !== undefined)
      return { kind: "cut", afterChunks: rule.cutStreamAfterChunks };
    const fallback = DEFAULTS[500];
    return {
      kind: "error",
      afterChunks: rule.errorStreamAfterChunks ?? 0,
      error: new SandboxApiError(500, rule.message ?? fallback?.message ?? "Injected stream error.", {
        type: rule.type ?? "server_error",
        code: rule.code ?? null,
      }),
    };
  }

  /** Consumed by the server for each request: the fault to apply, if any (streaming rules are not matched here). */
  match(method: string, path: string): InjectedFault | undefined {
    const rule = this.take(method, path, undefined);
    if (!rule) return undefined;

    const headers: Record<string, string> = {};
    if (rule.retryAfterSeconds !== undefined || rule.retryAfterMs !== undefined) {
      const ms = rule.retryAfterMs ?? (rule.retryAfterSeconds ?? 0) * 1000;
      headers["retry-after"] = String(Math.ceil(rule.retryAfterSeconds ?? ms / 1000));
      headers["retry-after-ms"] = String(ms);
    }
    let error: SandboxApiError | undefined;
    if (rule.status !== undefined) {
      const byCode = rule.code ? CODE_DEFAULTS[rule.code] : undefined;
      const byStatus = DEFAULTS[rule.status];
      error = new SandboxApiError(
        rule.status,
        rule.message ?? byCode?.message ?? byStatus?.message ?? `Injected error ${rule.status}.`,
        {
          type: rule.type ?? byCode?.type ?? byStatus?.type ?? "server_error",
          code: rule.code ?? byStatus?.code ?? null,
        },
      );
    }
    return {
      status: rule.status,
      latencyMs: rule.latencyMs ?? 0,
      error,
      headers,
      afterHandling: rule.afterHandling === true,
      reset: rule.reset === true,
    };
  }
}

const matches = (pattern: RegExp | string | undefined, value: string): boolean =>
  pattern === undefined || (typeof pattern === "string" ? pattern === value : pattern.test(value));

const isStreamRule = (rule: FaultRule): boolean =>
  rule.cutStreamAfterChunks !== undefined ||
  rule.errorStreamAfterChunks !== undefined ||
  rule.refuseStream === true;

/** A streaming rule does one thing to a stream and nothing else; `model` means nothing without one. */
function checkStreamRule(rule: FaultRule): void {
  const kinds = [
    rule.cutStreamAfterChunks !== undefined,
    rule.errorStreamAfterChunks !== undefined,
    rule.refuseStream === true,
  ];
  const count = kinds.filter(Boolean).length;
  if (count === 0) {
    if (rule.model !== undefined) throw new Error("FaultRule.model applies to streaming rules only");
    return;
  }
  if (count > 1)
    throw new Error(
      "a streaming FaultRule takes one of cutStreamAfterChunks, errorStreamAfterChunks, refuseStream",
    );
  const clashing = (
    ["status", "latencyMs", "retryAfterSeconds", "retryAfterMs", "afterHandling", "reset"] as const
  ).filter((k) => rule[k] !== undefined);
  if (clashing.length > 0) throw new Error(`a streaming FaultRule takes no ${clashing.join(", ")}`);
  for (const n of [rule.cutStreamAfterChunks, rule.errorStreamAfterChunks]) {
    if (n !== undefined && (!Number.isInteger(n) || n < 0))
      throw new Error("stream fault chunk counts are whole numbers ≥ 0");
  }
}
