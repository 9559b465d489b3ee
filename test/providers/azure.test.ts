// AzureOpenAIProvider: jobs through the sandbox (Azure's v1 job API is OpenAI's shape) with the training tier
// in the create body, and deployments through a fake Azure (Entra token endpoint + Resource Manager) over
// loopback, asserting what each server received.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import OpenAI from "openai";
import { UserError } from "../../src/domain/errors.ts";
import { createLogger } from "../../src/logger.ts";
import {
  AZURE_ARM_API_VERSION,
  AZURE_DEPLOYMENT_LIFETIME_WARNING,
  type AzureArmOptions,
  AzureOpenAIProvider,
  type AzureOptions,
  azureOpenAIBaseURL,
  TOKEN_REFRESH_MARGIN_MS,
} from "../../src/providers/azure.ts";
import { deploymentNameFor } from "../../src/providers/deployments.ts";
import { describeProviderError, isAmbiguousFailure, ProviderHttpError } from "../../src/providers/errors.ts";
import { type FakeAzure, startFakeAzure } from "../fakes/azure/index.ts";
import { type Rig, startRig, writeTrainingFile } from "../sandbox/helpers.ts";

const FINE_TUNED = "gpt-4.1-mini-2025-04-14.ft-b044a9d3cf9c4228b5d393567f693b83";
const JOB_ID = "ftjob-b044a9d3cf9c4228b5d393567f693b83";
const DEPLOYMENT_PATH = /\/deployments\//;
const TOKEN_PATH = /\/oauth2\/v2\.0\/token$/;

describe("AzureOpenAIProvider jobs", () => {
  let rig: Rig;
  const bodies: Array<Record<string, unknown>> = [];
  before(async () => {
    rig = await startRig();
  });
  after(() => rig.close());
  beforeEach(() => {
    bodies.length = 0;
  });

  const provider = (trainingType?: AzureOptions["trainingType"]) =>
    new AzureOpenAIProvider({
      name: "azure",
      trainingType,
      client: new OpenAI({
        apiKey: "azure-key",
        baseURL: rig.sandbox.url,
        maxRetries: 0,
        fetch: async (input, init) => {
          const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
          if (init?.method === "POST" && url.endsWith("/fine_tuning/jobs") && typeof init.body === "string") {
            bodies.push(JSON.parse(init.body) as Record<string, unknown>);
          }
          return fetch(input, init);
        },
      }),
    });

  test("sends the training tier in the create body, in Azure's spelling", async () => {
    const azure = provider("GlobalStandard");
    assert.equal(azure.serving, "deploy");
    const file = await azure.uploadTrainingFile(writeTrainingFile(rig.dir, 12, "azure-1.jsonl"));
    const job = await azure.createJob({
      model: "gpt-4.1-mini-2025-04-14",
      trainingFileId: file.id,
      epochs: 2,
      metadata: { classtune_job_id: "az-1" },
    });
    assert.equal(job.status, "validating_files");
    assert.equal(bodies.length, 1);
    assert.equal(bodies[0]?.trainingType, "globalstandard");
    assert.deepEqual(bodies[0]?.method, {
      type: "supervised",
      supervised: { hyperparameters: { n_epochs: 2 } },
    });
  });

  test("the Developer tier is developerTier on the wire, and no tier sends none", async () => {
    const file = await provider().uploadTrainingFile(writeTrainingFile(rig.dir, 12, "azure-2.jsonl"));
    await provider("Developer").createJob({
      model: "gpt-4.1-mini",
      trainingFileId: file.id,
      metadata: { classtune_job_id: "az-2" },
    });
    await provider().createJob({
      model: "gpt-4.1-mini",
      trainingFileId: file.id,
      metadata: { classtune_job_id: "az-3" },
    });
    assert.deepEqual(
      bodies.map((b) => b.trainingType),
      ["developerTier", undefined],
    );
  });
});

