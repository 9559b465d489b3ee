// The sandbox as a Together-style dedicated-endpoint host, driven by the real together-ai SDK over loopback
// (chat by the openai SDK): PENDING -> STARTING -> STARTED on the sandbox clock, stop and start again, list with
// its type filter, delete, chat by the endpoint's name only while it is STARTED, the request checks, faults, and
// a restart on the same database.
import assert from "node:assert/strict";
import { createReadStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import OpenAI from "openai";
import Together from "together-ai";
import { manualClock } from "../../src/sandbox/clock.ts";
import {
  ENDPOINT_PENDING_STEPS,
  ENDPOINT_STARTING_STEPS,
  ENDPOINT_STOPPING_STEPS,
} from "../../src/sandbox/routes/endpoints.ts";
import { QUESTIONS, type Rig, startRig, writeTrainingFile } from "./helpers.ts";

/** startRig runs at one second a step. */
const STEP_MS = 1000;
const PENDING_MS = ENDPOINT_PENDING_STEPS * STEP_MS;
const STARTING_MS = ENDPOINT_STARTING_STEPS * STEP_MS;
const STOPPING_MS = ENDPOINT_STOPPING_STEPS * STEP_MS;
const HARDWARE = "1x_nvidia_h100_80gb_sxm";
const [QUESTION, ANSWER] = QUESTIONS[2] ?? ["", ""];

const togetherOf = (rig: Rig) => new Together({ apiKey: "sandbox", baseURL: rig.sandbox.url, maxRetries: 0 });

/** A succeeded job's fine-tuned model. */
async function trainedModel(rig: Rig): Promise<string> {
  const file = await rig.client.files.create({
    file: createReadStream(writeTrainingFile(rig.dir, 12)),
    purpose: "fine-tune",
  });
  const job = await rig.client.fineTuning.jobs.create({ model: "gpt-4o-mini", training_file: file.id });
  rig.clock.advance(10_000_000);
  const model = (await rig.client.fineTuning.jobs.retrieve(job.id)).fine_tuned_model;
  assert.ok(model);
  return model;
}

const ask = (rig: Rig, model: string) =>
  rig.client.chat.completions.create({ model, messages: [{ role: "user", content: QUESTION }] });

/** The refusal of a chat by an endpoint that is not running, as Together words it. */
const notRunning = (state: string) => (err: unknown) => {
  assert.ok(err instanceof OpenAI.BadRequestError, String(err));
  assert.equal(err.code, "dedicated_endpoint_not_running");
  assert.match(err.message, new RegExp(`is not running \\(it is ${state}\\)`));
  return true;
};

describe("sandbox dedicated endpoints", () => {
  let rig: Rig;
  let together: Together;
  let model: string;
  before(async () => {
    rig = await startRig();
    together = togetherOf(rig);
    model = await trainedModel(rig);
  });
  after(() => rig.close());
  beforeEach(() => rig.sandbox.faults.clear());

  const create = (extra: Record<string, unknown> = {}) =>
    together.endpoints.create({
      model,
      hardware: HARDWARE,
      autoscaling: { min_replicas: 1, max_replicas: 1 },
      display_name: "ct-lesson",
      ...extra,
    });

  test("an endpoint starts PENDING, then STARTING, then STARTED on the sandbox clock; chat answers only then", async () => {
    const e = await create();
    assert.equal(e.object, "endpoint");
    assert.match(e.id, /^endpoint-[0-9a-f-]{36}$/);
    assert.equal(e.type, "dedicated");
    assert.equal(e.model, model);
    assert.equal(e.display_name, "ct-lesson");
    assert.equal(e.hardware, HARDWARE);
    assert.deepEqual(e.autoscaling, { min_replicas: 1, max_replicas: 1 });
    assert.equal(e.owner, "classtune-sandbox");
    assert.ok(e.name.startsWith(`classtune-sandbox/${model}-`), e.name);
    assert.equal(new Date(e.created_at).getTime(), rig.clock.now());
    assert.equal(e.state, "PENDING");
    await assert.rejects(ask(rig, e.name), notRunning("PENDING"));

    rig.clock.advance(PENDING_MS - 1);
    assert.equal((await together.endpoints.retrieve(e.id)).state, "PENDING");
    rig.clock.advance(1);
    assert.equal((await together.endpoints.retrieve(e.id)).state, "STARTING");
    await assert.rejects(ask(rig, e.name), notRunning("STARTING"));
    rig.clock.advance(STARTING_MS);
    assert.equal((await together.endpoints.retrieve(e.id)).state, "STARTED");

    const reply = await ask(rig, e.name);
    assert.equal(reply.choices[0]?.message.content, ANSWER, "the endpoint answers with its fine-tuned model");
    assert.equal(reply.model, e.name);
  });

  test("stopped, it goes STOPPING then STOPPED and refuses chat; started again, it comes back", async () => {
    const e = await create();
    rig.clock.advance(PENDING_MS + STARTING_MS);
    const stopping = await together.endpoints.update(e.id, { state: "STOPPED" });
    assert.equal(stopping.state, "STOPPING");
    await assert.rejects(ask(rig, e.name), notRunning("STOPPING"));
    await assert.rejects(together.endpoints.update(e.id, { state: "STARTED" }), (err: unknown) => {
      assert.ok(err instanceof Together.BadRequestError);
      assert.match(err.message, /is stopping; start it again once it is STOPPED/);
      return true;
    });
    rig.clock.advance(STOPPING_MS);
    assert.equal((await together.endpoints.retrieve(e.id)).state, "STOPPED");
    await assert.rejects(ask(rig, e.name), notRunning("STOPPED"));
    assert.equal((await together.endpoints.update(e.id, { state: "STOPPED" })).state, "STOPPED", "no change");

    const restarting = await together.endpoints.update(e.id, { state: "STARTED" });
    assert.equal(restarting.state, "PENDING");
    assert.equal(restarting.name, e.name, "a restart keeps the name chat takes");
    rig.clock.advance(PENDING_MS + STARTING_MS);
    assert.equal((await together.endpoints.retrieve(e.id)).state, "STARTED");
    assert.equal((await ask(rig, e.name)).choices[0]?.message.content, ANSWER);
  });

  test("an endpoint may be created stopped, and renamed or rescaled without a restart", async () => {
    const e = await create({ state: "STOPPED" });
    assert.equal(e.state, "STOPPED");
    const renamed = await together.endpoints.update(e.id, {
      display_name: "ct-renamed",
      autoscaling: { min_replicas: 0, max_replicas: 2 },
    });
    assert.equal(renamed.display_name, "ct-renamed");
    assert.deepEqual(renamed.autoscaling, { min_replicas: 0, max_replicas: 2 });
    assert.equal(renamed.state, "STOPPED");
  });

  test("the list holds every endpoint not deleted, in Together's ListEndpoint shape, under type dedicated, none under serverless", async () => {
    const e = await create({ display_name: "ct-listed" });
    const all = await together.endpoints.list();
    assert.equal(all.object, "list");
    const listed = all.data.find((x) => x.id === e.id);
    assert.deepEqual(listed, {
      object: "endpoint",
      id: e.id,
      name: e.name,
      model,
      type: "dedicated",
      owner: "classtune-sandbox",
      state: "PENDING",
      created_at: e.created_at,
    });
    assert.equal((await together.endpoints.retrieve(e.id)).display_name, "ct-listed", "shown by retrieve");
    const dedicated = await together.endpoints.list({ type: "dedicated" });
    assert.ok(dedicated.data.some((x) => x.id === e.id));
    assert.deepEqual((await together.endpoints.list({ type: "serverless" })).data, []);
    await assert.rejects(
      together.endpoints.list({ type: "spot" as "dedicated" }),
      (err: unknown) => err instanceof Together.BadRequestError && /Invalid 'type'/.test(err.message),
    );
  });

  test("delete answers 204 and the endpoint is gone: retrieve 404, not listed, chat by its name 404", async () => {
    const e = await create();
    rig.clock.advance(PENDING_MS + STARTING_MS);
    const res = await fetch(`${rig.sandbox.url}/endpoints/${e.id}`, {
      method: "DELETE",
      headers: { authorization: "Bearer sandbox" },
    });
    assert.equal(res.status, 204);
    assert.equal(await res.text(), "");
    await assert.rejects(together.endpoints.retrieve(e.id), Together.NotFoundError);
    await assert.rejects(together.endpoints.delete(e.id), Together.NotFoundError);
    assert.ok(!(await together.endpoints.list()).data.some((x) => x.id === e.id));
    await assert.rejects(ask(rig, e.name), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError);
      assert.equal(err.code, "model_not_available");
      assert.match(err.message, /was deleted/);
      return true;
    });
  });

  test("a create is checked: hardware, autoscaling, a fine-tuned model of the sandbox, no inactive_timeout", async () => {
    const refused = async (body: Record<string, unknown>, pattern: RegExp, status = 400) => {
      const res = await fetch(`${rig.sandbox.url}/endpoints`, {
        method: "POST",
        headers: { authorization: "Bearer sandbox", "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      assert.equal(res.status, status, text);
      const error = (JSON.parse(text) as { error: { message: string } }).error;
      assert.match(error.message, pattern);
    };
    const ok = { model, hardware: HARDWARE, autoscaling: { min_replicas: 1, max_replicas: 1 } };
    await refused({ ...ok, hardware: undefined }, /Missing required parameter: 'hardware'/);
    await refused({ ...ok, hardware: "two GPUs please" }, /is no hardware id/);
    await refused({ ...ok, autoscaling: undefined }, /Missing required parameter: 'autoscaling'/);
    await refused({ ...ok, autoscaling: { min_replicas: 2, max_replicas: 1 } }, /min_replicas \(2\) is more/);
    await refused({ ...ok, autoscaling: { min_replicas: 1, max_replicas: 99 } }, /out of range/);
    await refused({ ...ok, state: "PAUSED" }, /Invalid 'state'/);
    await refused({ ...ok, inactive_timeout: 15 }, /does not simulate 'inactive_timeout'/);
    await refused({ ...ok, model: "gpt-4o-mini" }, /fine-tuned models only/);
    await refused({ ...ok, model: "ft:gpt-4o-mini-2024-07-18:someone::nothere" }, /does not exist/, 404);
    await assert.rejects(
      together.endpoints.update("endpoint-missing", { state: "STOPPED" }),
      Together.NotFoundError,
    );
  });

  test("failNextEndpoint ends the next start in ERROR (chat refused); started again, it runs", async () => {
    rig.sandbox.faults.failNextEndpoint();
    const e = await create();
    rig.clock.advance(PENDING_MS);
    assert.equal((await together.endpoints.retrieve(e.id)).state, "STARTING");
    rig.clock.advance(STARTING_MS);
    assert.equal((await together.endpoints.retrieve(e.id)).state, "ERROR");
    await assert.rejects(ask(rig, e.name), notRunning("ERROR"));
    assert.equal((await together.endpoints.update(e.id, { state: "STARTED" })).state, "PENDING");
    rig.clock.advance(PENDING_MS + STARTING_MS);
    assert.equal((await together.endpoints.retrieve(e.id)).state, "STARTED");
  });

  test("fault rules cover the endpoint routes: a 503 before the work, a 500 after it (the endpoint exists)", async () => {
    const e = await create();
    rig.sandbox.faults.next({ method: "PATCH", path: /^\/endpoints\//, status: 503 });
    await assert.rejects(
      together.endpoints.update(e.id, { state: "STOPPED" }),
      (err: unknown) => err instanceof Together.APIError && err.status === 503,
    );
    assert.equal((await together.endpoints.retrieve(e.id)).state, "PENDING", "the refused stop did nothing");

    const before = (await together.endpoints.list()).data.length;
    rig.sandbox.faults.next({ method: "POST", path: "/endpoints", status: 500, afterHandling: true });
    await assert.rejects(
      create({ display_name: "ct-ambiguous" }),
      (err: unknown) => err instanceof Together.InternalServerError,
    );
    const after = (await together.endpoints.list()).data;
    assert.equal(after.length, before + 1);
    const made = after.at(-1);
    assert.equal((await together.endpoints.retrieve(made?.id ?? "")).display_name, "ct-ambiguous");
  });
});

test("a restart on the same database keeps the endpoints, and their state carries on from the clock", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sandbox-endpoints-restart-"));
  const dbPath = join(dir, "sandbox.db");
  const clock = manualClock();
  try {
    const first = await startRig({ dir, dbPath, clock });
    const model = await trainedModel(first);
    const running = await togetherOf(first).endpoints.create({
      model,
      hardware: HARDWARE,
      autoscaling: { min_replicas: 1, max_replicas: 1 },
      display_name: "ct-kept",
    });
    clock.advance(PENDING_MS + STARTING_MS);
    const stopped = await togetherOf(first).endpoints.create({
      model,
      hardware: HARDWARE,
      autoscaling: { min_replicas: 1, max_replicas: 1 },
      display_name: "ct-stopping",
    });
    await togetherOf(first).endpoints.update(stopped.id, { state: "STOPPED" });
    await first.close();

    clock.advance(STOPPING_MS);
    const second = await startRig({ dir, dbPath, clock });
    try {
      const together = togetherOf(second);
      const kept = await together.endpoints.retrieve(running.id);
      assert.equal(kept.state, "STARTED");
      assert.equal(kept.display_name, "ct-kept");
      assert.equal(kept.name, running.name);
      assert.equal((await ask(second, kept.name)).choices[0]?.message.content, ANSWER);
      assert.equal((await together.endpoints.retrieve(stopped.id)).state, "STOPPED");
      await assert.rejects(ask(second, stopped.name), notRunning("STOPPED"));
    } finally {
      await second.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
