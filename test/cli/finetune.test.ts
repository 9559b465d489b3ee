// The seed's flow from the terminal against the embedded sandbox, with no keys: finetune --wait,
// jobs, ask, cancel. Runs the real CLI dispatcher in-process over a temp DATA_DIR.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { FinetuneResult } from "../../src/cli/finetune.ts";
import type { JobRow } from "../../src/db/jobs.ts";
import { chatLines } from "../finetuning/jobs.fixture.ts";
import { type CliRun, runCliCaptured } from "../helpers/cli.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
let dir: string;
let dataset: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "classtune-cli-"));
  dataset = join(dir, "lessons.jsonl");
  await writeFile(dataset, chatLines(12));
});
after(() => rm(dir, { recursive: true, force: true }));

function cli(...argv: string[]): Promise<CliRun> {
  return cliWith({}, ...argv);
}

function cliWith(env: Record<string, string>, ...argv: string[]): Promise<CliRun> {
  return runCliCaptured(argv, {
    DATA_DIR: join(dir, "data"),
    LOG_LEVEL: "silent",
    SANDBOX_SECONDS_PER_STEP: "0.002",
    ...env,
  });
}

test("finetune --wait --json runs the job to a model and answers the seed's test questions", async () => {
  const r = await cli("finetune", dataset, "--wait", "--json", "--suffix", "cli-test");
  assert.equal(r.code, 0, r.err);
  const result = JSON.parse(r.out) as FinetuneResult;
  assert.equal(result.job.status, "succeeded");
  assert.equal(result.provider, "sandbox");
  assert.match(result.fineTunedModel ?? "", /:classtune-sandbox:cli-test:/);
  assert.deepEqual(
    result.testAnswers.map((a) => a.question),
    ["What is the capital of France?", "Can you explain photosynthesis?", "What is the Pythagorean theorem?"],
  );
  assert.ok(result.metrics.length > 0);
});

