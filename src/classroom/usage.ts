// /usage and `classtune usage`: what the guild's /ask cost and who used it, over the last N days (UTC).
import type { HostingRepository, HostingUsage } from "../db/hosting.ts";
import type { ModerationCounts, ModerationRepository } from "../db/moderation.ts";
import type { UsageAggregate, UsageRepository } from "../db/usage.ts";
import { UserError } from "../domain/errors.ts";

export const MAX_USAGE_DAYS = 90;
const DAY_MS = 86_400_000;

/** Per model: questions, tokens, cost, and `truncated`, the answers cut at max_tokens (many: the limit is too low). */
export type UsageByModel = UsageAggregate["byModel"][number];

/** ", 3 cut at max-tokens" when any answer of the model was cut, else "". */
export const cutWords = (m: Pick<UsageByModel, "truncated">): string =>
  m.truncated > 0 ? `, ${m.truncated} cut at max-tokens` : "";

export interface UsageByDay {
  /** YYYY-MM-DD (UTC). */
  day: string;
  questions: number;
  tokens: number;
  costUsd: number;
  errors: number;
}

export interface UsageSummary {
  guildId: string;
  days: number;
  /** First day counted, YYYY-MM-DD (UTC); the window ends now. */
  since: string;
  until: string;
  /** Every /ask that reached a model or the cache, answered or not. */
  questions: number;
  answered: number;
  errors: number;
  cacheHits: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  costUsd: number;
  /** errors / questions (0 when there were none). */
  errorRate: number;
  /** cacheHits / answered (0 when none were answered). */
  cacheHitRate: number;
  /** Median latency of answers that reached a model (cache hits excluded), ms. */
  p50LatencyMs: number;
  byModel: UsageByModel[];
  /** Every day of the window, oldest first, zero-filled. */
  byDay: UsageByDay[];
  /** The five most active askers. */
  topAskers: { userId: string; questions: number }[];
  /** Answers by error code. */
  errorsByCode: { code: string; count: number }[];
  /** Hosting billed while it runs (dedicated endpoints) in the window: minutes and cost, per model. */
  hosting: HostingUsage;
  /**
   * Of `questions`, those counted from anonymous daily aggregates: days past DATA_RETENTION_DAYS whose rows were
   * deleted. They are in every total, day and model, but not in topAskers or p50LatencyMs.
   */
  anonymousQuestions: number;
  /** Questions flagged (never sent), answers withheld, and checks moderation could not make. */
  moderation: ModerationCounts;
}

const NO_HOSTING: HostingUsage = { minutes: 0, costUsd: 0, byModel: [] };
const NO_MODERATION: ModerationCounts = { flaggedQuestions: 0, flaggedAnswers: 0, unavailable: 0 };

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The first instant of an N-day window that ends now, today (UTC) included: what "last N days" means here. */
export function windowStartMs(nowMs: number, days: number): number {
  return Math.floor(nowMs / DAY_MS) * DAY_MS - (days - 1) * DAY_MS;
}

export class UsageService {
  constructor(
    private readonly deps: {
      usage: UsageRepository;
      /** Billed hosting's sessions; unset: no hosting counted. */
      hosting?: Pick<HostingRepository, "usage"> | undefined;
      /** The moderation verdicts (migration 009), counted over the same window. */
      verdicts?: ModerationRepository | undefined;
      now?: () => number;
    },
  ) {}

  async summary(guildId: string, days = 7): Promise<UsageSummary> {
    if (!Number.isInteger(days) || days < 1 || days > MAX_USAGE_DAYS) {
      throw new UserError(`Days must be a whole number from 1 to ${MAX_USAGE_DAYS}.`);
    }
    const now = (this.deps.now ?? Date.now)();
    const firstDay = windowStartMs(now, days);
    const since = new Date(firstDay).toISOString();
    const until = new Date(now + 1).toISOString();
    const agg = await this.deps.usage.aggregate(guildId, since, until);
    const hosting =
      (await this.deps.hosting?.usage(guildId, new Date(firstDay), new Date(now))) ?? NO_HOSTING;
    const moderation = (await this.deps.verdicts?.counts(guildId, since, until)) ?? NO_MODERATION;
    return summarise(guildId, days, firstDay, now, agg, hosting, moderation);
  }
}

