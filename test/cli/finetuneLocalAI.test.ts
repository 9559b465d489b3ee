// The "done when" for a school's own GPU, from the terminal: a fake LocalAI on loopback (its
// fine-tuning API and /v1), a `localai` entry in FINETUNE_PROVIDERS pointing at it, then `finetune FILE
// --provider gpu --wait --json` trains, exports under the deterministic name and reports `servedAs`, and
// `ask --model <it>` is answered through LocalAI's own /v1/chat/completions.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { FinetuneResult } from "../../src/cli/finetune.ts";
import { deploymentNameFor } from "../../src/providers/deployments.ts";
import { type FakeLocalAI, startFakeLocalAI } from "../fakes/localai/index.ts";
import { chatLines } from "../finetuning/jobs.fixture.ts";
import { type CliRun, runCliCaptured } from "../helpers/cli.ts";

const LLAMA = "meta-llama/Llama-3.1-8B-Instruct";
const KEY = ["la", "test", "key"].join("-");
let dir: string;
let dataset: string;
let fake: FakeLocalAI;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "classtune-cli-localai-"));
  dataset = join(dir, "lessons.jsonl");
  await writeFile(dataset, chatLines(12));
  fake = await startFakeLocalAI({ apiKey: KEY, autoAdvance: true, closeStreams: true });
});
after(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

function cli(...argv: string[]): Promise<CliRun> {
  return runCliCaptured(argv, {
    DATA_DIR: join(dir, "data"),
    LOG_LEVEL: "silent",
    FINETUNE_PROVIDERS: JSON.stringify([
      { name: "gpu", kind: "localai", baseURL: fake.url, apiKeyEnv: "SCHOOL_GPU_KEY" },
    ]),
    SCHOOL_GPU_KEY: KEY,
  });
}

test("finetune --provider gpu --wait --json ends succeeded with servedAs; ask --model answers through LocalAI", async () => {
  const r = await cli("finetune", dataset, "--provider", "gpu", "--epochs", "2", "--wait", "--json");
  assert.equal(r.code, 0, r.err);
  const result = JSON.parse(r.out) as FinetuneResult;
  assert.equal(result.provider, "gpu");
  assert.equal(result.job.status, "succeeded");
  assert.equal(result.job.baseModel, LLAMA, "the localai catalog's default base model");
  assert.equal(result.status, "ready");
  assert.equal(result.error, null);
  const name = deploymentNameFor(result.job.remoteId);
  assert.equal(result.servedAs, name, "served under the name it was exported as");
  assert.ok(fake.models.has(name), "LocalAI lists the exported model");
  const created = fake.requests.find((q) => q.method === "POST" && q.path === "/api/fine-tuning/jobs");
  assert.equal(((created?.body ?? {}) as { num_epochs?: number }).num_epochs, 2);
  assert.ok(
    fake.requests.every((q) => q.headers.authorization === `Bearer ${KEY}`),
    "the key on every call",
  );

  const ask = await cli(
    "ask",
    "--model",
    result.fineTunedModel ?? "",
    "--json",
    "What should I remember about fractions lesson 2?",
  );
  assert.equal(ask.code, 0, ask.err);
  const reply = JSON.parse(ask.out) as { servedAs: string; provider: string; answer: string };
  assert.equal(reply.servedAs, name);
  assert.equal(reply.provider, "gpu");
  assert.match(reply.answer, /fractions lesson 2/);
  const chat = fake.requests.filter((q) => q.path === "/v1/chat/completions").at(-1);
  assert.equal(
    ((chat?.body ?? {}) as { model?: string }).model,
    name,
    "asked at LocalAI by the exported name",
  );
});
