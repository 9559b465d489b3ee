// `classtune finetune --provider NAME` with several providers configured: the embedded sandbox (the default),
// two standalone sandboxes ("lab", fast, and "slow") and "localai" (its jobs not yet supported). The job runs
// at the provider named, the JSON says which, and jobs, cancel and ask use each job's own provider.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import OpenAI from "openai";
import type { FinetuneResult } from "../../src/cli/finetune.ts";
import type { JobRow } from "../../src/db/jobs.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { type SandboxHandle, startSandbox } from "../../src/sandbox/server.ts";
import { chatLines } from "../finetuning/jobs.fixture.ts";
import { type CliRun, runCliCaptured } from "../helpers/cli.ts";

let dir: string;
let dataset: string;
const sandboxes: { db: Db; handle: SandboxHandle }[] = [];
let lab: SandboxHandle;
let slow: SandboxHandle;

async function standalone(name: string, secondsPerStep: number): Promise<SandboxHandle> {
  const db = openDb(join(dir, `${name}.db`));
  const handle = await startSandbox({ db, dataDir: join(dir, name), secondsPerStep });
  sandboxes.push({ db, handle });
  return handle;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "classtune-cli-providers-"));
  dataset = join(dir, "lessons.jsonl");
  await writeFile(dataset, chatLines(12));
  lab = await standalone("lab", 0.002);
  slow = await standalone("slow", 30);
});
after(async () => {
  for (const s of sandboxes) {
    await s.handle.close();
    s.db.close();
  }
  await rm(dir, { recursive: true, force: true });
});

function cli(...argv: string[]): Promise<CliRun> {
  return runCliCaptured(argv, {
    DATA_DIR: join(dir, "data"),
    LOG_LEVEL: "silent",
    SANDBOX_SECONDS_PER_STEP: "0.002",
    FINETUNE_PROVIDERS: JSON.stringify([
      { kind: "sandbox", name: "sandbox" },
      { kind: "sandbox", name: "lab", baseURL: lab.url },
      { kind: "sandbox", name: "slow", baseURL: slow.url },
      {
        kind: "localai",
        name: "localai",
        baseURL: "http://127.0.0.1:9/v1",
      },
    ]),
  });
}

const remote = (at: SandboxHandle, id: string) =>
  new OpenAI({ apiKey: "sandbox", baseURL: at.url, maxRetries: 0 }).fineTuning.jobs.retrieve(id);

test("finetune --provider lab --wait --json trains at lab and says so: provider, fineTunedModel, status", async () => {
  const r = await cli("finetune", dataset, "--provider", "lab", "--wait", "--json", "--suffix", "lab");
  assert.equal(r.code, 0, r.err);
  const result = JSON.parse(r.out) as FinetuneResult;
  assert.equal(result.provider, "lab");
  // A succeeded job's status is its model's serving step: a sandbox serves it at once, as itself.
  assert.equal(result.status, "ready");
  assert.equal(result.job.status, "succeeded");
  assert.equal(result.job.provider, "lab");
  assert.match(result.fineTunedModel ?? "", /:lab:/);
  assert.equal(result.fineTunedModel, result.job.fineTunedModel);
  assert.equal(result.servedAs, result.fineTunedModel);
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
  assert.equal((await remote(lab, result.job.remoteId)).status, "succeeded", "the job is lab's");
  assert.ok(
    result.testAnswers.every((a) => a.error === null),
    "its model answered at lab",
  );

  const ask = await cli("ask", "--json", "What should I remember about fractions lesson 2?");
  assert.equal(ask.code, 0, ask.err);
  const reply = JSON.parse(ask.out) as { provider: string; model: string };
  assert.deepEqual(
    [reply.model, reply.provider],
    [result.fineTunedModel, "lab"],
    "asked where it was trained",
  );
});

test("without --wait the JSON has the same keys; jobs and cancel use each job's own provider", async () => {
  const r = await cli("finetune", dataset, "--provider", "slow", "--json");
  assert.equal(r.code, 0, r.err);
  const started = JSON.parse(r.out) as {
    job: JobRow;
    provider: string;
    fineTunedModel: null;
    status: string;
  };
  assert.equal(started.provider, "slow");
  assert.equal(started.fineTunedModel, null);
  assert.equal(started.status, started.job.status);

  const list = await cli("jobs", "--json");
  assert.equal(list.code, 0, list.err);
  const jobs = JSON.parse(list.out) as JobRow[];
  assert.deepEqual(
    jobs.map((j) => j.provider),
    ["slow", "lab"],
  );
  assert.match((await cli("jobs")).out, /#2\s+\S+.*\s+slow\s/);

  const cancel = await cli("cancel", String(started.job.id));
  assert.equal(cancel.code, 0, cancel.err);
  assert.equal((await remote(slow, started.job.remoteId)).status, "cancelled", "cancelled at slow");
});

test("an unknown --provider, or one whose jobs are not yet supported, is a usage error before anything is stored", async () => {
  const before = JSON.parse((await cli("jobs", "--json")).out) as JobRow[];
  const unknown = await cli("finetune", dataset, "--provider", "nope", "--json");
  assert.equal(unknown.code, 2);
  assert.match(
    unknown.err,
    /no fine-tuning provider called "nope"\. Configured: sandbox \(default\), lab, slow, localai/,
  );
  assert.equal(unknown.out, "");
  const after = JSON.parse((await cli("jobs", "--json")).out) as JobRow[];
  assert.equal(after.length, before.length);
});
