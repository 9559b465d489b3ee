// The one place that reads the environment: a zod schema over process.env, validated once at start-up,
// every problem reported in one message. Everything else receives a typed Config.
import { resolve } from "node:path";
import { validate as validateCron } from "node-cron";
import { z } from "zod";
import { redactUrl } from "./db/postgres/url.ts";
import {
  type FineTuneProviderSpec,
  loadFinetuneProviders,
  OPENAI_DEFAULT_BASE_URL,
  providerNameSchema,
  readProviderLists,
} from "./providerSpecs.ts";

export {
  AZURE_DEPLOYMENT_SKUS,
  AZURE_TRAINING_TYPES,
  type AzureArmSpec,
  type AzureDeploymentSku,
  type AzureProviderSpec,
  type AzureTrainingType,
  type FineTuneProviderSpec,
  type FireworksProviderSpec,
  type LocalAIProviderSpec,
  type NebiusProviderSpec,
  type OpenAIProviderSpec,
  PROVIDER_KINDS,
  type ProviderKind,
  type ProviderSource,
  type SandboxProviderSpec,
  type TogetherProviderSpec,
} from "./providerSpecs.ts";

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const optionalString = z
  .string()
  .trim()
  .transform((s) => (s === "" ? undefined : s))
  .optional();

/**
 * DATABASE_URL: a PostgreSQL connection URL (postgres:// or postgresql://). A bad value is reported without its
 * password, since the message is printed.
 */
const postgresUrlString = z
  .string()
  .trim()
  .optional()
  .transform((s, ctx) => {
    if (s === undefined || s === "") return undefined;
    let u: URL | undefined;
    try {
      u = new URL(s);
    } catch {
      u = undefined;
    }
    if (
      u === undefined ||
      (u.protocol !== "postgres:" && u.protocol !== "postgresql:") ||
      u.hostname === ""
    ) {
      const shown = redactUrl(s);
      ctx.addIssue({
        code: "custom",
        message: `must be a postgres://user:password@host:port/database URL, got "${shown}" (SQLite is DATABASE_PATH)`,
      });
      return z.NEVER;
    }
    return s;
  });

const intFrom = (def: number, min = 0, max = Number.POSITIVE_INFINITY) =>
  z
    .string()
    .trim()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined || s === "") return def;
      const n = Number(s);
      if (!Number.isInteger(n) || n < min || n > max) {
        const range = max === Number.POSITIVE_INFINITY ? `≥ ${min}` : `from ${min} to ${max}`;
        ctx.addIssue({ code: "custom", message: `must be a whole number ${range}, got "${s}"` });
        return z.NEVER;
      }
      return n;
    });

const numberFrom = (def: number, min = 0) =>
  z
    .string()
    .trim()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined || s === "") return def;
      const n = Number(s);
      if (!Number.isFinite(n) || n < min) {
        ctx.addIssue({ code: "custom", message: `must be a number ≥ ${min}, got "${s}"` });
        return z.NEVER;
      }
      return n;
    });

const urlString = z
  .string()
  .trim()
  .optional()
  .transform((s, ctx) => {
    if (s === undefined || s === "") return undefined;
    try {
      const u = new URL(s);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http(s)");
      return s.replace(/\/+$/, "");
    } catch {
      ctx.addIssue({ code: "custom", message: `must be an http(s) URL, got "${s}"` });
      return z.NEVER;
    }
  });

const snowflake = z
  .string()
  .trim()
  .optional()
  .transform((s, ctx) => {
    if (s === undefined || s === "") return undefined;
    if (!/^\d{17,20}$/.test(s)) {
      ctx.addIssue({ code: "custom", message: `must be a Discord id (17–20 digits), got "${s}"` });
      return z.NEVER;
    }
    return s;
  });

/** A switch: true/false, on/off, yes/no or 1/0; unset or empty is the default. */
const booleanFrom = (def: boolean) =>
  z
    .string()
    .optional()
    .transform((s, ctx) => {
      const v = s?.trim().toLowerCase() ?? "";
      if (v === "") return def;
      if (["true", "on", "yes", "1"].includes(v)) return true;
      if (["false", "off", "no", "0"].includes(v)) return false;
      ctx.addIssue({ code: "custom", message: `must be true or false, got "${s}"` });
      return z.NEVER;
    });

