// The serving step through the one wiring (buildServices over FINETUNE_PROVIDERS), with the real openai SDK
// over loopback: a Nebius-kind provider pointed at the sandbox (its /v1 jobs and its /v0 deploy API), Azure
// providers whose jobs run at the same sandbox and whose deployments go through a fake Azure Resource Manager
// (or, without credentials, are left to a person), and a provider that serves at once. The sandbox's clock is
// moved by hand and the poller ticked, as the bot's schedule would.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { loadConfig } from "../../src/config.ts";
import type { JobRow } from "../../src/db/jobs.ts";
import type { ModelRow } from "../../src/db/models.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import type { OutboxNotice } from "../../src/domain/notices.ts";
import { silentLogger } from "../../src/logger.ts";
import { AZURE_DEPLOYMENT_LIFETIME_WARNING } from "../../src/providers/azure.ts";
import { deploymentNameFor } from "../../src/providers/deployments.ts";
import { manualClock } from "../../src/sandbox/clock.ts";
import { DEPLOY_STEPS } from "../../src/sandbox/routes/deployments.ts";
import { type SandboxHandle, startSandbox } from "../../src/sandbox/server.ts";
import { buildServices, type Services } from "../../src/wire.ts";
import { type FakeAzure, startFakeAzure } from "../fakes/azure/index.ts";
import { startJobAt } from "../helpers/finetune.ts";

const LLAMA = "meta-llama/Llama-3.1-8B-Instruct";
const GPT = "gpt-4o-mini-2024-07-18";
const G = "guild-serving";
const SUBSCRIPTION = "00000000-1111-2222-3333-444444444444";
const key = (prefix: string) => [prefix, "test", "key"].join("-");

const clock = manualClock();
let dir: string;
let hostDb: Db;
let host: SandboxHandle;
let azure: FakeAzure;
let db: Db;
let services: Services;
const sent: OutboxNotice[] = [];
/** Every chat completion request the services sent: where, and for which model id. */
const chats: Array<{ host: string; model: string }> = [];
const _datasets = 0;

/** While set, requests to the Nebius deploy API wait for it: a deploy API as slow as the test wants. */
let deployApiHold: Promise<void> | undefined;
const recording: typeof fetch = async (input, init) => {
  const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
  if (url.pathname.endsWith("/chat/completions") && typeof init?.body === "string") {
    chats.push({ host: url.host, model: (JSON.parse(init.body) as { model: string }).model });
  }
  if (url.pathname.startsWith("/v0/")) await deployApiHold;
  return fetch(input, init);
};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "classtune-serving-"));
  hostDb = openDb(join(dir, "host.db"));
  host = await startSandbox({ db: hostDb, dataDir: join(dir, "host"), clock, secondsPerStep: 1 });
  azure = await startFakeAzure();
  const config = loadConfig({
    DATA_DIR: join(dir, "data"),
    LOG_LEVEL: "silent",
    OPENAI_MAX_RETRIES: "0",
    FINETUNE_PROVIDERS: JSON.stringify([
      { kind: "nebius", name: "nebius-lab", baseURL: host.url, apiKeyEnv: "NEBIUS_LAB_KEY" },
      {
        kind: "azure",
        name: "azure-arm",
        baseURL: host.url,
        apiKeyEnv: "AZURE_KEY",
        trainingType: "Developer",
        subscriptionId: SUBSCRIPTION,
        resourceGroup: "rg-school",
        account: "school-openai",
        armBaseURL: azure.url,
        authorityHost: azure.url,
        tenantIdEnv: "AZ_TENANT",
        clientIdEnv: "AZ_CLIENT",
        clientSecretEnv: "AZ_SECRET",
      },
      { kind: "azure", name: "azure-manual", baseURL: host.url, apiKeyEnv: "AZURE_KEY" },
      { kind: "sandbox", name: "lab", baseURL: host.url },
    ]),
    NEBIUS_LAB_KEY: key("nb"),
    AZURE_KEY: key("az"),
    AZ_TENANT: azure.tenantId,
    AZ_CLIENT: azure.clientId,
    AZ_SECRET: azure.clientSecret,
  });
  db = openDb(config.databasePath);
  services = await buildServices({
    config,
    database: { store: sqliteStore(db), sqlite: db },
    logger: silentLogger,
    fetch: recording,
    sender: () => ({
      async send(n) {
        sent.push(n);
        return { messageId: `msg-${n.id}` };
      },
    }),
  });
});
after(async () => {
  await services.close();
  db.close();
  await host.close();
  hostDb.close();
  await azure.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  host.faults.clear();
});

