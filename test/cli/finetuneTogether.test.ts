// The "done when" for Together AI, from the terminal: a Together-kind provider whose baseURL is the
// loopback fake of Together's API (test/fakes/together), driven through the together-ai SDK. `finetune FILE
// --provider together --wait --json` uploads, trains (pending -> … -> completed), starts a dedicated endpoint and
// ends succeeded and ready with `servedAs` (the endpoint's name) and the loss curve from listMetrics; `ask
// --model <it>` is answered through Together's chat endpoint by that name.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { FinetuneResult } from "../../src/cli/finetune.ts";
import { deploymentNameFor } from "../../src/providers/deployments.ts";
import { type FakeTogether, startFakeTogether } from "../fakes/together/index.ts";
import { chatLines } from "../finetuning/jobs.fixture.ts";
import { type CliRun, runCliCaptured } from "../helpers/cli.ts";

const KEY = ["tg", "cli", "test"].join("-");
let dir: string;
let dataset: string;
let fake: FakeTogether;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "classtune-cli-together-"));
  dataset = join(dir, "lessons.jsonl");
  await writeFile(dataset, chatLines(12));
  fake = await startFakeTogether({ apiKey: KEY, autoAdvance: true });
});
after(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

function cli(...argv: string[]): Promise<CliRun> {
  return cliWith(true, ...argv);
}

function cliWith(autoDeploy: boolean, ...argv: string[]): Promise<CliRun> {
  return runCliCaptured(argv, {
    DATA_DIR: join(dir, autoDeploy ? "data" : "data-on-request"),
    LOG_LEVEL: "silent",
    FINETUNE_PROVIDERS: JSON.stringify([
      {
        name: "together",
        kind: "together",
        baseURL: fake.url,
        apiKeyEnv: "TOGETHER_SCHOOL_KEY",
        // The admin allows a dedicated endpoint after every job (billed while it runs); default: on request.
        ...(autoDeploy ? { autoDeploy: true } : {}),
      },
    ]),
    TOGETHER_SCHOOL_KEY: KEY,
  });
}

test("finetune --provider together --wait ends succeeded and ready on a dedicated endpoint; ask answers by its name", async () => {
  const r = await cli("finetune", dataset, "--provider", "together", "--wait", "--json");
  assert.equal(r.code, 0, r.err);
  const result = JSON.parse(r.out) as FinetuneResult;
  assert.equal(result.provider, "together");
  assert.equal(result.job.status, "succeeded");
  assert.equal(result.status, "ready");
  assert.equal(result.error, null);
  const job = fake.jobs.get(result.job.remoteId);
  assert.equal(result.fineTunedModel, job?.model_output_name);
  const endpoint = [...fake.endpoints.values()].find(
    (e) => e.display_name === deploymentNameFor(result.job.remoteId),
  );
  assert.equal(endpoint?.model, job?.model_output_name, "the endpoint serves the fine-tune");
  assert.equal(result.servedAs, endpoint?.name, "served by the endpoint's name");
  assert.equal(fake.endpoints.size, 1, "one endpoint");
  assert.ok(result.metrics.length >= 2, JSON.stringify(result.metrics));
  assert.ok(result.metrics.every((m) => typeof m.trainLoss === "number"));
  assert.ok(
    result.testAnswers.every((a) => a.error === null),
    JSON.stringify(result.testAnswers),
  );

  const ask = await cli("ask", "--model", result.fineTunedModel ?? "", "--json", "What are fractions?");
  assert.equal(ask.code, 0, ask.err);
  const reply = JSON.parse(ask.out) as { servedAs: string; provider: string; answer: string };
  assert.equal(reply.provider, "together");
  assert.equal(reply.servedAs, result.servedAs);
  assert.match(reply.answer, /What are fractions\?/);
  assert.equal(fake.chats.at(-1)?.model, endpoint?.name, "asked at Together's chat endpoint by that name");
});

test("without autoDeploy, a finished job starts no billed endpoint: it waits for a teacher's /model deploy, priced", async () => {
  const endpointsBefore = fake.endpoints.size;
  const r = await cliWith(false, "finetune", dataset, "--provider", "together", "--wait", "--json");
  assert.equal(r.code, 0, r.err);
  const result = JSON.parse(r.out) as FinetuneResult;
  assert.equal(result.job.status, "succeeded");
  assert.equal(result.status, "deploy_manually");
  assert.equal(result.servedAs, null);
  assert.match(result.error ?? "", /billed for as long as it runs/);
  assert.match(result.error ?? "", new RegExp(`/model deploy model:${result.fineTunedModel}`));
  assert.match(result.error ?? "", /1x_nvidia_h100_80gb_sxm at \$3\.36\/h/);
  assert.equal(fake.endpoints.size, endpointsBefore, "no endpoint was started");
});
