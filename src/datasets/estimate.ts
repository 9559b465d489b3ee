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
