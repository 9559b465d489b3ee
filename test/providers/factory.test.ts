// From the configuration to the providers at run time: every FINETUNE_PROVIDERS entry becomes its adapter (or,
// for kinds whose jobs come later, an entry that refuses jobs), the default is FINETUNE_DEFAULT_PROVIDER, the
// embedded sandbox is started once, and every fine-tuning provider is a chat provider for /ask.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import OpenAI from "openai";
import { loadConfig } from "../../src/config.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { UserError } from "../../src/domain/errors.ts";
import { silentLogger } from "../../src/logger.ts";
import { AzureOpenAIProvider } from "../../src/providers/azure.ts";
import { createProviderRegistry } from "../../src/providers/factory.ts";
import { FireworksProvider } from "../../src/providers/fireworks.ts";
import { LocalAIProvider } from "../../src/providers/localai.ts";
import { NebiusProvider } from "../../src/providers/nebius.ts";
import { OpenAICompatibleProvider } from "../../src/providers/openaiCompatible.ts";
import { EMBEDDED_SANDBOX_ENDPOINT, endpointOf } from "../../src/providers/registry.ts";
import { TogetherProvider } from "../../src/providers/together.ts";
import { buildServices } from "../../src/wire.ts";

const dir = mkdtempSync(join(tmpdir(), "classtune-factory-"));
const dbs: Db[] = [];
after(() => {
  for (const db of dbs) db.close();
  rmSync(dir, { recursive: true, force: true });
});
const db = (name: string) => {
  const d = openDb(join(dir, `${name}.db`));
  dbs.push(d);
  return d;
};

const key = (prefix: string) => [prefix, "test", "key"].join("-");
const AZURE = {
  kind: "azure",
  baseURL: "https://school.openai.azure.com/openai/v1",
  apiKeyEnv: "AZURE_OPENAI_API_KEY",
};
const ENV = {
  DATA_DIR: dir,
  LOG_LEVEL: "silent",
  FINETUNE_PROVIDERS: JSON.stringify([
    { kind: "sandbox", name: "rehearsal" },
    { kind: "openai", name: "school-openai", apiKeyEnv: "SCHOOL_OPENAI_KEY" },
    {
      kind: "nebius",
      name: "nebius",
      baseURL: "https://api.tokenfactory.nebius.com/v1",
      apiKeyEnv: "NEBIUS_API_KEY",
    },
    {
      ...AZURE,
      name: "azure",
      trainingType: "Developer",
      subscriptionId: "00000000-0000-4000-8000-000000000000",
      resourceGroup: "school-rg",
      account: "school",
      tenantIdEnv: "AZURE_TENANT_ID",
      clientIdEnv: "AZURE_CLIENT_ID",
      clientSecretEnv: "AZURE_CLIENT_SECRET",
    },
    { ...AZURE, name: "azure-by-hand" },
    { kind: "sandbox", name: "lab", baseURL: "http://127.0.0.1:9/v1/" },
    {
      kind: "together",
      name: "together",
      baseURL: "https://api.together.xyz/v1",
      apiKeyEnv: "TOGETHER_API_KEY",
    },
    {
      kind: "fireworks",
      name: "fireworks",
      baseURL: "https://api.fireworks.ai/inference/v1",
      apiKeyEnv: "FIREWORKS_API_KEY",
      accountId: "school",
    },
    { kind: "localai", name: "localai", baseURL: "http://127.0.0.1:8080/v1" },
  ]),
  FINETUNE_DEFAULT_PROVIDER: "nebius",
  SCHOOL_OPENAI_KEY: key("sk"),
  NEBIUS_API_KEY: key("nb"),
  AZURE_OPENAI_API_KEY: key("az"),
  AZURE_TENANT_ID: "tenant",
  AZURE_CLIENT_ID: "client",
  AZURE_CLIENT_SECRET: key("secret"),
  TOGETHER_API_KEY: key("tg"),
  FIREWORKS_API_KEY: key("fw"),
};

