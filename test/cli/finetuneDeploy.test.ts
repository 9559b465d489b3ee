// The open-model flow from the terminal, as the "done when" runs it: `classtune sandbox` as its own
// process, a Nebius-kind provider pointed at it, then `finetune --provider nebius-lab --model <Llama 3.1> --wait
// --json` trains, deploys (the sandbox's /v0/models) and reports `servedAs`, and `ask --model` asks the deployed
// name. The default provider is another (sandbox-kind) one at the same sandbox: with no --model, the job takes
// nebius-lab's default base model (Llama 3.1, from the nebius catalog), never the default provider's.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { FinetuneResult } from "../../src/cli/finetune.ts";
import { deploymentNameFor } from "../../src/providers/deployments.ts";
import { chatLines } from "../finetuning/jobs.fixture.ts";
import { type CliRun, runCliCaptured } from "../helpers/cli.ts";

const LLAMA = "meta-llama/Llama-3.1-8B-Instruct";
let dir: string;
let dataset: string;
let sandbox: ChildProcess;
let url: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "classtune-cli-deploy-"));
  dataset = join(dir, "lessons.jsonl");
  await writeFile(dataset, chatLines(12));
  sandbox = spawn(process.execPath, ["scripts/run.js", "src/cli.ts", "sandbox", "--port", "0"], {
    env: {
      ...process.env,
      DATA_DIR: join(dir, "sandbox"),
      LOG_LEVEL: "silent",
      OPENAI_API_KEY: "",
      SANDBOX_SECONDS_PER_STEP: "0.01",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  sandbox.stdout?.setEncoding("utf8");
  url = await new Promise<string>((resolve, reject) => {
    sandbox.stdout?.on("data", (chunk: string) => {
      out += chunk;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(out);
      if (m?.[1] && /NEBIUS_LAB_KEY=sandbox/.test(out)) resolve(m[1]);
    });
    sandbox.on("exit", (code) => reject(new Error(`the sandbox exited ${code}: ${out}`)));
  });
  assert.match(out, new RegExp(`"kind":"nebius","baseURL":"${url.replace(/[.]/g, "\\.")}"`));
});
after(async () => {
  const exited = new Promise((resolve) => sandbox.once("exit", resolve));
  sandbox.kill("SIGTERM");
  await exited;
  await rm(dir, { recursive: true, force: true });
});

function cli(...argv: string[]): Promise<CliRun> {
  return runCliCaptured(argv, {
    DATA_DIR: join(dir, "data"),
    LOG_LEVEL: "silent",
    FINETUNE_PROVIDERS: JSON.stringify([
      { name: "lab", kind: "sandbox", baseURL: url },
      { name: "nebius-lab", kind: "nebius", baseURL: url, apiKeyEnv: "NEBIUS_LAB_KEY" },
    ]),
    FINETUNE_DEFAULT_PROVIDER: "lab",
    NEBIUS_LAB_KEY: "sandbox",
  });
}

test("finetune --wait on a Nebius-kind provider waits for the deploy; the JSON says ready and servedAs", async () => {
  const r = await cli("finetune", dataset, "--provider", "nebius-lab", "--wait", "--json");
  assert.equal(r.code, 0, r.err);
  const result = JSON.parse(r.out) as FinetuneResult;
  assert.equal(result.provider, "nebius-lab");
  assert.equal(result.job.status, "succeeded");
  assert.equal(result.job.baseModel, LLAMA, "nebius-lab's default base model, not the default provider's");
  assert.equal(result.status, "ready", "trained and deployed");
  assert.equal(result.error, null);
  const name = deploymentNameFor(result.job.remoteId);
  assert.match(
    result.servedAs ?? "",
    new RegExp(`^meta-llama/Llama-3\\.1-8B-Instruct-LoRa:${name}-[a-z]{4}$`),
  );
  assert.notEqual(result.servedAs, result.fineTunedModel);
  for (const k of [
    "job",
    "provider",
    "fineTunedModel",
    "servedAs",
    "status",
    "testAnswers",
    "error",
    "metrics",
  ]) {
    assert.ok(k in result, k);
  }
  assert.equal(result.testAnswers.length, 3, "the seed's questions, asked of the deployed model");
  assert.ok(
    result.testAnswers.every((a) => a.error === null),
    JSON.stringify(result.testAnswers),
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
  assert.equal(reply.servedAs, result.servedAs, "asked by the deployed name");
  assert.equal(reply.provider, "nebius-lab");
  assert.match(reply.answer, /fractions lesson 2/, "the fine-tune answers from its training examples");

  const byDefault = await cli("ask", "--json", "What is the capital of France?");
  assert.equal((JSON.parse(byDefault.out) as { servedAs: string }).servedAs, result.servedAs);
});
