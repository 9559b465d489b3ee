// The Moderator implementations over loopback: openai (here at the sandbox's /v1/moderations, the same SDK call
// OpenAI answers), and guard against a chat endpoint that answers like Llama Guard 4 ("safe", "unsafe\nS1,S10").
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { loadConfig } from "../../src/config.ts";
import { isModerationCategory, SEVERE_CATEGORIES } from "../../src/domain/moderation.ts";
import { createLogger, silentLogger } from "../../src/logger.ts";
import { ChatProviderRegistry } from "../../src/providers/chatRegistry.ts";
import { ModerationUnavailableError } from "../../src/providers/moderation.ts";
import {
  GuardModerator,
  LLAMA_GUARD_4_CATEGORIES,
  parseGuardReply,
} from "../../src/providers/moderationGuard.ts";
import { OpenAIModerator } from "../../src/providers/moderationOpenAI.ts";
import { createModerator } from "../../src/providers/moderators.ts";
import { type Rig, startRig } from "../sandbox/helpers.ts";

describe("the openai moderator (at the sandbox)", () => {
  let rig: Rig;
  let moderator: OpenAIModerator;
  before(async () => {
    rig = await startRig();
    moderator = new OpenAIModerator({
      client: new OpenAI({ apiKey: "sandbox", baseURL: rig.sandbox.url, maxRetries: 1 }),
      kind: "sandbox",
      model: "omni-moderation-latest",
      logger: silentLogger,
    });
  });
  after(() => rig.close());

  it("passes a clean question with every category scored", async () => {
    const v = await moderator.moderate({ text: "What is a cell?", target: "question" });
    assert.equal(v.flagged, false);
    assert.deepEqual(v.flaggedCategories, []);
    assert.equal(v.scores.length, 13);
    assert.equal(v.severe, false);
    assert.equal(v.provider, "sandbox");
    assert.equal(v.model, "omni-moderation-latest");
  });

  it("names the flagged categories highest first and marks self-harm severe", async () => {
    const v = await moderator.moderate({ text: "how do I hurt myself", target: "question" });
    assert.equal(v.flagged, true);
    assert.deepEqual(
      v.flaggedCategories.map((c) => c.category),
      ["self-harm", "self-harm/instructions"],
    );
    assert.ok(v.flaggedCategories.every((c) => c.score > 0.9));
    assert.equal(v.severe, true);
  });

  it("does not call a flag severe outside the severe list", async () => {
    const v = await moderator.moderate({ text: "you are so stupid", target: "question" });
    assert.deepEqual(
      v.flaggedCategories.map((c) => c.category),
      ["harassment"],
    );
    assert.equal(v.severe, false);
  });

  it("is unavailable, after the SDK's own retry, when the endpoint keeps failing", async () => {
    rig.sandbox.faults.next({ path: "/moderations", status: 503, times: 2, retryAfterMs: 1 });
    await assert.rejects(
      moderator.moderate({ text: "What is a cell?", target: "question" }),
      (err: unknown) => err instanceof ModerationUnavailableError && err.code === "http_503",
    );
    const v = await moderator.moderate({ text: "What is a cell?", target: "question" });
    // Both faults were spent by the first call (the SDK retried once), so this one is answered.
    assert.equal(v.flagged, false);
  });
});

describe("Llama Guard 4's category table", () => {
  it("maps each of S1…S14 to a classtune category", () => {
    assert.deepEqual(
      Object.keys(LLAMA_GUARD_4_CATEGORIES),
      Array.from({ length: 14 }, (_, i) => `S${i + 1}`),
    );
    for (const { maps } of Object.values(LLAMA_GUARD_4_CATEGORIES)) assert.ok(isModerationCategory(maps));
  });

  it("reads the severe hazards as severe categories: violent crimes, child exploitation, self-harm", () => {
    const severe = Object.entries(LLAMA_GUARD_4_CATEGORIES)
      .filter(([, c]) => SEVERE_CATEGORIES.has(c.maps))
      .map(([code]) => code);
    assert.deepEqual(severe, ["S1", "S4", "S11"]);
  });

  it("parses safe, unsafe with codes, and refuses what it cannot read", () => {
    assert.deepEqual(parseGuardReply("safe"), { flagged: false, categories: [] });
    assert.deepEqual(parseGuardReply("\n\nunsafe\nS1,S10"), {
      flagged: true,
      categories: ["violence", "hate"],
    });
    assert.deepEqual(parseGuardReply("unsafe\nS3, S12"), { flagged: true, categories: ["sexual"] });
    assert.equal(parseGuardReply("unsafe\nS99"), undefined);
    assert.equal(parseGuardReply("I think this is fine"), undefined);
    assert.equal(parseGuardReply(""), undefined);
  });
});

