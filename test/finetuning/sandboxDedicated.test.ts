// The serving step for a sandbox with "hosting": "dedicated", through the one wiring (buildServices over
// FINETUNE_PROVIDERS) and a standalone sandbox on a clock moved by hand: with autoDeploy the tick that sees
// training end requests a dedicated endpoint, and the model is ready (asked by the endpoint's name) once the
// endpoint has STARTED; without it the model waits for a teacher's `/finetune deploy`, and no endpoint runs until then.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { loadConfig } from "../../src/config.ts";
import type { JobRow } from "../../src/db/jobs.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { silentLogger } from "../../src/logger.ts";
import { manualClock } from "../../src/sandbox/clock.ts";
import { ENDPOINT_PENDING_STEPS, ENDPOINT_STARTING_STEPS } from "../../src/sandbox/routes/endpoints.ts";
import { type SandboxHandle, startSandbox } from "../../src/sandbox/server.ts";
import { buildServices, type Services } from "../../src/wire.ts";
import { startJobAt } from "../helpers/finetune.ts";

const GPT = "gpt-4o-mini-2024-07-18";
const G = "guild-hosting";

const clock = manualClock();
let dir: string;
let hostDb: Db;
let host: SandboxHandle;
let db: Db;
let services: Services;
/** Every chat completion the services sent, by model id. */
const chats: string[] = [];
const recording: typeof fetch = async (input, init) => {
  const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
  if (url.pathname.endsWith("/chat/completions") && typeof init?.body === "string") {
    chats.push((JSON.parse(init.body) as { model: string }).model);
  }
  return fetch(input, init);
};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "classtune-sandbox-dedicated-"));
  hostDb = openDb(join(dir, "host.db"));
  host = await startSandbox({ db: hostDb, dataDir: join(dir, "host"), clock, secondsPerStep: 1 });
  const config = loadConfig({
    DATA_DIR: join(dir, "data"),
    LOG_LEVEL: "silent",
    OPENAI_MAX_RETRIES: "0",
    FINETUNE_PROVIDERS: JSON.stringify([
      { kind: "sandbox", name: "hosting-auto", baseURL: host.url, hosting: "dedicated", autoDeploy: true },
      { kind: "sandbox", name: "hosting-ask", baseURL: host.url, hosting: "dedicated" },
    ]),
  });
  db = openDb(config.databasePath);
  services = await buildServices({
    config,
    database: { store: sqliteStore(db), sqlite: db },
    logger: silentLogger,
    fetch: recording,
    sender: () => ({ send: async (n) => ({ messageId: `msg-${n.id}` }) }),
  });
});
after(async () => {
  await services.close();
  db.close();
  await host.close();
  hostDb.close();
  await rm(dir, { recursive: true, force: true });
});

const endpointPosts = () => host.stats.byRoute["POST /endpoints"] ?? 0;
const modelOf = async (job: JobRow) => {
  const m = await services.serving.forJob(G, job.id);
  assert.ok(m, `job #${job.id} registered its model`);
  return m;
};

async function train(provider: string): Promise<JobRow> {
  const job = await startJobAt(services, { guildId: G, dir, provider, model: GPT });
  clock.advance(3_600_000);
  await services.poller.tick();
  const done = await services.jobs.require(G, job.id);
  assert.equal(done.status, "succeeded");
  return done;
}

/** An endpoint starts in ENDPOINT_PENDING_STEPS + ENDPOINT_STARTING_STEPS steps of a second. */
async function started(): Promise<void> {
  clock.advance((ENDPOINT_PENDING_STEPS + ENDPOINT_STARTING_STEPS) * 1000 + 1000);
  await services.poller.tick();
}

const ask = (model: string) =>
  services.classroom.ask({
    guildId: G,
    channelId: "c1",
    userId: "teacher",
    isTeacher: true,
    question: "What should I remember about fractions lesson 2?",
    model,
  });

describe("a sandbox serving on dedicated endpoints", () => {
  test("with autoDeploy: an endpoint is requested when training ends; ready once STARTED; asked by its name", async () => {
    const posts = endpointPosts();
    const job = await train("hosting-auto");
    assert.equal((await modelOf(job)).servingStatus, "deploying");
    assert.equal(endpointPosts() - posts, 1, "the endpoint was requested in the tick that saw training end");
    const before = await ask((await modelOf(job)).name);
    assert.ok(!before.ok && before.reason === "model_not_ready", JSON.stringify(before));

    await started();
    const ready = await modelOf(job);
    assert.equal(ready.servingStatus, "ready");
    assert.ok(ready.servedAs?.startsWith(`classtune-sandbox/${job.fineTunedModel}-`), ready.servedAs ?? "");
    chats.length = 0;
    const answer = await ask(ready.name);
    assert.ok(answer.ok, JSON.stringify(answer));
    assert.deepEqual(chats, [ready.servedAs], "asked by the endpoint's name, not the fine-tuned model's");
    assert.equal(endpointPosts() - posts, 1, "one endpoint for the job");
  });

  test("without autoDeploy: the model waits for /finetune deploy, which starts the endpoint", async () => {
    const posts = endpointPosts();
    const job = await train("hosting-ask");
    const waiting = await modelOf(job);
    assert.equal(waiting.servingStatus, "manual");
    assert.match(waiting.servingError ?? "", /\/model deploy model:/);
    assert.equal(endpointPosts(), posts, "no endpoint runs before a teacher asks");

    const redeployed = await services.serving.redeploy(G, job.id);
    assert.equal(redeployed.kind, "deploying");
    assert.equal(endpointPosts() - posts, 1);
    await started();
    assert.equal((await modelOf(job)).servingStatus, "ready");
    assert.ok((await ask((await modelOf(job)).name)).ok);
  });
});
