// The sandbox with "hosting": "dedicated", built from the configuration by the provider factory (the embedded
// sandbox, its clock moved by hand): jobs as ever, but a fine-tune is served only on a dedicated endpoint, as on
// Together: deploy (idempotent by name, also after an ambiguous create) -> getDeployment until ready -> chat by
// servedAs -> undeploy -> chat refused; a stopped or failed endpoint reads as failed. Without the option the
// sandbox serves at once, as before.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import OpenAI from "openai";
import Together from "together-ai";
import { loadConfig } from "../../src/config.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { silentLogger } from "../../src/logger.ts";
import { deploymentNameFor } from "../../src/providers/deployments.ts";
import { createProviderRegistry, type ProviderRuntime } from "../../src/providers/factory.ts";
import { OpenAICompatibleProvider } from "../../src/providers/openaiCompatible.ts";
import { SandboxDedicatedProvider } from "../../src/providers/sandboxHosting.ts";
import type { DeployInput, Deployment, FineTuningProvider } from "../../src/providers/types.ts";
import { chatLines } from "../finetuning/jobs.fixture.ts";

const HARDWARE = "2x_nvidia_h100_80gb_sxm";
/** More sandbox time than any endpoint needs to start or stop (60 steps of 0.05 s). */
const SETTLE_MS = 60_000;

