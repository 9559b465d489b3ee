// classtune's own moderation vocabulary: the categories a verdict names (OpenAI's thirteen, the richest public
// list, plus the guard-model hazards OpenAI has no name for), which of them are severe, which mean "find help",
// and the shapes a verdict is stored and announced in. Providers map their own codes onto these
// (providers/moderationOpenAI.ts, providers/moderationGuard.ts); the classroom decides with them.

/** OpenAI's moderation categories (omni-moderation-latest), by their wire names. */
export const OPENAI_CATEGORIES = [
  "harassment",
  "harassment/threatening",
  "hate",
  "hate/threatening",
  "illicit",
  "illicit/violent",
  "self-harm",
  "self-harm/intent",
  "self-harm/instructions",
  "sexual",
  "sexual/minors",
  "violence",
  "violence/graphic",
] as const;

/** Hazards a guard model (Llama Guard 4) names that OpenAI's list has no category for. */
export const GUARD_ONLY_CATEGORIES = [
  "defamation",
  "specialized-advice",
  "privacy",
  "intellectual-property",
  "elections",
  "code-interpreter-abuse",
] as const;

export const MODERATION_CATEGORIES = [...OPENAI_CATEGORIES, ...GUARD_ONLY_CATEGORIES] as const;
export type ModerationCategory = (typeof MODERATION_CATEGORIES)[number];

export const isModerationCategory = (s: string): s is ModerationCategory =>
  (MODERATION_CATEGORIES as readonly string[]).includes(s);

/**
 * The one list of severe categories (self-harm, violence, sexual content involving minors): an alert about one
 * of these is marked severe, so it can go to a safety channel and role as well (a later slice of issue 12).
 */
export const SEVERE_CATEGORIES: ReadonlySet<ModerationCategory> = new Set<ModerationCategory>([
  "self-harm",
  "self-harm/intent",
  "self-harm/instructions",
  "violence",
  "violence/graphic",
  "sexual/minors",
]);

/** The categories after which a student is told where to find help (MODERATION_HELP_TEXT), not just refused. */
export const SELF_HARM_CATEGORIES: ReadonlySet<ModerationCategory> = new Set<ModerationCategory>([
  "self-harm",
  "self-harm/intent",
  "self-harm/instructions",
]);

export interface CategoryScore {
  category: ModerationCategory;
  /** 0..1: the provider's confidence (a guard model names categories without a score: 1). */
  score: number;
}

/** What was checked: the student's question, or the model's answer to it. */
export type ModerationTarget = "question" | "answer";

/**
 * How a check ended, as rows and notices record it: passed; flagged (not sent, or not shown); unavailable
 * (the moderator could not answer: refused under MODERATION_FAIL=closed, answered unchecked under open).
 */
export type ModerationOutcome = "passed" | "flagged" | "unavailable";

export type ModerationFailPolicy = "closed" | "open";