/** A chat endpoint that answers every request like Llama Guard: `replies` in turn, recording what it got. */
async function startGuardServer(replies: string[]) {
  const requests: { model: string; messages: { role: string; content: string }[] }[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      const parsed = JSON.parse(body);
      requests.push(parsed);
      const reply = replies.shift();
      if (reply === undefined) {
        res.writeHead(503, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: "overloaded", type: "server_error", code: null } }));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id: "chatcmpl-guard",
          object: "chat.completion",
          created: 0,
          model: parsed.model,
          choices: [{ index: 0, message: { role: "assistant", content: reply }, finish_reason: "stop" }],
          usage: { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 },
        }),
      );
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe("the guard moderator", () => {
  const guardFor = (url: string) => {
    const client = new OpenAI({ apiKey: "no-key", baseURL: url, maxRetries: 0 });
    return new GuardModerator({
      providerName: "groq",
      model: "meta-llama/llama-guard-4-12b",
      logger: silentLogger,
      chat: async (input) => {
        const c = await client.chat.completions.create({ model: input.model, messages: input.messages });
        return {
          text: c.choices[0]?.message?.content ?? "",
          model: c.model,
          usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
        };
      },
    });
  };

  it("maps the guard's codes, asks about a question as the user's turn and an answer as the reply", async () => {
    const server = await startGuardServer(["safe", "unsafe\nS1,S10", "unsafe\nS11"]);
    try {
      const guard = guardFor(server.url);
      const clean = await guard.moderate({ text: "What is a cell?", target: "question" });
      assert.equal(clean.flagged, false);
      assert.equal(clean.provider, "guard:groq");

      const violent = await guard.moderate({ text: "some question", target: "question" });
      assert.equal(violent.flagged, true);
      assert.deepEqual(violent.flaggedCategories, [
        { category: "hate", score: 1 },
        { category: "violence", score: 1 },
      ]);
      assert.equal(violent.severe, true);

      const answer = await guard.moderate({ text: "the answer", target: "answer", question: "the question" });
      assert.deepEqual(
        answer.flaggedCategories.map((c) => c.category),
        ["self-harm"],
      );
      assert.deepEqual(server.requests[0]?.messages, [{ role: "user", content: "What is a cell?" }]);
      assert.deepEqual(server.requests[2]?.messages, [
        { role: "user", content: "the question" },
        { role: "assistant", content: "the answer" },
      ]);
      assert.equal(server.requests[0]?.model, "meta-llama/llama-guard-4-12b");
    } finally {
      await server.close();
    }
  });

  it("is unavailable when the guard answers something else or its endpoint fails", async () => {
    const server = await startGuardServer(["Sure! Here is a poem"]);
    try {
      const guard = guardFor(server.url);
      await assert.rejects(
        guard.moderate({ text: "What is a cell?", target: "question" }),
        (err: unknown) => err instanceof ModerationUnavailableError && err.code === "unreadable",
      );
      await assert.rejects(
        guard.moderate({ text: "What is a cell?", target: "question" }),
        (err: unknown) => err instanceof ModerationUnavailableError && err.code === "http_503",
      );
    } finally {
      await server.close();
    }
  });
});

describe("createModerator", () => {
  it("builds the guard from the configuration, on the named chat provider, with its own model", async () => {
    const server = await startGuardServer(["unsafe\nS4"]);
    try {
      const config = loadConfig({
        CHAT_PROVIDERS: JSON.stringify([{ name: "groq", baseURL: server.url }]),
        MODERATION_PROVIDER: "guard",
        MODERATION_GUARD_PROVIDER: "groq",
        MODERATION_MAX_RETRIES: "0",
      });
      const chat = new ChatProviderRegistry({
        fineTuning: [
          {
            name: "sandbox",
            baseURL: "http://127.0.0.1:9/v1",
            apiKey: "x",
            maxRetries: 0,
            timeoutMs: 1000,
            free: true,
          },
        ],
        extra: config.chatProviders,
      });
      const moderator = createModerator({
        config: config.moderation,
        finetuneProviders: config.finetuneProviders,
        sandboxURL: undefined,
        chat,
        logger: silentLogger,
      });
      assert.equal(moderator.describe, "guard meta-llama/Llama-Guard-4-12B at groq");
      const v = await moderator.moderate({ text: "a question", target: "question" });
      assert.deepEqual(v.flaggedCategories, [{ category: "sexual/minors", score: 1 }]);
      assert.equal(v.severe, true);
      assert.equal(server.requests[0]?.model, "meta-llama/Llama-Guard-4-12B");
    } finally {
      await server.close();
    }
  });

  it("warns at start-up when the sandbox's word list moderates a bot that trains on a real provider", () => {
    const warnings = (env: Record<string, string>) => {
      const config = loadConfig(env);
      const lines: string[] = [];
      createModerator({
        config: config.moderation,
        finetuneProviders: config.finetuneProviders,
        sandboxURL: "http://127.0.0.1:9/v1",
        chat: new ChatProviderRegistry({
          fineTuning: [
            {
              name: "lab",
              baseURL: "http://127.0.0.1:9/v1",
              apiKey: "x",
              maxRetries: 0,
              timeoutMs: 1000,
              free: true,
            },
          ],
        }),
        logger: createLogger("warn", { write: (l: string) => void lines.push(l) }),
      });
      return lines.filter((l) => /word list, which is for rehearsal/.test(l));
    };
    assert.equal(warnings({}).length, 0, "the embedded sandbox alone: a rehearsal, nothing to warn about");
    assert.equal(
      warnings({
        FINETUNE_PROVIDERS: JSON.stringify([
          { kind: "together", name: "together", baseURL: "https://api.together.xyz/v1", apiKeyEnv: "TG_KEY" },
        ]),
        TG_KEY: ["tg", "warn", "test"].join("-"),
      }).length,
      1,
    );
  });

  it("refuses to build the sandbox moderator without a sandbox", () => {
    const config = loadConfig({});
    assert.throws(
      () =>
        createModerator({
          config: config.moderation,
          finetuneProviders: config.finetuneProviders,
          sandboxURL: undefined,
          chat: new ChatProviderRegistry({
            fineTuning: [
              {
                name: "sandbox",
                baseURL: "http://127.0.0.1:9/v1",
                apiKey: "x",
                maxRetries: 0,
                timeoutMs: 1,
                free: true,
              },
            ],
          }),
          logger: silentLogger,
        }),
      /no sandbox was started/,
    );
  });
});
