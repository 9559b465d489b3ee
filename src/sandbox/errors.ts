// OpenAI's error envelope, {error: {message, type, param, code}}, and the helpers that build the
// errors the sandbox answers with (messages worded as OpenAI words them). The deploy API under /v0 answers
// as Nebius's FastAPI service does instead: {detail: "..."}, or a list of field errors for a malformed body.
export interface ErrorBody {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

/** Thrown inside a handler; the server turns it into the envelope with this status. */
export class SandboxApiError extends Error {
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;

  constructor(
    readonly status: number,
    message: string,
    opts: { type?: string; param?: string | null; code?: string | null; detail?: unknown } = {},
  ) {
    super(message);
    this.name = "SandboxApiError";
    this.type = opts.type ?? "invalid_request_error";
    this.param = opts.param ?? null;
    this.code = opts.code ?? null;
    this.detail = opts.detail;
  }

  /** For the /v0 shape: FastAPI's field errors, when the message alone is not what the service sends. */
  readonly detail: unknown;

  body(): { error: ErrorBody } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }

  /** The /v0 (FastAPI) shape. */
  detailBody(): { detail: unknown } {
    return { detail: this.detail ?? this.message };
  }
}

export const invalid = (message: string, param: string | null = null, code: string | null = null) =>
  new SandboxApiError(400, message, { param, code });

export const missingParam = (param: string) =>
  invalid(`Missing required parameter: '${param}'.`, param, "missing_required_parameter");

export const invalidType = (param: string, expected: string, got: unknown) =>
  invalid(
    `Invalid type for '${param}': expected ${expected}, but got ${describe(got)} instead.`,
    param,
    "invalid_type",
  );

export const tooLong = (param: string, max: number, length: number) =>
  invalid(
    `Invalid '${param}': string too long. Expected a string with maximum length ${max}, but got a string with length ${length} instead.`,
    param,
    "string_above_max_length",
  );

export const modelNotFound = (model: string) =>
  new SandboxApiError(404, `The model \`${model}\` does not exist or you do not have access to it.`, {
    code: "model_not_found",
    param: "model",
  });

export const notFound = (message: string, param: string | null = null) =>
  new SandboxApiError(404, message, { param });

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return "a string";
  if (typeof value === "number") return Number.isInteger(value) ? "an integer" : "a decimal";
  return `a ${typeof value}`;
}
