// The model catalogs: for each configured fine-tuning provider, which base models it fine-tunes, with each
// one's tokenizer and chat template, per-example token limit, minimum examples, training methods, dated
// training price (and where it comes from), how a fine-tune is served, and what its trainer accepts.
//
// Each provider kind ships one dated catalog, data/catalogs/<kind>.json (the sandbox's includes others).
// MODELS_FILE and PRICES_FILE extend and override them: their top-level `models` / `trainingPerMillionTokens`
// (today's formats) apply to the default provider; a `providers` object applies per provider name:
//   MODELS_FILE  { "models": [...], "providers": { "<name>": { "models": [...] } } }
//   PRICES_FILE  { "asOf": "YYYY-MM-DD", "trainingPerMillionTokens": {...},
//                  "providers": { "<name>": { "asOf"?: "...", "source"?: "...", "trainingPerMillionTokens"?: {...},
//                                             "hostingPerHourUsd"?: { "<hardware id>": 3.36 } } } }
// A model entry with a known id (or alias) changes only the fields it gives; a new id needs `tokenizer` (or the
// older `encoding`) and `maxTokensPerExample`, and a price here or in PRICES_FILE. Read once (`loadCatalogSet`,
// in src/wire.ts and the CLI) and passed in: `catalogFor(provider)` is the one answer to "which catalog".
import { readFileSync } from "node:fs";
import { z } from "zod";
import { UserError } from "../domain/errors.ts";
import { PROVIDER_KINDS, type ProviderKind } from "../providerSpecs.ts";
import {
  isOpenTokenizerFamily,
  OPEN_TOKENIZER_FAMILIES,
  type OpenTokenizerFamily,
} from "../tokenizers/families.ts";
import type { EncodingName } from "./counter.ts";
import { OPENAI_TRAINER, type TrainerRules } from "./trainer.ts";

export const DEFAULT_MODEL = "gpt-4o-mini-2024-07-18";

/** How an example's tokens are counted: an OpenAI encoding (the cookbook rule) or an open model's own tokenizer. */
export type TokenizerName = EncodingName | OpenTokenizerFamily;
/** "openai-cookbook": OpenAI's published counting rule; otherwise the open model's own chat template. */
export type ChatTemplateName = "openai-cookbook" | OpenTokenizerFamily;

export const TRAINING_METHODS = ["supervised", "preference"] as const;
export type TrainingMethod = (typeof TRAINING_METHODS)[number];

/**
 * How a finished fine-tune is served: "immediate" (callable at once), "deploy" (per token after a deploy
 * call), "dedicated" (a deployment or endpoint of its own, billed while it runs).
 */
export const SERVING_MODES = ["immediate", "deploy", "dedicated"] as const;
export type Serving = (typeof SERVING_MODES)[number];

const ENCODINGS = ["o200k_base", "cl100k_base"] as const satisfies readonly EncodingName[];
const TOKENIZERS = [...ENCODINGS, ...OPEN_TOKENIZER_FAMILIES] as const;

export interface ModelInfo {
  id: string;
  /** Short names that resolve to this model, e.g. "gpt-4o-mini". */
  aliases: string[];
  tokenizer: TokenizerName;
  chatTemplate: ChatTemplateName;
  /** The longest example (its context length), in the model's own tokens. */
  maxTokensPerExample: number;
  /** The trainer refuses a file with fewer valid examples. */
  minExamples: number;
  methods: TrainingMethod[];
  trainingPricePerMillionUsd: number;
  /** Where the price comes from (a URL or words; "unconfirmed: …" where it could not be checked). */
  priceSource: string;
  /** The date the price was recorded, YYYY-MM-DD. */
  priceAsOf: string;
  serving: Serving;
  /** The epochs a job runs when none is asked for: a number, or "auto" (OpenAI's rule, estimate.ts). */
  defaultEpochs: number | "auto";
  /** What the provider's trainer accepts in a line. */
  trainer: TrainerRules;
  /** Whose trainer that is, in messages ("OpenAI", "Together AI"): for a model the sandbox includes, the imitated one's. */
  trainerName: string;
  /** Where the limits come from, when the catalog says. */
  limitSource?: string | undefined;
  /** Where the serving mode comes from, when the catalog says. */
  servingSource?: string | undefined;
}

