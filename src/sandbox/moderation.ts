// The sandbox's moderation classifier: deterministic, a few words and patterns per OpenAI category, enough to
// rehearse a flagged question and to test every path, never a real safety filter. Beside the word lists, a
// rehearsal token flags a category on purpose without writing anything upsetting: "[flag:self-harm/intent]".
// Answers in OpenAI's shape (POST /v1/moderations, routes/moderations.ts).
import { OPENAI_CATEGORIES } from "../domain/moderation.ts";

/** The categories it answers: OpenAI's moderation categories, the wire names the sandbox imitates. */
export const SANDBOX_MODERATION_CATEGORIES = OPENAI_CATEGORIES;

export type SandboxCategory = (typeof SANDBOX_MODERATION_CATEGORIES)[number];

const PATTERNS: Record<SandboxCategory, RegExp[]> = {
  harassment: [/\byou(?:'re| are) (?:so )?(?:stupid|worthless|an idiot|a loser)\b/i, /\bnobody likes you\b/i],
  "harassment/threatening": [/\bi(?:'ll| will) (?:find|get|hurt) you\b/i],
  hate: [/\b(?:those|all) \w+ (?:people )?are (?:vermin|subhuman|animals)\b/i],
  "hate/threatening": [/\b(?:they|those \w+) (?:should|must) all (?:be )?(?:die|killed|wiped out)\b/i],
  illicit: [/\bhow (?:do i|to|can i) (?:shoplift|steal|hack into|buy drugs)\b/i],
  "illicit/violent": [/\bhow (?:do i|to|can i) (?:make|build) (?:a )?(?:bomb|explosive|gun)\b/i],
  "self-harm": [/\b(?:hurt|harm|cut)(?:ting)? myself\b/i, /\bself[- ]harm\b/i],
  "self-harm/intent": [/\b(?:want|going) to (?:die|end it all|kill myself)\b/i, /\bkill myself\b/i],
  "self-harm/instructions": [/\bhow (?:do i|to|can i) (?:hurt|harm|kill) myself\b/i],
  sexual: [/\bporn\w*\b/i, /\bnudes?\b/i, /\bsexting\b/i],
  // Sexual content and a minor in the same text: no words of its own.
  "sexual/minors": [],
  violence: [/\b(?:kill|stab|shoot|beat up) (?:him|her|them|you|someone|my \w+)\b/i],
  "violence/graphic": [/\bgore\b/i, /\bblood (?:everywhere|and guts)\b/i],
};

/** Words that lean towards a category without flagging it: what a guild's lower threshold catches (MILD_SCORE). */
const MILD: Partial<Record<SandboxCategory, RegExp[]>> = {
  harassment: [/\b(?:stupid|dumb|idiot)\b/i],
  violence: [/\b(?:fight|punch)\b/i],
};

const MINOR = /\b(?:child|children|kid|kids|minor|underage|\d{1,2}[- ]year[- ]old)\b/i;
const TOKEN = /\[flag:([a-z/-]+)\]/gi;

/** OpenAI flags at its own thresholds; the sandbox's matches score well above this, everything else far below. */
const MATCH_SCORE = 0.92;
const MILD_SCORE = 0.3;
const TOKEN_SCORE = 0.99;
const BASELINE = 0.0002;
const FLAG_AT = 0.5;

export interface SandboxModerationResult {
  flagged: boolean;
  categories: Record<SandboxCategory, boolean>;
  category_scores: Record<SandboxCategory, number>;
  category_applied_input_types: Record<SandboxCategory, ("text" | "image")[]>;
}

const isCategory = (s: string): s is SandboxCategory =>
  (SANDBOX_MODERATION_CATEGORIES as readonly string[]).includes(s);

/** One input's result, in the shape of OpenAI's `results[]` item. */
export function classify(text: string): SandboxModerationResult {
  const scores = Object.fromEntries(SANDBOX_MODERATION_CATEGORIES.map((c) => [c, BASELINE])) as Record<
    SandboxCategory,
    number
  >;
  for (const c of SANDBOX_MODERATION_CATEGORIES) {
    if (PATTERNS[c].some((p) => p.test(text))) scores[c] = MATCH_SCORE;
    else if (MILD[c]?.some((p) => p.test(text))) scores[c] = MILD_SCORE;
  }
  if (scores.sexual >= FLAG_AT && MINOR.test(text)) scores["sexual/minors"] = MATCH_SCORE;
  for (const m of text.matchAll(TOKEN)) {
    const c = m[1]?.toLowerCase() ?? "";
    if (isCategory(c)) scores[c] = TOKEN_SCORE;
  }
  // A subcategory implies its family ("self-harm/intent" is self-harm), as OpenAI's results show.
  for (const c of SANDBOX_MODERATION_CATEGORIES) {
    const family = c.split("/")[0] ?? c;
    if (family !== c && isCategory(family)) scores[family] = Math.max(scores[family], scores[c]);
  }
  const categories = Object.fromEntries(
    SANDBOX_MODERATION_CATEGORIES.map((c) => [c, scores[c] >= FLAG_AT]),
  ) as Record<SandboxCategory, boolean>;
  return {
    flagged: Object.values(categories).some(Boolean),
    categories,
    category_scores: scores,
    category_applied_input_types: Object.fromEntries(
      SANDBOX_MODERATION_CATEGORIES.map((c) => [c, categories[c] ? ["text"] : []]),
    ) as Record<SandboxCategory, ("text" | "image")[]>,
  };
}
