// The "done when" for Fireworks, from the terminal: the loopback fake of Fireworks (REST + inference)
// as the entry's baseURL, then `finetune FILE --provider fw --wait --json` uploads a dataset, trains, deploys
// (a live-merge deployment) and reports `servedAs` = "<model>#accounts/<a>/deployments/<name>", and
// `ask --model <it>` is answered by the fake's chat endpoint under that name. A create answered 500 after the
// job was made, and a 429/500 storm while polling, still end with exactly one job, succeeded.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, test } from "node:test";
import { renderLossChart } from "../../src/charts/charts.ts";
import type { FinetuneResult } from "../../src/cli/finetune.ts";
import { openDb } from "../../src/db/open.ts";
import { deploymentNameFor } from "../../src/providers/deployments.ts";
import { type FakeFireworks, startFakeFireworks } from "../fakes/fireworks/index.ts";
import { chatLines } from "../finetuning/jobs.fixture.ts";
import { type CliRun, runCliCaptured } from "../helpers/cli.ts";

let dir: string;
let dataset: string;
let fake: FakeFireworks;
let dataDir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "classtune-cli-fireworks-"));
  dataset = join(dir, "lessons.jsonl");
  await writeFile(dataset, chatLines(12));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  fake = await startFakeFireworks();
  dataDir = await mkdtemp(join(dir, "data-"));
});
afterEach(async () => {
  await fake.close();
});

function cli(...argv: string[]): Promise<CliRun> {
  return runCliCaptured(argv, {
    DATA_DIR: dataDir,
    LOG_LEVEL: "silent",
    FINETUNE_PROVIDERS: JSON.stringify([
      {
        name: "fw",
        kind: "fireworks",
        autoDeploy: true,
        baseURL: fake.baseURL,
        apiKeyEnv: "FW_SCHOOL_KEY",
        accountId: fake.account,
      },
    ]),
    FINETUNE_DEFAULT_PROVIDER: "fw",
    FW_SCHOOL_KEY: fake.apiKey,
  });
}

function jobRowsIn(): number {
  const db = openDb(join(dataDir, "classtune.db"));
  try {
    return (db.prepare("SELECT COUNT(*) AS n FROM jobs").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

test("finetune --provider fw --wait --json ends succeeded and ready with servedAs; ask answers by it", async () => {
  const r = await cli("finetune", dataset, "--provider", "fw", "--wait", "--json");
  assert.equal(r.code, 0, r.err);
  const result = JSON.parse(r.out) as FinetuneResult;
  assert.equal(result.provider, "fw");
  assert.equal(result.job.status, "succeeded");
  assert.equal(
    result.job.baseModel,
    "accounts/fireworks/models/llama-v3p1-8b-instruct",
    "the catalog's default",
  );
  assert.equal(result.status, "ready");
  const model = `accounts/${fake.account}/models/${result.job.remoteId}`;
  assert.equal(result.fineTunedModel, model);
  const name = deploymentNameFor(result.job.remoteId);
  assert.equal(result.servedAs, `${model}#accounts/${fake.account}/deployments/${name}`);
  assert.equal(fake.jobs.size, 1);
  assert.equal(fake.deployments.size, 1);
  assert.deepEqual(
    result.metrics.map((m) => [m.step, m.trainLoss]),
    [
      [1, 2.2],
      [2, 1.1],
      [3, 0.7333],
      [4, 0.55],
    ],
    "the loss curve from the metrics file",
  );
  const png = await renderLossChart(result.metrics.map((m) => ({ step: m.step, loss: m.trainLoss })));
  assert.equal(png.subarray(1, 4).toString("latin1"), "PNG");
  assert.ok(
    result.testAnswers.length > 0 && result.testAnswers.every((a) => a.error === null),
    JSON.stringify(result.testAnswers),
  );

  const ask = await cli("ask", "--model", model, "--json", "What should I remember about fractions?");
  assert.equal(ask.code, 0, ask.err);
  const reply = JSON.parse(ask.out) as { servedAs: string; provider: string; answer: string };
  assert.equal(reply.servedAs, result.servedAs);
  assert.equal(reply.provider, "fw");
  assert.match(
    reply.answer,
    new RegExp(`deployment ${name}\\) answers: What should I remember about fractions\\?`),
  );
  assert.equal(
    fake.chatModels.at(-1),
    result.servedAs,
    "asked at Fireworks' chat endpoint by the served name",
  );
});

test("a create answered 500 after the job was made, and a 429/500 storm while polling: one job, succeeded", async () => {
  fake.fail({ method: "POST", path: /\/supervisedFineTuningJobs$/ }, 500, 1, "after");
  // The storm starts once the job trains: every read of it is refused for a while.
  fake.onJobState("JOB_STATE_RUNNING", () => {
    fake.fail({ method: "GET", path: /\/supervisedFineTuningJobs/ }, 429, 4);
    fake.fail({ method: "GET", path: /\/supervisedFineTuningJobs/ }, 500, 4);
  });
  const r = await cli("finetune", dataset, "--provider", "fw", "--wait", "--json");
  assert.equal(r.code, 0, r.err);
  const result = JSON.parse(r.out) as FinetuneResult;
  assert.equal(fake.pendingFaults(), 0, "the whole storm was served");
  assert.equal(result.job.status, "succeeded", "never falsely failed");
  assert.equal(result.status, "ready");
  assert.equal(fake.jobs.size, 1, "exactly one job at Fireworks");
  assert.equal(jobRowsIn(), 1, "exactly one job recorded");
});

test("a create made but never confirmed (the job unreadable): the intent is kept and `jobs` records exactly one", async () => {
  fake.fail({ method: "POST", path: /\/supervisedFineTuningJobs$/ }, 500, 1, "after");
  // The retry meets 409, and reading the job fails three times (the adapter's bound).
  fake.fail({ method: "GET", path: /\/supervisedFineTuningJobs\// }, 503, 3);
  const r = await cli("finetune", dataset, "--provider", "fw", "--json");
  assert.notEqual(r.code, 0);
  assert.match(r.err, /may have started anyway/);
  assert.equal(jobRowsIn(), 0, "nothing recorded yet");
  assert.equal(fake.jobs.size, 1);

  const jobs = await cli("jobs", "--json");
  assert.equal(jobs.code, 0, jobs.err);
  const listed = JSON.parse(jobs.out) as Array<{ remoteId: string; provider: string }>;
  assert.equal(listed.length, 1, "the poller's reconcile found it by its id");
  assert.equal(listed[0]?.remoteId, [...fake.jobs.keys()][0]);
  assert.equal(jobRowsIn(), 1, "exactly one job recorded");
  await cli("jobs", "--json");
  assert.equal(jobRowsIn(), 1, "and never a second");
  assert.equal(fake.jobs.size, 1);
});