/**
 * What a deployment billed while it runs (a dedicated endpoint) costs per hour, by the provider's hardware id
 * ("1x_nvidia_h100_80gb_sxm" on Together, "NVIDIA_H100_80GB" on Fireworks): the catalog's table, dated, or
 * PRICES_FILE's `hostingPerHourUsd` for the provider (a school's own price) over it.
 */
export interface HostingPrices {
  asOf: string;
  source: string;
  perHourUsd: Record<string, number>;
}

/** The price of one hardware id, with where it comes from. */
export interface HostingPrice {
  hardware: string;
  usdPerHour: number;
  source: string;
  asOf: string;
}

export interface Catalog {
  /** The configured provider this catalog belongs to. */
  provider: string;
  kind: ProviderKind;
  models: ModelInfo[];
  defaultModel: string;
  /** Date of the price table (every cost is an estimate): the catalog's, or PRICES_FILE's when it priced this provider. */
  pricesAsOf: string;
  /** What the catalog says about the provider. */
  about: string;
  /** Hosting prices per hour, where the provider bills hosting while it runs; undefined where it does not. */
  hosting: HostingPrices | undefined;
}

/** The hosting price per hour of `hardware` at this catalog's provider; undefined when none is known. */
export function hostingPriceFor(catalog: Catalog | undefined, hardware: string): HostingPrice | undefined {
  const table = catalog?.hosting;
  const usdPerHour = table?.perHourUsd[hardware];
  if (!table || usdPerHour === undefined) return undefined;
  return { hardware, usdPerHour, source: table.source, asOf: table.asOf };
}

/** The chat template a tokenizer implies: open families have their own; OpenAI's encodings the cookbook rule. */
export function chatTemplateOf(tokenizer: TokenizerName): ChatTemplateName {
  return isOpenTokenizerFamily(tokenizer) ? tokenizer : "openai-cookbook";
}

/** True when the model is an open-weight one counted by its own tokenizer and chat template. */
export function isOpenModel(
  model: Pick<ModelInfo, "tokenizer">,
): model is { tokenizer: OpenTokenizerFamily } {
  return isOpenTokenizerFamily(model.tokenizer);
}

const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "must be a date YYYY-MM-DD");
const name = z.string().trim().min(1);
const trainerSchema = z
  .object({
    roles: z.array(name).min(1),
    messageKeys: z.array(name).min(1),
    contentParts: z.boolean(),
    images: z.boolean(),
    source: z.string(),
  })
  .strict();

const builtInModelSchema = z
  .object({
    id: name,
    aliases: z.array(name).default([]),
    tokenizer: z.enum(TOKENIZERS),
    maxTokensPerExample: z.number().int().positive(),
    minExamples: z.number().int().min(1),
    methods: z.array(z.enum(TRAINING_METHODS)).min(1),
    trainingPricePerMillionUsd: z.number().nonnegative(),
    priceSource: z.string().min(1),
    priceAsOf: date,
    serving: z.enum(SERVING_MODES),
    limitSource: z.string().optional(),
    servingSource: z.string().optional(),
  })
  .strict();

const builtInSchema = z
  .object({
    kind: z.enum(PROVIDER_KINDS),
    /** The provider's name in messages. */
    label: z.string().min(1),
    asOf: date,
    about: z.string(),
    defaultModel: name,
    trainer: trainerSchema.optional(),
    defaultEpochs: z.union([z.literal("auto"), z.number().int().min(1)]).default("auto"),
    defaultEpochsSource: z.string().optional(),
    /** Other kinds whose models this catalog offers too, with their own rules and prices (the sandbox's). */
    includes: z.array(z.enum(PROVIDER_KINDS)).default([]),
    models: z.array(builtInModelSchema),
    hosting: z
      .object({ asOf: date, source: z.string().min(1), perHourUsd: z.record(name, z.number().nonnegative()) })
      .strict()
      .optional(),
  })
  .strict();