const deployPosts = () => host.stats.byRoute["POST /v0/models"] ?? 0;
const noticesOf = (jobId: number, kind: OutboxNotice["kind"]) =>
  sent.filter((n) => n.kind === kind && "jobId" in n.payload && n.payload.jobId === jobId);
const modelOf = async (job: JobRow): Promise<ModelRow> => {
  const m = await services.serving.forJob(G, job.id);
  assert.ok(m, `job #${job.id} registered its model`);
  return m;
};

/** Starts a job on `provider` for `model`, as the bot's Start button does. */
const startJob = (provider: string, model: string): Promise<JobRow> =>
  startJobAt(services, { guildId: G, dir, provider, model });

/** Training ends within an hour of sandbox time; the tick that sees it also requests the deploy. */
async function train(job: JobRow): Promise<JobRow> {
  clock.advance(3_600_000);
  await services.poller.tick();
  const done = await services.jobs.require(G, job.id);
  assert.equal(done.status, "succeeded");
  return done;
}

/** The sandbox's deploy step takes DEPLOY_STEPS steps of a second. */
async function deployed(): Promise<void> {
  clock.advance(DEPLOY_STEPS * 1000 + 1000);
  await services.poller.tick();
}

function ask(model: string) {
  return services.classroom.ask({
    guildId: G,
    channelId: "c1",
    userId: "teacher",
    isTeacher: true,
    question: "What should I remember about fractions lesson 2?",
    model,
  });
}

