// /ask streamed from the real sandbox through the real openai SDK: the sink gets the answer as it arrives and the
// result is the whole answer; a stream cut or broken mid-way keeps what arrived, says so and records the partial
// tokens; a model that refuses streaming is asked again without it (and not streamed to again); moderation lets a
// streamed answer through only in checked chunks.
import assert from "node:assert/strict";
import { createReadStream, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { interruptionNote, truncationNote } from "../../src/classroom/ask.ts";
import { DEFAULT_MODERATION_MESSAGES } from "../../src/config.ts";
import { type Rig, startRig } from "../sandbox/helpers.ts";
import { addModel, answered, buildHarness, type Harness, sandboxModeration } from "./helpers.ts";

const G = "100000000000000001";
const HALL = "200000000000000002";
const STUDENT = "300000000000000001";
const BASE = "gpt-4o-mini-2024-07-18";
const LONG_ANSWER = Array.from(
  { length: 12 },
  (_, i) =>
    `Plants use light in step ${i + 1} of photosynthesis to make sugar from water and carbon dioxide.`,
).join(" ");
const FLAGGED_ANSWER = `${LONG_ANSWER} Then [flag:violence/graphic] something no class should read.`;

async function fineTune(rig: Rig, pairs: [string, string][]): Promise<string> {
  const path = join(rig.dir, "train.jsonl");
  const lines = Array.from({ length: 12 }, (_, i) => {
    const [q, a] = pairs[i % pairs.length] as [string, string];
    return JSON.stringify({
      messages: [
        { role: "user", content: i < pairs.length ? q : `${q} (variant ${i})` },
        { role: "assistant", content: a },
      ],
    });
  });
  writeFileSync(path, `${lines.join("\n")}\n`);
  const file = await rig.client.files.create({ file: createReadStream(path), purpose: "fine-tune" });
  const job = await rig.client.fineTuning.jobs.create({ model: BASE, training_file: file.id, suffix: "bio" });
  rig.clock.advance(10_000_000);
  const model = (await rig.client.fineTuning.jobs.retrieve(job.id)).fine_tuned_model;
  if (!model) assert.fail("the job ended without a model");
  return model;
}

describe("/ask streamed", () => {
  let rig: Rig;
  let model: string;
  let h: Harness;
  let deltas: string[];

  const usageRows = () =>
    h.db
      .prepare(
        "SELECT completion_tokens AS completion, prompt_tokens AS prompt, error FROM ask_usage ORDER BY id",
      )
      .all() as { completion: number; prompt: number; error: string | null }[];
  const ask = (question: string) =>
    h.ask.ask({ guildId: G, channelId: HALL, userId: STUDENT, isTeacher: false, question, model }, (d) =>
      deltas.push(d),
    );
  const build = async (withModeration: boolean) => {
    h = buildHarness({
      fineTuning: { name: "sandbox", url: rig.sandbox.url },
      ...(withModeration ? { moderation: sandboxModeration(rig.sandbox.url) } : {}),
    });
    await addModel(h, G, { name: model, provider: "sandbox", baseModel: BASE });
  };

  before(async () => {
    rig = await startRig();
    model = await fineTune(rig, [
      ["How does photosynthesis work?", LONG_ANSWER],
      ["Tell me the battle story", FLAGGED_ANSWER],
      ["What is a cell?", "The smallest unit of life."],
    ]);
  });
  after(() => rig.close());
  beforeEach(async () => {
    rig.sandbox.faults.clear();
    deltas = [];
    await build(false);
  });

  it("tells the sink the answer as it arrives, in many pieces, and returns the same whole answer", async () => {
    const r = answered(await ask("How does photosynthesis work?"));
    assert.equal(r.streamed, true);
    assert.equal(r.answer, LONG_ANSWER);
    assert.ok(deltas.length > 20, `streamed in pieces (${deltas.length})`);
    assert.equal(deltas.join(""), LONG_ANSWER);
    const [row] = usageRows();
    assert.equal(row?.error, null);
    assert.equal(row?.completion, r.usage.completionTokens);
    assert.ok(
      r.usage.completionTokens > 20 && r.usage.promptTokens > 0,
      "usage from the stream's last chunk",
    );
    assert.equal(r.usage.completionTokens, deltas.length, "one token a chunk, as the sandbox streams");
  });

  it("a stream cut mid-way keeps what arrived, says so, is not cached, and records the partial tokens", async () => {
    rig.sandbox.faults.next({ cutStreamAfterChunks: 7 });
    const r = answered(await ask("How does photosynthesis work?"));
    assert.equal(r.interrupted, true);
    assert.equal(deltas.length, 7);
    assert.ok(r.answer.startsWith(deltas.join("").trim()));
    assert.ok(r.answer.endsWith(interruptionNote("sandbox")), r.answer);
    const [row] = usageRows();
    assert.equal(row?.error, "stream_connection_error");
    assert.equal(row?.completion, 7, "a token per chunk that arrived");
    assert.ok((row?.prompt ?? 0) > 0);

    deltas = [];
    const again = answered(await ask("How does photosynthesis work?"));
    assert.equal(again.cached, false, "a broken answer is never served from the cache");
    assert.equal(again.interrupted, false);
    assert.equal(again.answer, LONG_ANSWER);
  });

  it("an error event mid-stream is an interrupted answer too", async () => {
    rig.sandbox.faults.next({ errorStreamAfterChunks: 4 });
    const r = answered(await ask("How does photosynthesis work?"));
    assert.equal(r.interrupted, true);
    assert.equal(deltas.length, 4);
    assert.match(usageRows()[0]?.error ?? "", /^stream_/);
  });

  it("a stream that breaks before any text is a provider error, not an empty answer", async () => {
    rig.sandbox.faults.next({ cutStreamAfterChunks: 0 });
    const r = await ask("How does photosynthesis work?");
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.reason, "provider_error");
    assert.deepEqual(deltas, []);
  });

  it("falls back to a whole answer when the model refuses streaming, and stops asking it to stream", async () => {
    rig.sandbox.faults.next({ refuseStream: true, times: Number.POSITIVE_INFINITY });
    const before = rig.sandbox.stats.byRoute["POST /chat/completions"] ?? 0;
    const r = answered(await ask("How does photosynthesis work?"));
    assert.equal(r.streamed, false);
    assert.equal(r.answer, LONG_ANSWER);
    assert.deepEqual(deltas, [], "nothing was streamed");
    const second = answered(await ask("What is a cell?"));
    assert.equal(second.answer, "The smallest unit of life.");
    const calls = (rig.sandbox.stats.byRoute["POST /chat/completions"] ?? 0) - before;
    assert.equal(calls, 3, "one refused stream, then two whole answers: the refusal is remembered");
  });

  it("an answer cut at max-tokens while streaming carries the truncation line", async () => {
    await h.settings.setup({ guildId: G, channelId: HALL, model, teacherId: STUDENT, maxTokens: 12 });
    const r = answered(await ask("How does photosynthesis work?"));
    assert.equal(r.truncated, true);
    assert.ok(r.answer.endsWith(truncationNote(12)));
    assert.equal(deltas.length, 12);
  });

  it("with moderation, the clean start is shown in checked chunks and the flagged part never reaches the sink", async () => {
    await build(true);
    const clean = answered(await ask("How does photosynthesis work?"));
    assert.equal(clean.moderation, "passed");
    assert.equal(deltas.join(""), LONG_ANSWER);
    assert.ok(deltas.length >= 2 && deltas.length < 20, `released in a few chunks (${deltas.length})`);

    deltas = [];
    const r = answered(await ask("Tell me the battle story"));
    assert.equal(r.withheld, true);
    assert.equal(r.answer, DEFAULT_MODERATION_MESSAGES.withheld);
    assert.ok(!deltas.join("").includes("[flag:"), "the flagged text was never let through");
    assert.ok(LONG_ANSWER.startsWith(deltas.join("")), "what was shown is the clean start");
  });
});