/** A MODELS_FILE entry: a new model, or changes to a known one (by id or alias). */
const userModelSchema = z.object({
  id: name,
  aliases: z.array(name).optional(),
  tokenizer: z.enum(TOKENIZERS).optional(),
  /** The older name of `tokenizer` (OpenAI encodings only). */
  encoding: z.enum(ENCODINGS).optional(),
  maxTokensPerExample: z.number().int().positive().optional(),
  minExamples: z.number().int().min(1).optional(),
  methods: z.array(z.enum(TRAINING_METHODS)).min(1).optional(),
  trainingPricePerMillionUsd: z.number().nonnegative().optional(),
  priceSource: z.string().min(1).optional(),
  priceAsOf: date.optional(),
  serving: z.enum(SERVING_MODES).optional(),
});
type UserModel = z.infer<typeof userModelSchema>;

const modelsFileSchema = z.object({
  models: z.array(userModelSchema).default([]),
  providers: z.record(z.string(), z.object({ models: z.array(userModelSchema) })).optional(),
});

const priceTable = z.record(z.string(), z.number().nonnegative());
const pricesFileSchema = z.object({
  asOf: date,
  source: z.string().optional(),
  trainingPerMillionTokens: priceTable.default({}),
  providers: z
    .record(
      z.string(),
      z.object({
        asOf: date.optional(),
        source: z.string().optional(),
        trainingPerMillionTokens: priceTable.default({}),
        /** A school's own hosting price per hour, by hardware id, over the catalog's. */
        hostingPerHourUsd: priceTable.optional(),
      }),
    )
    .optional(),
});

