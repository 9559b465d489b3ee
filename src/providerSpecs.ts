// The fine-tuning provider registry's configuration: the entries of FINETUNE_PROVIDERS / FINETUNE_PROVIDERS_FILE
// (one strict schema per kind), resolved into FineTuneProviderSpec with every key read from the variable the
// entry names, plus the legacy OPENAI_* provider and the built-in sandbox. Only src/config.ts calls it, once:
// problems are pushed, never thrown, so start-up reports all of them in one message.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";

/** Every provider kind the registry accepts; each has a job adapter (src/providers/). */
export const PROVIDER_KINDS = [
  "openai",
  "azure",
  "nebius",
  "together",
  "fireworks",
  "localai",
  "sandbox",
] as const;
export type ProviderKind = (typeof PROVIDER_KINDS)[number];

/** Azure's `trainingType` in the job create body. */
export const AZURE_TRAINING_TYPES = ["Standard", "GlobalStandard", "Developer"] as const;
export type AzureTrainingType = (typeof AZURE_TRAINING_TYPES)[number];
/** Azure's deployment `sku.name` in the ARM PUT body. */
export const AZURE_DEPLOYMENT_SKUS = ["standard", "globalstandard", "developertier"] as const;
export type AzureDeploymentSku = (typeof AZURE_DEPLOYMENT_SKUS)[number];
/** The deployment SKU that matches each training type, when the entry names none. */
export const AZURE_SKU_FOR_TRAINING: Record<AzureTrainingType, AzureDeploymentSku> = {
  Standard: "standard",
  GlobalStandard: "globalstandard",
  Developer: "developertier",
};

export const OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1";
export const AZURE_DEFAULTS = {
  armApiVersion: "2024-10-01",
  armBaseURL: "https://management.azure.com",
  authorityHost: "https://login.microsoftonline.com",
} as const;

/** Where a provider was defined, for messages. */
export type ProviderSource =
  | "FINETUNE_PROVIDERS"
  | "FINETUNE_PROVIDERS_FILE"
  | "OPENAI_API_KEY"
  /** The embedded sandbox used when nothing else is configured. */
  | "built-in";

interface ProviderSpecBase {
  /** Unique across fine-tuning and chat providers (case-insensitively); what `--provider` and `provider:` name. */
  name: string;
  /** Where it was defined, for messages. */
  source: ProviderSource;
  /** The variable the key came from (for messages); never the key itself. */
  apiKeyEnv: string | undefined;
  /** Read from apiKeyEnv once at start-up; never logged (src/logger.ts secretsOf scrubs it). */
  apiKey: string | undefined;
  /** SDK retries (the SDK backs off on 408/409/429/5xx); default OPENAI_MAX_RETRIES. */
  maxRetries: number;
  /** Per-request timeout in ms; default OPENAI_TIMEOUT_MS. */
  timeoutMs: number;
  /** Free text for people reading the configuration; never interpreted. */
  note: string | undefined;
}

/** A kind whose API needs a key: start-up refuses to run without it, so it is always a string here. */
interface KeyedProviderSpec extends ProviderSpecBase {
  /** The API root (no trailing slash), passed to the SDK as baseURL. */
  baseURL: string;
  /** The variable the key came from (for messages); never the key itself. */
  apiKeyEnv: string;
  /** Read from apiKeyEnv once at start-up; never logged. */
  apiKey: string;
}

/** OpenAI itself or any host speaking its fine-tuning API (also what OPENAI_API_KEY/OPENAI_BASE_URL define). */
export interface OpenAIProviderSpec extends KeyedProviderSpec {
  kind: "openai";
}

/** Azure Resource Manager access for deploying fine-tunes; all of it or none (then the teacher deploys by hand). */
export interface AzureArmSpec {
  /** The Azure subscription (a GUID). */
  subscriptionId: string;
  /** The resource group holding the Azure OpenAI account. */
  resourceGroup: string;
  /** The Azure OpenAI (Cognitive Services) account name. */
  account: string;
  /** ARM `api-version` for the deployments call. */
  armApiVersion: string;
  /** ARM root, no trailing slash (https://management.azure.com; a loopback fake in tests). */
  armBaseURL: string;
  /** Entra authority for the client-credentials token, no trailing slash. */
  authorityHost: string;
  /** The variable holding the Entra tenant id. */
  tenantIdEnv: string;
  /** The Entra tenant id, read from tenantIdEnv. */
  tenantId: string;
  /** The variable holding the service principal's client id. */
  clientIdEnv: string;
  /** The service principal's client id, read from clientIdEnv. */
  clientId: string;
  /** The variable holding the service principal's client secret. */
  clientSecretEnv: string;
  /** The client secret, read from clientSecretEnv; never logged (secretsOf scrubs it). */
  clientSecret: string;
}