describe("Nebius: trained, then deployed, then asked by the deployed name", () => {
  test("create -> deploying (the success notice says so) -> ready -> chat by servedAs", async () => {
    const posts = deployPosts();
    const job = await train(await startJob("nebius-lab", LLAMA));
    const model = await modelOf(job);
    assert.equal(model.name, job.fineTunedModel);
    assert.equal(model.servingStatus, "deploying");
    assert.equal(model.deploymentName, deploymentNameFor(job.remoteId));
    assert.equal(deployPosts() - posts, 1, "the deploy was requested in the tick that saw training end");

    const [succeeded] = noticesOf(job.id, "job_succeeded");
    assert.ok(succeeded?.kind === "job_succeeded");
    assert.equal(succeeded.payload.serving?.status, "deploying");
    assert.deepEqual(succeeded.payload.testAnswers, [], "a model still to be deployed is not asked yet");
    const before = await ask(model.name);
    assert.equal(before.ok, false);
    assert.ok(!before.ok && before.reason === "model_not_ready", JSON.stringify(before));
    assert.match(before.ok ? "" : before.message, /still being deployed/);

    await deployed();
    const ready = await modelOf(job);
    assert.equal(ready.servingStatus, "ready");
    assert.equal(ready.servedAs, `${LLAMA}-LoRa:${model.deploymentName}-${ready.servedAs?.slice(-4)}`);
    assert.match(
      ready.servedAs ?? "",
      /^meta-llama\/Llama-3\.1-8B-Instruct-LoRa:ct-[a-z0-9]+-[0-9a-f]{6}-[a-z]{4}$/,
    );
    const [readyNotice] = noticesOf(job.id, "model_ready");
    assert.ok(readyNotice?.kind === "model_ready");
    assert.equal(readyNotice.payload.servedAs, ready.servedAs);
    assert.equal(
      readyNotice.payload.testAnswers.length,
      3,
      "the held-out questions, asked of the deployment",
    );
    const answers = readyNotice.payload.testAnswers;
    assert.ok(
      answers.every((a) => a.error === null && a.answer !== null),
      JSON.stringify(answers),
    );
    assert.ok(
      answers.some((a) => /The key idea of .* lesson \d+/.test(a.answer ?? "")),
      "answered from the training examples: the fine-tune, not its base model",
    );

    chats.length = 0;
    const answer = await ask(model.name);
    assert.ok(answer.ok, answer.ok ? "" : answer.message);
    assert.match(answer.answer, /fractions lesson 2/);
    assert.equal(answer.model, model.name, "recorded under the model's name in this server");
    assert.equal(answer.provider, "nebius-lab");
    assert.deepEqual(chats, [{ host: new URL(host.url).host, model: ready.servedAs }]);
    assert.equal(deployPosts() - posts, 1, "one deployment in all");
  });

  test("a lost deploy answer and retried ticks never make a second deployment", async () => {
    const job = await startJob("nebius-lab", LLAMA);
    const posts = deployPosts();
    // The sandbox makes the deployment, then drops the connection: classtune never hears that it worked.
    host.faults.next({ method: "POST", path: "/v0/models", reset: true, afterHandling: true });
    const lost = await (async () => {
      clock.advance(3_600_000);
      return services.poller.tick();
    })();
    assert.equal((await services.jobs.require(G, job.id)).status, "succeeded");
    assert.equal((await modelOf(job)).servingStatus, "deploying");
    assert.ok((lost.byProvider["nebius-lab"]?.errors ?? 0) >= 1, "the lost answer is counted");
    assert.equal(deployPosts() - posts, 1);

    // Ticks at once, and a teacher's retry racing them: each finds the deployment by its name.
    await Promise.all([services.poller.tick(), services.poller.tick(), services.serving.redeploy(G, job.id)]);
    assert.equal(deployPosts() - posts, 1, "found by name, never made twice");
    await deployed();
    assert.equal((await modelOf(job)).servingStatus, "ready");
    await services.poller.tick();
    assert.equal(deployPosts() - posts, 1);
    assert.equal(noticesOf(job.id, "model_ready").length, 1);
  });

  test("a failed deploy says the provider's words; a retry deploys under a new name and ends ready", async () => {
    const reason = "The LoRA adapter could not be loaded onto the base model.";
    host.faults.failNextDeployment(reason);
    const job = await train(await startJob("nebius-lab", LLAMA));
    await deployed();
    const failed = await modelOf(job);
    assert.equal(failed.servingStatus, "failed");
    assert.equal(failed.servingError, reason);
    const [notice] = noticesOf(job.id, "model_deploy_failed");
    assert.ok(notice?.kind === "model_deploy_failed");
    assert.equal(notice.payload.errorMessage, reason);
    assert.equal(notice.payload.attempt, 1);

    const posts = deployPosts();
    const retry = await services.serving.redeploy(G, job.id);
    assert.equal(retry.kind, "deploying");
    assert.equal(retry.model.deploymentName, deploymentNameFor(job.remoteId, 2));
    assert.notEqual(retry.model.deploymentName, failed.deploymentName);
    assert.equal(deployPosts() - posts, 1, "requested at once");
    await deployed();
    const ready = await modelOf(job);
    assert.equal(ready.servingStatus, "ready");
    assert.equal(ready.deployAttempt, 2);
    assert.match(ready.servedAs ?? "", new RegExp(`:${ready.deploymentName}-[a-z]{4}$`));
    const [readyNotice] = noticesOf(job.id, "model_ready");
    assert.equal(readyNotice?.kind === "model_ready" && readyNotice.payload.attempt, 2);
    assert.equal(
      (await services.serving.redeploy(G, job.id)).kind,
      "ready",
      "a ready deployment is left alone",
    );
  });

  test("a deployment that vanished: the fallback answers and the teachers hear how to deploy it again", async () => {
    const job = await train(await startJob("nebius-lab", LLAMA));
    await deployed();
    const model = await modelOf(job);
    assert.ok((await ask(model.name)).ok);
    const res = await fetch(`${host.deployURL}/models/${encodeURIComponent(model.deploymentName ?? "")}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${key("nb")}` },
    });
    assert.equal(res.status, 200);

    await services.classroom.settings.setChannelModel(G, "c-class", model.name, "teacher");
    db.prepare("UPDATE channel_settings SET fallback_model = ? WHERE guild_id = ? AND channel_id = ?").run(
      GPT,
      G,
      "c-class",
    );
    const r = await services.classroom.ask({
      guildId: G,
      channelId: "c-class",
      userId: "student",
      isTeacher: false,
      // Not the question asked above: its answer is cached.
      question: "What should I remember about verbs lesson 6?",
    });
    assert.ok(r.ok, r.ok ? "" : r.message);
    assert.equal(r.usedFallback, true);
    assert.equal(r.unavailableModel, model.name);
    const unavailable = (await services.outbox.list(G, 1000)).find(
      (n) => n.kind === "model_unavailable" && (n.payload as { model: string }).model === model.name,
    );
    assert.ok(unavailable, "the teachers are told");
    assert.equal((unavailable.payload as { redeployJobId?: number }).redeployJobId, job.id);
  });
});