function readJson<T>(file: string | URL, schema: z.ZodType<T>, what: string): T {
  let raw: string;
  try {
    raw = readFileSync(file, "utf8");
  } catch (err) {
    throw new UserError(`cannot read the ${what} ${String(file)}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new UserError(`the ${what} ${String(file)} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new UserError(`the ${what} ${String(file)} is malformed: ${problems.join("; ")}`);
  }
  return parsed.data;
}

/** The committed catalog of a provider kind. */
export const builtInCatalogFile = (kind: ProviderKind) =>
  new URL(`../../data/catalogs/${kind}.json`, import.meta.url);

interface KindCatalog {
  kind: ProviderKind;
  asOf: string;
  about: string;
  defaultModel: string;
  models: ModelInfo[];
  hosting: HostingPrices | undefined;
}

const builtIns = new Map<ProviderKind, KindCatalog>();

/** A kind's committed catalog (its includes resolved, first id wins), read once per process. */
function builtInKind(kind: ProviderKind, seen: ProviderKind[] = []): KindCatalog {
  const cached = builtIns.get(kind);
  if (cached) return cached;
  if (seen.includes(kind)) throw new Error(`catalog includes form a cycle: ${[...seen, kind].join(" -> ")}`);
  const file = readJson(builtInCatalogFile(kind), builtInSchema, "built-in catalog");
  if (file.kind !== kind) throw new Error(`data/catalogs/${kind}.json says it is the ${file.kind} catalog`);
  const trainer = file.trainer ?? OPENAI_TRAINER;
  const models = file.models.map(
    (m): ModelInfo => ({
      ...m,
      chatTemplate: chatTemplateOf(m.tokenizer),
      trainer,
      trainerName: file.label,
      defaultEpochs: file.defaultEpochs,
    }),
  );
  let hosting = file.hosting;
  for (const included of file.includes) {
    const other = builtInKind(included, [...seen, kind]);
    for (const m of other.models) {
      if (!models.some((x) => x.id === m.id)) models.push(m);
    }
    // The sandbox's imitated dedicated endpoints are priced as the first included kind with a hosting table.
    hosting ??= other.hosting;
  }
  if (!models.some((m) => m.id === file.defaultModel)) {
    throw new Error(`data/catalogs/${kind}.json: defaultModel ${file.defaultModel} is not one of its models`);
  }
  const built: KindCatalog = {
    kind,
    asOf: file.asOf,
    about: file.about,
    defaultModel: file.defaultModel,
    models,
    hosting,
  };
  builtIns.set(kind, built);
  return built;
}

export interface CatalogSources {
  modelsFile?: string | undefined;
  pricesFile?: string | undefined;
}

/** A configured fine-tuning provider, as far as its catalog cares. */
export interface CatalogProvider {
  name: string;
  kind: ProviderKind;
}

const sameName = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

function findModel(models: ModelInfo[], wanted: string): ModelInfo | undefined {
  const key = wanted.trim().toLowerCase();
  return (
    models.find((m) => m.id.toLowerCase() === key) ??
    models.find((m) => m.aliases.some((a) => a.toLowerCase() === key))
  );
}

/** Applies MODELS_FILE entries to a provider's models (in place): known ids change, new ids are added. */
function applyModelEntries(
  models: ModelInfo[],
  entries: UserModel[],
  base: { defaults: ModelInfo; asOf: string },
  where: string,
  provider: string,
): void {
  for (const e of entries) {
    const tokenizer = e.tokenizer ?? e.encoding;
    if (e.tokenizer && e.encoding && e.tokenizer !== e.encoding) {
      throw new UserError(
        `${where}: model ${e.id} gives tokenizer ${e.tokenizer} and encoding ${e.encoding}`,
      );
    }
    const known = findModel(models, e.id);
    const price = e.trainingPricePerMillionUsd;
    if (known) {
      const changed: ModelInfo = {
        ...known,
        ...(e.aliases ? { aliases: e.aliases } : {}),
        ...(tokenizer ? { tokenizer, chatTemplate: chatTemplateOf(tokenizer) } : {}),
        ...(e.maxTokensPerExample !== undefined ? { maxTokensPerExample: e.maxTokensPerExample } : {}),
        ...(e.minExamples !== undefined ? { minExamples: e.minExamples } : {}),
        ...(e.methods ? { methods: e.methods } : {}),
        ...(e.serving ? { serving: e.serving } : {}),
        ...(price !== undefined
          ? {
              trainingPricePerMillionUsd: price,
              priceSource: e.priceSource ?? where,
              priceAsOf: e.priceAsOf ?? base.asOf,
            }
          : {}),
      };
      models[models.indexOf(known)] = changed;
      continue;
    }
    if (!tokenizer || e.maxTokensPerExample === undefined) {
      throw new UserError(
        `${where}: model ${e.id} is not in ${provider}'s catalog, so it needs "tokenizer" (${TOKENIZERS.join(", ")}) and "maxTokensPerExample"`,
      );
    }
    models.push({
      id: e.id,
      aliases: e.aliases ?? [],
      tokenizer,
      chatTemplate: chatTemplateOf(tokenizer),
      maxTokensPerExample: e.maxTokensPerExample,
      minExamples: e.minExamples ?? base.defaults.minExamples,
      methods: e.methods ?? ["supervised"],
      // NaN marks "no price yet": PRICES_FILE may give it; otherwise buildCatalog refuses the model.
      trainingPricePerMillionUsd: price ?? Number.NaN,
      priceSource: e.priceSource ?? where,
      priceAsOf: e.priceAsOf ?? base.asOf,
      serving: e.serving ?? base.defaults.serving,
      trainer: base.defaults.trainer,
      trainerName: base.defaults.trainerName,
      defaultEpochs: base.defaults.defaultEpochs,
    });
  }
}

function buildCatalog(
  provider: CatalogProvider,
  isDefault: boolean,
  modelsFile: { path: string; data: z.infer<typeof modelsFileSchema> } | undefined,
  pricesFile: { path: string; data: z.infer<typeof pricesFileSchema> } | undefined,
): Catalog {
  const kind = builtInKind(provider.kind);
  const models = kind.models.map((m) => ({ ...m }));
  const defaults = findModel(models, kind.defaultModel) as ModelInfo;
  const base = { defaults, asOf: kind.asOf };
  if (modelsFile) {
    const where = `MODELS_FILE ${modelsFile.path}`;
    if (isDefault) applyModelEntries(models, modelsFile.data.models, base, where, provider.name);
    const own = Object.entries(modelsFile.data.providers ?? {}).find(([n]) => sameName(n, provider.name));
    if (own) applyModelEntries(models, own[1].models, base, `${where} (providers.${own[0]})`, provider.name);
  }
  let pricesAsOf = kind.asOf;
  if (pricesFile) {
    const { data, path } = pricesFile;
    const tables: { asOf: string; source: string | undefined; prices: Record<string, number> }[] = [];
    if (isDefault)
      tables.push({ asOf: data.asOf, source: data.source, prices: data.trainingPerMillionTokens });
    const own = Object.entries(data.providers ?? {}).find(([n]) => sameName(n, provider.name));
    if (own) {
      tables.push({
        asOf: own[1].asOf ?? data.asOf,
        source: own[1].source ?? data.source,
        prices: own[1].trainingPerMillionTokens,
      });
    }
    for (const table of tables) {
      for (const [i, m] of models.entries()) {
        const price = table.prices[m.id];
        if (price === undefined) continue;
        models[i] = {
          ...m,
          trainingPricePerMillionUsd: price,
          priceSource: `PRICES_FILE ${path}${table.source ? `: ${table.source}` : ""}`,
          priceAsOf: table.asOf,
        };
      }
      if (Object.keys(table.prices).length > 0) pricesAsOf = table.asOf;
    }
  }
  for (const m of models) {
    if (Number.isNaN(m.trainingPricePerMillionUsd)) {
      throw new UserError(
        `no training price for model ${m.id} of provider ${provider.name}: add it to the price file or give trainingPricePerMillionUsd in the models file`,
      );
    }
  }
  return {
    provider: provider.name,
    kind: provider.kind,
    models,
    defaultModel: kind.defaultModel,
    pricesAsOf,
    about: kind.about,
    hosting: hostingOf(kind.hosting, pricesFile, provider.name),
  };
}

/** The kind's hosting table with PRICES_FILE's `hostingPerHourUsd` for this provider over it. */
function hostingOf(
  base: HostingPrices | undefined,
  pricesFile: { path: string; data: z.infer<typeof pricesFileSchema> } | undefined,
  providerName: string,
): HostingPrices | undefined {
  const own = Object.entries(pricesFile?.data.providers ?? {}).find(([n]) => sameName(n, providerName))?.[1];
  const table = own?.hostingPerHourUsd;
  if (!table || Object.keys(table).length === 0) return base;
  return {
    asOf: own.asOf ?? pricesFile?.data.asOf ?? base?.asOf ?? "unknown",
    source: `PRICES_FILE ${pricesFile?.path}${own.source ? `: ${own.source}` : ""}`,
    perHourUsd: { ...(base?.perHourUsd ?? {}), ...table },
  };
}

/** Every configured provider's catalog, and the one answer to "which catalog, which model". */
export class CatalogSet {
  constructor(
    readonly catalogs: readonly Catalog[],
    /** The provider jobs and validation use when none is named (config.defaultFinetuneProvider). */
    readonly defaultProvider: string,
  ) {
    if (!catalogs.some((c) => c.provider === defaultProvider)) {
      throw new Error(`the default provider ${defaultProvider} has no catalog`);
    }
  }

  /** The default provider's catalog. */
  get default(): Catalog {
    return this.catalogFor(undefined);
  }

  /** The catalog of a configured provider (any case); undefined = the default's; unknown: undefined. */
  find(provider: string | undefined): Catalog | undefined {
    const wanted = provider?.trim() || this.defaultProvider;
    return this.catalogs.find((c) => sameName(c.provider, wanted));
  }

  /** The catalog of a configured provider (any case); undefined = the default. Unknown: a UserError naming each. */
  catalogFor(provider: string | undefined): Catalog {
    const found = this.find(provider);
    if (!found) {
      const wanted = provider?.trim() ?? "";
      throw new UserError(
        `unknown provider "${wanted}": the configured fine-tuning providers are ${this.describeProviders()}`,
        "unknown_provider",
      );
    }
    return found;
  }

  /** "a (openai, default), b (together)". */
  describeProviders(): string {
    return this.catalogs
      .map((c) => `${c.provider} (${c.kind}${c.provider === this.defaultProvider ? ", default" : ""})`)
      .join(", ");
  }
}

/**
 * Builds every configured provider's catalog: its kind's committed catalog, then MODELS_FILE and PRICES_FILE
 * (top-level entries for the default provider, `providers.<name>` for that provider). A `providers` key naming
 * no configured provider is a UserError (a typo would otherwise be ignored).
 */
export function loadCatalogSet(
  providers: readonly CatalogProvider[],
  defaultProvider: string,
  sources: CatalogSources = {},
): CatalogSet {
  const modelsFile = sources.modelsFile
    ? { path: sources.modelsFile, data: readJson(sources.modelsFile, modelsFileSchema, "models file") }
    : undefined;
  const pricesFile = sources.pricesFile
    ? { path: sources.pricesFile, data: readJson(sources.pricesFile, pricesFileSchema, "price file") }
    : undefined;
  const configured = providers.map((p) => p.name);
  for (const [what, named] of [
    ["MODELS_FILE", Object.keys(modelsFile?.data.providers ?? {})],
    ["PRICES_FILE", Object.keys(pricesFile?.data.providers ?? {})],
  ] as const) {
    for (const n of named) {
      if (!configured.some((c) => sameName(c, n))) {
        throw new UserError(
          `${what} names provider "${n}", which is not configured (configured: ${configured.join(", ")})`,
        );
      }
    }
  }
  return new CatalogSet(
    providers.map((p) => buildCatalog(p, sameName(p.name, defaultProvider), modelsFile, pricesFile)),
    providers.find((p) => sameName(p.name, defaultProvider))?.name ?? defaultProvider,
  );
}

/** The configuration's catalogs (its fine-tuning providers, MODELS_FILE and PRICES_FILE): what wire.ts and the CLI load. */
export function loadConfiguredCatalogs(config: {
  finetuneProviders: readonly CatalogProvider[];
  defaultFinetuneProvider: string;
  modelsFile: string | undefined;
  pricesFile: string | undefined;
}): CatalogSet {
  return loadCatalogSet(config.finetuneProviders, config.defaultFinetuneProvider, {
    modelsFile: config.modelsFile,
    pricesFile: config.pricesFile,
  });
}

/** The catalog of one OpenAI provider named "openai" (the models and price files apply to it): tests and tools. */
export function loadCatalog(sources: CatalogSources = {}): Catalog {
  return loadCatalogSet([{ name: "openai", kind: "openai" }], "openai", sources).default;
}

const builtInCatalogs = new Map<ProviderKind, Catalog>();

/** A kind's committed catalog alone (no models or price file), under the kind's name, read once. */
export function builtInCatalog(kind: ProviderKind): Catalog {
  let catalog = builtInCatalogs.get(kind);
  if (!catalog) {
    catalog = buildCatalog({ name: kind, kind }, true, undefined, undefined);
    builtInCatalogs.set(kind, catalog);
  }
  return catalog;
}

/** The built-in OpenAI catalog, read once: what validation uses when no catalog is given. */
export function defaultCatalog(): Catalog {
  return builtInCatalog("openai");
}

export function knownModelIds(catalog: Catalog = defaultCatalog()): string[] {
  return catalog.models.map((m) => m.id);
}

/**
 * Whether the model's trainer takes OpenAI's per-message `weight` (what a multi-turn export marks context with).
 * A model the catalog does not know: true (OpenAI's format), and the validator reports the unknown model.
 */
export function takesMessageWeight(name: string, catalog: Catalog = defaultCatalog()): boolean {
  try {
    return resolveModel(name, catalog).trainer.messageKeys.includes("weight");
  } catch (err) {
    if (err instanceof UserError) return true;
    throw err;
  }
}

/**
 * Resolves a model name to its catalog entry: an id, an alias ("gpt-4o-mini"), or a fine-tuned model
 * ("ft:gpt-4o-mini-2024-07-18:org:suffix:abc123"), which resolves to its base. Unknown -> UserError naming the known ones.
 */
export function resolveModel(name: string, catalog: Catalog = defaultCatalog()): ModelInfo {
  const wanted = name.trim();
  const base = wanted.startsWith("ft:") ? (wanted.split(":")[1] ?? "") : wanted;
  const found = findModel(catalog.models, base);
  if (!found) {
    throw new UserError(
      `unknown model "${name}": known models are ${knownModelIds(catalog).join(", ")} (those of provider ${catalog.provider}, kind ${catalog.kind}; a models file may add others)`,
      "unknown_model",
    );
  }
  return found;
}