/** Azure OpenAI: files and jobs on its /openai/v1 endpoint with the API key; deploys through ARM. */
export interface AzureProviderSpec extends KeyedProviderSpec {
  kind: "azure";
  /** Sent as `trainingType` in the job create body. */
  trainingType: AzureTrainingType;
  /** The deployment's `sku.name`; defaults to the one matching trainingType. */
  deploymentSku: AzureDeploymentSku;
  /** The deployment's `sku.capacity`. */
  deploymentCapacity: number;
  /** ARM access; undefined = the provider trains but the teacher deploys by hand (and `/model add`s it). */
  arm: AzureArmSpec | undefined;
}

/** Nebius Token Factory: OpenAI's job API on /v1, LoRA serving through its /v0 models API. */
export interface NebiusProviderSpec extends KeyedProviderSpec {
  kind: "nebius";
  /** Where `POST /models` deploys a LoRA, no trailing slash; default the `/v0` beside baseURL's `/v1`. */
  deployBaseURL: string;
}

/** Together AI: its own job API (together-ai SDK); fine-tunes served on a dedicated endpoint. */
export interface TogetherProviderSpec extends KeyedProviderSpec {
  kind: "together";
  /** The dedicated endpoint's GPU, Together's hardware id; undefined = the adapter's default. */
  endpointHardware?: string | undefined;
  /**
   * Start the deployment after every job without a teacher asking (it is billed while it runs); default false:
   * a teacher runs `/finetune deploy job:` when the class needs the model.
   */
  autoDeploy: boolean;
}

/** Fireworks AI: jobs, datasets and deployments over its REST API (providers/fireworks.ts), chat at baseURL. */
export interface FireworksProviderSpec extends KeyedProviderSpec {
  kind: "fireworks";
  /** The Fireworks account every job and deployment path is under (accounts/<accountId>/…). */
  accountId: string;
  /** The deployment's GPU (Fireworks' acceleratorType); undefined = the adapter's default. */
  acceleratorType?: string | undefined;
  /**
   * Start the deployment after every job without a teacher asking (it is billed while it runs); default false:
   * a teacher runs `/finetune deploy job:` when the class needs the model.
   */
  autoDeploy: boolean;
}

/** A self-hosted LocalAI (its fine-tuning API); a key only if the server was started with one. */
export interface LocalAIProviderSpec extends ProviderSpecBase {
  kind: "localai";
  /** The server's OpenAI-compatible API root (…/v1), no trailing slash; the fine-tuning API is beside it. */
  baseURL: string;
  /** Plain http to another machine is refused unless this is true (then a warning is logged at start-up). */
  allowInsecure: boolean;
  /** How a trained adapter is exported to answer chat: gguf (llama.cpp, the default) or lora/merged_*. */
  exportFormat: LocalAIExportFormat;
}

/** LocalAI's export formats (its ExportRequest.export_format). */
export const LOCALAI_EXPORT_FORMATS = ["lora", "merged_16bit", "merged_4bit", "gguf"] as const;
export type LocalAIExportFormat = (typeof LOCALAI_EXPORT_FORMATS)[number];

/** How the sandbox serves a finished fine-tune: at once, as OpenAI does (the default), or as Together does. */
export const SANDBOX_HOSTING = ["immediate", "dedicated"] as const;
export type SandboxHosting = (typeof SANDBOX_HOSTING)[number];

/** The simulated provider: embedded in the bot, or a standalone `classtune sandbox`. */
export interface SandboxProviderSpec extends ProviderSpecBase {
  kind: "sandbox";
  /** A standalone sandbox's API root (…/v1); undefined = the embedded sandbox, started on SANDBOX_PORT. */
  baseURL: string | undefined;
  /**
   * Set by `"hosting": "dedicated"`: a fine-tune answers only on a dedicated endpoint the sandbox imitates after
   * Together's (billed while it runs, in the imitation), started on a teacher's request or, with autoDeploy, after
   * every job; so the hosting lifecycle can be rehearsed without keys. Unset: served at once.
   */
  dedicatedHosting?: { autoDeploy: boolean; endpointHardware: string | undefined } | undefined;
}

