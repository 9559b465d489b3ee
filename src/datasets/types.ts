// The validation report: the shape of `classtune validate --json` (a contract other tools read:
// extend, never rename) and what the bot, the sandbox and the job service consume.

import type { ProviderKind } from "../providerSpecs.ts";
import type { Catalog, ChatTemplateName, TokenizerName } from "./catalog.ts";
import type { PreferenceBilling } from "./estimate.ts";

export type DatasetFormat = "chat" | "preference";

export type ErrorCode =
  | "invalid_json"
  | "too_deeply_nested"
  | "invalid_encoding"
  | "data_type"
  | "missing_messages_list"
  | "message_missing_key"
  | "message_unrecognized_key"
  | "unrecognized_role"
  | "missing_content"
  | "example_missing_assistant_message"
  | "invalid_weight"
  | "too_many_tokens"
  | "special_token"
  /** Content the provider's trainer or the model cannot take (an image for a text-only model, a list of parts). */
  | "unsupported_content"
  /** The open model's own chat template refuses the example (e.g. Llama 3.1: one tool call per message). */
  | "template_refused"
  // preference (DPO) lines
  | "missing_preference_fields"
  // file-level (line 0 is never used: file-level errors have no line)
  | "not_text"
  | "empty_file";

export type WarningCode =
  | "missing_system_message"
  | "missing_user_message"
  | "duplicate_example"
  | "blank_line"
  | "below_recommended_examples"
  | "too_few_examples";

export interface LineError {
  /** 1-based physical line in the file; 0 for a file-level error. */
  line: number;
  code: ErrorCode;
  message: string;
}

export interface Warning {
  line?: number;
  code: WarningCode;
  message: string;
}

export interface TokenStats {
  total: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
}

export interface ValidationReport {
  format: DatasetFormat;
  /** The fine-tuning provider whose rules and catalog the file was checked against. */
  provider: string;
  providerKind: ProviderKind;
  /** Whose trainer's rules those are, in messages ("OpenAI", "Together AI"; the sandbox imitates one). */
  trainerName: string;
  model: string;
  /** The tokenizer the counts are in (kept under its first name; the same as `tokenizer`). */
  encoding: TokenizerName;
  tokenizer: TokenizerName;
  /** How examples are counted: OpenAI's cookbook rule, or the open model's own chat template. */
  chatTemplate: ChatTemplateName;
  /** The model's per-example limit (its context length) the examples were checked against. */
  maxTokensPerExample: number;
  /** The provider's minimum of valid examples for this model. */
  minExamples: number;
  bytes: number;
  sha256: string;
  /** Non-blank lines. */
  examples: number;
  valid: number;
  invalid: number;
  /** invalid === 0 && valid >= minExamples */
  fineTunable: boolean;
  errors: LineError[];
  /** Errors beyond the stored cap are counted here, not listed (memory stays flat on huge broken files). */
  errorsOmitted: number;
  errorCounts: Partial<Record<ErrorCode, number>>;
  warnings: Warning[];
  warningsOmitted: number;
  warningCounts: Partial<Record<WarningCode, number>>;
  tokens: TokenStats;
  epochs: number;
  billingTokens: number;
  estimatedCostUsd: number;
  /** Always true: the cost is an estimate from a dated price table. */
  costIsEstimate: true;
  pricePerMillionTrainingTokensUsd: number;
  pricesAsOf: string;
  /** Where the price comes from ("unconfirmed: …" where the catalog could not check it). */
  priceSource: string;
  /**
   * A preference (DPO) file only: how DPO is billed against the supervised price (estimate.ts), already applied
   * to pricePerMillionTrainingTokensUsd and estimatedCostUsd.
   */
  preferenceBilling?: PreferenceBilling | undefined;
}

export interface ValidateOptions {
  /** Base model to validate for; default the catalog's default. Unknown models are a UserError naming the known ones. */
  model?: string;
  /** When set, the valid lines are written there byte for byte (a cleaned JSONL). */
  cleanedOutPath?: string;
  onProgress?: (bytesRead: number, totalBytes: number) => void;
  signal?: AbortSignal;
  /**
   * The provider's catalog (CatalogSet.catalogFor(provider), models and price files applied), read once by the
   * caller; its provider's rules apply. Default: the built-in OpenAI catalog.
   */
  catalog?: Catalog;
  /** Worker threads; default min(2, cores), and one for files under 1 MB. */
  workers?: number;
}
