// The base models the sandbox fine-tunes: OpenAI's fine-tunable snapshots, and the open-weight models the
// OpenAI-shaped open-model hosts train LoRA adapters on (Nebius Token Factory's Llama 3.1/3.3 and Qwen 2.5,
// Together's "-Reference" Llama). Their aliases, and the tokenizer family each uses for chat usage counts.
export interface BaseModel {
  id: string;
  /** Unix seconds, as OpenAI reports them (open models: their release date). */
  created: number;
  /**
   * The encoding the sandbox counts chat usage with. Open models have their own tokenizers; the sandbox
   * approximates them with o200k (usage counts only: training plans come from the validation engine).
   */
  encoding: "o200k_base" | "cl100k_base";
  /** An open-weight model: LoRA hyperparameters, step counts, and the deploy step under /v0/models. */
  openWeight: boolean;
}

const openai = (id: string, created: number, encoding: BaseModel["encoding"]): BaseModel => ({
  id,
  created,
  encoding,
  openWeight: false,
});
const open = (id: string, released: string): BaseModel => ({
  id,
  created: Math.floor(Date.parse(`${released}T00:00:00Z`) / 1000),
  encoding: "o200k_base",
  openWeight: true,
});

export const BASE_MODELS: readonly BaseModel[] = [
  openai("gpt-4o-mini-2024-07-18", 1721172717, "o200k_base"),
  openai("gpt-4o-2024-08-06", 1722814719, "o200k_base"),
  openai("gpt-4.1-2025-04-14", 1744315746, "o200k_base"),
  openai("gpt-4.1-mini-2025-04-14", 1744317547, "o200k_base"),
  openai("gpt-4.1-nano-2025-04-14", 1744321025, "o200k_base"),
  openai("gpt-3.5-turbo-0125", 1706048358, "cl100k_base"),
  open("meta-llama/Llama-3.1-8B-Instruct", "2024-07-23"),
  open("meta-llama/Llama-3.3-70B-Instruct", "2024-12-06"),
  open("Qwen/Qwen2.5-7B-Instruct", "2024-09-19"),
  open("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "2024-07-23"),
  open("meta-llama/Meta-Llama-3.1-70B-Instruct-Reference", "2024-07-23"),
];

/** What OpenAI resolves a bare family name to when fine-tuning or chatting (and Nebius's older Llama id). */
const ALIASES: Record<string, string> = {
  "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
  "gpt-4o": "gpt-4o-2024-08-06",
  "gpt-4.1": "gpt-4.1-2025-04-14",
  "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
  "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
  "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
  "meta-llama/Meta-Llama-3.1-8B-Instruct": "meta-llama/Llama-3.1-8B-Instruct",
};

const BY_ID = new Map(BASE_MODELS.map((m) => [m.id, m]));

/** The base model for an id or alias; undefined when the sandbox does not offer it. */
export function resolveBaseModel(idOrAlias: string): BaseModel | undefined {
  return BY_ID.get(ALIASES[idOrAlias] ?? idOrAlias);
}

/**
 * The model whose rules the validation engine checks an open model's files against while the engine's
 * own catalog does not know the open model yet (then the open model's id is tried first).
 */
export const OPEN_MODEL_STAND_IN = "gpt-4o-mini-2024-07-18";

/** Who owns what, in the sandbox's small world. */
export const ORGANIZATION_ID = "org-classtune-sandbox";
export const FINE_TUNED_OWNER = "classtune-sandbox";
