// The logger never writes a secret: keys and tokens inside logged objects (the config, an SDK client, a
// Discord API error whose URL carries an interaction token) come out redacted.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { DiscordAPIError } from "discord.js";
import OpenAI from "openai";
import { loadConfig } from "../src/config.ts";
import { createLogger, secretsOf } from "../src/logger.ts";

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