/** `host` or `host:port`, comma-separated. */
const hostList = (def: string) =>
  z
    .string()
    .optional()
    .transform((s, ctx) => {
      const raw = (s === undefined || s.trim() === "" ? def : s)
        .split(",")
        .map((h) => h.trim().toLowerCase());
      const hosts = raw.filter((h) => h !== "");
      for (const h of hosts) {
        if (!/^(\[[0-9a-f:]+\]|[a-z0-9.-]+)(:\d{1,5})?$/.test(h)) {
          ctx.addIssue({ code: "custom", message: `"${h}" is not a host or host:port` });
        }
      }
      return hosts;
    });

/** The configured sandbox streams at about the pace of a hosted small model. */
export const DEFAULT_STREAM_TOKENS_PER_SECOND = 40;

export const MODERATION_PROVIDERS = ["openai", "guard", "sandbox", "off"] as const;
export type ModerationProviderKind = (typeof MODERATION_PROVIDERS)[number];

/** The longest message to students a school may set: it goes in one Discord message with room to spare. */
export const MAX_STUDENT_TEXT_CHARS = 1500;

const studentText = z
  .string()
  .trim()
  .max(MAX_STUDENT_TEXT_CHARS, `must be at most ${MAX_STUDENT_TEXT_CHARS} characters`)
  .transform((s) => (s === "" ? undefined : s))
  .optional();

/** What a student reads when moderation stops a question or an answer (each can be set by the school). */
export const DEFAULT_MODERATION_MESSAGES = {
  refusal:
    "I can't help with that one. Let's keep /ask for schoolwork. If something is on your mind, your teacher or another adult you trust is a good person to talk to.",
  help: "It sounds like you might be going through something hard, and you don't have to handle it alone. Please talk to a teacher, your school counsellor or another adult you trust today. If you are in danger right now, call your local emergency number.",
  withheld:
    "This answer was held back so a teacher can check it first. Try asking in a different way, or ask your teacher.",
  unavailable:
    "The safety check is not available right now, so your question was not sent. Please try again shortly.",
} as const;

