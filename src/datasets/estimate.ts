// Training estimates: OpenAI's default epochs, billed tokens and cost. Pure functions.

const TARGET_EPOCHS = 3;
const MIN_TARGET_EXAMPLES = 100;
const MAX_TARGET_EXAMPLES = 25_000;
const MIN_DEFAULT_EPOCHS = 1;
const MAX_DEFAULT_EPOCHS = 25;

/**
 * OpenAI's default epochs for `examples` training examples: 3, raised so examples × epochs ≥ 100, lowered so
 * examples × epochs ≤ 25,000, clamped to 1..25. (The cookbook floors when raising, e.g. 7 examples -> 14
 * epochs = 98; this follows the stated rule and rounds up, 7 -> 15.)
 */
export function defaultEpochs(examples: number): number {
  if (examples <= 0) return TARGET_EPOCHS;
  let epochs = TARGET_EPOCHS;
  if (examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES) epochs = Math.ceil(MIN_TARGET_EXAMPLES / examples);
  else if (examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES)
    epochs = Math.floor(MAX_TARGET_EXAMPLES / examples);
  return Math.min(MAX_DEFAULT_EPOCHS, Math.max(MIN_DEFAULT_EPOCHS, epochs));
}

/** Billed training tokens: epochs × Σ min(limit, tokens of each example). */
export function billingTokens(exampleTokens: ArrayLike<number>, limit: number, epochs: number): number {
  let sum = 0;
  for (let i = 0; i < exampleTokens.length; i++) sum += Math.min(limit, exampleTokens[i] as number);
  return sum * epochs;
}

/** USD for `tokens` training tokens at `pricePerMillion`, rounded to a hundredth of a cent. */
export function trainingCostUsd(tokens: number, pricePerMillion: number): number {
  return Math.round((tokens * pricePerMillion) / 100) / 10_000;
}

/** The training methods a job can ask for: supervised (chat examples) and DPO (preference examples). */
export type JobMethod = "supervised" | "dpo";

/** How a preference (DPO) file is billed by one trainer, relative to its supervised price. */
export interface PreferenceBilling {
  /** DPO price per token ÷ supervised price per token. */
  factor: number;
  /** Where the rule comes from ("unconfirmed: …" where it could not be checked). */
  source: string;
}

/**
 * The DPO billing rule, by trainer (the catalog label whose trainer runs the job; the sandbox imitates one). In
 * every case the billed tokens of a preference line are its prompt plus both outputs (rules.ts counts them so),
 * times the epochs, as for a supervised line; only the price per token differs.
 */
const PREFERENCE_BILLING: Record<string, PreferenceBilling> = {
  OpenAI: {
    factor: 1,
    source:
      "OpenAI bills supervised and preference fine-tuning by the tokens of the training file (help.openai.com/en/articles/11323177); the same price per token as supervised is unconfirmed",
  },
  "Azure OpenAI": {
    factor: 1,
    source:
      "unconfirmed: assumed to follow OpenAI (billed by the training file's tokens at the supervised price)",
  },
  "Together AI": {
    factor: 2.5,
    source:
      "Together prices DPO apart from SFT (docs.together.ai/docs/fine-tuning-pricing); the 2.5× of the LoRA SFT rate is unconfirmed (together.ai/pricing, not checked here)",
  },
};

const UNKNOWN_PREFERENCE_BILLING: PreferenceBilling = {
  factor: 1,
  source: "unconfirmed: no DPO price is known for this trainer; the supervised price is assumed",
};

/** The DPO billing rule of `trainerName` (the report's): the one place the DPO estimate comes from. */
export function preferenceBilling(trainerName: string): PreferenceBilling {
  return PREFERENCE_BILLING[trainerName] ?? UNKNOWN_PREFERENCE_BILLING;
}

/** The price per million training tokens of a file of `format` at `supervisedPrice`. */
export function pricePerMillionFor(
  format: "chat" | "preference",
  supervisedPrice: number,
  trainerName: string,
): number {
  return format === "preference"
    ? Math.round(supervisedPrice * preferenceBilling(trainerName).factor * 10_000) / 10_000
    : supervisedPrice;
}