/** One configured fine-tuning provider, by kind. */
export type FineTuneProviderSpec =
  | OpenAIProviderSpec
  | AzureProviderSpec
  | NebiusProviderSpec
  | TogetherProviderSpec
  | FireworksProviderSpec
  | LocalAIProviderSpec
  | SandboxProviderSpec;

/** The same pattern for chat and fine-tuning provider names. */
export const providerNameSchema = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/i, "a provider name is 1–32 letters, digits, - or _");

/** A value someone pasted where a variable's name belongs (never echoed back: it may be the key). */
function looksLikeKey(s: string): boolean {
  return /^(sk|rk|pk|fw|gsk|xai)[-_]/i.test(s) || s.startsWith("eyJ") || (s.length >= 24 && /[a-z]/.test(s));
}

/** The NAME of an environment variable; the message never repeats the value, which may be a key. */
const envVarName = (example: string) =>
  z.string().superRefine((s, ctx) => {
    if (/^[A-Z_][A-Z0-9_]{0,127}$/.test(s)) return;
    ctx.addIssue({
      code: "custom",
      message: looksLikeKey(s)
        ? `this looks like a key itself: put the key in an environment variable (e.g. ${example}=…) and write that variable's NAME here`
        : `must be the NAME of an environment variable in UPPER_SNAKE case, e.g. ${example}`,
    });
  });

const httpURL = z
  .url({
    protocol: /^https?$/,
    error: (iss) => (iss.input === undefined ? "required" : "must be an http(s) URL"),
  })
  .transform((s) => s.replace(/\/+$/, ""));

const common = {
  name: providerNameSchema,
  maxRetries: z.number().int().min(0).max(10).optional(),
  timeoutMs: z.number().int().min(1).optional(),
  note: z.string().optional(),
};

const openaiEntry = z
  .object({
    kind: z.literal("openai"),
    ...common,
    baseURL: httpURL.optional(),
    apiKeyEnv: envVarName("OPENAI_API_KEY"),
  })
  .strict();

const AZURE_ARM_REQUIRED = [
  "subscriptionId",
  "resourceGroup",
  "account",
  "tenantIdEnv",
  "clientIdEnv",
  "clientSecretEnv",
] as const;
const AZURE_ARM_DEFAULTED = ["armApiVersion", "armBaseURL", "authorityHost"] as const;

const azureEntry = z
  .object({
    kind: z.literal("azure"),
    ...common,
    baseURL: httpURL,
    apiKeyEnv: envVarName("AZURE_OPENAI_API_KEY"),
    trainingType: z.enum(AZURE_TRAINING_TYPES).optional(),
    deploymentSku: z.enum(AZURE_DEPLOYMENT_SKUS).optional(),
    deploymentCapacity: z.number().int().min(1).optional(),
    // These go into the ARM URL's path, so they are checked to be what Azure allows.
    subscriptionId: z
      .string()
      .regex(
        /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
        "must be a subscription id (a GUID)",
      )
      .optional(),
    resourceGroup: z
      .string()
      .regex(/^[-\w.()]{1,90}$/, "must be a resource group name (letters, digits, - _ . ( ), up to 90)")
      .optional(),
    account: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{1,63}$/i, "must be an Azure OpenAI account name (letters, digits, -)")
      .optional(),
    armApiVersion: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}(-preview)?$/, 'must be an ARM api-version, e.g. "2024-10-01"')
      .optional(),
    armBaseURL: httpURL.optional(),
    authorityHost: httpURL.optional(),
    tenantIdEnv: envVarName("AZURE_TENANT_ID").optional(),
    clientIdEnv: envVarName("AZURE_CLIENT_ID").optional(),
    clientSecretEnv: envVarName("AZURE_CLIENT_SECRET").optional(),
  })
  .strict();

const nebiusEntry = z
  .object({
    kind: z.literal("nebius"),
    ...common,
    baseURL: httpURL,
    apiKeyEnv: envVarName("NEBIUS_API_KEY"),
    deployBaseURL: httpURL.optional(),
  })
  .strict();

/** A dedicated endpoint's GPU, as Together names it (Together's entries and the sandbox's dedicated hosting). */
const togetherHardware = z
  .string()
  .regex(/^[\w.-]{1,100}$/, 'must be a Together hardware id, e.g. "1x_nvidia_h100_80gb_sxm"');