test("jobs lists it, ask uses the newest fine-tuned model by default", async () => {
  const list = await cli("jobs", "--json");
  assert.equal(list.code, 0, list.err);
  const jobs = JSON.parse(list.out) as JobRow[];
  assert.equal(jobs[0]?.status, "succeeded");
  const text = await cli("jobs");
  assert.match(text.out, /#1\s+succeeded/);

  const ask = await cli("ask", "--json", "What should I remember about fractions lesson 2?");
  assert.equal(ask.code, 0, ask.err);
  const reply = JSON.parse(ask.out) as { model: string; answer: string; provider: string };
  assert.equal(reply.model, jobs[0]?.fineTunedModel);
  assert.match(reply.answer, /fractions lesson 2/);
  assert.equal(reply.provider, "sandbox");

  // An empty --model (an unset shell variable) is a usage error naming the flag, not a provider's "model ``".
  const empty = await cli("ask", "--model", "", "What is a fraction?");
  assert.equal(empty.code, 2);
  assert.match(empty.err, /--model needs a model's name/);
});

test("finetune without --wait says how the embedded sandbox behaves; cancel ends the job", async () => {
  // A slow sandbox (the timeline is fixed when the job is created), so the job is still going when cancelled.
  const started = await cliWith({ SANDBOX_SECONDS_PER_STEP: "30" }, "finetune", dataset);
  assert.equal(started.code, 0, started.err);
  assert.match(started.err, /Started job #2/);
  assert.match(started.err, /embedded sandbox runs only while a classtune command runs/);
  const cancel = await cli("cancel", "2");
  assert.equal(cancel.code, 0, cancel.err);
  assert.match(cancel.out, /Job #2 .* is cancelled/);
  const again = await cli("cancel", "2");
  assert.equal(again.code, 2);
  assert.match(again.err, /already ended \(cancelled\)/);
  assert.equal((await cli("cancel", "99")).err.trim(), "classtune cancel: Job #99 was not found.");
});

test("finetune --wait writes the results file when not --json", async () => {
  const out = join(dir, "result.json");
  const r = await cli("finetune", dataset, "--wait", "--out", out);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /Fine-tuned model: ft:/);
  assert.match(r.err, /Q: What is the capital of France\?/);
  const result = JSON.parse(await readFile(out, "utf8")) as FinetuneResult;
  assert.equal(result.job.status, "succeeded");
});

test("a dataset that cannot be fine-tuned exits 1 before any job", async () => {
  const bad = join(dir, "small.jsonl");
  await writeFile(bad, chatLines(4));
  const r = await cli("finetune", bad);
  assert.equal(r.code, 1);
  assert.match(r.err, /cannot be fine-tuned/);
  const jobs = JSON.parse((await cli("jobs", "--json")).out) as JobRow[];
  assert.equal(jobs.length, 3);
});

test("a binary file exits 1 as no dataset, before any job, and is not stored", async () => {
  const pdf = join(dir, "handout.jsonl");
  await writeFile(pdf, Buffer.concat([Buffer.from("%PDF-1.7\n"), Buffer.alloc(300, 0)]));
  const r = await cli("finetune", pdf);
  assert.equal(r.code, 1);
  assert.equal(
    r.err.trim(),
    `classtune finetune: ${pdf} is not a dataset (not stored): this is a PDF document, not a JSONL text file`,
  );
  const jobs = JSON.parse((await cli("jobs", "--json")).out) as JobRow[];
  assert.equal(jobs.length, 3);
  const { openDb } = await import("../../src/db/open.ts");
  const db = openDb(join(dir, "data", "classtune.db"));
  try {
    const names = db.prepare("SELECT file_name FROM datasets").pluck().all();
    assert.ok(!names.includes("handout.jsonl"), JSON.stringify(names));
  } finally {
    db.close();
  }
});

test("the temporary files of a finetune killed (SIGKILL) mid-validation are removed by the next command", async () => {
  const dataDir = join(dir, "killed");
  const big = join(dir, "big.jsonl");
  await writeFile(big, chatLines(1).repeat(200_000));
  const child = spawn(process.execPath, [join(ROOT, "scripts", "run.js"), "src/cli.ts", "finetune", big], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "silent", DATA_DIR: dataDir },
    stdio: "ignore",
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const datasets = join(dataDir, "datasets");
  let leftovers: string[] = [];
  for (let i = 0; i < 1000 && leftovers.length === 0; i++) {
    await sleep(20);
    leftovers = (await readdir(datasets).catch(() => [])).filter((f) => f.startsWith(".cleaning-"));
  }
  child.kill("SIGKILL");
  await exited;
  assert.equal(leftovers.length, 1, "the validation had started");
  assert.deepEqual(
    (await readdir(datasets)).filter((f) => f.startsWith(".cleaning-")),
    leftovers,
    "the kill left the scratch file",
  );
  const jobs = await cliWith({ DATA_DIR: dataDir }, "jobs", "--json");
  assert.equal(jobs.code, 0, jobs.err);
  assert.deepEqual(await readdir(datasets), [], "the next command removed it");
});

test("usage errors exit 2", async () => {
  assert.equal((await cli("finetune")).code, 2);
  assert.equal((await cli("finetune", dataset, "--epochs", "x")).code, 2);
  assert.equal((await cli("ask")).code, 2);
  assert.equal((await cli("cancel", "abc")).code, 2);
});

test("OPENAI_BASE_URL and OPENAI_API_KEY point the same commands at another OpenAI-compatible host", async () => {
  // A standalone sandbox in its own database plays the remote host.
  const { openDb } = await import("../../src/db/open.ts");
  const { startSandbox } = await import("../../src/sandbox/server.ts");
  const hostDb = openDb(join(dir, "host.db"));
  const host = await startSandbox({ db: hostDb, dataDir: join(dir, "host"), secondsPerStep: 0.002 });
  try {
    const env = {
      OPENAI_BASE_URL: host.url,
      OPENAI_API_KEY: "sk-test-not-a-secret",
      DATA_DIR: join(dir, "remote"),
    };
    const r = await cliWith(env, "finetune", dataset, "--wait", "--json");
    assert.equal(r.code, 0, r.err);
    const result = JSON.parse(r.out) as FinetuneResult;
    assert.equal(result.provider, "openai-compatible");
    assert.equal(result.job.status, "succeeded");
    assert.ok((host.stats.byRoute["POST /fine_tuning/jobs"] ?? 0) >= 1, JSON.stringify(host.stats.byRoute));
    const list = JSON.parse((await cliWith(env, "jobs", "--json")).out) as JobRow[];
    assert.equal(list[0]?.provider, "openai-compatible");
  } finally {
    await host.close();
    hostDb.close();
  }
});

test("finetune --wait on the sample asks its three rephrasings, answered by retrieval, and says so", async () => {
  const sample = join(dir, "sample.jsonl");
  assert.equal((await cli("sample", "--out", sample)).code, 0);
  const r = await cli("finetune", sample, "--wait", "--out", join(dir, "sample-result.json"));
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /Q: What makes the sky look blue during the day\?\nA: Sunlight contains all colours/);
  assert.match(r.err, /Q: How do you work out the area of a circle\?\nA: Use A = πr²/);
  assert.match(r.err, /Q: Why do we get seasons on Earth\?\nA: Seasons happen because/);
  assert.doesNotMatch(r.err, /nothing I was trained on is close enough/);
  assert.match(r.err, /The sandbox's models answer by retrieval/);
});