describe("AzureOpenAIProvider deployments through Resource Manager", () => {
  let azure: FakeAzure;
  let clock: number;
  const logLines: string[] = [];
  before(async () => {
    azure = await startFakeAzure();
  });
  after(() => azure.close());
  beforeEach(() => {
    azure.requests.length = 0;
    azure.deployments.clear();
    clock = Date.parse("2027-01-10T09:00:00Z");
    logLines.length = 0;
  });

  const arm = (overrides: Partial<AzureArmOptions> = {}): AzureArmOptions => ({
    subscriptionId: "sub-123",
    resourceGroup: "rg-school",
    account: "school-openai",
    capacity: 2,
    armBaseURL: azure.url,
    authorityHost: azure.url,
    tenantId: azure.tenantId,
    clientId: azure.clientId,
    clientSecret: azure.clientSecret,
    ...overrides,
  });

  const provider = (options: Partial<AzureOptions> = {}) =>
    new AzureOpenAIProvider({
      name: "azure-school",
      trainingType: "Standard",
      client: new OpenAI({ apiKey: "azure-key", baseURL: azureOpenAIBaseURL("school-openai") }),
      arm: arm(),
      now: () => clock,
      logger: createLogger("debug", { write: (line: string) => void logLines.push(line) }),
      ...options,
    });

  const name = deploymentNameFor(JOB_ID);
  const input = { jobId: JOB_ID, fineTunedModel: FINE_TUNED, baseModel: "gpt-4.1-mini-2025-04-14", name };
  const puts = () => azure.requests.filter((r) => r.method === "PUT");
  const tokenRequests = () => azure.requests.filter((r) => TOKEN_PATH.test(r.path));

  test("gets a token by the client-credentials grant and PUTs the deployment with it", async () => {
    const deployment = await provider().deploy(input);
    assert.deepEqual(deployment, { name, status: "deploying", servedAs: name, message: null });

    const [tokenRequest] = tokenRequests();
    assert.equal(tokenRequest?.path, `/${azure.tenantId}/oauth2/v2.0/token`);
    assert.match(tokenRequest?.headers["content-type"] ?? "", /application\/x-www-form-urlencoded/);
    assert.deepEqual(tokenRequest?.body, {
      client_id: azure.clientId,
      client_secret: azure.clientSecret,
      grant_type: "client_credentials",
      scope: "https://management.azure.com/.default",
    });

    const [put] = puts();
    assert.equal(
      put?.path,
      `/subscriptions/sub-123/resourceGroups/rg-school/providers/Microsoft.CognitiveServices/accounts/school-openai/deployments/${name}`,
    );
    assert.deepEqual(put?.query, { "api-version": AZURE_ARM_API_VERSION });
    assert.equal(put?.headers.authorization, `Bearer ${azure.issuedTokens[0]}`);
    assert.deepEqual(put?.body, {
      sku: { name: "standard", capacity: 2 },
      properties: { model: { format: "OpenAI", name: FINE_TUNED, version: "1" } },
    });
  });

  test("reads provisioningState: Succeeded is ready under the deployment's name, Failed is failed", async () => {
    const azureProvider = provider();
    await azureProvider.deploy(input);
    azure.setState(name, "Succeeded");
    assert.deepEqual(await azureProvider.getDeployment(name), {
      name,
      status: "ready",
      servedAs: name,
      message: null,
    });
    azure.setState(name, "Failed");
    const failed = await azureProvider.getDeployment(name);
    assert.equal(failed?.status, "failed");
    assert.match(failed?.message ?? "", /Failed/);
  });

  test("the tier picks the SKU when none is configured", async () => {
    await provider({ trainingType: "Developer", arm: arm({ capacity: undefined }) }).deploy(input);
    assert.deepEqual((puts()[0]?.body as { sku?: unknown } | undefined)?.sku, {
      name: "developertier",
      capacity: 1,
    });
  });

  test("a Standard or Global Standard deployment is billed hosting, deployed after every job; Developer tier and a manual set-up are not", () => {
    assert.deepEqual(provider().billedWhileRunning, { autoDeploy: true, hardware: "standard" });
    assert.deepEqual(provider({ trainingType: "GlobalStandard" }).billedWhileRunning, {
      autoDeploy: true,
      hardware: "globalstandard",
    });
    assert.equal(provider({ trainingType: "Developer" }).billedWhileRunning, null, "no hourly fee");
    assert.equal(
      provider({ arm: undefined }).billedWhileRunning,
      null,
      "classtune can neither make nor stop it",
    );
  });

  test("undeploy deletes the deployment through ARM, with the token; a second one finds none", async () => {
    const azureProvider = provider();
    await azureProvider.deploy(input);
    assert.ok(azure.deployments.has(name));
    assert.equal(await azureProvider.undeploy(name), true);
    assert.equal(azure.deployments.has(name), false, "deleted");
    const [del] = azure.requests.filter((r) => r.method === "DELETE");
    assert.equal(del?.headers.authorization, `Bearer ${azure.issuedTokens.at(-1)}`);
    assert.deepEqual(del?.query, { "api-version": AZURE_ARM_API_VERSION });
    assert.equal(await azureProvider.undeploy(name), false, "there was none");
    await assert.rejects(provider({ arm: undefined }).undeploy(name), /delete .* in the Azure portal/);
  });

  test("keeps its token until shortly before it expires", async () => {
    const azureProvider = provider();
    await azureProvider.deploy(input);
    await azureProvider.getDeployment(name);
    await azureProvider.getDeployment(name);
    assert.equal(tokenRequests().length, 1);
    clock += 3599_000 - TOKEN_REFRESH_MARGIN_MS - 1000;
    await azureProvider.getDeployment(name);
    assert.equal(tokenRequests().length, 1, "still inside its lifetime less the margin");
    clock += 2000;
    await azureProvider.getDeployment(name);
    assert.equal(tokenRequests().length, 2, "renewed inside the margin");
    const lastGet = azure.requests.filter((r) => r.method === "GET").at(-1);
    assert.equal(lastGet?.headers.authorization, `Bearer ${azure.issuedTokens.at(-1)}`);
  });

  test("a token Azure refuses is dropped, and the next call fetches a new one", async () => {
    const azureProvider = provider();
    await azureProvider.deploy(input);
    azure.revokeTokens();
    await assert.rejects(
      azureProvider.getDeployment(name),
      (e: unknown) => e instanceof ProviderHttpError && e.status === 401,
    );
    assert.equal((await azureProvider.getDeployment(name))?.status, "deploying");
    assert.equal(tokenRequests().length, 2);
  });

  test("a deployment that vanished (404) reads as null", async () => {
    const azureProvider = provider();
    await azureProvider.deploy(input);
    azure.deployments.delete(name);
    assert.equal(await azureProvider.getDeployment(name), null);
  });

  test("deploying twice makes one deployment", async () => {
    const azureProvider = provider();
    const a = await azureProvider.deploy(input);
    const b = await azureProvider.deploy(input);
    assert.equal(puts().length, 1);
    assert.deepEqual(b, a);
    assert.equal(azure.deployments.size, 1);
  });

  test("a deploy whose answer was lost, retried, still makes one deployment", async () => {
    const azureProvider = provider();
    azure.loseNextAnswer({ method: "PUT", path: DEPLOYMENT_PATH });
    const lost = await azureProvider.deploy(input).catch((e: unknown) => e);
    assert.ok(lost instanceof ProviderHttpError && isAmbiguousFailure(lost));
    assert.equal((await azureProvider.deploy(input)).status, "deploying");
    assert.equal(puts().length, 1, "the retry found the deployment the lost PUT made");
    assert.equal(azure.deployments.size, 1);
  });

  test("a failed deployment is deployed again under the same name, still one deployment", async () => {
    const azureProvider = provider();
    await azureProvider.deploy(input);
    azure.setState(name, "Failed");
    assert.equal((await azureProvider.deploy(input)).status, "deploying");
    assert.equal(puts().length, 2);
    assert.equal(azure.deployments.size, 1);
  });

  test("a conflict (409) counts as the deployment existing", async () => {
    const azureProvider = provider();
    await azureProvider.deploy(input);
    azure.setState(name, "Failed");
    azure.failNext(
      { method: "PUT", path: DEPLOYMENT_PATH },
      409,
      "Conflict",
      "Another operation is in progress.",
    );
    assert.equal((await azureProvider.deploy(input)).status, "failed");
    assert.equal(azure.deployments.size, 1);
  });

  test("without Resource Manager credentials it says exactly what to run and how to register it", async () => {
    const noArm = provider({ arm: undefined });
    assert.equal(noArm.canDeploy, false);
    const err = await noArm.deploy(input).catch((e: unknown) => e);
    assert.ok(err instanceof UserError);
    assert.equal(err.code, "deploy_manually");
    assert.ok(
      err.message.includes(
        `az cognitiveservices account deployment create --resource-group <resource-group> --name school-openai --deployment-name ${name} --model-name ${FINE_TUNED} --model-version 1 --model-format OpenAI --sku-name Standard --sku-capacity 1`,
      ),
      err.message,
    );
    assert.ok(err.message.includes(`/model add model:${name} provider:azure-school`));
    assert.ok(err.message.includes(AZURE_DEPLOYMENT_LIFETIME_WARNING));
    assert.equal(azure.requests.length, 0, "nothing was sent anywhere");

    const located = provider({ arm: arm({ clientSecret: undefined }) });
    const withValues = (await located.deploy(input).catch((e: unknown) => e)) as Error;
    assert.match(
      withValues.message,
      /--subscription sub-123 --resource-group rg-school --name school-openai/,
    );
    assert.match(withValues.message, /--sku-capacity 2/);
  });

  test("the warning names both of Azure's deletions", () => {
    assert.match(AZURE_DEPLOYMENT_LIFETIME_WARNING, /Developer-tier deployments 24 hours/);
    assert.match(AZURE_DEPLOYMENT_LIFETIME_WARNING, /Standard deployments that go unused for 15 days/);
  });

  test("a refused client secret is reported in Entra's words, and no secret or token reaches the log", async () => {
    const wrong = provider({ arm: arm({ clientSecret: "not-the-secret-at-all" }) });
    const err = await wrong.deploy(input).catch((e: unknown) => e);
    assert.ok(err instanceof ProviderHttpError);
    assert.equal(err.status, 401);
    assert.match(describeProviderError(err), /AADSTS7000215: Invalid client secret provided/);
    assert.doesNotMatch(describeProviderError(err), /not-the-secret-at-all|Trace ID/);

    await provider().deploy(input);
    const log = logLines.join("");
    assert.match(log, /deployment requested/, "the log was written");
    assert.match(log, /token request failed/);
    for (const secret of [azure.clientSecret, "not-the-secret-at-all", ...azure.issuedTokens]) {
      assert.equal(log.includes(secret), false, "a secret or token reached the log");
    }
  });
});