const togetherEntry = z
  .object({
    kind: z.literal("together"),
    ...common,
    baseURL: httpURL,
    apiKeyEnv: envVarName("TOGETHER_API_KEY"),
    endpointHardware: togetherHardware.optional(),
    autoDeploy: z.boolean().default(false),
  })
  .strict();

const fireworksEntry = z
  .object({
    kind: z.literal("fireworks"),
    ...common,
    baseURL: httpURL,
    apiKeyEnv: envVarName("FIREWORKS_API_KEY"),
    accountId: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/i, "must be a Fireworks account id (letters, digits, - or _)"),
    acceleratorType: z
      .string()
      .regex(/^[A-Z0-9_]{1,64}$/, 'must be a Fireworks accelerator type, e.g. "NVIDIA_H100_80GB"')
      .optional(),
    autoDeploy: z.boolean().default(false),
  })
  .strict();

const localaiEntry = z
  .object({
    kind: z.literal("localai"),
    ...common,
    baseURL: httpURL,
    apiKeyEnv: envVarName("LOCALAI_API_KEY").optional(),
    allowInsecure: z.boolean().optional(),
    exportFormat: z.enum(LOCALAI_EXPORT_FORMATS).optional(),
  })
  .strict();

const sandboxEntry = z
  .object({
    kind: z.literal("sandbox"),
    ...common,
    baseURL: httpURL.optional(),
    apiKeyEnv: envVarName("SANDBOX_API_KEY").optional(),
    hosting: z.enum(SANDBOX_HOSTING).optional(),
    // Only with "hosting": "dedicated" (resolveEntry says so otherwise).
    autoDeploy: z.boolean().optional(),
    endpointHardware: togetherHardware.optional(),
  })
  .strict();

const providerEntry = z.discriminatedUnion(
  "kind",
  [openaiEntry, azureEntry, nebiusEntry, togetherEntry, fireworksEntry, localaiEntry, sandboxEntry],
  {
    error: (iss) => {
      if (iss.code !== "invalid_union") return undefined;
      const kind = (iss.input as { kind?: unknown } | undefined)?.kind;
      return `kind must be one of ${PROVIDER_KINDS.join(", ")}${kind === undefined ? "" : `; got ${JSON.stringify(kind)}`}`;
    },
  },
);
type ProviderEntry = z.infer<typeof providerEntry>;

/** Fields that would hold a secret (or an id that belongs in a variable) written into the entry itself. */
const SECRET_FIELDS: Record<string, string> = {
  apiKey: "apiKeyEnv",
  api_key: "apiKeyEnv",
  key: "apiKeyEnv",
  token: "apiKeyEnv",
  secret: "apiKeyEnv",
  password: "apiKeyEnv",
  clientSecret: "clientSecretEnv",
  clientId: "clientIdEnv",
  tenantId: "tenantIdEnv",
};

/** Zod's wording for a field that is simply absent is "expected string, received undefined": say "required". */
const entryErrors: z.core.$ZodErrorMap = (iss) =>
  iss.code === "invalid_type" && iss.input === undefined ? "required" : undefined;

/**
 * The raw lists from an inline JSON variable and its _FILE twin. Either may be a bare list or
 * `{ "providers": [...] }` (so a file can carry an "about" beside the list). Shared with CHAT_PROVIDERS.
 */
export function readProviderLists(
  variable: "CHAT_PROVIDERS" | "FINETUNE_PROVIDERS",
  inline: string | undefined,
  file: string | undefined,
  problems: string[],
): { where: string; list: unknown }[] {
  const sources: { where: string; text: string }[] = [];
  if (inline) sources.push({ where: variable, text: inline });
  if (file) {
    try {
      sources.push({ where: `${variable}_FILE`, text: readFileSync(resolve(file), "utf8") });
    } catch (err) {
      problems.push(`${variable}_FILE: cannot read "${file}" (${(err as Error).message})`);
    }
  }
  const lists: { where: string; list: unknown }[] = [];
  for (const { where, text } of sources) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      // V8 quotes the text around the error ('Unexpected token …, "[{"apiKey": sk-…" is not valid JSON'):
      // drop the quote, which may be a key pasted in the wrong place.
      const reason = (err as Error).message.replace(/, (\.\.\.)?".*"(\.\.\.)? is not valid JSON$/s, "");
      problems.push(`${where}: not valid JSON (${reason})`);
      continue;
    }
    const list =
      json !== null && typeof json === "object" && !Array.isArray(json) && "providers" in json
        ? (json as { providers: unknown }).providers
        : json;
    lists.push({ where, list });
  }
  return lists;
}

