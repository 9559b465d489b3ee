// /usage and `classtune usage`: what the guild's /ask cost and who used it, over the last N days (UTC).
import type { UsageRepository, UsageRow } from "../../db/usage.ts";
import { UserError } from "../../errors.ts";

export const MAX_USAGE_DAYS = 90;
const DAY_MS = 86_400_000;

export interface UsageByModel {
  model: string;
  provider: string;
  questions: number;
  tokens: number;
  costUsd: number;
}

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
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export class UsageService {
  constructor(private readonly deps: { usage: UsageRepository; now?: () => number }) {}

  summary(guildId: string, days = 7): UsageSummary {
    if (!Number.isInteger(days) || days < 1 || days > MAX_USAGE_DAYS) {
      throw new UserError(`Days must be a whole number from 1 to ${MAX_USAGE_DAYS}.`);
    }
    const now = (this.deps.now ?? Date.now)();
    const firstDay = Math.floor(now / DAY_MS) * DAY_MS - (days - 1) * DAY_MS;
    const rows = this.deps.usage.between(
      guildId,
      new Date(firstDay).toISOString(),
      new Date(now + 1).toISOString(),
    );
    return summarise(guildId, days, firstDay, now, rows);
  }
}

/** Pure: the summary of a window's rows. */
export function summarise(
  guildId: string,
  days: number,
  firstDayMs: number,
  nowMs: number,
  rows: UsageRow[],
): UsageSummary {
  const byDay = new Map<string, UsageByDay>();
  for (let i = 0; i < days; i++) {
    const d = day(firstDayMs + i * DAY_MS);
    byDay.set(d, { day: d, questions: 0, tokens: 0, costUsd: 0, errors: 0 });
  }
  const byModel = new Map<string, UsageByModel>();
  const askers = new Map<string, number>();
  const errorCodes = new Map<string, number>();
  const latencies: number[] = [];
  let errors = 0;
  let cacheHits = 0;
  let promptTokens = 0;
  let completionTokens = 0;
  let costUsd = 0;
  for (const r of rows) {
    const tokens = r.promptTokens + r.completionTokens;
    const d = byDay.get(r.createdAt.slice(0, 10));
    if (d) {
      d.questions++;
      d.tokens += tokens;
      d.costUsd += r.costUsd;
      if (r.error) d.errors++;
    }
    const key = `${r.provider}\u0000${r.model}`;
    const m = byModel.get(key) ?? {
      model: r.model,
      provider: r.provider,
      questions: 0,
      tokens: 0,
      costUsd: 0,
    };
    m.questions++;
    m.tokens += tokens;
    m.costUsd += r.costUsd;
    byModel.set(key, m);
    askers.set(r.userId, (askers.get(r.userId) ?? 0) + 1);
    if (r.error) {
      errors++;
      errorCodes.set(r.error, (errorCodes.get(r.error) ?? 0) + 1);
    } else if (r.cacheHit) {
      cacheHits++;
    } else {
      latencies.push(r.latencyMs);
    }
    promptTokens += r.promptTokens;
    completionTokens += r.completionTokens;
    costUsd += r.costUsd;
  }
  latencies.sort((a, b) => a - b);
  const questions = rows.length;
  const answered = questions - errors;
  return {
    guildId,
    days,
    since: day(firstDayMs),
    until: new Date(nowMs).toISOString(),
    questions,
    answered,
    errors,
    cacheHits,
    promptTokens,
    completionTokens,
    totalTokens: promptTokens + completionTokens,
    costUsd,
    errorRate: questions === 0 ? 0 : errors / questions,
    cacheHitRate: answered === 0 ? 0 : cacheHits / answered,
    p50LatencyMs: latencies.length === 0 ? 0 : (latencies[Math.floor((latencies.length - 1) / 2)] ?? 0),
    byModel: [...byModel.values()].sort(
      (a, b) => b.questions - a.questions || a.model.localeCompare(b.model),
    ),
    byDay: [...byDay.values()],
    topAskers: [...askers.entries()]
      .map(([userId, n]) => ({ userId, questions: n }))
      .sort((a, b) => b.questions - a.questions || a.userId.localeCompare(b.userId))
      .slice(0, 5),
    errorsByCode: [...errorCodes.entries()]
      .map(([code, count]) => ({ code, count }))
      .sort((a, b) => b.count - a.count || a.code.localeCompare(b.code)),
  };
}

const usd = (n: number) => (n === 0 ? "$0" : n < 0.01 ? `$${n.toFixed(4)}` : `$${n.toFixed(2)}`);
const pct = (n: number) => `${(n * 100).toFixed(1)}%`;

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
        `  ${m.model} (${m.provider}): ${m.questions} questions, ${m.tokens} tokens, ${usd(m.costUsd)}`,
      );
    }
  }
  lines.push("", "By day:");
  for (const d of s.byDay) {
    lines.push(
      `  ${d.day}  ${String(d.questions).padStart(5)} questions  ${String(d.tokens).padStart(8)} tokens  ${usd(d.costUsd)}${d.errors ? `  ${d.errors} errors` : ""}`,
    );
  }
  if (s.topAskers.length > 0) {
    lines.push("", "Most active askers:");
    for (const a of s.topAskers) lines.push(`  ${a.userId}: ${a.questions}`);
  }
  if (s.errorsByCode.length > 0) {
    lines.push("", `Errors: ${s.errorsByCode.map((e) => `${e.code} ×${e.count}`).join(", ")}`);
  }
  return lines.join("\n");
}
