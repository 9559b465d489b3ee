// The serving step's common ground: deterministic deployment names that fit both hosts' rules, and
// providers whose models answer at once (OpenAI, the sandbox as OpenAI) reporting ready without a deploy.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { deploymentNameFor, isValidDeploymentName } from "../../src/providers/deployments.ts";
import { type Harness, harness } from "../finetuning/jobs.fixture.ts";

describe("deploymentNameFor", () => {
  test("is the same name every time for one job", () => {
    assert.equal(
      deploymentNameFor("ftjob-abc123DEF456ghi789"),
      deploymentNameFor("ftjob-abc123DEF456ghi789"),
    );
  });

  test("reads as ct-, the job id's last 12 letters and digits, and a short hash", () => {
    assert.match(deploymentNameFor("ftjob-abc123DEF456ghi789"), /^ct-def456ghi789-[0-9a-f]{6}$/);
  });

  test("differs for ids that differ only in letter case", () => {
    assert.notEqual(deploymentNameFor("ftjob-AbCdEfGhIjKl"), deploymentNameFor("ftjob-abcdefghijkl"));
  });

  test("gives each later attempt its own name, the same every time, that never meets the first", () => {
    const id = "ftjob-abc123DEF456ghi789";
    assert.equal(deploymentNameFor(id, 1), deploymentNameFor(id));
    assert.equal(deploymentNameFor(id, 2), deploymentNameFor(id, 2));
    assert.match(deploymentNameFor(id, 2), /^ct-def456ghi789-[0-9a-f]{6}-2$/);
    assert.notEqual(deploymentNameFor(id, 2), deploymentNameFor(id));
    assert.notEqual(deploymentNameFor(id, 2), deploymentNameFor(id, 3));
    assert.ok(isValidDeploymentName(deploymentNameFor(id, 999)));
  });

  test("fits Azure's and Nebius's name rules, whatever the id looks like", () => {
    for (const id of [
      "ftjob-abc",
      "ftjob-B044A9D3CF9C4228B5D393567F693B83",
      "x",
      "weird id/with:chars",
      "ft-üñí",
    ]) {
      const name = deploymentNameFor(id);
      assert.ok(isValidDeploymentName(name), `${name} (from ${id})`);
      assert.ok(name.length <= 64);
    }
  });
});

describe("immediate serving", () => {
  let h: Harness;
  before(async () => {
    h = await harness({ maxRetries: 0 });
  });
  after(() => h.close());

  test("the sandbox as OpenAI answers ready at once, serving the fine-tuned model itself", async () => {
    assert.equal(h.provider.serving, "immediate");
    const dataset = await h.dataset(12);
    const file = await h.provider.uploadTrainingFile(dataset.storedPath);
    const job = await h.provider.createJob({
      model: "gpt-4o-mini-2024-07-18",
      trainingFileId: file.id,
      metadata: { classtune_job_id: "immediate-1" },
    });
    h.clock.advance(3_600_000);
    const done = await h.provider.retrieveJob(job.id);
    h.calls.length = 0;
    const deployment = await h.provider.deploy({
      jobId: done.id,
      fineTunedModel: done.fineTunedModel,
      baseModel: done.model,
      name: deploymentNameFor(done.id),
    });
    assert.deepEqual(deployment, {
      name: deploymentNameFor(done.id),
      status: "ready",
      servedAs: done.fineTunedModel,
      message: null,
    });
    assert.deepEqual(h.calls, [], "no request: there is nothing to deploy");
    const reply = await h.provider.chat({
      model: deployment.servedAs ?? "",
      messages: [{ role: "user", content: "What should I remember about volcanoes lesson 3?" }],
    });
    assert.match(reply.text, /volcanoes lesson 3/);
  });

  test("an OpenAI job reports no step counts", async () => {
    const dataset = await h.dataset(12);
    const file = await h.provider.uploadTrainingFile(dataset.storedPath);
    const job = await h.provider.createJob({
      model: "gpt-4o-mini-2024-07-18",
      trainingFileId: file.id,
      metadata: { classtune_job_id: "immediate-2" },
    });
    assert.deepEqual([job.trainedSteps, job.totalSteps], [null, null]);
  });
});
