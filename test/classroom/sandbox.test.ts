// /ask against the real sandbox (two of them, as two providers), through the real openai SDK over loopback.
import assert from "node:assert/strict";
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { openDb } from "../../src/db/open.ts";
import { type ManualClock, manualClock } from "../../src/sandbox/clock.ts";
import { type SandboxHandle, startSandbox } from "../../src/sandbox/server.ts";
import { addModel, answered, buildHarness, type Harness } from "./helpers.ts";

const G = "100000000000000001";
const CLASS = "200000000000000001";
const STUDENT = "300000000000000001";
const TEACHER = "300000000000000009";
const BASE = "gpt-4o-mini-2024-07-18";

interface Box {
  sandbox: SandboxHandle;
  client: OpenAI;
  clock: ManualClock;
  dir: string;
  close(): Promise<void>;
}

async function startBox(): Promise<Box> {
  const dir = mkdtempSync(join(tmpdir(), "classtune-ask-sandbox-"));
  const db = openDb(":memory:");
  const clock = manualClock();
  const sandbox = await startSandbox({ db, dataDir: dir, clock, secondsPerStep: 1 });
  return {
    sandbox,
    client: new OpenAI({ apiKey: "sandbox", baseURL: sandbox.url, maxRetries: 0 }),
    clock,
    dir,
    async close() {
      await sandbox.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Fine-tunes a model in the sandbox on `pairs` and returns its name. */
async function fineTune(box: Box, suffix: string, pairs: [string, string][]): Promise<string> {
  const path = join(box.dir, `${suffix}.jsonl`);
  const lines = Array.from({ length: 12 }, (_, i) => {
    const [q, a] = pairs[i % pairs.length] as [string, string];
    return JSON.stringify({
      messages: [
        { role: "system", content: "You are a helpful educational assistant." },
        { role: "user", content: i < pairs.length ? q : `${q} (variant ${i})` },
        { role: "assistant", content: a },
      ],
    });
  });
  writeFileSync(path, `${lines.join("\n")}\n`);
  const file = await box.client.files.create({ file: createReadStream(path), purpose: "fine-tune" });
  const job = await box.client.fineTuning.jobs.create({ model: BASE, training_file: file.id, suffix });
  box.clock.advance(10_000_000);
  const model = (await box.client.fineTuning.jobs.retrieve(job.id)).fine_tuned_model;
  if (!model?.startsWith("ft:")) assert.fail(`the job ended without a model: ${JSON.stringify(model)}`);
  return model;
}

const chatCalls = (box: Box) => box.sandbox.stats.byRoute["POST /chat/completions"] ?? 0;

describe("AskService with two sandboxes as two providers", () => {
  let a: Box;
  let b: Box;
  let modelA: string;
  let modelB: string;
  let h: Harness;

  before(async () => {
    a = await startBox();
    b = await startBox();
    modelA = await fineTune(a, "bio", [
      ["What is photosynthesis?", "Plants turn light, water and CO2 into sugar and oxygen."],
      ["What is a cell?", "The smallest unit of life."],
    ]);
    modelB = await fineTune(b, "hist", [
      ["Who was the first Roman emperor?", "Augustus was the first Roman emperor."],
      ["When did the Berlin Wall fall?", "The Berlin Wall fell in 1989."],
    ]);
    h = buildHarness({
      fineTuning: { name: "sandbox", url: a.sandbox.url },
      extra: [{ name: "school", url: b.sandbox.url, free: true }],
    });
    await addModel(h, G, { name: modelA, provider: "sandbox", baseModel: BASE });
    await addModel(h, G, { name: modelB, provider: "school", baseModel: BASE });
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  const ask = (question: string, model?: string) =>
    h.ask.ask({ guildId: G, channelId: CLASS, userId: STUDENT, isTeacher: false, question, model });

  it("sends each model to the sandbox that serves it", async () => {
    const [beforeA, beforeB] = [chatCalls(a), chatCalls(b)];
    const bio = answered(await ask("What is photosynthesis?", modelA));
    assert.equal(bio.provider, "sandbox");
    assert.equal(bio.answer, "Plants turn light, water and CO2 into sugar and oxygen.");
    assert.deepEqual([chatCalls(a) - beforeA, chatCalls(b) - beforeB], [1, 0]);
    const hist = answered(await ask("Who was the first Roman emperor?", modelB));
    assert.equal(hist.provider, "school");
    assert.equal(hist.answer, "Augustus was the first Roman emperor.");
    assert.deepEqual([chatCalls(a) - beforeA, chatCalls(b) - beforeB], [1, 1]);
    assert.ok(hist.usage.promptTokens > 0 && hist.usage.completionTokens > 0, "real usage counts");
  });

  it("answers a repeat from the cache without a second request", async () => {
    const first = answered(await ask("What is a cell?", modelA));
    const calls = chatCalls(a);
    const again = answered(await ask("what is a CELL", modelA));
    assert.equal(again.cached, true);
    assert.equal(again.answer, first.answer);
    assert.equal(chatCalls(a), calls);
  });

  it("explains the sandbox's insufficient_quota in plain words", async () => {
    a.sandbox.faults.next({ path: "/chat/completions", status: 429, code: "insufficient_quota" });
    const r = await ask("A question that is not cached", modelA);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, "insufficient_quota");
    assert.match(!r.ok ? r.message : "", /run out of credit/);
  });

  it("says plainly when the provider times out", async () => {
    const slow = buildHarness({ fineTuning: { name: "sandbox", url: a.sandbox.url }, timeoutMs: 100 });
    a.sandbox.faults.next({ path: "/chat/completions", latencyMs: 1000 });
    const r = await slow.ask.ask({
      guildId: G,
      channelId: CLASS,
      userId: STUDENT,
      isTeacher: false,
      question: "slow?",
    });
    assert.equal(!r.ok && r.code, "timeout");
    assert.match(!r.ok ? r.message : "", /took too long/);
    assert.equal((await slow.usage.between(G, "2000", "2100"))[0]?.error, "timeout");
  });

  it("falls back when the model is deleted in the sandbox (404 model_not_found)", async () => {
    await h.settings.setup({
      guildId: G,
      channelId: CLASS,
      model: modelA,
      fallbackModel: BASE,
      teacherId: TEACHER,
    });
    await a.client.models.delete(modelA);
    const r = answered(await ask("Explain photosynthesis again please"));
    assert.equal(r.usedFallback, true);
    assert.equal(r.unavailableModel, modelA);
    assert.equal(r.model, BASE);
    assert.match(r.answer, /sandbox/i);
    assert.equal(h.notices.length, 1);
    assert.equal(h.notices[0]?.model, modelA);
  });
});