export interface FinetuneProviderInputs {
  /** FINETUNE_PROVIDERS (inline JSON). */
  inline: string | undefined;
  /** FINETUNE_PROVIDERS_FILE (a path). */
  file: string | undefined;
  /** FINETUNE_DEFAULT_PROVIDER. */
  defaultProvider: string | undefined;
  /** OPENAI_API_KEY, OPENAI_BASE_URL and PROVIDER_NAME, as today. */
  legacy: { apiKey: string | undefined; baseURL: string | undefined; name: string | undefined };
  /** OPENAI_MAX_RETRIES / OPENAI_TIMEOUT_MS: the default for every fine-tuning provider. */
  maxRetries: number;
  timeoutMs: number;
}

export interface FinetuneRegistry {
  providers: FineTuneProviderSpec[];
  /** A name in providers (meaningless when problems were pushed). */
  defaultName: string;
}

/** Builds every fine-tuning provider; pushes each problem (including every unset variable) instead of throwing. */
export function loadFinetuneProviders(
  inputs: FinetuneProviderInputs,
  env: NodeJS.ProcessEnv,
  problems: string[],
): FinetuneRegistry {
  const before = problems.length;
  const lists = readProviderLists("FINETUNE_PROVIDERS", inputs.inline, inputs.file, problems);
  // Names of every entry whose name is valid, even if the rest of it is not: duplicates and the default are
  // checked against these, so one broken entry does not also make the default "unknown".
  const names: string[] = [];
  const providers: FineTuneProviderSpec[] = [];
  // Entries that take their key from OPENAI_API_KEY (valid or not): then that variable defines no provider itself.
  const claimants: string[] = [];
  // A list that could not be read, or an entry without a valid name: the configured names are not all known.
  let listBroken = problems.length > before;
  for (const { where, list } of lists as { where: ProviderSource; list: unknown }[]) {
    if (!Array.isArray(list)) {
      problems.push(`${where}: must be a JSON list of providers, or { "providers": [...] }`);
      listBroken = true;
      continue;
    }
    list.forEach((raw: unknown, index) => {
      const rawName = (raw as { name?: unknown } | null)?.name;
      const label = `${where}[${index}]${typeof rawName === "string" ? ` ("${rawName}")` : ""}`;
      if ((raw as { apiKeyEnv?: unknown } | null)?.apiKeyEnv === "OPENAI_API_KEY") claimants.push(label);
      const entryProblems: string[] = [];
      const entry = checkSecretFields(raw, label, entryProblems);
      const parsed = providerEntry.safeParse(entry, { error: entryErrors });
      const name = providerNameSchema.safeParse(rawName);
      if (name.success) {
        if (names.some((n) => n.toLowerCase() === name.data.toLowerCase())) {
          entryProblems.push(
            `${label}: fine-tuning provider "${name.data}" is defined twice (names are unique across FINETUNE_PROVIDERS and FINETUNE_PROVIDERS_FILE, whatever their case)`,
          );
        }
        names.push(name.data);
      } else listBroken = true;
      if (!parsed.success) {
        for (const i of parsed.error.issues) entryProblems.push(issueText(label, i, entry));
      } else {
        const spec = resolveEntry(parsed.data, where, label, inputs, env, entryProblems);
        const embedded = providers.find((p) => p.kind === "sandbox" && p.baseURL === undefined);
        if (spec.kind === "sandbox" && spec.baseURL === undefined && embedded) {
          entryProblems.push(
            `${label}: "${embedded.name}" is already the embedded sandbox (a sandbox entry without baseURL); give this one the baseURL of a standalone \`classtune sandbox\``,
          );
        }
        if (entryProblems.length === 0) providers.push(spec);
      }
      problems.push(...entryProblems);
    });
  }

  // OPENAI_API_KEY defines a provider, exactly as before the registry, unless a listed entry takes its key
  // from that variable (then the list already describes it, and PROVIDER_NAME/OPENAI_BASE_URL would be ignored).
  const { legacy } = inputs;
  const claimedBy = claimants[0];
  if (legacy.apiKey && claimedBy) {
    for (const [variable, value] of [
      ["PROVIDER_NAME", legacy.name],
      ["OPENAI_BASE_URL", legacy.baseURL],
    ] as const) {
      if (value !== undefined) {
        problems.push(
          `${variable}: ignored, because OPENAI_API_KEY is the key of ${claimedBy}; set that provider's name and baseURL in the list instead`,
        );
      }
    }
  } else if (legacy.apiKey) {
    const name = legacy.name ?? (legacy.baseURL ? "openai-compatible" : "openai");
    if (names.some((n) => n.toLowerCase() === name.toLowerCase())) {
      problems.push(
        `PROVIDER_NAME: the provider that OPENAI_API_KEY defines is called "${name}", like a listed fine-tuning provider; set PROVIDER_NAME to another name, or list it and remove OPENAI_API_KEY's provider`,
      );
    }
    names.push(name);
    providers.push({
      kind: "openai",
      name,
      source: "OPENAI_API_KEY",
      baseURL: legacy.baseURL ?? OPENAI_DEFAULT_BASE_URL,
      apiKeyEnv: "OPENAI_API_KEY",
      apiKey: legacy.apiKey,
      maxRetries: inputs.maxRetries,
      timeoutMs: inputs.timeoutMs,
      note: undefined,
    });
  } else if (names.length === 0 && !listBroken) {
    // No key and no list: the embedded sandbox, always called "sandbox" (its jobs are recorded so).
    names.push("sandbox");
    providers.push({
      kind: "sandbox",
      name: "sandbox",
      source: "built-in",
      baseURL: undefined,
      apiKeyEnv: undefined,
      apiKey: undefined,
      maxRetries: inputs.maxRetries,
      timeoutMs: inputs.timeoutMs,
      note: undefined,
    });
  }

  const defaultName = inputs.defaultProvider ?? names[0] ?? "";
  if (inputs.defaultProvider !== undefined && !listBroken && !names.includes(inputs.defaultProvider)) {
    problems.push(
      `FINETUNE_DEFAULT_PROVIDER: "${inputs.defaultProvider}" is not a configured fine-tuning provider (configured: ${names.join(", ") || "none"})`,
    );
  }
  return { providers, defaultName };
}

