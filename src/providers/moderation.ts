// The Moderator port: what classtune asks of a moderation provider, in classtune's own verdict shape. The
// implementations: openai (POST /v1/moderations through the openai SDK: OpenAI itself, or the sandbox's word-list
// classifier at the same path), guard (a guard model such as Llama Guard 4 on any chat provider) and off.
// Built from the configuration by providers/moderators.ts.
import {
  type CategoryScore,
  type ModerationCategory,
  type ModerationTarget,
  SEVERE_CATEGORIES,
} from "../domain/moderation.ts";

export interface ModerationInput {
  /** The text to classify. */
  text: string;
  /** A question, or a model's answer (a guard model classifies an answer as the reply to its question). */
  target: ModerationTarget;
  /** For an answer: the question it answers. */
  question?: string | undefined;
}

export interface ModerationVerdict {
  /** The provider's own decision (a guild may tighten it with a threshold: classroom/moderation.ts). */
  flagged: boolean;
  /** The categories the provider flagged, highest score first. */
  flaggedCategories: CategoryScore[];
  /** Every category it scored (OpenAI: all of them; a guard model: the ones it named), highest first. */
  scores: CategoryScore[];
  /** Which moderator judged: "openai", "sandbox", "guard:<chat provider>". */
  provider: string;
  /** The model that judged, as the provider named it. */
  model: string;
  /** A flagged category is severe (isSevere). */
  severe: boolean;
}

export interface Moderator {
  /** "openai" | "sandbox" | "guard" | "off". */
  readonly kind: "openai" | "sandbox" | "guard" | "off";
  /** The provider and model, for the logs and /config: never a key. */
  readonly describe: string;
  /** Throws ModerationUnavailableError when it cannot judge (down, refused, an answer it cannot read). */
  moderate(input: ModerationInput): Promise<ModerationVerdict>;
}

/** The moderator could not give a verdict: the MODERATION_FAIL policy decides what happens to the text. */
export class ModerationUnavailableError extends Error {
  constructor(
    message: string,
    /** A short code for logs and usage rows: "timeout", "connection", "http_503", "unreadable", … */
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ModerationUnavailableError";
  }
}

/** Whether any of these categories is severe (the one list: domain/moderation.ts SEVERE_CATEGORIES). */
export const isSevere = (categories: readonly { category: ModerationCategory }[]): boolean =>
  categories.some((c) => SEVERE_CATEGORIES.has(c.category));

/** Highest score first, then by name, so verdicts compare and render the same every time. */
export const byScore = (a: CategoryScore, b: CategoryScore): number =>
  b.score - a.score || a.category.localeCompare(b.category);

/** MODERATION_PROVIDER=off: nothing is checked (the classroom records answers as unchecked). */
export class OffModerator implements Moderator {
  readonly kind = "off" as const;
  readonly describe = "off";
  async moderate(): Promise<ModerationVerdict> {
    return {
      flagged: false,
      flaggedCategories: [],
      scores: [],
      provider: "off",
      model: "none",
      severe: false,
    };
  }
}