export const envSchema = z.object({
  LOG_LEVEL: z.enum(LEVELS).optional(),
  DATA_DIR: z.string().trim().default("./data"),
  DATABASE_PATH: optionalString,
  /** PostgreSQL instead of the SQLite file (issue 14): the bot and the CLI run on it, several processes can share it. */
  DATABASE_URL: postgresUrlString,
  MODELS_FILE: optionalString,
  PRICES_FILE: optionalString,
  /** Where built tokenizer tables and the validation worker's bundle are kept (default node_modules/.cache/classtune). */
  CLASSTUNE_CACHE_DIR: optionalString,

  // Fine-tuning providers: a list (src/providerSpecs.ts), and/or the openai SDK's own variable names for one
  // provider of kind openai, as before the list. Neither means the embedded sandbox.
  FINETUNE_PROVIDERS: optionalString,
  FINETUNE_PROVIDERS_FILE: optionalString,
  FINETUNE_DEFAULT_PROVIDER: optionalString,
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: urlString,
  OPENAI_MAX_RETRIES: intFrom(2),
  OPENAI_TIMEOUT_MS: intFrom(60_000, 1),
  PROVIDER_NAME: optionalString,
  SANDBOX_PORT: intFrom(0),
  SANDBOX_SECONDS_PER_STEP: numberFrom(0.05),
  /** Streamed sandbox answers come at this many tokens a second (a real model's pace); 0 sends them at once. */
  SANDBOX_STREAM_TOKENS_PER_SECOND: numberFrom(DEFAULT_STREAM_TOKENS_PER_SECOND),
  MAX_JOB_COST_USD: numberFrom(25),
  HOSTING_IDLE_MINUTES: intFrom(60, 1),
  HOSTING_DAILY_BUDGET_USD: numberFrom(20),

  // Privacy (src/privacy/service.ts, src/db/privacy.ts): how long student activity, teachers' datasets and a
  // departed server's data are kept.
  DATA_RETENTION_DAYS: intFrom(365, 1),
  DATASET_RETENTION_DAYS: z
    .string()
    .trim()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined || s === "" || s.toLowerCase() === "keep") return undefined;
      const n = Number(s);
      if (!Number.isInteger(n) || n < 1) {
        ctx.addIssue({ code: "custom", message: `must be a whole number ≥ 1 or "keep", got "${s}"` });
        return z.NEVER;
      }
      return n;
    }),
  GUILD_DATA_GRACE_DAYS: intFrom(30),
  POLL_SCHEDULE: z
    .string()
    .trim()
    .default("* * * * *")
    .refine((s) => validateCron(s), {
      message: 'must be a cron expression, e.g. "* * * * *" or "*/30 * * * * *"',
    }),

  // Health endpoints (src/health/server.ts): off unless HEALTH_PORT is set; loopback unless HEALTH_HOST says otherwise.
  HEALTH_PORT: z
    .string()
    .trim()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined || s === "") return undefined;
      const n = Number(s);
      if (!Number.isInteger(n) || n < 0 || n > 65_535) {
        ctx.addIssue({
          code: "custom",
          message: `must be a port number 0–65535 (0: any free port), got "${s}"`,
        });
        return z.NEVER;
      }
      return n;
    }),
  HEALTH_HOST: z.string().trim().min(1).default("127.0.0.1"),

  // Sharding (src/discord/client.ts, src/sharded.ts): unset, one gateway connection as always.
  SHARD_COUNT: z
    .string()
    .trim()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined || s === "") return undefined;
      if (s.toLowerCase() === "auto") return "auto" as const;
      const n = Number(s);
      if (!Number.isInteger(n) || n < 1) {
        ctx.addIssue({ code: "custom", message: `must be "auto" or a whole number ≥ 1, got "${s}"` });
        return z.NEVER;
      }
      return n;
    }),
  SHARD_IDS: z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined || s.trim() === "") return undefined;
      const ids = s.split(",").map((part) => part.trim());
      for (const id of ids) {
        if (!/^\d+$/.test(id)) {
          ctx.addIssue({
            code: "custom",
            message: `must be shard ids separated by commas, e.g. "0,1"; "${id}" is not a whole number ≥ 0`,
          });
          return z.NEVER;
        }
      }
      return ids.map(Number);
    }),
  // Set by discord.js's ShardingManager in each process it spawns (SHARDS: that process's shard id or ids as
  // JSON; SHARD_COUNT: the total). Read here, so discord.js's own reading of them never disagrees with ours.
  SHARDING_MANAGER: booleanFrom(false),
  SHARDS: z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined || s.trim() === "") return undefined;
      let parsed: unknown;
      try {
        parsed = JSON.parse(s);
      } catch {
        parsed = undefined;
      }
      const ids = typeof parsed === "number" ? [parsed] : parsed;
      if (!Array.isArray(ids) || ids.length === 0 || !ids.every((i) => Number.isInteger(i) && i >= 0)) {
        ctx.addIssue({ code: "custom", message: `must be a shard id or a JSON list of them, got "${s}"` });
        return z.NEVER;
      }
      return ids as number[];
    }),

  // Discord.
  DISCORD_TOKEN: optionalString,
  DISCORD_CLIENT_ID: snowflake,
  DISCORD_GUILD_ID: snowflake,
  DISCORD_API_URL: urlString,
  ATTACHMENT_HOSTS: hostList("cdn.discordapp.com,media.discordapp.net"),
  MAX_ATTACHMENT_BYTES: intFrom(25 * 1024 * 1024, 1),
  NOTIFY_CHANNEL_ID: snowflake,

  // Classroom Q&A (/ask): extra chat providers, routing default, limits, cache, prices.
  CHAT_PROVIDERS: optionalString,
  CHAT_PROVIDERS_FILE: optionalString,
  CHAT_MAX_RETRIES: intFrom(2),
  CHAT_TIMEOUT_MS: intFrom(30_000, 1),
  CHAT_PRICES_FILE: optionalString,
  ASK_DEFAULT_MODEL: z.string().trim().min(1).default("gpt-4o-mini-2024-07-18"),
  ASK_MAX_QUESTION_CHARS: intFrom(2000, 1),
  ASK_USER_PER_MINUTE: numberFrom(5, 0.001),
  ASK_USER_BURST: intFrom(5, 1),
  ASK_GUILD_PER_MINUTE: numberFrom(60, 0.001),
  ASK_GUILD_BURST: intFrom(60, 1),
  ASK_DAILY_BUDGET_USD: numberFrom(2),
  ASK_CACHE_TTL_SECONDS: intFrom(3600),
  ASK_CACHE_MAX_ENTRIES: intFrom(1000),
  ASK_STREAM: booleanFrom(true),
  ASK_CONTEXT_TURNS: intFrom(4, 1, 20),

  // Moderation of /ask questions and answers (src/classroom/moderation.ts).
  MODERATION_PROVIDER: z.enum(MODERATION_PROVIDERS).optional(),
  MODERATION_MODEL: optionalString,
  MODERATION_GUARD_PROVIDER: optionalString,
  MODERATION_FAIL: z.enum(["closed", "open"]).default("closed"),
  MODERATION_MAX_RETRIES: intFrom(2),
  MODERATION_TIMEOUT_MS: intFrom(10_000, 1),
  MODERATION_REFUSAL_TEXT: studentText,
  MODERATION_HELP_TEXT: studentText,
  MODERATION_WITHHELD_TEXT: studentText,
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  logLevel: (typeof LEVELS)[number];
  /** The terminal's commands log only warnings unless LOG_LEVEL says otherwise. */
  cliLogLevel: (typeof LEVELS)[number];
  dataDir: string;
  databasePath: string;
  /** DATABASE_URL: a PostgreSQL database (postgres://…), or undefined for the SQLite file at databasePath. */
  databaseUrl: string | undefined;
  modelsFile: string | undefined;
  pricesFile: string | undefined;
  /** CLASSTUNE_CACHE_DIR as an absolute path; undefined: node_modules/.cache/classtune (tokenizers/tableFile.ts). */
  cacheDir: string | undefined;
  /**
   * The DEFAULT fine-tuning provider, in the shape the code had before the registry.
   * @deprecated Nothing at run time reads it any more: which provider is decided by the ProviderRegistry
   * (src/providers/registry.ts, built from finetuneProviders). Kept only for the configuration tests; remove it.
   */
  provider: {
    /** "sandbox" for the embedded sandbox; every provider with a baseURL is "openai-compatible" here. */
    kind: "sandbox" | "openai-compatible";
    name: string;
    apiKey: string | undefined;
    baseURL: string | undefined;
    maxRetries: number;
    timeoutMs: number;
  };
  /** Every fine-tuning provider, each key resolved from its apiKeyEnv (never logged: src/logger.ts secretsOf). */
  finetuneProviders: FineTuneProviderSpec[];
  /** The name of the provider jobs go to when none is named (FINETUNE_DEFAULT_PROVIDER, else the first). */
  defaultFinetuneProvider: string;
  /** The embedded sandbox: its port (0: a free one), training speed and streamed answers' pace (0: unpaced). */
  sandbox: { port: number; secondsPerStep: number; streamTokensPerSecond: number };
  maxJobCostUsd: number;
  /**
   * Hosting billed while it runs (Together, Fireworks): a deployment nobody asked for `idleMinutes` is stopped, and a
   * guild's deployments are all stopped once its hosting today (UTC) reaches `dailyBudgetUsd`.
   */
  hosting: { idleMinutes: number; dailyBudgetUsd: number };
  /**
   * Retention: questions, answers, votes and raw usage are kept `dataRetentionDays` full days (usage then lives on
   * as anonymous daily aggregates); datasets and their finished jobs `datasetRetentionDays` (undefined: kept); a
   * server that removed the bot keeps its data `guildGraceDays` days, in case it invites the bot back.
   */
  privacy: { dataRetentionDays: number; datasetRetentionDays: number | undefined; guildGraceDays: number };
  pollSchedule: string;
  /**
   * GET /healthz and /readyz (src/health/server.ts): `port` undefined when HEALTH_PORT is unset (no server). The
   * host defaults to loopback: serving every interface (0.0.0.0, ::) is a deliberate HEALTH_HOST.
   */
  health: { port: number | undefined; host: string };
  discord: {
    token: string | undefined;
    clientId: string | undefined;
    guildId: string | undefined;
    apiUrl: string;
    attachmentHosts: string[];
    maxAttachmentBytes: number;
    notifyChannelId: string | undefined;
    /** Which gateway shards this process runs; undefined: one unsharded connection (SHARD_COUNT unset). */
    shards: ShardPlan | undefined;
  };
  /** Extra OpenAI-compatible chat providers for /ask (the fine-tuning provider is always registered too). */
  chatProviders: ChatProviderSpec[];
  ask: AskConfig;
  moderation: ModerationConfig;
}

