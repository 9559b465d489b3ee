// Chat completions: a sandbox fine-tuned model answers from its own training examples; base models
// say plainly they are the sandbox; usage is real token counts; deleted and unknown models are 404s (streaming:
// streaming.test.ts).
import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { after, before, describe, test } from "node:test";
import { countTokens } from "gpt-tokenizer/encoding/o200k_base";
import OpenAI from "openai";
import { DONT_KNOW_ANSWER } from "../../src/sandbox/chat.ts";
import { QUESTIONS, type Rig, startRig, writeTrainingFile } from "./helpers.ts";

describe("sandbox chat completions", () => {
  let rig: Rig;
  let model: string;
  before(async () => {
    rig = await startRig();
    const file = await rig.client.files.create({
      file: createReadStream(writeTrainingFile(rig.dir, 12)),
      purpose: "fine-tune",
    });
    const job = await rig.client.fineTuning.jobs.create({
      model: "gpt-4o-mini",
      training_file: file.id,
      suffix: "quiz",
    });
    rig.clock.advance(10_000_000);
    model = (await rig.client.fineTuning.jobs.retrieve(job.id)).fine_tuned_model ?? "";
    assert.ok(model.startsWith("ft:"));
  });
  after(() => rig.close());

  const ask = (
    m: string,
    content: string,
    extra: Partial<OpenAI.Chat.ChatCompletionCreateParamsNonStreaming> = {},
  ) => rig.client.chat.completions.create({ model: m, messages: [{ role: "user", content }], ...extra });

  test("the fine-tuned model answers a training question with that example's answer", async () => {
    for (const [q, a] of QUESTIONS) {
      const reply = await ask(model, q);
      assert.equal(reply.choices[0]?.message.content, a, q);
    }
  });

  test("a paraphrase still finds the closest training question", async () => {
    const reply = await ask(model, "who was the author of romeo & juliet?");
    assert.equal(reply.choices[0]?.message.content, "William Shakespeare wrote Romeo and Juliet.");
    const other = await ask(model, "tell me the capital city of france");
    assert.equal(other.choices[0]?.message.content, "Paris is the capital of France.");
  });

  test("a question far from every example gets a plain 'I don't know that yet'", async () => {
    const reply = await ask(model, "Explain quantum chromodynamics renormalisation");
    assert.equal(reply.choices[0]?.message.content, DONT_KNOW_ANSWER);
  });

  test("usage holds real token counts and the response has OpenAI's shape", async () => {
    const reply = await ask(model, "What is the capital of France?");
    const answer = "Paris is the capital of France.";
    assert.equal(reply.object, "chat.completion");
    assert.match(reply.id, /^chatcmpl-/);
    assert.equal(reply.model, model);
    assert.equal(reply.choices[0]?.finish_reason, "stop");
    assert.equal(reply.usage?.completion_tokens, countTokens(answer));
    // 3 (priming) + 3 per message + role + content
    assert.equal(
      reply.usage?.prompt_tokens,
      3 + 3 + countTokens("user") + countTokens("What is the capital of France?"),
    );
    assert.equal(
      reply.usage?.total_tokens,
      (reply.usage?.prompt_tokens ?? 0) + (reply.usage?.completion_tokens ?? 0),
    );
  });

  test("max_completion_tokens truncates with finish_reason length", async () => {
    const reply = await ask(model, "What is photosynthesis?", { max_completion_tokens: 3 });
    assert.equal(reply.choices[0]?.finish_reason, "length");
    assert.equal(reply.usage?.completion_tokens, 3);
  });

  test("a base model says it is the sandbox and repeats the question's gist", async () => {
    const reply = await ask("gpt-4o-mini", "Why is the sky blue?");
    const text = reply.choices[0]?.message.content ?? "";
    assert.match(text, /sandbox/i);
    assert.match(text, /Why is the sky blue\?/);
    assert.equal(reply.model, "gpt-4o-mini-2024-07-18");
  });

  test("an unknown model is a 404 model_not_found, streamed or not", async () => {
    for (const stream of [false, true]) {
      await assert.rejects(
        rig.client.chat.completions.create({
          model: "ft:gpt-4o-mini-2024-07-18:someone:x:abcdefgh",
          messages: [{ role: "user", content: "hi" }],
          stream,
        }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.NotFoundError);
          assert.equal(err.code, "model_not_found");
          return true;
        },
      );
    }
  });

  test("a deleted fine-tuned model is gone: retrieve and chat are 404 model_not_found", async () => {
    const file = await rig.client.files.create({
      file: createReadStream(writeTrainingFile(rig.dir, 10, "delete-me.jsonl")),
      purpose: "fine-tune",
    });
    const job = await rig.client.fineTuning.jobs.create({ model: "gpt-4.1-mini", training_file: file.id });
    rig.clock.advance(10_000_000);
    const doomed = (await rig.client.fineTuning.jobs.retrieve(job.id)).fine_tuned_model ?? "";
    assert.equal((await rig.client.models.retrieve(doomed)).id, doomed);
    assert.ok((await ask(doomed, "How many legs does a spider have?")).choices[0]);

    const deleted = await rig.client.models.delete(doomed);
    assert.deepEqual(deleted, { id: doomed, object: "model", deleted: true });
    await assert.rejects(rig.client.models.retrieve(doomed), OpenAI.NotFoundError);
    await assert.rejects(ask(doomed, "How many legs does a spider have?"), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError);
      assert.equal(err.code, "model_not_found");
      return true;
    });
    assert.ok(!(await rig.client.models.list()).data.some((m) => m.id === doomed));
    await assert.rejects(rig.client.models.delete("gpt-4o-mini-2024-07-18"), OpenAI.PermissionDeniedError);
  });
});
