// The one place that reads the environment: a zod schema over process.env, validated once at start-up,
// every problem reported in one message. Everything else receives a typed Config.
import { resolve } from "node:path";
import { z } from "zod";

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const optionalString = z
  .string()
  .trim()
  .transform((s) => (s === "" ? undefined : s))
  .optional();

const intFrom = (def: number, min = 0) =>
  z
    .string()
    .trim()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined || s === "") return def;
      const n = Number(s);
      if (!Number.isInteger(n) || n < min) {
        ctx.addIssue({ code: "custom", message: `must be a whole number ≥ ${min}, got "${s}"` });
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

export const envSchema = z.object({
  LOG_LEVEL: z.enum(LEVELS).default("info"),
  DATA_DIR: z.string().trim().default("./data"),
  DATABASE_PATH: optionalString,
  MODELS_FILE: optionalString,
  PRICES_FILE: optionalString,

  // Fine-tuning provider: the openai SDK's own variable names. No key means the embedded sandbox.
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: urlString,
  OPENAI_MAX_RETRIES: intFrom(2),
  OPENAI_TIMEOUT_MS: intFrom(60_000, 1),
  PROVIDER_NAME: optionalString,
  SANDBOX_PORT: intFrom(0),
  SANDBOX_SECONDS_PER_STEP: numberFrom(0.05),
  MAX_JOB_COST_USD: numberFrom(25),
  POLL_SCHEDULE: z.string().trim().default("* * * * *"),

  // Discord.
  DISCORD_TOKEN: optionalString,
  DISCORD_CLIENT_ID: snowflake,
  DISCORD_GUILD_ID: snowflake,
  DISCORD_API_URL: urlString,
  ATTACHMENT_HOSTS: hostList("cdn.discordapp.com,media.discordapp.net"),
  MAX_ATTACHMENT_BYTES: intFrom(25 * 1024 * 1024, 1),
  NOTIFY_CHANNEL_ID: snowflake,
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  logLevel: (typeof LEVELS)[number];
  dataDir: string;
  databasePath: string;
  modelsFile: string | undefined;
  pricesFile: string | undefined;
  provider: {
    /** "sandbox" when no API key is configured. */
    kind: "sandbox" | "openai-compatible";
    name: string;
    apiKey: string | undefined;
    baseURL: string | undefined;
    maxRetries: number;
    timeoutMs: number;
  };
  sandbox: { port: number; secondsPerStep: number };
  maxJobCostUsd: number;
  pollSchedule: string;
  discord: {
    token: string | undefined;
    clientId: string | undefined;
    guildId: string | undefined;
    apiUrl: string;
    attachmentHosts: string[];
    maxAttachmentBytes: number;
    notifyChannelId: string | undefined;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Configuration has ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Parses the environment once; throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${i.path.join(".") || "(environment)"}: ${i.message}`),
    );
  }
  const e = parsed.data;
  const dataDir = resolve(e.DATA_DIR);
  const kind = e.OPENAI_API_KEY ? "openai-compatible" : "sandbox";
  return {
    logLevel: e.LOG_LEVEL,
    dataDir,
    databasePath: e.DATABASE_PATH ? resolve(e.DATABASE_PATH) : resolve(dataDir, "classtune.db"),
    modelsFile: e.MODELS_FILE,
    pricesFile: e.PRICES_FILE,
    provider: {
      kind,
      name:
        e.PROVIDER_NAME ??
        (kind === "sandbox" ? "sandbox" : e.OPENAI_BASE_URL ? "openai-compatible" : "openai"),
      apiKey: e.OPENAI_API_KEY,
      baseURL: e.OPENAI_BASE_URL,
      maxRetries: e.OPENAI_MAX_RETRIES,
      timeoutMs: e.OPENAI_TIMEOUT_MS,
    },
    sandbox: { port: e.SANDBOX_PORT, secondsPerStep: e.SANDBOX_SECONDS_PER_STEP },
    maxJobCostUsd: e.MAX_JOB_COST_USD,
    pollSchedule: e.POLL_SCHEDULE,
    discord: {
      token: e.DISCORD_TOKEN,
      clientId: e.DISCORD_CLIENT_ID,
      guildId: e.DISCORD_GUILD_ID,
      apiUrl: e.DISCORD_API_URL ?? "https://discord.com/api",
      attachmentHosts: e.ATTACHMENT_HOSTS,
      maxAttachmentBytes: e.MAX_ATTACHMENT_BYTES,
      notifyChannelId: e.NOTIFY_CHANNEL_ID,
    },
  };
}
