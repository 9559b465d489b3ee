// What a provider's trainer accepts in a chat example, beyond the shape every provider shares (a "messages"
// list, an assistant message to learn from): its message roles, its message keys, and which content forms.
// A catalog (data/catalogs/<kind>.json) states them per provider kind; rules.ts applies them to each line.

export interface TrainerRules {
  /** Message roles the trainer accepts; any other is `unrecognized_role`. */
  roles: readonly string[];
  /** Message keys the trainer accepts; any other is `message_unrecognized_key`. */
  messageKeys: readonly string[];
  /** Content may be a list of parts (text, image_url); false: only a string (`unsupported_content`). */
  contentParts: boolean;
  /** Image parts are accepted (a vision model); false: `unsupported_content`. */
  images: boolean;
  /** Where these rules come from (a URL or words), for people reading the catalog. */
  source: string;
}

/** OpenAI's fine-tuning format (https://platform.openai.com/docs/guides/supervised-fine-tuning). */
export const OPENAI_TRAINER: TrainerRules = {
  roles: ["system", "user", "assistant", "tool", "function"],
  messageKeys: ["role", "content", "name", "weight", "tool_calls", "function_call", "tool_call_id"],
  contentParts: true,
  images: true,
  source: "OpenAI's chat fine-tuning format: https://platform.openai.com/docs/guides/supervised-fine-tuning",
};