describe("Azure with Resource Manager credentials", () => {
  test("deploys through ARM (shape and Entra token), is ready once provisioned, and is asked by the deployment name", async () => {
    azure.requests.length = 0;
    const job = await train(await startJob("azure-arm", GPT));
    const model = await modelOf(job);
    const name = deploymentNameFor(job.remoteId);
    assert.equal(model.servingStatus, "deploying");
    const put = azure.requests.find((r) => r.method === "PUT");
    assert.ok(put, "a deployment was requested");
    assert.equal(
      put.path,
      `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-school/providers/Microsoft.CognitiveServices/accounts/school-openai/deployments/${name}`,
    );
    assert.ok(put.query["api-version"]);
    assert.deepEqual(put.body, {
      sku: { name: "developertier", capacity: 1 },
      properties: { model: { format: "OpenAI", name: job.fineTunedModel, version: "1" } },
    });
    assert.match(put.headers.authorization ?? "", /^Bearer eyJ\.fake\./);
    assert.ok(azure.issuedTokens.includes(put.headers.authorization?.slice("Bearer ".length) ?? ""));
    const token = azure.requests.find((r) => r.path.endsWith("/oauth2/v2.0/token"));
    assert.deepEqual(token?.body, {
      client_id: azure.clientId,
      client_secret: azure.clientSecret,
      grant_type: "client_credentials",
      scope: "https://management.azure.com/.default",
    });
    assert.doesNotMatch(put.headers.authorization ?? "", new RegExp(key("az")), "never the API key");
    const [succeeded] = noticesOf(job.id, "job_succeeded");
    assert.ok(succeeded?.kind === "job_succeeded");
    assert.equal(succeeded.payload.serving?.caveat, AZURE_DEPLOYMENT_LIFETIME_WARNING);

    await services.poller.tick();
    assert.equal((await modelOf(job)).servingStatus, "deploying", "still provisioning");
    assert.equal(azure.requests.filter((r) => r.method === "PUT").length, 1, "looked up, not made again");
    azure.setState(name, "Succeeded");
    await services.poller.tick();
    const ready = await modelOf(job);
    assert.equal(ready.servingStatus, "ready");
    assert.equal(ready.servedAs, name);
    const [readyNotice] = noticesOf(job.id, "model_ready");
    assert.ok(readyNotice?.kind === "model_ready");
    assert.equal(readyNotice.payload.caveat, AZURE_DEPLOYMENT_LIFETIME_WARNING);

    // The sandbox serves no Azure deployment: to it, this name is a model that is gone (as a deleted one is).
    chats.length = 0;
    await services.classroom.settings.setChannelModel(G, "c-azure", model.name, "teacher");
    db.prepare("UPDATE channel_settings SET fallback_model = ? WHERE guild_id = ? AND channel_id = ?").run(
      GPT,
      G,
      "c-azure",
    );
    const r = await services.classroom.ask({
      guildId: G,
      channelId: "c-azure",
      userId: "student",
      isTeacher: false,
      question: "What is photosynthesis?",
    });
    assert.ok(r.ok && r.usedFallback, JSON.stringify(r));
    assert.equal(chats[0]?.model, name, "asked by the deployment's name");
    assert.equal(chats[1]?.model, GPT, "then the fallback");
  });
});

