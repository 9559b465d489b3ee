// The logger never writes a secret: keys and tokens inside logged objects (the config, an SDK client, a
// Discord API error whose URL carries an interaction token) come out redacted.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { DiscordAPIError } from "discord.js";
import OpenAI from "openai";
import { loadConfig } from "../src/config.ts";
import { createLogger, MAX_LOG_LINE_CHARS, MAX_LOGGED_STRING_CHARS, secretsOf } from "../src/logger.ts";

const OPENAI_KEY = "test-openai-key-OPENAISECRET0123456789";
const DISCORD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.DISCORD.SECRETTOKENVALUE0123456789";
const CHAT_KEY = "gsk_CHATPROVIDERSECRET42";
const INTERACTION_TOKEN = "aW50ZXJhY3Rpb246SECRETINTERACTIONTOKEN";

function capture(secrets: string[]): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger("info", sink, { secrets }), text: () => chunks.join("") };
}

describe("logger redaction", () => {
  it("redacts keys and tokens in the config, SDK clients and Discord errors", () => {
    const config = loadConfig({
      OPENAI_API_KEY: OPENAI_KEY,
      DISCORD_TOKEN,
      GROQ_API_KEY: CHAT_KEY,
      CHAT_PROVIDERS: JSON.stringify([
        { name: "groq", baseURL: "https://api.groq.com/openai/v1", apiKeyEnv: "GROQ_API_KEY" },
      ]),
    });
    // As src/main.ts and the CLI build it: the configured secrets are scrubbed from every line.
    const { logger, text } = capture(secretsOf(config));
    logger.info({ config }, "config");
    logger.info({ client: new OpenAI({ apiKey: OPENAI_KEY }) }, "client");
    const err = new DiscordAPIError(
      { code: 10062, message: "Unknown interaction" },
      10062,
      404,
      "PATCH",
      `https://discord.com/api/v10/webhooks/123456789012345678/${INTERACTION_TOKEN}/messages/@original`,
      { body: { content: "hi" } },
    );
    logger.warn({ err }, "interaction could not be answered");
    logger.warn({ err: { url: `/interactions/1/${INTERACTION_TOKEN}/callback` } }, "raw");
    const out = text();
    assert.match(out, /Unknown interaction/, "the error itself is still logged");
    for (const secret of [OPENAI_KEY, DISCORD_TOKEN, CHAT_KEY, INTERACTION_TOKEN]) {
      assert.ok(!out.includes(secret), `${secret.slice(0, 12)}… is not in the log`);
    }
  });
});

describe("secretsOf", () => {
  it("scrubs the database password, as written in DATABASE_URL and decoded", () => {
    const config = loadConfig({ DATABASE_URL: "postgres://classtune:pa%40ss-DBSECRET-99@db.test:5432/ct" });
    const secrets = secretsOf(config);
    assert.ok(secrets.includes("pa%40ss-DBSECRET-99"));
    assert.ok(secrets.includes("pa@ss-DBSECRET-99"));
    const { logger, text } = capture(secrets);
    logger.error({ url: config.databaseUrl, password: "pa@ss-DBSECRET-99" }, "connect failed");
    assert.doesNotMatch(text(), /DBSECRET/);
    const inQuery = loadConfig({
      DATABASE_URL: "postgres://db.test/ct?sslmode=require&password=q-DBSECRET-77",
    });
    assert.ok(secretsOf(inQuery).includes("q-DBSECRET-77"));
  });

  it("scrubs every fine-tuning provider's key and the Azure client secret from the log", () => {
    const NEBIUS_KEY = "nebius-FINETUNESECRET-0123456789";
    const AZURE_KEY = "azure-FINETUNESECRET-0123456789";
    const CLIENT_SECRET = "entra~CLIENTSECRET~0123456789";
    const config = loadConfig({
      FINETUNE_PROVIDERS: JSON.stringify([
        {
          name: "nebius",
          kind: "nebius",
          baseURL: "https://api.tokenfactory.nebius.com/v1",
          apiKeyEnv: "NEBIUS_API_KEY",
        },
        {
          name: "azure",
          kind: "azure",
          baseURL: "https://school.openai.azure.com/openai/v1",
          apiKeyEnv: "AZURE_OPENAI_API_KEY",
          subscriptionId: "11111111-2222-3333-4444-555555555555",
          resourceGroup: "rg",
          account: "school",
          tenantIdEnv: "AZURE_TENANT_ID",
          clientIdEnv: "AZURE_CLIENT_ID",
          clientSecretEnv: "AZURE_CLIENT_SECRET",
        },
      ]),
      FINETUNE_DEFAULT_PROVIDER: "azure",
      NEBIUS_API_KEY: NEBIUS_KEY,
      AZURE_OPENAI_API_KEY: AZURE_KEY,
      AZURE_TENANT_ID: "tenant",
      AZURE_CLIENT_ID: "client",
      AZURE_CLIENT_SECRET: CLIENT_SECRET,
    });
    const { logger, text } = capture(secretsOf(config));
    logger.info({ config }, "config");
    logger.info(`token request with ${CLIENT_SECRET} for a call with ${NEBIUS_KEY}`);
    const out = text();
    assert.match(out, /tokenfactory\.nebius\.com/, "the rest of the config is still logged");
    for (const secret of [NEBIUS_KEY, AZURE_KEY, CLIENT_SECRET]) {
      assert.ok(!out.includes(secret), `${secret.slice(0, 12)}… is not in the log`);
    }
  });
});