/**
 * The gateway shards one process runs: "auto" asks Discord how many it recommends and runs them all; else the
 * listed shard ids, of `count` in total across every process of the bot.
 */
export type ShardPlan = { ids: "auto" } | { ids: number[]; count: number };

export interface ModerationConfig {
  /** MODERATION_PROVIDER; default openai when an OpenAI key is configured (api.openai.com), else sandbox. */
  provider: ModerationProviderKind;
  /** MODERATION_MODEL; default omni-moderation-latest (openai, sandbox) or meta-llama/Llama-Guard-4-12B (guard). */
  model: string | undefined;
  /** openai: the fine-tuning provider of kind openai whose key and API root are used. */
  openaiProvider: string | undefined;
  /** guard: the chat provider (CHAT_PROVIDERS, or a fine-tuning provider) serving the guard model. */
  guardProvider: string | undefined;
  /** MODERATION_FAIL: closed refuses questions while moderation is down; open answers them, unchecked. */
  fail: "closed" | "open";
  maxRetries: number;
  timeoutMs: number;
  /** What students read: MODERATION_REFUSAL_TEXT, MODERATION_HELP_TEXT, MODERATION_WITHHELD_TEXT. */
  messages: { refusal: string; help: string; withheld: string; unavailable: string };
}

/** One chat provider: its key already resolved from the variable named by `apiKeyEnv`. */
export interface ChatProviderSpec {
  name: string;
  baseURL: string;
  /** The variable the key came from (for messages); never the key itself. */
  apiKeyEnv: string | undefined;
  apiKey: string | undefined;
  defaultHeaders: Record<string, string> | undefined;
  maxRetries: number;
  timeoutMs: number;
  /** Self-hosted or free: its answers cost $0 whatever the model's name. */
  free: boolean;
  /** /ask streams from it (default true; false for a server that cannot stream). */
  stream: boolean;
}

