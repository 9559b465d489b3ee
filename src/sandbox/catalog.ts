// The base models the sandbox fine-tunes: the sandbox-kind catalog (data/catalogs/sandbox.json: OpenAI's
// fine-tunable snapshots and the open-weight models of Nebius Token Factory and Together), so the sandbox offers
// exactly what validation and `classtune providers` know. Here: when each was created, as the models API shows
// it, and the encoding the sandbox counts chat usage with.
import { builtInCatalog, isOpenModel } from "../datasets/catalog.ts";

export interface BaseModel {
  id: string;
  /** Unix seconds, as OpenAI reports them (open models: their release date). */
  created: number;
  /**
   * The encoding the sandbox counts chat usage with. Open models have their own tokenizers; the sandbox
   * approximates chat usage with o200k (training files are counted exactly, by the validation engine).
   */
  encoding: "o200k_base" | "cl100k_base";
  /** An open-weight model: LoRA hyperparameters, step counts, and the deploy step under /v0/models. */
  openWeight: boolean;
}

const released = (day: string) => Math.floor(Date.parse(`${day}T00:00:00Z`) / 1000);

/** OpenAI's `created` for its snapshots; an open model's release date. */
const CREATED: Record<string, number> = {
  "gpt-4o-mini-2024-07-18": 1721172717,
  "gpt-4o-2024-08-06": 1722814719,
  "gpt-4.1-2025-04-14": 1744315746,
  "gpt-4.1-mini-2025-04-14": 1744317547,
  "gpt-4.1-nano-2025-04-14": 1744321025,
  "gpt-3.5-turbo-0125": 1706048358,
  "meta-llama/Llama-3.1-8B-Instruct": released("2024-07-23"),
  "meta-llama/Llama-3.3-70B-Instruct": released("2024-12-06"),
  "Qwen/Qwen2.5-7B-Instruct": released("2024-09-19"),
  "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference": released("2024-07-23"),
  "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference": released("2024-07-23"),
};

const catalog = builtInCatalog("sandbox");

export const BASE_MODELS: readonly BaseModel[] = catalog.models.map((m) => {
  const openWeight = isOpenModel(m);
  return {
    id: m.id,
    created: CREATED[m.id] ?? released(m.priceAsOf),
    encoding: m.tokenizer === "cl100k_base" ? "cl100k_base" : "o200k_base",
    openWeight,
  };
});

/** Ids and aliases, exactly as written (a real API does not fold case): OpenAI's family names, Nebius's older Llama id. */
const BY_NAME = new Map<string, BaseModel>();
for (const [i, m] of catalog.models.entries()) {
  const base = BASE_MODELS[i] as BaseModel;
  BY_NAME.set(m.id, base);
  for (const alias of m.aliases) if (!BY_NAME.has(alias)) BY_NAME.set(alias, base);
}

/** The base model for an id or alias; undefined when the sandbox does not offer it. */
export function resolveBaseModel(idOrAlias: string): BaseModel | undefined {
  return BY_NAME.get(idOrAlias);
}

/** Who owns what, in the sandbox's small world. */
export const ORGANIZATION_ID = "org-classtune-sandbox";
export const FINE_TUNED_OWNER = "classtune-sandbox";
