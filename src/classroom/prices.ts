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
}
