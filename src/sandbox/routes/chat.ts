// Chat completions (non-streaming): fine-tuned models (and their checkpoints, `<model>:ckpt-step-N`) answer
// by retrieval over their training examples (also under a deployed custom model's name, once it is active, and
// under a dedicated endpoint's name, while it is STARTED), base models with a plain sandbox reply; usage holds
// real token counts.
import { resolveBaseModel } from "../catalog.ts";
import {
  baseModelAnswer,
  type ChatMessage,
  chatTokenCounter,
  contentText,
  truncateToTokens,
} from "../chat.ts";
import type { Handler, Route, SandboxState } from "../context.ts";
import { invalid, invalidType, missingParam, modelNotFound, SandboxApiError } from "../errors.ts";
import { readJsonBody } from "../http.ts";
import type { JobRow } from "../store.ts";
import { randomId } from "../trainer.ts";
import { checkpointsOf } from "../views.ts";

import { deploymentStatus } from "./deployments.ts";
import { endpointState } from "./endpoints.ts";

const CHECKPOINT_MODEL = /^(.+):ckpt-step-\d+$/;

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

  return [
    { method: "POST", pattern: /^\/chat\/completions$/, name: "POST /chat/completions", handler: chat },
  ];
}