/** Pure: the summary of a window, from the aggregate SQLite summed (days zero-filled, rates derived). */
export function summarise(
  guildId: string,
  days: number,
  firstDayMs: number,
  nowMs: number,
  agg: UsageAggregate,
  hosting: HostingUsage = NO_HOSTING,
  moderation: ModerationCounts = NO_MODERATION,
): UsageSummary {
  const byDay = new Map<string, UsageByDay>();
  for (let i = 0; i < days; i++) {
    const d = day(firstDayMs + i * DAY_MS);
    byDay.set(d, { day: d, questions: 0, tokens: 0, costUsd: 0, errors: 0 });
  }
  for (const d of agg.byDay) if (byDay.has(d.day)) byDay.set(d.day, { ...d });
  const answered = agg.questions - agg.errors;
  return {
    guildId,
    days,
    since: day(firstDayMs),
    until: new Date(nowMs).toISOString(),
    questions: agg.questions,
    answered,
    errors: agg.errors,
    cacheHits: agg.cacheHits,
    promptTokens: agg.promptTokens,
    completionTokens: agg.completionTokens,
    totalTokens: agg.promptTokens + agg.completionTokens,
    costUsd: agg.costUsd,
    errorRate: agg.questions === 0 ? 0 : agg.errors / agg.questions,
    cacheHitRate: answered === 0 ? 0 : agg.cacheHits / answered,
    p50LatencyMs: agg.p50LatencyMs,
    byModel: agg.byModel,
    byDay: [...byDay.values()],
    topAskers: agg.topAskers,
    errorsByCode: agg.errorsByCode,
    hosting,
    anonymousQuestions: agg.anonymousQuestions,
    moderation,
  };
}

/** "2 questions flagged · 1 answer withheld · 0 checks unavailable", or undefined when there were none. */
export function moderationLine(m: ModerationCounts): string | undefined {
  if (m.flaggedQuestions + m.flaggedAnswers + m.unavailable === 0) return undefined;
  const n = (k: number, one: string, many: string) => `${k} ${k === 1 ? one : many}`;
  return [
    n(m.flaggedQuestions, "question flagged", "questions flagged"),
    n(m.flaggedAnswers, "answer withheld", "answers withheld"),
    n(m.unavailable, "check unavailable", "checks unavailable"),
  ].join(" · ");
}

const usd = (n: number) => (n === 0 ? "$0" : n < 0.01 ? `$${n.toFixed(4)}` : `$${n.toFixed(2)}`);
const pct = (n: number) => `${(n * 100).toFixed(1)}%`;

/** Why some questions have no asker: their days are past the retention window, kept only as anonymous totals. */
export function anonymousNote(s: UsageSummary): string {
  return `${s.anonymousQuestions} question(s) are from days past the retention window (DATA_RETENTION_DAYS): counted from anonymous daily totals, without askers or latency.`;
}

/** Plain-text summary for the terminal (and a code block in Discord). */
export function formatUsageText(s: UsageSummary): string {
  const lines = [
    `Usage for guild ${s.guildId}, ${s.since} → ${s.until.slice(0, 10)} (${s.days} day${s.days === 1 ? "" : "s"}, UTC)`,
    `Questions ${s.questions} · answered ${s.answered} · errors ${s.errors} (${pct(s.errorRate)}) · cache hits ${s.cacheHits} (${pct(s.cacheHitRate)})`,
    `Tokens ${s.totalTokens} (prompt ${s.promptTokens}, completion ${s.completionTokens}) · estimated cost ${usd(s.costUsd)} · median latency ${s.p50LatencyMs} ms`,
  ];
  if (s.byModel.length > 0) {
    lines.push("", "By model:");
    for (const m of s.byModel) {
      lines.push(
        `  ${m.model} (${m.provider}): ${m.questions} questions, ${m.tokens} tokens, ${usd(m.costUsd)}${cutWords(m)}`,
      );
    }
  }
  lines.push("", "By day:");
  for (const d of s.byDay) {
    lines.push(
      `  ${d.day}  ${String(d.questions).padStart(5)} questions  ${String(d.tokens).padStart(8)} tokens  ${usd(d.costUsd)}${d.errors ? `  ${d.errors} errors` : ""}`,
    );
  }
  if (s.anonymousQuestions > 0) lines.push("", anonymousNote(s));
  if (s.topAskers.length > 0) {
    lines.push("", "Most active askers:");
    for (const a of s.topAskers) lines.push(`  ${a.userId}: ${a.questions}`);
  }
  if (s.errorsByCode.length > 0) {
    lines.push("", `Errors: ${s.errorsByCode.map((e) => `${e.code} ×${e.count}`).join(", ")}`);
  }
  if (s.hosting.minutes > 0) {
    lines.push(
      "",
      `Hosting billed while it runs: ${s.hosting.minutes} min, estimated ${usd(s.hosting.costUsd)}`,
    );
    for (const m of s.hosting.byModel) {
      lines.push(`  ${m.model} (${m.provider}): ${m.minutes} min, ${usd(m.costUsd)}`);
    }
  }
  const moderated = moderationLine(s.moderation);
  if (moderated) lines.push("", `Moderation: ${moderated}`);
  return lines.join("\n");
}