export interface AskConfig {
  defaultModel: string;
  maxQuestionChars: number;
  userPerMinute: number;
  userBurst: number;
  guildPerMinute: number;
  guildBurst: number;
  /** Per guild per UTC day; 0 disables the cap. */
  dailyBudgetUsd: number;
  cacheTtlSeconds: number;
  cacheMaxEntries: number;
  /**
   * Most questions one conversation holds, the first included (ASK_CONTEXT_TURNS): a follow-up is sent with the
   * turns before it, at most contextTurns - 1 of them. 1 turns follow-ups off.
   */
  contextTurns: number;
  /** Dated chat price table; default data/chat-prices.json in the repository. */
  chatPricesFile: string | undefined;
  /** SDK retries and timeout for chat calls (also to the fine-tuning provider's chat endpoint). */
  chatMaxRetries: number;
  chatTimeoutMs: number;
  /** ASK_STREAM: answers are streamed into the reply as they arrive, where the provider can stream. */
  stream: boolean;
}

const chatProviderEntry = z
  .object({
    name: providerNameSchema,
    baseURL: z.url({ protocol: /^https?$/ }),
    apiKeyEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, "apiKeyEnv is the NAME of an environment variable, e.g. GROQ_API_KEY")
      .optional(),
    defaultHeaders: z.record(z.string(), z.string()).optional(),
    maxRetries: z.number().int().min(0).max(10).optional(),
    timeoutMs: z.number().int().min(1).optional(),
    free: z.boolean().optional(),
    stream: z.boolean().optional(),
    /** Free text for people reading the file. */
    note: z.string().optional(),
  })
  .strict();
const chatProviderList = z.array(chatProviderEntry);

