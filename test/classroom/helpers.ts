// Test helpers for /ask: an OpenAI-compatible chat endpoint over loopback (it speaks the real wire protocol the
// openai SDK talks to; used until the sandbox's chat completions land) and a service wired around real SQLite.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import OpenAI from "openai";
import {
  type AskLimits,
  type AskResult,
  AskService,
  type ModelUnavailableInfo,
} from "../../src/classroom/ask.ts";
import { ModerationGate } from "../../src/classroom/moderation.ts";
import { ChatPriceTable } from "../../src/classroom/prices.ts";
import { ModelRouter } from "../../src/classroom/routing.ts";
import { ClassroomSettings } from "../../src/classroom/settings.ts";
import { DEFAULT_MODERATION_MESSAGES } from "../../src/config.ts";
import { AnswerRepository } from "../../src/db/answers.ts";
import { ChannelSettingsRepository } from "../../src/db/channels.ts";
import { GuildSettingsRepository } from "../../src/db/guildSettings.ts";
import { ModelRepository } from "../../src/db/models.ts";
import { ModerationRepository } from "../../src/db/moderation.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { OutboxRepository } from "../../src/db/outbox.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { UsageRepository } from "../../src/db/usage.ts";
import { silentLogger } from "../../src/logger.ts";
import { ChatProviderRegistry } from "../../src/providers/chatRegistry.ts";
import { OpenAIModerator } from "../../src/providers/moderationOpenAI.ts";

export interface ChatServer {
  url: string;
  models: Set<string>;
  requests: {
    model: string;
    messages: { role: string; content: string }[];
    temperature?: number;
    max_tokens?: number;
  }[];
  /** The next N requests fail with this status and error body. */
  failNext(
    status: number,
    error: { message: string; type: string; code: string | null },
    times?: number,
  ): void;
  close(): Promise<void>;
}

const words = (s: string) => s.split(/\s+/).filter(Boolean).length;

