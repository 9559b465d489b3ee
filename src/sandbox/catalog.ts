// The base models the sandbox fine-tunes (OpenAI's fine-tunable snapshots), their aliases, and the
// tokenizer family each uses.
export interface BaseModel {
  id: string;
  /** Unix seconds, as OpenAI reports them. */
  created: number;
  encoding: "o200k_base" | "cl100k_base";
}

export const BASE_MODELS: readonly BaseModel[] = [
  { id: "gpt-4o-mini-2024-07-18", created: 1721172717, encoding: "o200k_base" },
  { id: "gpt-4o-2024-08-06", created: 1722814719, encoding: "o200k_base" },
  { id: "gpt-4.1-2025-04-14", created: 1744315746, encoding: "o200k_base" },
  { id: "gpt-4.1-mini-2025-04-14", created: 1744317547, encoding: "o200k_base" },
  { id: "gpt-4.1-nano-2025-04-14", created: 1744321025, encoding: "o200k_base" },
  { id: "gpt-3.5-turbo-0125", created: 1706048358, encoding: "cl100k_base" },
];

/** What OpenAI resolves a bare family name to when fine-tuning or chatting. */
const ALIASES: Record<string, string> = {
  "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
  "gpt-4o": "gpt-4o-2024-08-06",
  "gpt-4.1": "gpt-4.1-2025-04-14",
  "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
  "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
  "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
};

const BY_ID = new Map(BASE_MODELS.map((m) => [m.id, m]));

/** The base model for an id or alias; undefined when the sandbox does not offer it. */
export function resolveBaseModel(idOrAlias: string): BaseModel | undefined {
  return BY_ID.get(ALIASES[idOrAlias] ?? idOrAlias);
}

/** Who owns what, in the sandbox's small world. */
export const ORGANIZATION_ID = "org-classtune-sandbox";
export const FINE_TUNED_OWNER = "classtune-sandbox";
