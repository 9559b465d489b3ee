// A chat answer from an OpenAI-compatible provider, streamed or whole, in classtune's own shape: the /ask service
// reads deltas and usage, never the SDK's chunk types (the chat port leaks no SDK).
import { APIConnectionError, APIConnectionTimeoutError, APIError } from "openai";
import type { ChatMessage } from "../domain/assistant.ts";
import type { ChatProvider } from "./chatRegistry.ts";
import { classifyProviderError } from "./errors.ts";

export interface ChatRequest {
  /** The id the provider's chat endpoint takes. */
  model: string;
  messages: ChatMessage[];
  temperature: number;
  maxTokens: number;
}

export interface ChatUsage {
  promptTokens: number;
  completionTokens: number;
}

/** One piece of a streamed answer: text, the reason it stopped, or the usage (the last chunk). */
export interface ChatDelta {
  text: string | undefined;
  finishReason: string | undefined;
  usage: ChatUsage | undefined;
}

export interface ChatAnswer {
  text: string;
  finishReason: string | null;
  usage: ChatUsage | undefined;
}

/** The whole answer in one response (the path for providers and models that do not stream). */
export async function completeChat(provider: ChatProvider, r: ChatRequest): Promise<ChatAnswer> {
  const completion = await provider.client.chat.completions.create({
    model: r.model,
    messages: r.messages,
    temperature: r.temperature,
    max_tokens: r.maxTokens,
  });
  const choice = completion.choices[0];
  return {
    text: choice?.message?.content ?? "",
    finishReason: choice?.finish_reason ?? null,
    usage: completion.usage
      ? { promptTokens: completion.usage.prompt_tokens, completionTokens: completion.usage.completion_tokens }
      : undefined,
  };
}

/**
 * The answer as the provider streams it (`stream: true`, usage asked for in the last chunk). The request is made
 * (and refused, or retried by the SDK) before this returns; the deltas may then fail mid-way with a provider
 * error. Leaving the loop early aborts the request.
 *
 * The SDK's timeout ends when the response's headers arrive (openai-node clears it once fetch resolves), so a
 * stream that goes quiet would be waited for forever. Here the same timeout is the most a stream may stay silent:
 * then the request is aborted and the deltas fail with APIConnectionTimeoutError. So does a stream still going at
 * `deadlineMs` (STREAM_DEADLINE_MS), one that drips a chunk just inside the timeout included.
 */
export async function streamChat(
  provider: ChatProvider,
  r: ChatRequest,
  { deadlineMs = STREAM_DEADLINE_MS }: { deadlineMs?: number } = {},
): Promise<AsyncIterable<ChatDelta>> {
  const stream = await provider.client.chat.completions.create({
    model: r.model,
    messages: r.messages,
    temperature: r.temperature,
    max_tokens: r.maxTokens,
    stream: true,
    stream_options: { include_usage: true },
  });
  const idleMs = provider.client.timeout;
  const endBy = Date.now() + deadlineMs;
  return (async function* () {
    const chunks = stream[Symbol.asyncIterator]();
    try {
      for (;;) {
        const left = endBy - Date.now();
        const next = await withinIdle(chunks.next(), Math.max(0, Math.min(idleMs, left)));
        if (next === undefined) {
          throw new APIConnectionTimeoutError({
            message:
              left <= idleMs
                ? `the stream was still going after ${deadlineMs} ms`
                : `the stream was silent for ${idleMs} ms`,
          });
        }
        if (next.done) return;
        const { choices, usage } = next.value;
        const choice = choices[0];
        yield {
          text: choice?.delta?.content ?? undefined,
          finishReason: choice?.finish_reason ?? undefined,
          usage: usage
            ? { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens }
            : undefined,
        };
      }
    } catch (err) {
      throw asProviderError(err);
    } finally {
      // Left early (a flagged chunk) or timed out: the request is aborted, and a read that never settled is not
      // waited for (a fetch that ignored the abort would hang us again). After the end, aborting does nothing.
      stream.controller.abort();
    }
  })();
}

/**
 * The longest a streamed answer may take, however steadily it trickles in: the interaction's token lasts 15
 * minutes, and the reply's final edit (what arrived, and the note that it stopped early) needs it.
 */
export const STREAM_DEADLINE_MS = 10 * 60_000;

/** The next chunk, or undefined when none came within `ms`. */
async function withinIdle<T>(next: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const silent = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([next, silent]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A 400 that refuses streaming itself (a model or server that cannot stream, or does not know stream_options):
 * worth asking again without it. Any other error is the answer's.
 */
export function refusesStreaming(err: unknown): boolean {
  if (!(err instanceof APIError) || err.status !== 400) return false;
  const body = err.error as { param?: unknown; message?: unknown } | undefined;
  const param = typeof body?.param === "string" ? body.param : "";
  return (
    /^stream/.test(param) || /\bstream/i.test(typeof body?.message === "string" ? body.message : err.message)
  );
}

/** A stream cut by the network (undici's "terminated", a reset) is a connection error, as the SDK names one. */
function asProviderError(err: unknown): unknown {
  if (classifyProviderError(err)) return err;
  return new APIConnectionError({
    message: `the stream broke off (${err instanceof Error ? err.message : String(err)})`,
    cause: err instanceof Error ? err : undefined,
  });
}