export async function startChatServer(
  name: string,
  models: string[],
  /**
   * longestAnswers: every answer bills max_tokens completion tokens (the most a question can cost).
   * answerFor: the answer to a question (undefined: the usual echo).
   */
  opts: { longestAnswers?: boolean; answerFor?: (question: string) => string | undefined } = {},
): Promise<ChatServer> {
  const state = {
    models: new Set(models),
    requests: [] as ChatServer["requests"],
    failures: [] as { status: number; error: object }[],
  };
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      const send = (status: number, json: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(json));
      };
      if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
        return send(404, { error: { message: "no route", type: "invalid_request_error", code: null } });
      }
      const parsed = JSON.parse(body) as ChatServer["requests"][number];
      state.requests.push(parsed);
      const failure = state.failures.shift();
      if (failure) return send(failure.status, { error: failure.error });
      if (!state.models.has(parsed.model)) {
        return send(404, {
          error: {
            message: `The model \`${parsed.model}\` does not exist or you do not have access to it.`,
            type: "invalid_request_error",
            param: null,
            code: "model_not_found",
          },
        });
      }
      const question = parsed.messages.at(-1)?.content ?? "";
      const answer = opts.answerFor?.(question) ?? `[${name}:${parsed.model}] You asked: ${question}`;
      send(200, {
        id: `chatcmpl-${state.requests.length}`,
        object: "chat.completion",
        created: 0,
        model: parsed.model,
        choices: [{ index: 0, message: { role: "assistant", content: answer }, finish_reason: "stop" }],
        usage: {
          prompt_tokens: parsed.messages.reduce((n, m) => n + words(m.content), 0),
          completion_tokens: opts.longestAnswers ? (parsed.max_tokens ?? words(answer)) : words(answer),
          total_tokens: 0,
        },
      });
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    get models() {
      return state.models;
    },
    get requests() {
      return state.requests;
    },
    failNext(status, error, times = 1) {
      for (let i = 0; i < times; i++) state.failures.push({ status, error });
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Registers a model in the guild's real models table (optionally with a shutdown date). */
export async function addModel(
  h: { models: ModelRepository },
  guildId: string,
  m: { name: string; provider: string; baseModel?: string; shutdownDate?: string },
): Promise<void> {
  await h.models.register({
    guildId,
    name: m.name,
    provider: m.provider,
    baseModel: m.baseModel ?? m.name,
    jobId: null,
  });
  if (m.shutdownDate) await h.models.setShutdownDate(guildId, m.name, m.shutdownDate);
}

export const DEFAULT_LIMITS: AskLimits = {
  maxQuestionChars: 2000,
  userPerMinute: 1000,
  userBurst: 1000,
  guildPerMinute: 1000,
  guildBurst: 1000,
  dailyBudgetUsd: 0,
  cacheTtlSeconds: 3600,
  cacheMaxEntries: 1000,
  contextTurns: 4,
};

export interface Harness {
  db: Db;
  models: ModelRepository;
  providers: ChatProviderRegistry;
  router: ModelRouter;
  ask: AskService;
  settings: ClassroomSettings;
  guildSettings: GuildSettingsRepository;
  usage: UsageRepository;
  answers: AnswerRepository;
  clock: { now: number };
  notices: { guildId: string; model: string; info: ModelUnavailableInfo }[];
}

export function buildHarness(opts: {
  fineTuning: { name: string; url: string; free?: boolean };
  extra?: { name: string; url: string; free?: boolean; stream?: boolean }[];
  limits?: Partial<AskLimits>;
  defaultModel?: string;
  db?: Db;
  timeoutMs?: number;
  streamDeadlineMs?: number;
  /** The moderation step, built on the harness's database and clock. */
  moderation?: (db: Db, now: () => number) => ModerationGate;
}): Harness {
  const db = opts.db ?? openDb(":memory:");
  const clock = { now: Date.parse("2026-11-25T10:00:00Z") };
  const models = new ModelRepository(sqliteStore(db));
  const providers = new ChatProviderRegistry({
    fineTuning: [
      {
        name: opts.fineTuning.name,
        baseURL: opts.fineTuning.url,
        apiKey: "sk-test",
        maxRetries: 0,
        timeoutMs: opts.timeoutMs ?? 5000,
        free: opts.fineTuning.free ?? true,
      },
    ],
    extra: (opts.extra ?? []).map((p) => ({
      name: p.name,
      baseURL: p.url,
      apiKeyEnv: undefined,
      apiKey: undefined,
      defaultHeaders: undefined,
      maxRetries: 0,
      timeoutMs: 5000,
      free: p.free ?? false,
      stream: p.stream ?? true,
    })),
  });
  const channels = new ChannelSettingsRepository(sqliteStore(db));
  const guildSettings = new GuildSettingsRepository(sqliteStore(db));
  const usage = new UsageRepository(sqliteStore(db));
  const answers = new AnswerRepository(sqliteStore(db));
  const prices = ChatPriceTable.load();
  const router = new ModelRouter({
    models,
    providers,
    prices,
    channels,
    guildSettings,
    defaultModel: opts.defaultModel ?? "gpt-4o-mini-2024-07-18",
  });
  const notices: Harness["notices"] = [];
  const now = () => clock.now;
  const ask = new AskService({
    router,
    prices,
    channels,
    usage,
    answers,
    limits: { ...DEFAULT_LIMITS, ...opts.limits },
    logger: silentLogger,
    now,
    onModelUnavailable: (guildId, model, info) => {
      notices.push({ guildId, model, info });
    },
    moderation: opts.moderation?.(db, now),
    streamDeadlineMs: opts.streamDeadlineMs,
  });
  const settings = new ClassroomSettings({ channels, guildSettings, router, models, providers, now });
  return { db, models, providers, router, ask, settings, guildSettings, usage, answers, clock, notices };
}

/** The answer, or the test fails saying what was refused. */
export function answered(r: AskResult) {
  if (!r.ok) assert.fail(`expected an answer, got ${r.reason}: ${r.message}`);
  return r;
}

/** The refusal, or the test fails saying which model answered. */
export function refused(r: AskResult) {
  if (r.ok) assert.fail(`expected a refusal, got an answer from ${r.model}`);
  return r;
}

/**
 * The moderation step as MODERATION_PROVIDER=sandbox runs it: the openai moderator against a sandbox's
 * /v1/moderations, built on the harness's database and clock (buildHarness's `moderation` option).
 */
export const sandboxModeration =
  (
    sandboxUrl: string,
    fail: "closed" | "open" = "closed",
    messages: Partial<Record<keyof typeof DEFAULT_MODERATION_MESSAGES, string>> = {},
  ) =>
  (db: Db, now: () => number): ModerationGate =>
    new ModerationGate({
      moderator: new OpenAIModerator({
        client: new OpenAI({ apiKey: "sandbox", baseURL: sandboxUrl, maxRetries: 0 }),
        kind: "sandbox",
        model: "omni-moderation-latest",
        logger: silentLogger,
      }),
      fail,
      messages: { ...DEFAULT_MODERATION_MESSAGES, ...messages },
      store: sqliteStore(db),
      verdicts: new ModerationRepository(sqliteStore(db)),
      outbox: new OutboxRepository(sqliteStore(db)),
      logger: silentLogger,
      now,
    });