/** Parses CHAT_PROVIDERS / CHAT_PROVIDERS_FILE and resolves each apiKeyEnv; pushes problems instead of throwing. */
function loadChatProviders(e: Env, env: NodeJS.ProcessEnv, problems: string[]): ChatProviderSpec[] {
  const specs: ChatProviderSpec[] = [];
  for (const { where, list } of readProviderLists(
    "CHAT_PROVIDERS",
    e.CHAT_PROVIDERS,
    e.CHAT_PROVIDERS_FILE,
    problems,
  )) {
    const parsed = chatProviderList.safeParse(list);
    if (!parsed.success) {
      for (const i of parsed.error.issues) problems.push(`${where}[${i.path.join(".")}]: ${i.message}`);
      continue;
    }
    for (const p of parsed.data) {
      const apiKey = p.apiKeyEnv === undefined ? undefined : env[p.apiKeyEnv]?.trim() || undefined;
      if (p.apiKeyEnv !== undefined && apiKey === undefined) {
        problems.push(
          `${p.apiKeyEnv}: not set, but chat provider "${p.name}" (${where}) needs its API key there`,
        );
      }
      if (specs.some((s) => s.name === p.name))
        problems.push(`${where}: chat provider "${p.name}" is defined twice`);
      specs.push({
        name: p.name,
        baseURL: p.baseURL.replace(/\/+$/, ""),
        apiKeyEnv: p.apiKeyEnv,
        apiKey,
        defaultHeaders: p.defaultHeaders,
        maxRetries: p.maxRetries ?? e.CHAT_MAX_RETRIES,
        timeoutMs: p.timeoutMs ?? e.CHAT_TIMEOUT_MS,
        free: p.free ?? false,
        stream: p.stream ?? true,
      });
    }
  }
  return specs;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Configuration has ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/**
 * The schema over the environment; a bad variable is a problem and falls back to its default, so the
 * checks that depend on it still run and every problem is reported at once.
 */
function parseEnv(env: NodeJS.ProcessEnv, problems: string[]): Env {
  const parsed = envSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  for (const i of parsed.error.issues) problems.push(`${i.path.join(".") || "(environment)"}: ${i.message}`);
  const bad = new Set(parsed.error.issues.map((i) => String(i.path[0])));
  return envSchema.parse(Object.fromEntries(Object.entries(env).filter(([k]) => !bad.has(k))));
}

/** Parses the environment once; throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const e = parseEnv(env, problems);
  const dataDir = resolve(e.DATA_DIR);
  const chatProviders = loadChatProviders(e, env, problems);
  const registry = loadFinetuneProviders(
    {
      inline: e.FINETUNE_PROVIDERS,
      file: e.FINETUNE_PROVIDERS_FILE,
      defaultProvider: e.FINETUNE_DEFAULT_PROVIDER,
      legacy: { apiKey: e.OPENAI_API_KEY, baseURL: e.OPENAI_BASE_URL, name: e.PROVIDER_NAME },
      maxRetries: e.OPENAI_MAX_RETRIES,
      timeoutMs: e.OPENAI_TIMEOUT_MS,
    },
    env,
    problems,
  );
  for (const c of chatProviders) {
    if (registry.providers.some((p) => p.name.toLowerCase() === c.name.toLowerCase())) {
      problems.push(`CHAT_PROVIDERS: "${c.name}" is a fine-tuning provider's name; pick another`);
    }
  }
  const moderation = moderationConfig(e, registry.providers, chatProviders, problems);
  const shards = shardPlan(e, problems);
  const defaultSpec = registry.providers.find((p) => p.name === registry.defaultName);
  if (defaultSpec === undefined && problems.length === 0)
    problems.push("no fine-tuning provider is configured");
  if (problems.length > 0 || defaultSpec === undefined) throw new ConfigError(problems);
  return {
    logLevel: e.LOG_LEVEL ?? "info",
    cliLogLevel: e.LOG_LEVEL ?? "warn",
    dataDir,
    databasePath: e.DATABASE_PATH ? resolve(e.DATABASE_PATH) : resolve(dataDir, "classtune.db"),
    databaseUrl: e.DATABASE_URL,
    modelsFile: e.MODELS_FILE,
    pricesFile: e.PRICES_FILE,
    cacheDir: e.CLASSTUNE_CACHE_DIR === undefined ? undefined : resolve(e.CLASSTUNE_CACHE_DIR),
    provider: {
      kind:
        defaultSpec.kind === "sandbox" && defaultSpec.baseURL === undefined ? "sandbox" : "openai-compatible",
      name: defaultSpec.name,
      apiKey: defaultSpec.apiKey,
      baseURL: defaultSpec.baseURL,
      maxRetries: defaultSpec.maxRetries,
      timeoutMs: defaultSpec.timeoutMs,
    },
    finetuneProviders: registry.providers,
    defaultFinetuneProvider: defaultSpec.name,
    sandbox: {
      port: e.SANDBOX_PORT,
      secondsPerStep: e.SANDBOX_SECONDS_PER_STEP,
      streamTokensPerSecond: e.SANDBOX_STREAM_TOKENS_PER_SECOND,
    },
    maxJobCostUsd: e.MAX_JOB_COST_USD,
    hosting: { idleMinutes: e.HOSTING_IDLE_MINUTES, dailyBudgetUsd: e.HOSTING_DAILY_BUDGET_USD },
    privacy: {
      dataRetentionDays: e.DATA_RETENTION_DAYS,
      datasetRetentionDays: e.DATASET_RETENTION_DAYS,
      guildGraceDays: e.GUILD_DATA_GRACE_DAYS,
    },
    pollSchedule: e.POLL_SCHEDULE,
    health: { port: healthPort(e, shards), host: e.HEALTH_HOST },
    discord: {
      token: e.DISCORD_TOKEN,
      clientId: e.DISCORD_CLIENT_ID,
      guildId: e.DISCORD_GUILD_ID,
      apiUrl: e.DISCORD_API_URL ?? "https://discord.com/api",
      attachmentHosts: e.ATTACHMENT_HOSTS,
      maxAttachmentBytes: e.MAX_ATTACHMENT_BYTES,
      notifyChannelId: e.NOTIFY_CHANNEL_ID,
      shards,
    },
    chatProviders,
    ask: {
      defaultModel: e.ASK_DEFAULT_MODEL,
      maxQuestionChars: e.ASK_MAX_QUESTION_CHARS,
      userPerMinute: e.ASK_USER_PER_MINUTE,
      userBurst: e.ASK_USER_BURST,
      guildPerMinute: e.ASK_GUILD_PER_MINUTE,
      guildBurst: e.ASK_GUILD_BURST,
      dailyBudgetUsd: e.ASK_DAILY_BUDGET_USD,
      cacheTtlSeconds: e.ASK_CACHE_TTL_SECONDS,
      cacheMaxEntries: e.ASK_CACHE_MAX_ENTRIES,
      contextTurns: e.ASK_CONTEXT_TURNS,
      chatPricesFile: e.CHAT_PRICES_FILE,
      chatMaxRetries: e.CHAT_MAX_RETRIES,
      chatTimeoutMs: e.CHAT_TIMEOUT_MS,
      stream: e.ASK_STREAM,
    },
    moderation,
  };
}

/**
 * SHARD_COUNT and SHARD_IDS, or in a process a ShardingManager spawned, its SHARDS and SHARD_COUNT (then SHARD_IDS,
 * inherited from the manager's environment, named the manager's shards, not this process's).
 */
function shardPlan(e: Env, problems: string[]): ShardPlan | undefined {
  const count = e.SHARD_COUNT;
  if (e.SHARDING_MANAGER) {
    if (e.SHARDS === undefined || typeof count !== "number") {
      problems.push(
        "SHARDING_MANAGER: set, but SHARDS and a numeric SHARD_COUNT are not (they are set by discord.js's ShardingManager)",
      );
      return undefined;
    }
    return fixedPlan("SHARDS", e.SHARDS, count, problems);
  }
  if (count === undefined) {
    if (e.SHARD_IDS !== undefined)
      problems.push("SHARD_IDS: needs SHARD_COUNT, the number of shards across every process (e.g. 8)");
    return undefined;
  }
  if (count === "auto") {
    if (e.SHARD_IDS !== undefined)
      problems.push(
        'SHARD_IDS: needs SHARD_COUNT as a number (the total across every process), not "auto": the processes must agree on it',
      );
    return { ids: "auto" };
  }
  return fixedPlan("SHARD_IDS", e.SHARD_IDS ?? Array.from({ length: count }, (_, i) => i), count, problems);
}

function fixedPlan(name: string, ids: number[], count: number, problems: string[]): ShardPlan | undefined {
  const tooHigh = ids.filter((id) => id >= count);
  if (tooHigh.length > 0)
    problems.push(
      `${name}: shard ids run from 0 to ${count - 1} (SHARD_COUNT=${count}); got ${tooHigh.join(", ")}`,
    );
  const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (twice.length > 0) problems.push(`${name}: shard ${twice.join(", ")} is listed twice`);
  return tooHigh.length > 0 || twice.length > 0 ? undefined : { ids, count };
}

/**
 * HEALTH_PORT; in a process a ShardingManager spawned, HEALTH_PORT plus its first shard id, so the shard processes
 * on one host do not fight over one port (0 stays 0: each picks a free one).
 */
function healthPort(e: Env, shards: ShardPlan | undefined): number | undefined {
  const port = e.HEALTH_PORT;
  if (
    port === undefined ||
    port === 0 ||
    !e.SHARDING_MANAGER ||
    shards === undefined ||
    shards.ids === "auto"
  )
    return port;
  return port + (shards.ids[0] ?? 0);
}

/** MODERATION_*: which moderator, with what it needs; a missing piece is a problem, reported with the rest. */
function moderationConfig(
  e: Env,
  finetuneProviders: FineTuneProviderSpec[],
  chatProviders: ChatProviderSpec[],
  problems: string[],
): ModerationConfig {
  const openai = finetuneProviders.filter((p) => p.kind === "openai" && p.apiKey !== undefined);
  // A key for OpenAI itself: an OpenAI-compatible host at another address may serve no /moderations.
  const realOpenAI = openai.find((p) => p.baseURL === OPENAI_DEFAULT_BASE_URL);
  const provider = e.MODERATION_PROVIDER ?? (realOpenAI ? "openai" : "sandbox");
  const openaiProvider = (realOpenAI ?? openai[0])?.name;
  if (provider === "openai" && openaiProvider === undefined) {
    problems.push(
      "MODERATION_PROVIDER: openai needs an OpenAI key (OPENAI_API_KEY, or a fine-tuning provider of kind openai); set MODERATION_PROVIDER=sandbox, guard or off instead",
    );
  }
  if (provider === "guard") {
    const names = [...finetuneProviders.map((p) => p.name), ...chatProviders.map((p) => p.name)];
    if (e.MODERATION_GUARD_PROVIDER === undefined) {
      problems.push(
        `MODERATION_GUARD_PROVIDER: MODERATION_PROVIDER=guard needs the chat provider that serves the guard model (one of: ${names.join(", ")})`,
      );
    } else if (!names.includes(e.MODERATION_GUARD_PROVIDER)) {
      problems.push(
        `MODERATION_GUARD_PROVIDER: "${e.MODERATION_GUARD_PROVIDER}" is no configured chat provider (configured: ${names.join(", ")})`,
      );
    }
  } else if (e.MODERATION_GUARD_PROVIDER !== undefined) {
    problems.push(`MODERATION_GUARD_PROVIDER: set, but MODERATION_PROVIDER is ${provider}, not guard`);
  }
  return {
    provider,
    model: e.MODERATION_MODEL,
    openaiProvider: provider === "openai" ? openaiProvider : undefined,
    guardProvider: provider === "guard" ? e.MODERATION_GUARD_PROVIDER : undefined,
    fail: e.MODERATION_FAIL,
    maxRetries: e.MODERATION_MAX_RETRIES,
    timeoutMs: e.MODERATION_TIMEOUT_MS,
    messages: {
      refusal: e.MODERATION_REFUSAL_TEXT ?? DEFAULT_MODERATION_MESSAGES.refusal,
      help: e.MODERATION_HELP_TEXT ?? DEFAULT_MODERATION_MESSAGES.help,
      withheld: e.MODERATION_WITHHELD_TEXT ?? DEFAULT_MODERATION_MESSAGES.withheld,
      unavailable: DEFAULT_MODERATION_MESSAGES.unavailable,
    },
  };
}
