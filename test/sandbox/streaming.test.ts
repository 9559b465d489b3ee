// Streamed chat completions, read by the real openai SDK over loopback: OpenAI's chunk shape, the same answer and
// usage as the JSON completion, pacing on the sandbox clock, and the streaming faults (a cut, an error event, a
// refusal) as a client meets them.
import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { after, before, describe, test } from "node:test";
import { countTokens, decode, encode } from "gpt-tokenizer/encoding/o200k_base";
import OpenAI from "openai";
import type { ChatCompletionChunk } from "openai/resources/chat/completions";
import { manualClock, realClock } from "../../src/sandbox/clock.ts";
import { type Rig, startRig, writeTrainingFile } from "./helpers.ts";

type StreamParams = Omit<OpenAI.Chat.ChatCompletionCreateParamsStreaming, "model" | "messages" | "stream">;

const PHOTOSYNTHESIS = "Photosynthesis is how plants turn light, water and CO2 into sugar and oxygen.";

/** Every chunk the SDK yields, and what it threw after them (undefined when the stream ended well). */
async function drain(
  stream: AsyncIterable<ChatCompletionChunk>,
): Promise<{ chunks: ChatCompletionChunk[]; error: unknown }> {
  const chunks: ChatCompletionChunk[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk);
  } catch (error) {
    return { chunks, error };
  }
  return { chunks, error: undefined };
}

/** The text the chunks carry for choice `index`. */
const textOf = (chunks: ChatCompletionChunk[], index = 0) =>
  chunks
    .flatMap((c) => c.choices)
    .filter((c) => c.index === index)
    .map((c) => c.delta.content ?? "")
    .join("");

/** The chunks that carry content (not the role chunk's empty string). */
const contentChunks = (chunks: ChatCompletionChunk[]) =>
  chunks.filter((c) =>
    c.choices.some((ch) => typeof ch.delta.content === "string" && ch.delta.content !== ""),
  );

/** The text of the first `n` tokens, as a stream cut after `n` content chunks has sent it (ASCII answers). */
const firstTokens = (text: string, n: number) => decode(encode(text).slice(0, n));

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) await new Promise((r) => setTimeout(r, 1));
  assert.ok(condition(), `timed out waiting for ${what}`);
}