describe("logger line size", () => {
  const workerCode = encodeURIComponent(
    `import { parentPort } from "node:worker_threads";\n${"const x = 1;\n".repeat(12_000)}`,
  );
  const workerError = () => {
    const err = new RangeError("Maximum call stack size exceeded");
    const frame = `    at checkLine (data:text/javascript,${workerCode}:4123:17)`;
    err.stack = `RangeError: Maximum call stack size exceeded\n${Array.from({ length: 10 }, () => frame).join("\n")}`;
    return err;
  };
  const lines = (text: string) => text.split("\n").filter((l) => l !== "");

  it("logs an error whose stack names a bundled worker as one bounded line, without the worker's code", () => {
    const { logger, text } = capture([]);
    assert.ok((workerError().stack?.length ?? 0) > 150_000, "the stack is as long as the real one");
    logger.error({ err: workerError() }, "validation failed");
    const [line, ...more] = lines(text());
    assert.deepEqual(more, []);
    assert.ok((line ?? "").length < MAX_LOG_LINE_CHARS, `${line?.length} characters`);
    const entry = JSON.parse(line ?? "") as { msg: string; err: { message: string; stack: string } };
    assert.equal(entry.msg, "validation failed");
    assert.equal(entry.err.message, "Maximum call stack size exceeded");
    assert.match(entry.err.stack, /at checkLine \(data:text\/javascript,…/);
    assert.ok(!entry.err.stack.includes("const%20x"), "the worker's code is not in the log");
  });

  it("cuts every long string of a line, and a line of many long strings to its message and error", () => {
    const { logger, text } = capture([]);
    logger.warn({ body: "é".repeat(100_000), err: new Error("bad gateway") }, "provider answered");
    const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`field${i}`, "y".repeat(10_000)]));
    logger.warn({ ...many, err: new Error("x".repeat(50_000)) }, "many fields");
    const [first, second] = lines(text()).map((l) => {
      assert.ok(l.length < MAX_LOG_LINE_CHARS, `${l.length} characters`);
      return JSON.parse(l) as Record<string, unknown> & { err: { message: string } };
    });
    assert.match(String(first?.body), /^é+… \[95904 more characters\]$/);
    assert.ok(String(first?.body).length < MAX_LOGGED_STRING_CHARS + 40);
    assert.equal(first?.err.message, "bad gateway");
    assert.equal(second?.msg, "many fields");
    assert.match(second?.err.message ?? "", /^x+… \[45904 more characters\]$/);
    assert.equal(second?.field0, undefined, "the fields are dropped when even cut they are too long");
  });

  it("writes ordinary lines as they are", () => {
    const { logger, text } = capture([]);
    logger.info({ guildId: "g1", bytes: 1234 }, "dataset stored");
    const entry = JSON.parse(text()) as Record<string, unknown>;
    assert.deepEqual(
      [entry.msg, entry.guildId, entry.bytes, entry.logLineCut],
      ["dataset stored", "g1", 1234, undefined],
    );
  });
});
