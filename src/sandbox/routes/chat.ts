// Chat completions: fine-tuned models (and their checkpoints, `<model>:ckpt-step-N`) answer by retrieval over
// their training examples (also under a deployed custom model's name, once it is active, and under a dedicated
// endpoint's name, while it is STARTED), base models with a plain sandbox reply; usage holds real token counts.
// With `stream: true` the same answer comes as OpenAI streams it: server-sent `chat.completion.chunk` events, a
// token a chunk (paced at SandboxOptions.streamTokensPerSecond on the sandbox clock), then `data: [DONE]`.

import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import { resolveBaseModel } from "../catalog.ts";
import {
  baseModelAnswer,
  type ChatMessage,
  chatTokenCounter,
  contentText,
  tokenPieces,
  truncateToTokens,
} from "../chat.ts";
import { ANSWERED, type Handler, type Route, type SandboxState } from "../context.ts";
import { invalid, invalidType, missingParam, modelNotFound, SandboxApiError } from "../errors.ts";
import type { StreamFault } from "../faults.ts";
import { readJsonBody, sendEvent, sendEvents, startEventStream } from "../http.ts";
import type { JobRow } from "../store.ts";
import { randomId } from "../trainer.ts";
import { checkpointsOf } from "../views.ts";

import { deploymentStatus } from "./deployments.ts";
import { endpointState } from "./endpoints.ts";

const CHECKPOINT_MODEL = /^(.+):ckpt-step-\d+$/;

/** One answer, as both the JSON completion and the stream send it. */
interface Completion {
  id: string;
  created: number;
  model: string;
  answer: string;
  encoding: "o200k_base" | "cl100k_base";
  finish: "stop" | "length";
  n: number;
  usage: Record<string, unknown>;
}

/** What `stream_options` asks for (OpenAI's defaults: no usage chunk, obfuscation on). */
interface StreamOptions {
  includeUsage: boolean;
  includeObfuscation: boolean;
}

