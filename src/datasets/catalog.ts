// The model catalog: which base models can be fine-tuned, their tokenizer, per-example token limit and
// training price. Built in, extended by an optional models file (MODELS_FILE); prices come from the dated
// data/prices.json, which PRICES_FILE may override. Read once by the caller (`loadCatalog`) and passed in.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { UserError } from "../domain/errors.ts";
import type { EncodingName } from "./counter.ts";

export const DEFAULT_MODEL = "gpt-4o-mini-2024-07-18";

export interface ModelInfo {
  id: string;
  encoding: EncodingName;
  maxTokensPerExample: number;
  trainingPricePerMillionUsd: number;
  /** Short names that resolve to this model, e.g. "gpt-4o-mini". */
  aliases: string[];
}

export interface Catalog {
  models: ModelInfo[];
  defaultModel: string;
  /** Date of the price table (every cost is an estimate). */
  pricesAsOf: string;
}

type ModelSpec = Omit<ModelInfo, "trainingPricePerMillionUsd"> & { trainingPricePerMillionUsd?: number };

const BUILT_IN: ModelSpec[] = [
  {
    id: "gpt-4o-mini-2024-07-18",
    encoding: "o200k_base",
    maxTokensPerExample: 65_536,
    aliases: ["gpt-4o-mini"],
  },
  { id: "gpt-4o-2024-08-06", encoding: "o200k_base", maxTokensPerExample: 65_536, aliases: ["gpt-4o"] },
  { id: "gpt-4.1-2025-04-14", encoding: "o200k_base", maxTokensPerExample: 65_536, aliases: ["gpt-4.1"] },
  {
    id: "gpt-4.1-mini-2025-04-14",
    encoding: "o200k_base",
    maxTokensPerExample: 65_536,
    aliases: ["gpt-4.1-mini"],
  },
  {
    id: "gpt-4.1-nano-2025-04-14",
    encoding: "o200k_base",
    maxTokensPerExample: 65_536,
    aliases: ["gpt-4.1-nano"],
  },
  {
    id: "gpt-3.5-turbo-0125",
    encoding: "cl100k_base",
    maxTokensPerExample: 16_385,
    aliases: ["gpt-3.5-turbo"],
  },
];

export const BUILT_IN_PRICES_FILE = new URL("../../data/prices.json", import.meta.url);

const pricesSchema = z.object({
  asOf: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "must be a date YYYY-MM-DD"),
  trainingPerMillionTokens: z.record(z.string(), z.number().nonnegative()),
});

const modelsFileSchema = z.object({
  models: z.array(
    z.object({
      id: z.string().trim().min(1),
      encoding: z.enum(["cl100k_base", "o200k_base"]),
      maxTokensPerExample: z.number().int().positive(),
      trainingPricePerMillionUsd: z.number().nonnegative().optional(),
      aliases: z.array(z.string().trim().min(1)).default([]),
    }),
  ),
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

export interface CatalogSources {
  modelsFile?: string | undefined;
  pricesFile?: string | undefined;
}

/** Builds the catalog: built-in models plus the models file; prices from data/prices.json, overridden by pricesFile. */
export function loadCatalog(sources: CatalogSources = {}): Catalog {
  const builtInPrices = readJson(BUILT_IN_PRICES_FILE, pricesSchema, "price table");
  const override = sources.pricesFile ? readJson(sources.pricesFile, pricesSchema, "price file") : undefined;
  const prices = { ...builtInPrices.trainingPerMillionTokens, ...override?.trainingPerMillionTokens };
  const specs = new Map<string, ModelSpec>(BUILT_IN.map((m) => [m.id, m]));
  if (sources.modelsFile) {
    for (const m of readJson(sources.modelsFile, modelsFileSchema, "models file").models) {
      const { trainingPricePerMillionUsd, ...rest } = m;
      specs.set(
        m.id,
        trainingPricePerMillionUsd === undefined ? rest : { ...rest, trainingPricePerMillionUsd },
      );
    }
  }
  const models = [...specs.values()].map((m): ModelInfo => {
    const price = prices[m.id] ?? m.trainingPricePerMillionUsd;
    if (price === undefined) {
      throw new UserError(
        `no training price for model ${m.id}: add it to the price file or give trainingPricePerMillionUsd in the models file`,
      );
    }
    return { ...m, trainingPricePerMillionUsd: price };
  });
  return { models, defaultModel: DEFAULT_MODEL, pricesAsOf: (override ?? builtInPrices).asOf };
}

let builtIn: Catalog | undefined;

/** The built-in catalog (no models file, the committed price table), read once. */
export function defaultCatalog(): Catalog {
  builtIn ??= loadCatalog();
  return builtIn;
}

export function knownModelIds(catalog: Catalog = defaultCatalog()): string[] {
  return catalog.models.map((m) => m.id);
}

/**
 * Resolves a model name to its catalog entry: an id, an alias ("gpt-4o-mini"), or a fine-tuned model
 * ("ft:gpt-4o-mini-2024-07-18:org:suffix:abc123"), which resolves to its base. Unknown -> UserError naming the known ones.
 */
export function resolveModel(name: string, catalog: Catalog = defaultCatalog()): ModelInfo {
  const wanted = name.trim();
  const base = wanted.startsWith("ft:") ? (wanted.split(":")[1] ?? "") : wanted;
  const key = base.toLowerCase();
  const found =
    catalog.models.find((m) => m.id.toLowerCase() === key) ??
    catalog.models.find((m) => m.aliases.some((a) => a.toLowerCase() === key));
  if (!found) {
    throw new UserError(
      `unknown model "${name}": known models are ${knownModelIds(catalog).join(", ")} (a models file may add others)`,
      "unknown_model",
    );
  }
  return found;
}