let dir: string;
let db: Db;
let runtime: ProviderRuntime;
let provider: FineTuningProvider;
let file: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "classtune-sandbox-hosting-"));
  db = openDb(join(dir, "classtune.db"));
  file = join(dir, "lessons.jsonl");
  writeFileSync(file, chatLines(12));
  const config = loadConfig({
    DATA_DIR: dir,
    LOG_LEVEL: "silent",
    FINETUNE_PROVIDERS: JSON.stringify([
      {
        kind: "sandbox",
        name: "rehearsal",
        hosting: "dedicated",
        autoDeploy: true,
        endpointHardware: HARDWARE,
      },
    ]),
  });
  runtime = await createProviderRegistry(config, { sandboxDb: () => db, logger: silentLogger, dataDir: dir });
  const jobs = runtime.providers.get("rehearsal")?.jobs;
  assert.ok(jobs);
  provider = jobs;
});
after(async () => {
  await runtime.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => runtime.sandbox?.faults.clear());

const sandbox = () => {
  assert.ok(runtime.sandbox, "the embedded sandbox runs");
  return runtime.sandbox;
};

/** Another client on the sandbox's endpoints API: what a teacher (or the dashboard) would do by hand. */
const together = () => new Together({ apiKey: "sandbox", baseURL: sandbox().url, maxRetries: 0 });

/** A succeeded job on the provider, and the deploy input for it. */
async function trainedJob(): Promise<DeployInput> {
  const uploaded = await provider.uploadTrainingFile(file);
  const job = await provider.createJob({
    model: "gpt-4o-mini",
    trainingFileId: uploaded.id,
    metadata: { classtune_job_id: `ct-${Math.random()}` },
  });
  sandbox().clock.advance(10_000_000);
  const done = await provider.retrieveJob(job.id);
  assert.equal(done.status, "succeeded");
  return {
    jobId: done.id,
    fineTunedModel: done.fineTunedModel,
    baseModel: done.model,
    name: deploymentNameFor(done.id),
  };
}

/** getDeployment as the sandbox clock moves on, until it is no longer deploying. */
async function settled(name: string): Promise<Deployment | null> {
  let d = await provider.getDeployment(name);
  for (let i = 0; d?.status === "deploying" && i < 100; i++) {
    sandbox().clock.advance(1000);
    d = await provider.getDeployment(name);
  }
  return d;
}

/** The endpoints whose display_name is `name` (the list leaves display_name out: each is read). */
async function endpointsNamed(name: string) {
  const client = together();
  const listed = (await client.endpoints.list({ type: "dedicated" })).data;
  const full = await Promise.all(listed.map((e) => client.endpoints.retrieve(e.id)));
  return full.filter((e) => e.display_name === name);
}

const ask = (model: string) => provider.chat({ model, messages: [{ role: "user", content: "Hi" }] });

describe("a sandbox entry with hosting: dedicated", () => {
  test("is served on deploy, billed while running, with the entry's autoDeploy", () => {
    assert.ok(provider instanceof SandboxDedicatedProvider);
    assert.equal(provider.serving, "deploy");
    assert.deepEqual(provider.billedWhileRunning, { autoDeploy: true, hardware: "2x_nvidia_h100_80gb_sxm" });
    assert.match(provider.servingCaveat ?? "", /billed by the minute while it runs/);
  });

  test("deploy -> getDeployment until ready -> chat by servedAs -> undeploy -> chat refused", async () => {
    const input = await trainedJob();
    const first = await provider.deploy(input);
    assert.equal(first.status, "deploying");
    assert.equal(first.name, input.name);
    const again = await provider.deploy(input);
    assert.equal(again.status, "deploying");
    const made = await endpointsNamed(input.name);
    assert.equal(made.length, 1, "a repeated deploy finds the first endpoint");
    const endpoint = await together().endpoints.retrieve(made[0]?.id ?? "");
    assert.equal(endpoint.hardware, HARDWARE, "the entry's endpointHardware");
    assert.deepEqual(endpoint.autoscaling, { min_replicas: 1, max_replicas: 1 });
    assert.equal(endpoint.model, input.fineTunedModel);

    const ready = await settled(input.name);
    assert.equal(ready?.status, "ready");
    assert.equal(ready?.servedAs, endpoint.name, "called by the endpoint's own name");
    const reply = await ask(ready?.servedAs ?? "");
    assert.ok(reply.text.length > 0);
    assert.equal(reply.model, endpoint.name);

    assert.equal(await provider.undeploy?.(input.name), true);
    assert.equal(await provider.getDeployment(input.name), null);
    assert.equal(await provider.undeploy?.(input.name), false, "nothing left to undeploy");
    await assert.rejects(ask(endpoint.name), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError);
      assert.match(err.message, /was deleted/);
      return true;
    });
  });

  test("a create whose answer was lost is found again by name: the retried deploy makes no second endpoint", async () => {
    const input = await trainedJob();
    sandbox().faults.next({ method: "POST", path: "/endpoints", status: 500, afterHandling: true });
    await assert.rejects(
      provider.deploy(input),
      (err: unknown) => err instanceof Together.InternalServerError,
    );
    const retried = await provider.deploy(input);
    assert.equal(retried.status, "deploying");
    assert.equal((await endpointsNamed(input.name)).length, 1);
    assert.equal((await settled(input.name))?.status, "ready");
    assert.equal(await provider.undeploy?.(input.name), true);
  });

  test("an endpoint stopped by hand reads as failed, chat by it is refused; started again, it is ready", async () => {
    const input = await trainedJob();
    await provider.deploy(input);
    const ready = await settled(input.name);
    assert.equal(ready?.status, "ready");
    const [endpoint] = await endpointsNamed(input.name);
    assert.ok(endpoint);
    await together().endpoints.update(endpoint.id, { state: "STOPPED" });
    sandbox().clock.advance(SETTLE_MS);
    const stopped = await provider.getDeployment(input.name);
    assert.equal(stopped?.status, "failed");
    assert.match(stopped?.message ?? "", /^The sandbox's endpoint .* is stopped: start it again to serve\.$/);
    await assert.rejects(ask(ready?.servedAs ?? ""), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.equal(err.code, "dedicated_endpoint_not_running");
      return true;
    });
    await together().endpoints.update(endpoint.id, { state: "STARTED" });
    assert.equal((await settled(input.name))?.status, "ready");
    assert.ok((await ask(ready?.servedAs ?? "")).text.length > 0);
    await provider.undeploy?.(input.name);
  });

  test("an endpoint that ends in ERROR reads as failed in the sandbox's words", async () => {
    const input = await trainedJob();
    sandbox().faults.failNextEndpoint();
    await provider.deploy(input);
    const d = await settled(input.name);
    assert.equal(d?.status, "failed");
    assert.match(d?.message ?? "", /^The sandbox reports endpoint .* in ERROR\.$/);
    await provider.undeploy?.(input.name);
  });

  test("an endpoint deleted between the list and its read is passed over, not an error", async () => {
    const input = await trainedJob();
    const other = await together().endpoints.create({
      model: input.fineTunedModel ?? "",
      hardware: HARDWARE,
      autoscaling: { min_replicas: 1, max_replicas: 1 },
      display_name: "made-by-hand",
    });
    await provider.deploy(input);
    const injected = sandbox().faults.injected;
    sandbox().faults.next({ method: "GET", path: `/endpoints/${other.id}`, status: 404 });
    assert.equal((await provider.getDeployment(input.name))?.status, "deploying");
    assert.equal(sandbox().faults.injected, injected + 1, "the other endpoint's read answered 404");
    assert.equal(await provider.undeploy?.(input.name), true);
    await together().endpoints.delete(other.id);
  });

  test("a deploy without an output model, or under a name deploymentNameFor never makes, is refused", async () => {
    const input = await trainedJob();
    await assert.rejects(provider.deploy({ ...input, fineTunedModel: null }), /has no output model/);
    await assert.rejects(provider.deploy({ ...input, name: "Not A Name" }), /not a valid deployment name/);
  });
});

test("without hosting: dedicated the sandbox serves at once, unbilled, as before", async () => {
  const plainDir = mkdtempSync(join(tmpdir(), "classtune-sandbox-plain-"));
  const plainDb = openDb(join(plainDir, "classtune.db"));
  const plain = await createProviderRegistry(loadConfig({ DATA_DIR: plainDir, LOG_LEVEL: "silent" }), {
    sandboxDb: () => plainDb,
    logger: silentLogger,
    dataDir: plainDir,
  });
  try {
    const jobs = plain.providers.get("sandbox")?.jobs;
    assert.ok(jobs instanceof OpenAICompatibleProvider && !(jobs instanceof SandboxDedicatedProvider));
    assert.equal(jobs.serving, "immediate");
    assert.equal(jobs.billedWhileRunning, null);
    assert.equal((jobs as FineTuningProvider).undeploy, undefined);
  } finally {
    await plain.close();
    plainDb.close();
    rmSync(plainDir, { recursive: true, force: true });
  }
});