describe("sandbox streamed chat completions", () => {
  let rig: Rig;
  let model: string;
  before(async () => {
    rig = await startRig();
    const file = await rig.client.files.create({
      file: createReadStream(writeTrainingFile(rig.dir, 12)),
      purpose: "fine-tune",
    });
    const job = await rig.client.fineTuning.jobs.create({ model: "gpt-4o-mini", training_file: file.id });
    rig.clock.advance(10_000_000);
    model = (await rig.client.fineTuning.jobs.retrieve(job.id)).fine_tuned_model ?? "";
    assert.ok(model.startsWith("ft:"));
  });
  after(() => rig.close());

  const ask = (m: string, content: string, extra: StreamParams = {}) =>
    rig.client.chat.completions.create({
      model: m,
      messages: [{ role: "user", content }],
      stream: true,
      ...extra,
    });
  const askPlain = (
    m: string,
    content: string,
    extra: Partial<OpenAI.Chat.ChatCompletionCreateParamsNonStreaming> = {},
  ) => rig.client.chat.completions.create({ model: m, messages: [{ role: "user", content }], ...extra });

  test("the chunks reassemble to exactly the non-streaming answer, a token a chunk, in OpenAI's chunk shape", async () => {
    for (const [m, question] of [
      [model, "What is photosynthesis?"],
      [model, "What is the boiling point of water at sea level?"],
      ["gpt-4o-mini", "Say something"],
    ] as const) {
      const plain = await askPlain(m, question);
      const answer = plain.choices[0]?.message.content ?? "";
      const { chunks, error } = await drain(await ask(m, question));
      assert.equal(error, undefined);
      assert.equal(textOf(chunks), answer, question);

      const [first] = chunks;
      assert.ok(first);
      assert.match(first.id, /^chatcmpl-/);
      assert.equal(first.model, plain.model);
      for (const c of chunks) {
        assert.equal(c.object, "chat.completion.chunk");
        assert.deepEqual(
          [c.id, c.created, c.model, c.system_fingerprint, c.service_tier],
          [first.id, first.created, first.model, "fp_sandbox", "default"],
        );
        assert.equal("usage" in c, false, "no usage field unless stream_options.include_usage");
      }
      assert.deepEqual(first.choices, [
        {
          index: 0,
          delta: { role: "assistant", content: "", refusal: null },
          logprobs: null,
          finish_reason: null,
        },
      ]);
      const last = chunks.at(-1);
      assert.deepEqual(last?.choices, [{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }]);
      const content = chunks.slice(1, -1);
      assert.ok(content.every((c) => c.choices[0]?.finish_reason === null && c.choices[0]?.delta.content));
      // A token a chunk: "°" may take two tokens and is sent whole, so never more chunks than tokens.
      assert.ok(content.length <= countTokens(answer) && content.length >= countTokens(answer) - 2, question);
      if (/^[\x20-\x7e]*$/.test(answer)) assert.equal(content.length, countTokens(answer), question);
    }
  });

  test("on the wire: text/event-stream, data: events, and data: [DONE] last", async () => {
    const res = await fetch(`${rig.sandbox.url}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${"sk-" + "test"}`, "content-type": "application/json" },
      body: JSON.stringify({
        model,
        messages: [{ role: "user", content: "What is photosynthesis?" }],
        stream: true,
      }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const body = await res.text();
    const events = body.split("\n\n");
    assert.equal(events.pop(), "", "every event ends with a blank line");
    assert.ok(events.every((e) => e.startsWith("data: ")));
    assert.equal(events.at(-1), "data: [DONE]");
    assert.equal(events.length, 1 + countTokens(PHOTOSYNTHESIS) + 1 + 1);
    const chunk = JSON.parse(events[1]?.slice("data: ".length) ?? "{}") as Record<string, unknown>;
    assert.equal(typeof chunk.obfuscation, "string", "chunks carry OpenAI's obfuscation padding by default");

    const lean = await rig.client.chat.completions.create({
      model,
      messages: [{ role: "user", content: "What is photosynthesis?" }],
      stream: true,
      stream_options: { include_obfuscation: false },
    });
    const { chunks } = await drain(lean);
    assert.ok(
      chunks.every((c) => !("obfuscation" in c)),
      "include_obfuscation: false leaves it out",
    );
  });

  test("with include_usage every chunk has usage null and a last chunk holds the non-streaming usage", async () => {
    const question = "Who wrote Romeo and Juliet?";
    const plain = await askPlain(model, question);
    const { chunks } = await drain(await ask(model, question, { stream_options: { include_usage: true } }));
    const last = chunks.at(-1);
    assert.deepEqual(last?.choices, []);
    assert.deepEqual(last?.usage, plain.usage);
    for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null);
    assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, "stop");
  });

  test("max_tokens cuts the stream where the JSON answer is cut, with finish_reason length", async () => {
    const plain = await askPlain(model, "What is photosynthesis?", { max_tokens: 5 });
    assert.equal(plain.choices[0]?.finish_reason, "length");
    const { chunks } = await drain(
      await ask(model, "What is photosynthesis?", { max_tokens: 5, stream_options: { include_usage: true } }),
    );
    assert.equal(textOf(chunks), plain.choices[0]?.message.content);
    assert.equal(textOf(chunks), firstTokens(PHOTOSYNTHESIS, 5));
    assert.equal(contentChunks(chunks).length, 5);
    assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, "length");
    assert.equal(chunks.at(-1)?.usage?.completion_tokens, 5);
  });

  test("n > 1 streams each choice by its index, and usage counts every choice", async () => {
    const plain = await askPlain(model, "What is the capital of France?", { n: 2 });
    const { chunks } = await drain(
      await ask(model, "What is the capital of France?", { n: 2, stream_options: { include_usage: true } }),
    );
    assert.ok(
      chunks.every((c) => c.choices.length <= 1),
      "one choice a chunk, as OpenAI sends them",
    );
    for (const index of [0, 1]) {
      assert.equal(textOf(chunks, index), "Paris is the capital of France.");
      const finish = chunks.flatMap((c) => c.choices).filter((c) => c.index === index && c.finish_reason);
      assert.deepEqual(
        finish.map((c) => c.finish_reason),
        ["stop"],
      );
    }
    assert.deepEqual(chunks.at(-1)?.usage, plain.usage);
  });

  test("stream_options without stream: true is a 400, as OpenAI answers it", async () => {
    for (const stream of [undefined, false] as const) {
      await assert.rejects(
        rig.client.chat.completions.create({
          model,
          messages: [{ role: "user", content: "hi" }],
          ...(stream === undefined ? {} : { stream }),
          stream_options: { include_usage: true },
        }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.BadRequestError);
          assert.equal(err.param, "stream_options");
          assert.equal(err.type, "invalid_request_error");
          assert.equal(
            err.message,
            "400 The 'stream_options' parameter is only allowed when 'stream' is enabled.",
          );
          return true;
        },
      );
    }
    await assert.rejects(
      rig.client.chat.completions.create({
        model,
        messages: [{ role: "user", content: "hi" }],
        stream: "yes" as unknown as true,
      }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === "stream",
    );
  });

  test("a cut after N content chunks: the SDK yields those chunks, then its iterator throws", async () => {
    rig.sandbox.faults.next({ cutStreamAfterChunks: 3 });
    const { chunks, error } = await drain(await ask(model, "What is photosynthesis?"));
    assert.ok(error instanceof Error, "the iterator throws on a cut stream");
    assert.equal(contentChunks(chunks).length, 3);
    assert.equal(textOf(chunks), firstTokens(PHOTOSYNTHESIS, 3));
    assert.ok(chunks.every((c) => c.choices.every((ch) => ch.finish_reason === null)));
    // A count past the answer's length cuts just before the finish chunk: all the text, no finish, a throw.
    rig.sandbox.faults.next({ cutStreamAfterChunks: 1000 });
    const whole = await drain(await ask(model, "What is photosynthesis?"));
    assert.ok(whole.error instanceof Error);
    assert.equal(textOf(whole.chunks), PHOTOSYNTHESIS);
    assert.ok(whole.chunks.every((c) => c.choices.every((ch) => ch.finish_reason === null)));
    // The sandbox itself is unharmed, and the rules were used up.
    const again = await drain(await ask(model, "What is photosynthesis?"));
    assert.equal(again.error, undefined);
    assert.equal(textOf(again.chunks), PHOTOSYNTHESIS);
  });

  test("an error event after N chunks: the SDK throws an APIError after yielding the text before it", async () => {
    rig.sandbox.faults.next({ errorStreamAfterChunks: 2 });
    const { chunks, error } = await drain(await ask(model, "What is photosynthesis?"));
    assert.ok(error instanceof OpenAI.APIError, `an APIError, not ${String(error)}`);
    assert.equal(error.status, undefined, "a mid-stream error has no HTTP status: the 200 was already sent");
    assert.equal(error.type, "server_error");
    assert.match(error.message, /The server had an error while processing your request/);
    assert.equal(textOf(chunks), firstTokens(PHOTOSYNTHESIS, 2));

    rig.sandbox.faults.next({
      errorStreamAfterChunks: 0,
      message: "Overloaded mid-answer.",
      code: "overloaded",
    });
    const early = await drain(await ask(model, "What is photosynthesis?"));
    assert.ok(early.error instanceof OpenAI.APIError);
    assert.equal(early.error.code, "overloaded");
    assert.match(early.error.message, /Overloaded mid-answer\./);
    assert.equal(textOf(early.chunks), "", "only the role chunk came before it");
    assert.equal(early.chunks.length, 1);
  });

  test("a model that refuses streaming answers stream: true with a 400 and still answers without it", async () => {
    rig.sandbox.faults.next({ refuseStream: true, model, times: 2 });
    // Non-streaming requests and other models do not consume a streaming rule.
    assert.equal(
      (await askPlain(model, "What is photosynthesis?")).choices[0]?.message.content,
      PHOTOSYNTHESIS,
    );
    assert.equal((await drain(await ask("gpt-4o-mini", "hi"))).error, undefined);
    for (let i = 0; i < 2; i++) {
      await assert.rejects(ask(model, "What is photosynthesis?"), (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError);
        assert.equal(err.param, "stream");
        assert.equal(err.code, "unsupported_value");
        assert.match(err.message, /Streaming is not supported for the model/);
        return true;
      });
    }
    assert.equal((await drain(await ask(model, "What is photosynthesis?"))).error, undefined, "used up");
  });

  test("a streaming rule takes no status, latency or reset", () => {
    assert.throws(() => rig.sandbox.faults.next({ cutStreamAfterChunks: 1, status: 500 }), /takes no status/);
    assert.throws(() => rig.sandbox.faults.next({ refuseStream: true, errorStreamAfterChunks: 1 }), /one of/);
    assert.throws(() => rig.sandbox.faults.next({ model, status: 429 }), /streaming rules only/);
  });
});