/** Reports a secret written into the entry (without repeating it) and drops that field before parsing. */
function checkSecretFields(raw: unknown, label: string, problems: string[]): unknown {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return raw;
  const rest: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  for (const [field, envField] of Object.entries(SECRET_FIELDS)) {
    if (!(field in rest)) continue;
    delete rest[field];
    problems.push(
      `${label}.${field}: secrets and ids never go in the provider list; put the value in an environment variable and write that variable's NAME in "${envField}"`,
    );
  }
  return rest;
}

function issueText(label: string, i: z.core.$ZodIssue, entry: unknown): string {
  const at = i.path.length > 0 ? `.${i.path.join(".")}` : "";
  if (i.code === "unrecognized_keys") {
    const kind = (entry as { kind?: unknown }).kind;
    return `${label}: unknown field${i.keys.length > 1 ? "s" : ""} ${i.keys.map((k) => `"${k}"`).join(", ")} for kind "${String(kind)}"`;
  }
  return `${label}${at}: ${i.message}`;
}

/** Reads the variables an entry names (each unset one is a problem) and fills the kind's defaults. */
function resolveEntry(
  entry: ProviderEntry,
  source: ProviderSource,
  label: string,
  inputs: FinetuneProviderInputs,
  env: NodeJS.ProcessEnv,
  problems: string[],
): FineTuneProviderSpec {
  const read = (variable: string, what: string): string => {
    const value = env[variable]?.trim();
    if (value) return value;
    problems.push(
      `${variable}: not set, but fine-tuning provider "${entry.name}" (${source}) needs ${what} there`,
    );
    return ""; // never used: the problem stops start-up
  };
  const base = {
    name: entry.name,
    source,
    maxRetries: entry.maxRetries ?? inputs.maxRetries,
    timeoutMs: entry.timeoutMs ?? inputs.timeoutMs,
    note: entry.note,
  };
  const keyed = (apiKeyEnv: string) => ({
    ...base,
    apiKeyEnv,
    apiKey: read(apiKeyEnv, "its API key"),
  });
  const optionalKey = (apiKeyEnv: string | undefined) => ({
    ...base,
    apiKeyEnv,
    apiKey: apiKeyEnv === undefined ? undefined : read(apiKeyEnv, "its API key"),
  });
  switch (entry.kind) {
    case "openai":
      return { kind: "openai", ...keyed(entry.apiKeyEnv), baseURL: entry.baseURL ?? OPENAI_DEFAULT_BASE_URL };
    case "azure": {
      const trainingType = entry.trainingType ?? "Standard";
      const given = [...AZURE_ARM_REQUIRED, ...AZURE_ARM_DEFAULTED].filter((f) => entry[f] !== undefined);
      const missing = AZURE_ARM_REQUIRED.filter((f) => entry[f] === undefined);
      let arm: AzureArmSpec | undefined;
      if (given.length > 0 && missing.length > 0) {
        problems.push(
          `${label}: the ARM deploy settings are partly set (missing ${missing.join(", ")}); set all of ${AZURE_ARM_REQUIRED.join(", ")} to deploy through Azure Resource Manager, or none of them to deploy by hand`,
        );
      } else if (given.length > 0) {
        const {
          subscriptionId = "",
          resourceGroup = "",
          account = "",
          tenantIdEnv = "",
          clientIdEnv = "",
          clientSecretEnv = "",
        } = entry;
        arm = {
          subscriptionId,
          resourceGroup,
          account,
          armApiVersion: entry.armApiVersion ?? AZURE_DEFAULTS.armApiVersion,
          armBaseURL: entry.armBaseURL ?? AZURE_DEFAULTS.armBaseURL,
          authorityHost: entry.authorityHost ?? AZURE_DEFAULTS.authorityHost,
          tenantIdEnv,
          tenantId: read(tenantIdEnv, "its Entra tenant id (tenantIdEnv)"),
          clientIdEnv,
          clientId: read(clientIdEnv, "its service principal's client id (clientIdEnv)"),
          clientSecretEnv,
          clientSecret: read(clientSecretEnv, "its service principal's client secret (clientSecretEnv)"),
        };
      }
      return {
        kind: "azure",
        ...keyed(entry.apiKeyEnv),
        baseURL: entry.baseURL,
        trainingType,
        deploymentSku: entry.deploymentSku ?? AZURE_SKU_FOR_TRAINING[trainingType],
        deploymentCapacity: entry.deploymentCapacity ?? 1,
        arm,
      };
    }
    case "nebius": {
      let deployBaseURL = entry.deployBaseURL;
      if (deployBaseURL === undefined) {
        if (/\/v1$/.test(entry.baseURL)) deployBaseURL = entry.baseURL.replace(/\/v1$/, "/v0");
        else
          problems.push(
            `${label}.deployBaseURL: cannot be derived, because baseURL does not end in /v1; set it (e.g. https://api.tokenfactory.nebius.com/v0)`,
          );
      }
      return {
        kind: "nebius",
        ...keyed(entry.apiKeyEnv),
        baseURL: entry.baseURL,
        deployBaseURL: deployBaseURL ?? "",
      };
    }
    case "together":
      return {
        kind: "together",
        ...keyed(entry.apiKeyEnv),
        baseURL: entry.baseURL,
        endpointHardware: entry.endpointHardware,
        autoDeploy: entry.autoDeploy,
      };
    case "fireworks":
      return {
        kind: "fireworks",
        ...keyed(entry.apiKeyEnv),
        baseURL: entry.baseURL,
        accountId: entry.accountId,
        acceleratorType: entry.acceleratorType,
        autoDeploy: entry.autoDeploy,
      };
    case "localai":
      return {
        kind: "localai",
        ...optionalKey(entry.apiKeyEnv),
        baseURL: entry.baseURL,
        allowInsecure: entry.allowInsecure ?? false,
        exportFormat: entry.exportFormat ?? "gguf",
      };
    case "sandbox": {
      const dedicated = entry.hosting === "dedicated";
      for (const field of ["autoDeploy", "endpointHardware"] as const) {
        if (!dedicated && entry[field] !== undefined) {
          problems.push(
            `${label}.${field}: applies only to a sandbox with "hosting": "dedicated" (fine-tunes served on dedicated endpoints, as on Together); add that, or remove ${field}`,
          );
        }
      }
      return {
        kind: "sandbox",
        ...optionalKey(entry.apiKeyEnv),
        baseURL: entry.baseURL,
        ...(dedicated
          ? {
              dedicatedHosting: {
                autoDeploy: entry.autoDeploy ?? false,
                endpointHardware: entry.endpointHardware,
              },
            }
          : {}),
      };
    }
  }
}