describe("the provider registry at run time", () => {
  it("builds one adapter per configured provider, and lists the kinds whose jobs are not yet supported", async () => {
    const config = loadConfig(ENV);
    const runtime = await createProviderRegistry(config, {
      sandboxDb: () => db("all"),
      logger: silentLogger,
      dataDir: dir,
    });
    try {
      const { providers } = runtime;
      assert.deepEqual(providers.names(), [
        "rehearsal",
        "school-openai",
        "nebius",
        "azure",
        "azure-by-hand",
        "lab",
        "together",
        "fireworks",
        "localai",
      ]);
      assert.equal(providers.default.name, "nebius");
      assert.equal(providers.forStart().name, "nebius", "no name: the default");
      const jobs = (name: string) => providers.get(name)?.jobs;
      assert.ok(jobs("nebius") instanceof NebiusProvider);
      const azure = jobs("azure");
      assert.ok(azure instanceof AzureOpenAIProvider);
      assert.equal(azure.canDeploy, true, "ARM when configured");
      assert.equal(azure.trainingType, "Developer");
      const byHand = jobs("azure-by-hand");
      assert.ok(byHand instanceof AzureOpenAIProvider);
      assert.equal(byHand.canDeploy, false);
      for (const name of ["rehearsal", "school-openai", "lab"]) {
        const p = jobs(name);
        assert.ok(p instanceof OpenAICompatibleProvider && !(p instanceof NebiusProvider), name);
        assert.equal(p.name, name, "the adapter carries the configured name (stored on job rows)");
      }
      assert.ok(jobs("together") instanceof TogetherProvider);
      const fireworks = jobs("fireworks");
      assert.ok(fireworks instanceof FireworksProvider, "fireworks trains through its own adapter");
      assert.equal(fireworks.serving, "deploy");
      assert.ok(jobs("localai") instanceof LocalAIProvider, "LocalAI trains through its fine-tuning API");

      // The embedded sandbox was started once, for "rehearsal"; "lab" is a standalone one elsewhere.
      assert.ok(runtime.sandbox);
      assert.equal(providers.get("rehearsal")?.endpoint, EMBEDDED_SANDBOX_ENDPOINT);
      assert.equal(providers.get("lab")?.endpoint, "http://127.0.0.1:9/v1");
      assert.equal(providers.get("school-openai")?.endpoint, "https://api.openai.com/v1");
      const chat = Object.fromEntries(providers.chatEndpoints().map((c) => [c.name, c]));
      assert.equal(chat.rehearsal?.baseURL, runtime.sandbox.url);
      assert.deepEqual(
        Object.values(chat)
          .filter((c) => c.free)
          .map((c) => c.name),
        ["rehearsal", "lab", "localai"],
      );
    } finally {
      await runtime.close();
    }
  });

  it("refuses an unknown provider, naming what is configured", async () => {
    const runtime = await createProviderRegistry(loadConfig(ENV), {
      sandboxDb: () => db("refusals"),
      logger: silentLogger,
      dataDir: dir,
    });
    try {
      const { providers } = runtime;
      assert.throws(
        () => providers.forStart("nope"),
        (e: unknown) =>
          e instanceof UserError &&
          e.code === "unknown_provider" &&
          e.message.includes('no fine-tuning provider called "nope"') &&
          e.message.includes("Configured: rehearsal, school-openai, nebius (default), azure"),
      );
      assert.equal(providers.get("NEBIUS")?.name, "nebius", "names are unique whatever their case");
      assert.throws(
        () => providers.forJob({ id: 7, provider: "gone" }),
        /Job #7 was started on provider "gone"/,
      );
    } finally {
      await runtime.close();
    }
  });

  it("refuses a LocalAI on plain http to another machine unless its entry says allowInsecure", async () => {
    const env = (entry: Record<string, unknown>) =>
      loadConfig({
        DATA_DIR: dir,
        FINETUNE_PROVIDERS: JSON.stringify([
          { kind: "localai", name: "gpu", baseURL: "http://10.0.0.5:8080/v1", ...entry },
        ]),
      });
    await assert.rejects(
      createProviderRegistry(env({}), {
        sandboxDb: () => db("insecure"),
        logger: silentLogger,
        dataDir: dir,
      }),
      (e: unknown) =>
        e instanceof UserError && e.code === "insecure_base_url" && /allowInsecure/.test(e.message),
    );
    const allowed = await createProviderRegistry(env({ allowInsecure: true }), {
      sandboxDb: () => db("insecure-allowed"),
      logger: silentLogger,
      dataDir: dir,
    });
    assert.ok(allowed.providers.get("gpu")?.jobs instanceof LocalAIProvider);
    await allowed.close();
  });

  it("keeps the legacy shapes: nothing configured is the embedded sandbox; OPENAI_* one openai provider", async () => {
    const none = await createProviderRegistry(loadConfig({ DATA_DIR: dir }), {
      sandboxDb: () => db("none"),
      logger: silentLogger,
      dataDir: dir,
    });
    assert.deepEqual(
      none.providers.all().map((p) => [p.name, p.kind, p.endpoint, p.isDefault]),
      [["sandbox", "sandbox", EMBEDDED_SANDBOX_ENDPOINT, true]],
    );
    assert.ok(none.sandbox);
    await none.close();

    const legacy = await createProviderRegistry(
      loadConfig({
        DATA_DIR: dir,
        OPENAI_API_KEY: key("sk"),
        OPENAI_BASE_URL: "https://Proxy.School.test/openai/v1/",
        PROVIDER_NAME: "school-openai",
      }),
      { sandboxDb: () => db("legacy"), logger: silentLogger, dataDir: dir },
    );
    assert.deepEqual(
      legacy.providers.all().map((p) => [p.name, p.kind, p.endpoint]),
      [["school-openai", "openai", "https://proxy.school.test/openai/v1"]],
    );
    assert.equal(legacy.sandbox, undefined, "no sandbox is started when a key is configured");
    await legacy.close();
  });

  it("starts the embedded sandbox at SANDBOX_STREAM_TOKENS_PER_SECOND: its streamed answers keep that pace", async () => {
    const runtime = await createProviderRegistry(
      loadConfig({ DATA_DIR: dir, SANDBOX_STREAM_TOKENS_PER_SECOND: "20" }),
      { sandboxDb: () => db("stream-pace"), logger: silentLogger, dataDir: dir },
    );
    try {
      assert.ok(runtime.sandbox);
      const client = new OpenAI({ apiKey: "sandbox", baseURL: runtime.sandbox.url, maxRetries: 0 });
      const stream = await client.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "Take your time" }],
        stream: true,
        max_tokens: 4,
      });
      const arrivals: number[] = [];
      for await (const _chunk of stream) arrivals.push(performance.now());
      // Role chunk, 4 tokens, finish: at 20 tokens a second the 4th token is due 200 ms after the role chunk was
      // sent. Measured where the chunks arrive, so a role chunk that reached the client late shortens the gap: a
      // lower bound with room for that (unpaced, the gap is about a millisecond).
      assert.equal(arrivals.length, 6);
      const [role, , , , fourth] = arrivals;
      assert.ok((fourth ?? 0) - (role ?? 0) >= 120, `4 tokens in ${(fourth ?? 0) - (role ?? 0)} ms`);
    } finally {
      await runtime.close();
    }
  });

  it("gives the sandbox moderator a sandbox: the embedded one, else one of its own, else none", async () => {
    const embedded = await createProviderRegistry(loadConfig({ DATA_DIR: dir }), {
      sandboxDb: () => db("moderation-embedded"),
      logger: silentLogger,
      dataDir: dir,
    });
    assert.equal(embedded.moderationSandboxURL, embedded.sandbox?.url, "the embedded sandbox moderates too");
    await embedded.close();

    const compatible = await createProviderRegistry(
      loadConfig({
        DATA_DIR: dir,
        OPENAI_API_KEY: key("sk"),
        OPENAI_BASE_URL: "https://proxy.school.test/v1",
      }),
      { sandboxDb: () => db("moderation-own"), logger: silentLogger, dataDir: dir },
    );
    assert.equal(compatible.sandbox, undefined, "no fine-tuning sandbox");
    const url = compatible.moderationSandboxURL;
    assert.ok(url, "a sandbox for moderation alone");
    const moderated = await fetch(`${url}/moderations`, {
      method: "POST",
      headers: { authorization: "Bearer sandbox", "content-type": "application/json" },
      body: JSON.stringify({ input: "What is a cell?" }),
    });
    assert.equal(
      ((await moderated.json()) as { results: { flagged: boolean }[] }).results[0]?.flagged,
      false,
    );
    await compatible.close();
    await assert.rejects(fetch(`${url}/moderations`, { method: "POST" }), "closed with the runtime");

    const real = await createProviderRegistry(loadConfig({ DATA_DIR: dir, OPENAI_API_KEY: key("sk") }), {
      sandboxDb: () => db("moderation-openai"),
      logger: silentLogger,
      dataDir: dir,
    });
    assert.equal(real.moderationSandboxURL, undefined, "OpenAI moderates: no sandbox at all");
    await real.close();
  });

  it("records endpoints without credentials or query, whatever the URL carries", () => {
    assert.equal(
      endpointOf({ kind: "openai", baseURL: "https://user:pw@Host.Example:8443/v1/?api-key=x" }),
      "https://host.example:8443/v1",
    );
  });

  it("wires every fine-tuning provider into the chat registry, so a model is asked where it was trained", async () => {
    const services = await buildServices({
      config: loadConfig(ENV),
      database: { store: sqliteStore(db("wire")), sqlite: db("wire") },
      logger: silentLogger,
      sender: () => ({ send: async () => ({}) }),
    });
    try {
      const chat = services.classroom.providers;
      for (const name of services.providers.names()) assert.ok(chat.has(name), name);
      assert.equal(chat.fineTuningName, "nebius", "base models go to the default");
      assert.equal(chat.get("rehearsal")?.baseURL, services.sandbox?.url);
      assert.equal(chat.get("rehearsal")?.free, true);
      assert.equal(chat.get("nebius")?.free, false);
      assert.equal(services.jobs.providers, services.providers, "one registry for jobs, poller and chat");
    } finally {
      await services.close();
    }
  });
});
