// The embedded OpenAI-compatible sandbox: node:http on 127.0.0.1 serving the files, fine-tuning,
// models and chat endpoints classtune uses, shaped per OpenAI's spec, with simulated training on an
// injectable clock, state in the sandbox_* tables, and fault injection for tests.
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, mkdirSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import busboy from "busboy";
import type { Db } from "../../db/open.ts";
import { isUserError } from "../../errors.ts";
import { type Logger, silentLogger } from "../../logger.ts";
import type { ValidationReport } from "../validation/types.ts";
import { validateFile } from "../validation/validator.ts";
import { BASE_MODELS, resolveBaseModel } from "./catalog.ts";
import {
  baseModelAnswer,
  type ChatMessage,
  chatTokenCounter,
  contentText,
  IndexCache,
  truncateToTokens,
} from "./chat.ts";
import { realClock, type SandboxClock } from "./clock.ts";
import { invalid, invalidType, missingParam, modelNotFound, notFound, SandboxApiError } from "./errors.ts";
import { FaultInjector } from "./faults.ts";
import { readJsonBody, sendError, sendJson } from "./http.ts";
import { parseCreateJob, planTraining } from "./requests.ts";
import { type JobRow, SandboxStore, TERMINAL } from "./store.ts";
import { advanceJob, cancelJob, initialProgress, randomId } from "./trainer.ts";
import {
  baseModelView,
  checkpointsOf,
  eventView,
  fileView,
  fineTunedModelView,
  jobView as plainJobView,
} from "./views.ts";

export interface SandboxOptions {
  /** better-sqlite3, from openDb(); the sandbox applies its own migrations (sandbox_* tables). */
  db: Db;
  /** Uploaded files go to <dataDir>/sandbox-files. */
  dataDir: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Simulated training speed; default 0.05 s a step (a 20-example job finishes in about 7 s). */
  secondsPerStep?: number;
  /** Default: real time. Tests pass manualClock() and call advance(ms). */
  clock?: SandboxClock;
  logger?: Logger;
  faults?: FaultInjector;
  /** The validation engine; injectable for tests of the sandbox itself. */
  validate?: (path: string, options: { model: string }) => Promise<ValidationReport>;
}

export interface SandboxStats {
  total: number;
  /** Requests per route, e.g. "GET /fine_tuning/jobs": 3. */
  byRoute: Record<string, number>;
}

export interface SandboxHandle {
  /** e.g. http://127.0.0.1:PORT/v1: pass as baseURL to new OpenAI({ apiKey: "sandbox", baseURL }). */
  url: string;
  faults: FaultInjector;
  clock: SandboxClock;
  stats: SandboxStats;
  close(): Promise<void>;
}

