// The chat price table (data/chat-prices.json): estimates what an answer cost, for the daily spend cap.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";

const rate = z.object({ input: z.number().min(0), output: z.number().min(0) });
const priceFile = z.object({
  asOf: z.string(),
  models: z.record(z.string(), rate.extend({ fineTuned: rate })),
});

export type ChatPriceFile = z.infer<typeof priceFile>;

export const defaultChatPricesPath = fileURLToPath(new URL("../../data/chat-prices.json", import.meta.url));

export interface ChatPrice {
  /** USD per 1M prompt tokens. */
  input: number;
  /** USD per 1M completion tokens. */
  output: number;
}

const FREE: ChatPrice = { input: 0, output: 0 };

export class ChatPriceTable {
  /** Longest family first, so gpt-4o-mini wins over gpt-4o. */
  private readonly families: string[];

  constructor(readonly file: ChatPriceFile) {
    this.families = Object.keys(file.models).sort((a, b) => b.length - a.length);
  }

  static load(path = defaultChatPricesPath): ChatPriceTable {
    return new ChatPriceTable(priceFile.parse(JSON.parse(readFileSync(path, "utf8"))));
  }

  get asOf(): string {
    return this.file.asOf;
  }

  /** The priced family of a model id (`ft:gpt-4o-mini-2024-07-18:org::id` → gpt-4o-mini), if any. */
  family(model: string): string | undefined {
    const base = model.startsWith("ft:") ? (model.split(":")[1] ?? "") : model;
    return this.families.find((f) => base === f || base.startsWith(`${f}-`));
  }

  /** True for a base model id this table knows (a family or one of its snapshots), not a fine-tune. */
  isBaseModel(model: string): boolean {
    return !model.startsWith("ft:") && this.family(model) !== undefined;
  }

  price(model: string): ChatPrice {
    const family = this.family(model);
    const entry = family === undefined ? undefined : this.file.models[family];
    if (!entry) return FREE;
    return model.startsWith("ft:") ? entry.fineTuned : { input: entry.input, output: entry.output };
  }

  /** Estimated USD for one answer. */
  cost(model: string, promptTokens: number, completionTokens: number): number {
    const p = this.price(model);
    return (promptTokens * p.input + completionTokens * p.output) / 1_000_000;
  }

  /**
   * The most one question can cost before it is asked (what the daily cap reserves while it is in flight):
   * its prompt at most promptTokensAtMost, and the longest answer max_tokens allows.
   */
  estimate(model: string, messages: readonly string[], maxTokens: number): number {
    return this.cost(model, promptTokensAtMost(messages), maxTokens);
  }
}

// The chat format's own tokens around each message and before the answer (OpenAI counts 3 and 3; margin kept).
const TOKENS_PER_MESSAGE = 8;
const TOKENS_PER_PROMPT = 8;

/**
 * An upper bound on the prompt tokens of these messages for any byte-level tokenizer (OpenAI's, Llama's):
 * a token is at least one UTF-8 byte. Cheap, no tokenizer to load, and never below the provider's count.
 */
export function promptTokensAtMost(messages: readonly string[]): number {
  let tokens = TOKENS_PER_PROMPT;
  for (const m of messages) tokens += Buffer.byteLength(m, "utf8") + TOKENS_PER_MESSAGE;
  return tokens;
}