describe("sandbox stream pacing", () => {
  test("chunks come at streamTokensPerSecond on the sandbox clock: none before its time", async () => {
    const rig = await startRig({ streamTokensPerSecond: 10 });
    try {
      const t0 = rig.clock.now();
      const stream = await rig.client.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "Pace yourself" }],
        stream: true,
        max_tokens: 6,
      });
      // The clock moves 25 ms at a time while the test reads; each chunk notes the clock when it arrived.
      let reading = true;
      const driver = (async () => {
        while (reading) {
          await new Promise((r) => setTimeout(r, 1));
          rig.clock.advance(25);
        }
      })();
      const seen: Array<{ at: number; text: string }> = [];
      for await (const chunk of stream) {
        seen.push({ at: rig.clock.now() - t0, text: chunk.choices[0]?.delta.content ?? "" });
      }
      reading = false;
      await driver;
      const content = seen.filter((s) => s.text !== "");
      assert.equal(content.length, 6);
      // 10 tokens a second: the k-th token is due 100·k ms after the request, never earlier.
      content.forEach((c, i) => {
        assert.ok(c.at >= (i + 1) * 100, `token ${i + 1} came at ${c.at} ms`);
      });
    } finally {
      await rig.close();
    }
  });

  test("a client that leaves mid-stream stops it: no wait is left behind and the sandbox keeps answering", async () => {
    const clock = manualClock();
    const rig = await startRig({ clock, streamTokensPerSecond: 10 });
    try {
      const stream = await rig.client.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "I will leave early" }],
        stream: true,
      });
      const iterator = stream[Symbol.asyncIterator]();
      assert.equal((await iterator.next()).value?.choices[0]?.delta.role, "assistant");
      await until(() => clock.sleeping() === 1, "the stream to wait for its first token");
      clock.advance(100);
      assert.ok((await iterator.next()).value?.choices[0]?.delta.content);
      await until(() => clock.sleeping() === 1, "the stream to wait for its second token");
      stream.controller.abort();
      await until(() => clock.sleeping() === 0, "the abandoned stream's wait to end");
      const plain = await rig.client.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "Still there?" }],
      });
      assert.equal(plain.choices[0]?.finish_reason, "stop");
    } finally {
      await rig.close();
    }
  });

  test("the real clock's sleep ends early when aborted, leaving no timer", async () => {
    const clock = realClock();
    const gone = new AbortController();
    const before = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const sleeping = clock.sleep(60_000, gone.signal);
    assert.equal(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length, before + 1);
    gone.abort();
    await sleeping;
    assert.equal(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length, before);
  });
});
