// The guard Moderator: a guard model (Llama Guard 4 style) on any OpenAI-compatible chat provider. The
// conversation goes as chat messages (the server's chat template wraps it in the guard's policy); the model
// answers "safe", or "unsafe" and a line of category codes ("unsafe\nS1,S10"), mapped here to classtune's
// categories. A guard names categories without a confidence: each named one scores 1.
import type { ModerationCategory } from "../domain/moderation.ts";
import type { Logger } from "../logger.ts";
import {
  byScore,
  isSevere,
  type ModerationInput,
  ModerationUnavailableError,
  type ModerationVerdict,
  type Moderator,
} from "./moderation.ts";
import type { ChatInput, ChatResult } from "./types.ts";

export const DEFAULT_GUARD_MODEL = "meta-llama/Llama-Guard-4-12B";

/**
 * Llama Guard 4's hazard categories (the MLCommons taxonomy), as listed on its model card
 * (huggingface.co/meta-llama/Llama-Guard-4-12B, "Hazard Taxonomy and Policy"), and the classtune category each
 * maps to: the one table of guard codes.
 */
export const LLAMA_GUARD_4_CATEGORIES: Readonly<Record<string, { name: string; maps: ModerationCategory }>> =
  {
    S1: { name: "Violent Crimes", maps: "violence" },
    S2: { name: "Non-Violent Crimes", maps: "illicit" },
    S3: { name: "Sex-Related Crimes", maps: "sexual" },
    S4: { name: "Child Sexual Exploitation", maps: "sexual/minors" },
    S5: { name: "Defamation", maps: "defamation" },
    S6: { name: "Specialized Advice", maps: "specialized-advice" },
    S7: { name: "Privacy", maps: "privacy" },
    S8: { name: "Intellectual Property", maps: "intellectual-property" },
    S9: { name: "Indiscriminate Weapons", maps: "illicit/violent" },
    S10: { name: "Hate", maps: "hate" },
    S11: { name: "Suicide & Self-Harm", maps: "self-harm" },
    S12: { name: "Sexual Content", maps: "sexual" },
    S13: { name: "Elections", maps: "elections" },
    S14: { name: "Code Interpreter Abuse", maps: "code-interpreter-abuse" },
  };

/** "safe" → []; "unsafe\nS1,S10" → the mapped categories; anything else → undefined (unreadable). */
export function parseGuardReply(
  reply: string,
): { flagged: boolean; categories: ModerationCategory[] } | undefined {
  const lines = reply
    .trim()
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const [first, second] = lines;
  const verdict = first?.toLowerCase();
  if (verdict === "safe") return { flagged: false, categories: [] };
  if (verdict !== "unsafe") return undefined;
  const categories = new Set<ModerationCategory>();
  for (const code of (second ?? "").split(/[\s,]+/).filter(Boolean)) {
    const entry = LLAMA_GUARD_4_CATEGORIES[code.toUpperCase()];
    if (!entry) return undefined;
    categories.add(entry.maps);
  }
  return { flagged: true, categories: [...categories] };
}

export interface GuardModeratorOptions {
  /** The chat provider's name (in verdicts: "guard:<name>"). */
  providerName: string;
  model: string;
  /** The chat provider's chat call. */
  chat: (input: ChatInput) => Promise<ChatResult>;
  logger: Logger;
}

export class GuardModerator implements Moderator {
  readonly kind = "guard" as const;
  readonly describe: string;

  constructor(private readonly options: GuardModeratorOptions) {
    this.describe = `guard ${options.model} at ${options.providerName}`;
  }

  async moderate(input: ModerationInput): Promise<ModerationVerdict> {
    const messages: ChatInput["messages"] =
      input.target === "answer"
        ? [
            { role: "user", content: input.question ?? "" },
            { role: "assistant", content: input.text },
          ]
        : [{ role: "user", content: input.text }];
    let reply: ChatResult;
    try {
      reply = await this.options.chat({ model: this.options.model, messages, temperature: 0, maxTokens: 20 });
    } catch (err) {
      const code = (err as { status?: number }).status
        ? `http_${(err as { status: number }).status}`
        : "error";
      this.options.logger.warn(
        { moderator: "guard", provider: this.options.providerName, code, err },
        "moderation unavailable",
      );
      throw new ModerationUnavailableError(`the guard model could not be reached (${code})`, code, {
        cause: err,
      });
    }
    const parsed = parseGuardReply(reply.text);
    if (!parsed) {
      this.options.logger.warn(
        { moderator: "guard", provider: this.options.providerName, reply: reply.text.slice(0, 200) },
        "guard model answered neither safe nor unsafe with known codes",
      );
      throw new ModerationUnavailableError("the guard model's answer could not be read", "unreadable");
    }
    const flaggedCategories = parsed.categories.map((category) => ({ category, score: 1 })).sort(byScore);
    return {
      flagged: parsed.flagged,
      flaggedCategories,
      scores: flaggedCategories,
      provider: `guard:${this.options.providerName}`,
      model: reply.model || this.options.model,
      severe: isSevere(flaggedCategories),
    };
  }
}