export const DEFAULT_SECONDS_PER_STEP = 0.05;
/** Validation and queueing each take this many steps' worth of time. */
const PHASE_STEPS = 20;
export const MAX_UPLOAD_BYTES = 512 * 1024 * 1024;
const PURPOSES = new Set(["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]);
const REPORT_CACHE_SIZE = 256;
/** A validation that never answers fails its job instead of hanging the create request. */
const VALIDATION_TIMEOUT_MS = 120_000;

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: string[];
  now: number;
}

type Handler = (ctx: Ctx) => Promise<unknown> | unknown;

/** A handler that already answered (file content) returns this. */
const ANSWERED = Symbol("answered");

export async function startSandbox(options: SandboxOptions): Promise<SandboxHandle> {
  const store = new SandboxStore(options.db);
  const filesDir = join(options.dataDir, "sandbox-files");
  mkdirSync(filesDir, { recursive: true });
  const clock = options.clock ?? realClock();
  const faults = options.faults ?? new FaultInjector();
  const logger = options.logger ?? silentLogger;
  const stepMs = Math.max(1, Math.round((options.secondsPerStep ?? DEFAULT_SECONDS_PER_STEP) * 1000));
  const validate = options.validate ?? ((path: string, o: { model: string }) => validateFile(path, o));
  const indexes = new IndexCache();
  const reports = new Map<string, Promise<ValidationReport>>();
  const stats: SandboxStats = { total: 0, byRoute: {} };

  const jobView = (job: JobRow): Record<string, unknown> => {
    const view = plainJobView(job);
    const status = faults.statusOverride(job.id);
    return status === undefined ? view : { ...view, status };
  };

  const getJob = (id: string, now: number): JobRow => {
    const job = store.getJob(id);
    if (!job) throw notFound(`No such fine-tuning job: ${id}`, "fine_tuning_job_id");
    return advanceJob(store, job, now);
  };

  const advanceDue = (now: number): void => {
    for (const id of store.dueJobIds(now)) {
      const job = store.getJob(id);
      if (job) advanceJob(store, job, now);
    }
  };

  /** A fine-tuned model that exists now (its job succeeded, not deleted), or undefined. */
  const fineTuned = (model: string, now: number): JobRow | undefined => {
    let job = store.jobByFineTunedModel(model);
    if (!job && model.startsWith("ft:")) {
      advanceDue(now);
      job = store.jobByFineTunedModel(model);
    }
    return job && !job.modelDeleted && job.status === "succeeded" ? job : undefined;
  };

  const reportFor = (fileId: string, path: string, model: string): Promise<ValidationReport> => {
    const key = `${fileId}\u0000${model}`;
    let report = reports.get(key);
    if (!report) {
      report = withTimeout(
        validate(path, { model }),
        VALIDATION_TIMEOUT_MS,
        "validating the training file took too long",
      );
      report.catch(() => reports.delete(key));
      reports.set(key, report);
      if (reports.size > REPORT_CACHE_SIZE) {
        const oldest = reports.keys().next().value;
        if (oldest !== undefined) reports.delete(oldest);
      }
    }
    return report;
  };

  // ----- files

  const uploadFile: Handler = ({ req, now }) =>
    new Promise((resolve, reject) => {
      let bb: busboy.Busboy;
      try {
        bb = busboy({ headers: req.headers, limits: { files: 1, fileSize: MAX_UPLOAD_BYTES } });
      } catch {
        reject(invalid("Invalid content type: uploads must be multipart/form-data.", "file"));
        return;
      }
      const id = randomId("file-", 22);
      const path = join(filesDir, id);
      let purpose: string | undefined;
      let filename: string | undefined;
      let bytes = 0;
      let truncated = false;
      let written: Promise<void> | undefined;
      bb.on("field", (name, value) => {
        if (name === "purpose") purpose = value;
      });
      bb.on("file", (name, stream, info) => {
        if (name !== "file" || written) {
          stream.resume();
          return;
        }
        filename = info.filename || "upload.jsonl";
        stream.on("data", (chunk: Buffer) => {
          bytes += chunk.length;
        });
        stream.on("limit", () => {
          truncated = true;
        });
        written = pipeline(stream, createWriteStream(path));
        // Awaited on "close"; this keeps an aborted upload from becoming an unhandled rejection.
        written.catch(() => {});
      });
      const fail = (err: SandboxApiError): void => {
        rmSync(path, { force: true });
        reject(err);
      };
      bb.on("error", () => fail(invalid("The multipart body could not be parsed.", "file")));
      req.on("error", () => fail(invalid("The upload was interrupted.", "file")));
      bb.on("close", () => {
        void (async () => {
          try {
            if (!written || filename === undefined) throw missingParam("file");
            await written;
            if (truncated)
              throw invalid(`File too large: the sandbox accepts at most ${MAX_UPLOAD_BYTES} bytes.`, "file");
            if (purpose === undefined) throw missingParam("purpose");
            if (!PURPOSES.has(purpose)) {
              throw invalid(
                `Invalid value for 'purpose': expected one of ${[...PURPOSES].map((p) => `'${p}'`).join(", ")}, got '${purpose}'.`,
                "purpose",
                "invalid_value",
              );
            }
            if (purpose === "fine-tune" && !filename.toLowerCase().endsWith(".jsonl")) {
              throw invalid("Invalid file format for Fine-Tuning API. Must be .jsonl", "file");
            }
            const row = { id, filename, purpose, bytes, path, createdAt: Math.floor(now / 1000) };
            store.insertFile(row);
            logger.debug({ file: id, bytes, purpose }, "sandbox: file uploaded");
            resolve(fileView(row));
          } catch (err) {
            rmSync(path, { force: true });
            reject(err);
          }
        })();
      });
      req.pipe(bb);
    });

  const fileOr404 = (id: string) => {
    const file = store.getFile(id);
    if (!file) throw notFound(`No such File object: ${id}`, "id");
    return file;
  };

  // ----- fine-tuning jobs

  const createJob: Handler = async ({ req, now }) => {
    const request = parseCreateJob(await readJsonBody(req));
    let base = resolveBaseModel(request.model);
    let model = base?.id;
    if (!base && request.model.startsWith("ft:")) {
      const parent = fineTuned(request.model, now);
      base = parent ? resolveBaseModel(parent.baseModel) : undefined;
      model = request.model;
    }
    if (!base || !model) {
      throw invalid(
        `Model ${request.model} is not available for fine-tuning or does not exist.`,
        "model",
        "model_not_available",
      );
    }
    const file = store.getFile(request.trainingFile);
    if (!file) throw invalid(`invalid training_file: ${request.trainingFile}`, "training_file");
    if (file.purpose !== "fine-tune") {
      throw invalid(
        `File ${file.id} has purpose '${file.purpose}'; a training file must be uploaded with purpose 'fine-tune'.`,
        "training_file",
      );
    }
    if (request.validationFile !== null && !store.getFile(request.validationFile)) {
      throw invalid(`invalid validation_file: ${request.validationFile}`, "validation_file");
    }

    const forced = faults.takeJobFailure();
    let plan: ReturnType<typeof planTraining>;
    try {
      plan = planTraining(await reportFor(file.id, file.path, base.id), request);
    } catch (err) {
      logger.warn({ err, file: file.id }, "sandbox: validation engine failed");
      plan = {
        examples: 0,
        nEpochs: 0,
        batchSize: 1,
        totalSteps: 0,
        trainedTokens: 0,
        // The engine refuses a file it cannot read as a dataset with a UserError; anything else is ours.
        error: isUserError(err)
          ? {
              code: "invalid_training_file",
              message: `The job failed due to an invalid training file. ${err.message}`,
              param: "training_file",
            }
          : {
              code: "server_error",
              message: `The job failed due to an internal error in the sandbox (${err instanceof Error ? err.message : String(err)}). Please try again.`,
              param: null,
            },
      };
    }
    const plannedError =
      plan.error ??
      (forced
        ? {
            code: forced.code ?? "server_error",
            message: forced.message ?? "The job failed due to an internal error. Please try again.",
            param: forced.param ?? null,
          }
        : null);
    const hp = request.hyperparameters;
    const job: Omit<JobRow, keyof ReturnType<typeof initialProgress> | "modelDeleted"> = {
      id: randomId("ftjob-"),
      model,
      baseModel: base.id,
      trainingFile: file.id,
      validationFile: request.validationFile,
      suffix: request.suffix,
      seed: request.seed ?? Math.floor(Math.random() * 2147483647),
      method: request.method,
      requestedHyperparameters: { ...hp },
      metadata: request.metadata,
      createdAtMs: now,
      validateMs: PHASE_STEPS * stepMs,
      queueMs: PHASE_STEPS * stepMs,
      stepMs,
      examples: plan.examples,
      nEpochs: plan.nEpochs,
      batchSize: plan.batchSize,
      learningRateMultiplier: hp.learning_rate_multiplier === "auto" ? 1.8 : hp.learning_rate_multiplier,
      totalSteps: plan.error ? 0 : plan.totalSteps,
      trainedTokensPlanned: plan.trainedTokens,
      plannedError,
      plannedErrorAfterSteps: plan.error || !forced ? null : (forced.afterSteps ?? null),
    };
    store.insertJob(job, initialProgress(now));
    logger.info(
      { job: job.id, model, examples: plan.examples, steps: job.totalSteps },
      "sandbox: job created",
    );
    return jobView(getJob(job.id, now));
  };

  const listJobs: Handler = ({ url, now }) => {
    const limit = parseLimit(url, 20, 100);
    const rows = store.listJobs({
      after: url.searchParams.get("after") ?? undefined,
      limit: limit + 1,
      metadata: parseMetadataFilter(url),
    });
    const page = rows.slice(0, limit).map((j) => jobView(advanceJob(store, j, now)));
    return { object: "list", data: page, has_more: rows.length > limit };
  };

  const cancel: Handler = ({ params, now }) => {
    const job = getJob(params[0] ?? "", now);
    if (TERMINAL.has(job.status)) {
      throw invalid(
        `Job ${job.id} has already ${job.status === "cancelled" ? "been cancelled" : job.status} and cannot be cancelled.`,
      );
    }
    return jobView(cancelJob(store, job, now));
  };

  const listEvents: Handler = ({ params, url, now }) => {
    const job = getJob(params[0] ?? "", now);
    const limit = parseLimit(url, 20, 100);
    const rows = store.listEvents(job.id, url.searchParams.get("after") ?? undefined, limit + 1);
    return { object: "list", data: rows.slice(0, limit).map(eventView), has_more: rows.length > limit };
  };

  const listCheckpoints: Handler = ({ params, url, now }) => {
    const job = getJob(params[0] ?? "", now);
    const limit = parseLimit(url, 10, 100);
    let all = checkpointsOf(job);
    const after = url.searchParams.get("after");
    if (after) {
      const i = all.findIndex((c) => c.id === after);
      all = i < 0 ? [] : all.slice(i + 1);
    }
    const data = all.slice(0, limit);
    return {
      object: "list",
      data,
      first_id: data[0]?.id ?? null,
      last_id: data[data.length - 1]?.id ?? null,
      has_more: all.length > limit,
    };
  };

  // ----- models

  const listModels: Handler = ({ now }) => {
    advanceDue(now);
    return {
      object: "list",
      data: [...BASE_MODELS.map(baseModelView), ...store.fineTunedModels().map(fineTunedModelView)],
    };
  };

  const modelParam = (ctx: Ctx): string => {
    const raw = ctx.params[0] ?? "";
    try {
      return decodeURIComponent(raw);
    } catch {
      throw modelNotFound(raw);
    }
  };

  const retrieveModel: Handler = (ctx) => {
    const id = modelParam(ctx);
    const base = resolveBaseModel(id);
    if (base) return { ...baseModelView(base), id };
    const job = fineTuned(id, ctx.now);
    if (!job) throw modelNotFound(id);
    return fineTunedModelView(job);
  };

  const deleteModel: Handler = (ctx) => {
    const id = modelParam(ctx);
    if (resolveBaseModel(id)) {
      throw new SandboxApiError(
        403,
        `You cannot delete the base model ${id}: only fine-tuned models you own can be deleted.`,
        {
          param: "model",
        },
      );
    }
    if (!fineTuned(id, ctx.now) || !store.markModelDeleted(id)) throw modelNotFound(id);
    indexes.forget(id);
    return { id, object: "model", deleted: true };
  };

  // ----- chat

  const chat: Handler = async ({ req, now }) => {
    const body = await readJsonBody(req);
    const model = body.model;
    if (model === undefined || model === null) throw missingParam("model");
    if (typeof model !== "string") throw invalidType("model", "a string", model);
    if (body.messages === undefined) throw missingParam("messages");
    if (!Array.isArray(body.messages)) throw invalidType("messages", "an array", body.messages);
    if (body.messages.length === 0) {
      throw invalid(
        "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
        "messages",
        "empty_array",
      );
    }
    const messages: ChatMessage[] = body.messages.map((m: unknown, i: number) => {
      if (m === null || typeof m !== "object") throw invalidType(`messages[${i}]`, "an object", m);
      const { role, content } = m as { role?: unknown; content?: unknown };
      if (typeof role !== "string") throw missingParam(`messages[${i}].role`);
      return { role, content: contentText(content) ?? "" };
    });
    if (body.stream === true) {
      throw invalid(
        "Streaming is not supported by the sandbox; send the request without stream: true.",
        "stream",
        "unsupported_value",
      );
    }
    const n = body.n === undefined || body.n === null ? 1 : body.n;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 8) {
      throw invalid("Invalid 'n': the sandbox answers with 1 to 8 choices.", "n", "invalid_value");
    }
    const maxTokens = body.max_completion_tokens ?? body.max_tokens;
    if (
      maxTokens !== undefined &&
      maxTokens !== null &&
      (typeof maxTokens !== "number" || !Number.isInteger(maxTokens) || maxTokens < 1)
    ) {
      throw invalidType(
        body.max_completion_tokens !== undefined ? "max_completion_tokens" : "max_tokens",
        "a positive integer",
        maxTokens,
      );
    }

    const question = [...messages].reverse().find((m) => m.role === "user")?.content ?? "";
    let answer: string;
    let resolvedModel = model;
    let encoding: "o200k_base" | "cl100k_base";
    const base = resolveBaseModel(model);
    if (base) {
      resolvedModel = base.id;
      encoding = base.encoding;
      answer = baseModelAnswer(base.id, question);
    } else {
      const job = fineTuned(model, now);
      if (!job) throw modelNotFound(model);
      encoding = resolveBaseModel(job.baseModel)?.encoding ?? "o200k_base";
      const file = store.getFile(job.trainingFile);
      const index = file ? await indexes.get(model, file.path) : undefined;
      answer = index
        ? index.answer(question).text
        : "I don't know that yet: my training data is no longer available.";
    }
    const tokens = await chatTokenCounter(encoding);
    let finish = "stop";
    let completionTokens = tokens.count(answer);
    if (typeof maxTokens === "number" && completionTokens > maxTokens) {
      answer = await truncateToTokens(answer, maxTokens, encoding);
      completionTokens = maxTokens;
      finish = "length";
    }
    const promptTokens = tokens.prompt(messages);
    return {
      id: randomId("chatcmpl-", 29),
      object: "chat.completion",
      created: Math.floor(now / 1000),
      model: resolvedModel,
      choices: Array.from({ length: n }, (_, index) => ({
        index,
        message: { role: "assistant", content: answer, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: finish,
      })),
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens * n,
        total_tokens: promptTokens + completionTokens * n,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: {
          reasoning_tokens: 0,
          audio_tokens: 0,
          accepted_prediction_tokens: 0,
          rejected_prediction_tokens: 0,
        },
      },
      service_tier: "default",
      system_fingerprint: "fp_sandbox",
    };
  };

  // ----- routing

  const routes: Array<{ method: string; pattern: RegExp; name: string; handler: Handler }> = [
    { method: "POST", pattern: /^\/files$/, name: "POST /files", handler: uploadFile },
    {
      method: "GET",
      pattern: /^\/files$/,
      name: "GET /files",
      handler: ({ url }) => {
        const order = url.searchParams.get("order") === "asc" ? "asc" : "desc";
        const limit = parseLimit(url, 10000, 10000);
        const rows = store.listFiles({
          purpose: url.searchParams.get("purpose") ?? undefined,
          after: url.searchParams.get("after") ?? undefined,
          limit: limit + 1,
          order,
        });
        const data = rows.slice(0, limit).map(fileView);
        return {
          object: "list",
          data,
          first_id: (data[0]?.id as string | undefined) ?? null,
          last_id: (data[data.length - 1]?.id as string | undefined) ?? null,
          has_more: rows.length > limit,
        };
      },
    },
    {
      method: "GET",
      pattern: /^\/files\/([^/]+)$/,
      name: "GET /files/:id",
      handler: ({ params }) => fileView(fileOr404(params[0] ?? "")),
    },
    {
      method: "DELETE",
      pattern: /^\/files\/([^/]+)$/,
      name: "DELETE /files/:id",
      handler: ({ params }) => {
        const file = fileOr404(params[0] ?? "");
        store.deleteFile(file.id);
        rmSync(file.path, { force: true });
        return { id: file.id, object: "file", deleted: true };
      },
    },
    {
      method: "GET",
      pattern: /^\/files\/([^/]+)\/content$/,
      name: "GET /files/:id/content",
      handler: async ({ params, res }) => {
        const file = fileOr404(params[0] ?? "");
        if (!existsSync(file.path)) throw notFound(`The content of ${file.id} is no longer available.`, "id");
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": file.bytes });
        await pipeline(createReadStream(file.path), res);
        return ANSWERED;
      },
    },
    { method: "POST", pattern: /^\/fine_tuning\/jobs$/, name: "POST /fine_tuning/jobs", handler: createJob },
    { method: "GET", pattern: /^\/fine_tuning\/jobs$/, name: "GET /fine_tuning/jobs", handler: listJobs },
    {
      method: "GET",
      pattern: /^\/fine_tuning\/jobs\/([^/]+)$/,
      name: "GET /fine_tuning/jobs/:id",
      handler: ({ params, now }) => jobView(getJob(params[0] ?? "", now)),
    },
    {
      method: "POST",
      pattern: /^\/fine_tuning\/jobs\/([^/]+)\/cancel$/,
      name: "POST /fine_tuning/jobs/:id/cancel",
      handler: cancel,
    },
    {
      method: "GET",
      pattern: /^\/fine_tuning\/jobs\/([^/]+)\/events$/,
      name: "GET /fine_tuning/jobs/:id/events",
      handler: listEvents,
    },
    {
      method: "GET",
      pattern: /^\/fine_tuning\/jobs\/([^/]+)\/checkpoints$/,
      name: "GET /fine_tuning/jobs/:id/checkpoints",
      handler: listCheckpoints,
    },
    { method: "GET", pattern: /^\/models$/, name: "GET /models", handler: listModels },
    { method: "GET", pattern: /^\/models\/(.+)$/, name: "GET /models/:id", handler: retrieveModel },
    { method: "DELETE", pattern: /^\/models\/(.+)$/, name: "DELETE /models/:id", handler: deleteModel },
    { method: "POST", pattern: /^\/chat\/completions$/, name: "POST /chat/completions", handler: chat },
  ];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = Date.now();
    const headers: Record<string, string> = {
      "x-request-id": `req_${randomBytes(16).toString("hex")}`,
      "openai-organization": "org-classtune-sandbox",
      "openai-version": "2020-10-01",
    };
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    const method = (req.method ?? "GET").toUpperCase();
    res.on("finish", () => {
      logger.debug(
        { method, url: req.url, status: res.statusCode, ms: Date.now() - started },
        "sandbox: request",
      );
    });
    try {
      const url = new URL(req.url ?? "/", "http://sandbox.invalid");
      const fault = url.pathname.startsWith("/v1/") ? faults.match(method, url.pathname.slice(3)) : undefined;
      if (fault && fault.latencyMs > 0) await new Promise((r) => setTimeout(r, fault.latencyMs));
      if (fault && !fault.afterHandling && (fault.error || fault.reset)) {
        req.resume();
        logger.debug(
          { method, path: url.pathname, status: fault.status, reset: fault.reset },
          "sandbox: injected fault",
        );
        if (fault.reset) req.socket.destroy();
        else if (fault.error) sendError(res, fault.error, fault.headers);
        return;
      }
      const auth = req.headers.authorization;
      if (!auth || !/^Bearer\s+\S+/i.test(auth)) {
        req.resume();
        throw new SandboxApiError(
          401,
          "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). The sandbox accepts any key.",
        );
      }
      const path = url.pathname.startsWith("/v1/") ? url.pathname.slice(3) : undefined;
      let matched: { route: (typeof routes)[number]; params: string[] } | undefined;
      let pathMatched = false;
      if (path !== undefined) {
        for (const route of routes) {
          const m = route.pattern.exec(path);
          if (!m) continue;
          pathMatched = true;
          if (route.method === method) {
            matched = { route, params: m.slice(1) };
            break;
          }
        }
      }
      if (!matched) {
        req.resume();
        throw new SandboxApiError(pathMatched ? 405 : 404, `Invalid URL (${method} ${url.pathname})`);
      }
      stats.total += 1;
      stats.byRoute[matched.route.name] = (stats.byRoute[matched.route.name] ?? 0) + 1;
      const result = await matched.route.handler({ req, res, url, params: matched.params, now: clock.now() });
      if (fault?.afterHandling && (fault.error || fault.reset) && result !== ANSWERED) {
        logger.debug(
          { method, path: url.pathname, status: fault.status, reset: fault.reset },
          "sandbox: injected fault after handling",
        );
        if (fault.reset) req.socket.destroy();
        else if (fault.error) sendError(res, fault.error, fault.headers);
        return;
      }
      if (result !== ANSWERED) {
        res.setHeader("openai-processing-ms", String(Date.now() - started));
        sendJson(res, 200, result);
      }
    } catch (err) {
      if (err instanceof SandboxApiError) {
        sendError(res, err);
        return;
      }
      logger.error({ err, method, url: req.url }, "sandbox: request failed");
      sendError(
        res,
        new SandboxApiError(500, "The sandbox had an error while processing your request.", {
          type: "server_error",
        }),
      );
    }
  };

  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/v1`;
  logger.info({ url }, "sandbox: listening");
  return {
    url,
    faults,
    clock,
    stats,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function parseLimit(url: URL, def: number, max: number): number {
  const raw = url.searchParams.get("limit");
  if (raw === null || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw invalid(`Invalid 'limit': expected a positive integer, got '${raw}'.`, "limit", "invalid_value");
  return Math.min(n, max);
}

/** `metadata[k]=v` pairs (the SDK's bracket style); `metadata=null` means "jobs without metadata". */
function parseMetadataFilter(url: URL): Record<string, string> | null | undefined {
  const pairs: Record<string, string> = {};
  let any = false;
  for (const [key, value] of url.searchParams) {
    const m = /^metadata\[(.+)\]$/.exec(key);
    if (m?.[1] !== undefined) {
      pairs[m[1]] = value;
      any = true;
    } else if (key === "metadata" && (value === "null" || value === "")) {
      return null;
    }
  }
  return any ? pairs : undefined;
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