export function chatRoutes(s: SandboxState): Route[] {
  const { store, fineTuned, indexes } = s;

  /** The job whose model (or one of whose checkpoints) this is, while the model is served. */
  const servingJob = (model: string, now: number): JobRow | undefined => {
    const job = fineTuned(model, now);
    if (job) return job;
    const parent = CHECKPOINT_MODEL.exec(model)?.[1];
    const owner = parent === undefined ? undefined : fineTuned(parent, now);
    return owner && checkpointsOf(owner).some((c) => c.fine_tuned_model_checkpoint === model)
      ? owner
      : undefined;
  };

  /** The succeeded job a deployed custom model serves; 404 while it is not active. */
  const deployedJob = (model: string, now: number): JobRow | undefined => {
    const d = store.deploymentByName(model);
    if (!d) return undefined;
    const status = deploymentStatus(d, now);
    if (status !== "active") {
      throw new SandboxApiError(404, `The model \`${model}\` is not active (status: ${status}).`, {
        code: "model_not_found",
        param: "model",
      });
    }
    const job = store.getJob(d.jobId);
    return job?.status === "succeeded" ? job : undefined;
  };

  /**
   * The job whose model a dedicated endpoint of this name serves. Refused as Together refuses it (400,
   * dedicated_endpoint_not_running) unless the endpoint is STARTED; a deleted endpoint's name is a 404.
   */
  const endpointJob = (model: string, now: number): JobRow | undefined => {
    const e = store.endpointByName(model);
    if (!e) return undefined;
    if (e.deleted) {
      throw new SandboxApiError(
        404,
        `The dedicated endpoint ${model} was deleted; create a new endpoint to serve ${e.model}.`,
        { code: "model_not_available", param: "model" },
      );
    }
    const state = endpointState(e, now);
    if (state !== "STARTED") {
      throw new SandboxApiError(
        400,
        `The dedicated endpoint for ${e.model} is not running (it is ${state}). Start it with PATCH /v1/endpoints/${e.id} {"state": "STARTED"}.`,
        { code: "dedicated_endpoint_not_running", param: "model" },
      );
    }
    return fineTuned(e.model, now);
  };

  const chat: Handler = async ({ req, res, now }) => {
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
    const stream = body.stream ?? false;
    if (typeof stream !== "boolean") throw invalidType("stream", "a boolean", stream);
    const streamOptions = readStreamOptions(body.stream_options, stream);
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
      const job = servingJob(model, now) ?? deployedJob(model, now) ?? endpointJob(model, now);
      if (!job) throw modelNotFound(model);
      encoding = resolveBaseModel(job.baseModel)?.encoding ?? "o200k_base";
      const file = store.getFile(job.trainingFile);
      // A checkpoint answers from its job's examples: one index per job, forgotten with its model.
      const index = file ? await indexes.get(job.fineTunedModel ?? model, file.path) : undefined;
      answer = index
        ? index.answer(question).text
        : "I don't know that yet: my training data is no longer available.";
    }
    // A streaming fault is taken only for a model that answers, so a 404 still comes first.
    const streamFault = streamOptions ? s.faults.matchStream("POST", "/chat/completions", model) : undefined;
    if (streamFault?.kind === "refuse") throw streamFault.error;
    const tokens = await chatTokenCounter(encoding);
    let finish: Completion["finish"] = "stop";
    let completionTokens = tokens.count(answer);
    if (typeof maxTokens === "number" && completionTokens > maxTokens) {
      answer = await truncateToTokens(answer, maxTokens, encoding);
      completionTokens = maxTokens;
      finish = "length";
    }
    const promptTokens = tokens.prompt(messages);
    const completion: Completion = {
      id: randomId("chatcmpl-", 29),
      created: Math.floor(now / 1000),
      model: resolvedModel,
      answer,
      encoding,
      finish,
      n,
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
    };
    if (streamOptions) {
      await streamCompletion(res, completion, streamOptions, streamFault);
      return ANSWERED;
    }
    return {
      id: completion.id,
      object: "chat.completion",
      created: completion.created,
      model: completion.model,
      choices: Array.from({ length: n }, (_, index) => ({
        index,
        message: { role: "assistant", content: answer, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: finish,
      })),
      usage: completion.usage,
      service_tier: "default",
      system_fingerprint: SYSTEM_FINGERPRINT,
    };
  };

  /**
   * Sends the completion as OpenAI streams it: a role chunk per choice, a token a chunk per choice (paced on the
   * sandbox clock), a finish chunk per choice, the usage chunk when asked for, then [DONE]; a streaming fault
   * cuts it or ends it with an error event instead. A client that goes away stops it (its wait included).
   */
  const streamCompletion = async (
    res: ServerResponse,
    c: Completion,
    options: StreamOptions,
    fault: StreamFault | undefined,
  ): Promise<void> => {
    const gone = new AbortController();
    const leave = () => gone.abort();
    res.once("close", leave);
    if (res.closed || res.destroyed) leave(); // the client left while the answer was being found
    // A write racing the client's disconnect must not become an unhandled 'error' that stops the sandbox.
    res.on("error", (err) => s.logger.debug({ err }, "sandbox: stream write after the client left"));
    const pieces = await tokenPieces(c.answer, c.encoding);
    startEventStream(res);
    const chunk = (choices: unknown[], usage: unknown = null): string =>
      JSON.stringify({
        id: c.id,
        object: "chat.completion.chunk",
        created: c.created,
        model: c.model,
        service_tier: "default",
        system_fingerprint: SYSTEM_FINGERPRINT,
        choices,
        ...(options.includeUsage ? { usage } : {}),
        ...(options.includeObfuscation ? { obfuscation: obfuscation() } : {}),
      });
    const choice = (index: number, delta: Record<string, unknown>, finish: string | null = null) => ({
      index,
      delta,
      logprobs: null,
      finish_reason: finish,
    });
    const indexes = Array.from({ length: c.n }, (_, i) => i);
    const intervalMs = s.streamTokensPerSecond > 0 ? 1000 / s.streamTokensPerSecond : 0;
    // Unpaced and no fault to place: the events go out a few at a time (a write per token would make the sandbox,
    // which shares the bot's process, the cost of every streamed answer; one write of them all would make the
    // openai SDK's SSE reader, which copies what is left of its buffer after each event, quadratic). Otherwise one
    // write per event.
    const batched: string[] | undefined = intervalMs === 0 && !fault ? [] : undefined;
    const send = (data: string): Promise<void> => {
      if (!batched) return sendEvent(res, data);
      batched.push(data);
      return batched.length >= EVENTS_PER_WRITE ? sendEvents(res, batched.splice(0)) : Promise.resolve();
    };

    for (const i of indexes)
      await send(chunk([choice(i, { role: "assistant", content: "", refusal: null })]));
    const started = s.clock.now();
    let sent = 0;
    /** Applies the fault once `sent` content chunks are out (at the latest before the finish): true when it did. */
    const faulted = async (beforeFinish = false): Promise<boolean> => {
      if (!fault || fault.kind === "refuse" || (sent < fault.afterChunks && !beforeFinish)) return false;
      s.logger.debug({ kind: fault.kind, afterChunks: sent }, "sandbox: injected stream fault");
      if (fault.kind === "cut") res.destroy();
      else {
        await sendEvent(res, JSON.stringify({ error: fault.error.body().error }));
        res.end();
      }
      return true;
    };
    for (const [t, piece] of pieces.entries()) {
      if (intervalMs > 0) {
        const wait = started + (t + 1) * intervalMs - s.clock.now();
        if (wait > 0) await s.clock.sleep(wait, gone.signal);
      }
      for (const i of indexes) {
        if (gone.signal.aborted || (await faulted())) return;
        await send(chunk([choice(i, { content: piece })]));
        sent += 1;
      }
    }
    if (gone.signal.aborted || (await faulted(true))) return;
    for (const i of indexes) await send(chunk([choice(i, {}, c.finish)]));
    if (options.includeUsage) await send(chunk([], c.usage));
    await send("[DONE]");
    if (batched) await sendEvents(res, batched);
    res.end();
  };

  return [
    { method: "POST", pattern: /^\/chat\/completions$/, name: "POST /chat/completions", handler: chat },
  ];
}