describe("several providers' deployments at once", () => {
  test("a deploy API that hangs holds back only its own provider's deployments", async () => {
    const nebiusJob = await startJob("nebius-lab", LLAMA);
    const azureJob = await startJob("azure-arm", GPT);
    await train(nebiusJob);
    assert.equal((await services.jobs.require(G, azureJob.id)).status, "succeeded");
    assert.equal((await modelOf(nebiusJob)).servingStatus, "deploying");
    assert.equal((await modelOf(azureJob)).servingStatus, "deploying");

    let release = () => {};
    deployApiHold = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      azure.setState(deploymentNameFor(azureJob.remoteId), "Succeeded");
      clock.advance(DEPLOY_STEPS * 1000 + 1000);
      const ticking = services.poller.tick();
      for (let i = 0; i < 200 && noticesOf(azureJob.id, "model_ready").length === 0; i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.equal(noticesOf(azureJob.id, "model_ready").length, 1, "Azure's ready notice is already posted");
      assert.equal(
        (await modelOf(nebiusJob)).servingStatus,
        "deploying",
        "while Nebius's deploy API still hangs",
      );
      release();
      const r = await ticking;
      assert.equal(r.byProvider["nebius-lab"]?.deploying, 1);
      assert.equal(r.byProvider["azure-arm"]?.deploying, 1);
    } finally {
      release();
      deployApiHold = undefined;
    }
    assert.equal((await modelOf(nebiusJob)).servingStatus, "ready");
  });
});

describe("Azure without Resource Manager credentials", () => {
  test("waits for a manual deploy: the notice names the az command and /model add; /model add makes it ready", async () => {
    const job = await train(await startJob("azure-manual", GPT));
    const model = await modelOf(job);
    const name = deploymentNameFor(job.remoteId);
    assert.equal(model.servingStatus, "manual");
    const [succeeded] = noticesOf(job.id, "job_succeeded");
    assert.ok(succeeded?.kind === "job_succeeded");
    const instructions = succeeded.payload.serving?.instructions ?? "";
    assert.match(
      instructions,
      new RegExp(
        `az cognitiveservices account deployment create .*--deployment-name ${name} --model-name ${job.fineTunedModel?.replace(/[.:]/g, "\\$&")}`,
      ),
    );
    assert.match(instructions, new RegExp(`/model add model:${name} provider:azure-manual`));
    assert.match(instructions, /Developer-tier deployments 24 hours/);
    assert.equal(succeeded.payload.serving?.caveat, AZURE_DEPLOYMENT_LIFETIME_WARNING);
    await services.poller.tick();
    assert.equal(
      (await modelOf(job)).servingStatus,
      "manual",
      "nothing to poll: classtune cannot look it up",
    );
    assert.equal(
      (await services.serving.redeploy(G, job.id)).kind,
      "manual",
      "the retry says the step again",
    );

    assert.equal(
      await services.serving.acceptManualDeployment(G, "someone-elses", "azure-manual"),
      undefined,
    );
    const accepted = await services.serving.acceptManualDeployment(G, name, "azure-manual");
    assert.equal(accepted?.servingStatus, "ready");
    assert.equal(accepted?.servedAs, name);
    assert.equal(accepted?.name, job.fineTunedModel);
    const readyNotice = (await services.outbox.list(G, 1000)).find(
      (n) => n.kind === "model_ready" && (n.payload as { jobId: number }).jobId === job.id,
    );
    assert.equal(
      (readyNotice?.payload as { servedAs?: string } | undefined)?.servedAs,
      name,
      "its notice follows",
    );
    assert.equal((await services.classroom.router.resolve(G, model.name)).ok, true);
  });
});

describe("providers that serve at once", () => {
  test("a sandbox's model is ready with its job, served as itself, its test questions asked at once", async () => {
    const posts = deployPosts();
    const job = await train(await startJob("lab", GPT));
    const model = await modelOf(job);
    assert.equal(model.servingStatus, "ready");
    assert.equal(model.servedAs, job.fineTunedModel);
    assert.equal(model.deploymentName, null);
    const [succeeded] = noticesOf(job.id, "job_succeeded");
    assert.ok(succeeded?.kind === "job_succeeded");
    assert.equal(succeeded.payload.serving?.status, "ready");
    assert.equal(succeeded.payload.testAnswers.length, 3);
    assert.equal(deployPosts(), posts);
    assert.equal((await services.serving.redeploy(G, job.id)).kind, "immediate");
  });
});