const SYSTEM_FINGERPRINT = "fp_sandbox";

/** Events an unpaced stream writes at once (a few kilobytes). */
const EVENTS_PER_WRITE = 8;

/**
 * `stream_options` as OpenAI reads it: only with `stream: true` (else a 400), an object of booleans. Undefined
 * when the completion is not streamed.
 */
function readStreamOptions(raw: unknown, stream: boolean): StreamOptions | undefined {
  if (raw !== undefined && raw !== null && !stream) {
    throw invalid(
      "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
      "stream_options",
    );
  }
  if (!stream) return undefined;
  if (raw === undefined || raw === null) return { includeUsage: false, includeObfuscation: true };
  if (typeof raw !== "object" || Array.isArray(raw)) throw invalidType("stream_options", "an object", raw);
  const { include_usage: usage, include_obfuscation: obfuscation } = raw as Record<string, unknown>;
  for (const [name, value] of [
    ["include_usage", usage],
    ["include_obfuscation", obfuscation],
  ] as const) {
    if (value !== undefined && value !== null && typeof value !== "boolean") {
      throw invalidType(`stream_options.${name}`, "a boolean", value);
    }
  }
  return { includeUsage: usage === true, includeObfuscation: obfuscation !== false };
}

/** Random characters the padding is cut from: drawn once, since the padding needs no secrecy here. */
const PADDING = randomBytes(3072).toString("base64url");

/** OpenAI pads each chunk with 1 to 16 random characters (a side-channel mitigation); so does the sandbox. */
function obfuscation(): string {
  const length = 1 + Math.floor(Math.random() * 16);
  const at = Math.floor(Math.random() * (PADDING.length - length));
  return PADDING.slice(at, at + length);
}
