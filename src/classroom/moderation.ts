// The moderation step of /ask: every question is checked before it reaches the model or the cache, every answer
// before it is posted. Decides what the student sees (a calm refusal, the school's help text for self-harm, a
// neutral message for a withheld answer, "try again shortly" while moderation is down under MODERATION_FAIL=
// closed), stores each verdict, and enqueues the teachers' alert in the same transaction (one per verdict, by its
// dedupe key). The ask service calls it at three points and knows nothing else about moderation.
import type { ModerationConfig } from "../config.ts";
import type { AnswerModeration } from "../db/answers.ts";
import type { GuildSettings } from "../db/guildSettings.ts";
import type { ModerationRepository, NewVerdict } from "../db/moderation.ts";
import type { OutboxRepository } from "../db/outbox.ts";
import type { Queryable, Store } from "../db/query/store.ts";
import {
  type CategoryScore,
  type ModerationFailPolicy,
  type ModerationTarget,
  SELF_HARM_CATEGORIES,
} from "../domain/moderation.ts";
import { noticeKey } from "../domain/notices.ts";
import type { Logger } from "../logger.ts";
import {
  byScore,
  isSevere,
  ModerationUnavailableError,
  type ModerationVerdict,
  type Moderator,
} from "../providers/moderation.ts";

/** Who asked, where: what every verdict row and alert names. */
export interface ModerationSubject {
  guildId: string;
  channelId: string;
  userId: string;
}

/** A guild's tightening (a later `/config safety`): these categories (all when empty) flag from this score. */
export interface GuildModerationPolicy {
  categories: readonly string[];
  threshold: number;
}

/** The tightening a guild's settings set (`/config safety`); undefined when they set none. */
export function policyOf(
  s: Pick<GuildSettings, "safetyThreshold" | "safetyCategories">,
): GuildModerationPolicy | undefined {
  return s.safetyThreshold === null
    ? undefined
    : { categories: s.safetyCategories, threshold: s.safetyThreshold };
}

/** The decision on one verdict: flagged, by which categories (highest first), and whether severely. */
export interface Decision {
  flagged: boolean;
  categories: CategoryScore[];
  severe: boolean;
}

/**
 * Pure: the provider's flag, tightened by the guild's policy when it has one (a guild can only add flags,
 * never lift the provider's).
 */
export function decide(verdict: ModerationVerdict, policy?: GuildModerationPolicy | undefined): Decision {
  const byName = new Map(verdict.flaggedCategories.map((c) => [c.category, c]));
  if (policy) {
    for (const s of verdict.scores) {
      const chosen = policy.categories.length === 0 || policy.categories.includes(s.category);
      if (chosen && s.score >= policy.threshold) byName.set(s.category, s);
    }
  }
  const categories = [...byName.values()].sort(byScore);
  const flagged = verdict.flagged || categories.length > 0;
  return { flagged, categories, severe: verdict.severe || isSevere(categories) };
}

/** What happens to a question. */
export type QuestionScreening =
  | {
      kind: "pass";
      /** passed: checked and clean; unchecked: moderation off, or down under MODERATION_FAIL=open. */
      status: "passed" | "unchecked";
      /** The verdict, stored with the answer once there is one. */
      verdict: ModerationVerdict | undefined;
    }
  | {
      kind: "refuse";
      reason: "moderation_flagged" | "moderation_unavailable";
      /** What the student reads. */
      message: string;
      /** Whether the teachers' alert was enqueued by this call. */
      teachersAlerted: boolean;
    };

/** What happens to an answer. */
export interface AnswerScreening {
  status: AnswerModeration;
  /** Not shown to the student: flagged, or unchecked while moderation is down under MODERATION_FAIL=closed. */
  withheld: boolean;
  /** What the student reads: the answer, or the message in its place. */
  shown: string;
  verdict: ModerationVerdict | undefined;
  /** Why moderation could not judge it. */
  error: string | undefined;
  /** A severe flag's safety route, read before the answer's transaction (recordAnswered alerts along it). */
  route?: SafetyRoute | undefined;
}

export interface ModerationGateDeps {
  moderator: Moderator;
  fail: ModerationFailPolicy;
  messages: ModerationConfig["messages"];
  store: Store;
  verdicts: ModerationRepository;
  outbox: OutboxRepository;
  logger: Logger;
  now?: () => number;
  /**
   * A guild's tightening, when it set one (`/config safety`): from its settings when the caller already read them
   * for this question, else read now.
   */
  policyFor?: (guildId: string, settings?: GuildSettings) => Promise<GuildModerationPolicy | undefined>;
  /** Where a guild's severe alerts go beside the teachers' channel, and the role they ping (`/config safety-*`). */
  routeFor?: (guildId: string) => Promise<SafetyRoute>;
}

/** A guild's safety channel and role; either may be unset. */
export interface SafetyRoute {
  channelId: string | null;
  roleId: string | null;
}

const ANSWER_UNAVAILABLE =
  "The safety check is not available right now, so this answer can't be shown. Please try again shortly.";

const topOf = (v: ModerationVerdict | undefined) => v?.scores[0] ?? v?.flaggedCategories[0];

export class ModerationGate {
  private readonly now: () => number;

  constructor(private readonly deps: ModerationGateDeps) {
    this.now = deps.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.deps.moderator.kind !== "off";
  }

  /** Whether an answer may be cached: it passed, or nothing is checked. A cache hit is not checked again. */
  cacheable(s: AnswerScreening): boolean {
    return s.status === "passed" || !this.enabled;
  }

  /**
   * Runs `fn` in one transaction (the answer's rows, its verdicts and any alert commit together); `tx` is for
   * recordAnswered.
   */
  transaction<T>(fn: (tx: Queryable) => T | Promise<T>): Promise<T> {
    return this.deps.store.transaction(async (tx) => fn(tx));
  }

  /**
   * The guild's tightening for one question, decided once and passed to screenQuestion, screenAnswer and
   * recordAnswered (the settings the caller read for the question, when it has them): one question, one policy.
   */
  async policy(guildId: string, settings?: GuildSettings): Promise<GuildModerationPolicy | undefined> {
    if (!this.enabled) return undefined;
    return this.deps.policyFor?.(guildId, settings);
  }

  async screenQuestion(
    subject: ModerationSubject,
    question: string,
    policy: GuildModerationPolicy | undefined,
  ): Promise<QuestionScreening> {
    if (!this.enabled) return { kind: "pass", status: "unchecked", verdict: undefined };
    let verdict: ModerationVerdict;
    try {
      verdict = await this.deps.moderator.moderate({ text: question, target: "question" });
    } catch (err) {
      const code = this.unavailableCode(err);
      await this.recordUnavailable(subject, "question", code);
      if (this.deps.fail === "open") return { kind: "pass", status: "unchecked", verdict: undefined };
      return {
        kind: "refuse",
        reason: "moderation_unavailable",
        message: this.deps.messages.unavailable,
        teachersAlerted: false,
      };
    }
    const decision = decide(verdict, policy);
    if (!decision.flagged) return { kind: "pass", status: "passed", verdict };
    const selfHarm = decision.categories.some((c) => SELF_HARM_CATEGORIES.has(c.category));
    const route = await this.routeOf(subject.guildId, decision);
    const teachersAlerted = await this.transaction(async (tx) => {
      const verdictId = await this.deps.verdicts.in(tx).insert(
        this.row(subject, "question", "flagged", verdict, decision, {
          answerId: null,
          flaggedText: question,
        }),
      );
      return this.alert(tx, subject, verdictId, verdict, decision, route, {
        target: "question",
        question,
        answer: null,
        answerId: null,
        studentSaw: selfHarm ? "help" : "refusal",
      });
    });
    return {
      kind: "refuse",
      reason: "moderation_flagged",
      message: selfHarm ? this.deps.messages.help : this.deps.messages.refusal,
      teachersAlerted,
    };
  }

  /**
   * A teacher's correction before it is saved (it becomes training data): why it may not be saved, or null. Flagged:
   * refused, with the categories; moderation down: refused under `closed`, saved under `open`. No alert: the author
   * is a teacher, who reads the reason at once.
   */
  async screenCorrection(guildId: string, text: string): Promise<string | null> {
    if (!this.enabled) return null;
    let verdict: ModerationVerdict;
    try {
      verdict = await this.deps.moderator.moderate({ text, target: "answer" });
    } catch (err) {
      this.deps.logger.warn({ err, guildId }, "moderation unavailable for a correction");
      return this.deps.fail === "open"
        ? null
        : "The safety check is not available right now, so the correction was not saved. Please try again shortly.";
    }
    const decision = decide(verdict, await this.deps.policyFor?.(guildId));
    if (!decision.flagged) return null;
    const categories = decision.categories.map((c) => c.category).join(", ") || "unspecified";
    return `Moderation flagged this correction (${categories}), so it was not saved: corrections become training data for the class's model. Rephrase it and save it again.`;
  }

  async screenAnswer(
    question: string,
    answer: string,
    subject: ModerationSubject,
    policy: GuildModerationPolicy | undefined,
  ): Promise<AnswerScreening> {
    if (!this.enabled) {
      return { status: "unchecked", withheld: false, shown: answer, verdict: undefined, error: undefined };
    }
    try {
      const verdict = await this.deps.moderator.moderate({ text: answer, target: "answer", question });
      const decision = decide(verdict, policy);
      return decision.flagged
        ? {
            status: "flagged",
            withheld: true,
            shown: this.deps.messages.withheld,
            verdict,
            error: undefined,
            route: await this.routeOf(subject.guildId, decision),
          }
        : { status: "passed", withheld: false, shown: answer, verdict, error: undefined };
    } catch (err) {
      const code = this.unavailableCode(err);
      const withheld = this.deps.fail === "closed";
      return {
        status: "unchecked",
        withheld,
        shown: withheld ? ANSWER_UNAVAILABLE : answer,
        verdict: undefined,
        error: code,
      };
    }
  }

  /**
   * Stores the verdicts of an answered question (its question's, its answer's) against the answer row, and
   * alerts the teachers when the answer was flagged. Called inside the transaction that wrote the answer (`tx`,
   * this gate's transaction()).
   */
  async recordAnswered(
    tx: Queryable,
    subject: ModerationSubject,
    answerId: number,
    question: { text: string; screening: QuestionScreening | undefined },
    answer: { text: string; screening: AnswerScreening | undefined },
    policy: GuildModerationPolicy | undefined,
  ): Promise<void> {
    if (!this.enabled) return;
    const verdicts = this.deps.verdicts.in(tx);
    const q = question.screening;
    if (q?.kind === "pass" && q.verdict) {
      const d = decide(q.verdict, policy);
      await verdicts.insert(
        this.row(subject, "question", "passed", q.verdict, d, { answerId, flaggedText: null }),
      );
    }
    const a = answer.screening;
    if (!a) return;
    if (a.error !== undefined) {
      await this.writeUnavailable(tx, subject, "answer", a.error, answerId);
      return;
    }
    if (!a.verdict) return;
    const d = decide(a.verdict, policy);
    const verdictId = await verdicts.insert(
      this.row(subject, "answer", d.flagged ? "flagged" : "passed", a.verdict, d, {
        answerId,
        flaggedText: null,
      }),
    );
    if (d.flagged) {
      await this.alert(tx, subject, verdictId, a.verdict, d, a.route, {
        target: "answer",
        question: question.text,
        answer: answer.text,
        answerId,
        studentSaw: "withheld",
      });
    }
  }

  private row(
    subject: ModerationSubject,
    target: ModerationTarget,
    outcome: "passed" | "flagged",
    verdict: ModerationVerdict,
    decision: Decision,
    extra: { answerId: number | null; flaggedText: string | null },
  ): NewVerdict {
    const top = topOf(verdict);
    return {
      ...subject,
      answerId: extra.answerId,
      target,
      outcome,
      provider: verdict.provider,
      model: verdict.model,
      categories: decision.flagged ? decision.categories : [],
      topCategory: top?.category ?? null,
      topScore: top?.score ?? null,
      severe: decision.flagged && decision.severe,
      error: null,
      flaggedText: extra.flaggedText,
      createdAt: new Date(this.now()).toISOString(),
    };
  }

  /**
   * A severe flag's safety route (undefined for any other decision), read before the transaction that alerts:
   * guild settings are read on the store, which waits for its own transaction's end.
   */
  private async routeOf(guildId: string, decision: Decision): Promise<SafetyRoute | undefined> {
    return decision.severe ? this.deps.routeFor?.(guildId) : undefined;
  }

  /** One alert per verdict (its dedupe key): true when this call enqueued it. */
  private async alert(
    tx: Queryable,
    subject: ModerationSubject,
    verdictId: number,
    verdict: ModerationVerdict,
    decision: Decision,
    route: SafetyRoute | undefined,
    what: {
      target: ModerationTarget;
      question: string;
      answer: string | null;
      answerId: number | null;
      studentSaw: "refusal" | "help" | "withheld";
    },
  ): Promise<boolean> {
    const now = new Date(this.now());
    const payload = {
      verdictId,
      ...what,
      userId: subject.userId,
      channelId: subject.channelId,
      categories: decision.categories,
      severe: decision.severe,
      provider: verdict.provider,
      model: verdict.model,
    };
    // A severe alert also goes to the safety channel, pinging the safety role there (or, without a safety channel,
    // in the teachers' channel): the only role classtune ever pings, and only when a server admin set it.
    const safetyChannel = route?.channelId ?? null;
    const role = route?.roleId ?? null;
    const enqueued = await this.deps.outbox.in(tx).enqueue(
      {
        guildId: subject.guildId,
        channelId: null,
        kind: "moderation_flagged",
        payload: { ...payload, pingRoleId: safetyChannel === null ? role : null },
        dedupeKey: noticeKey.moderationFlagged(verdictId),
      },
      now,
    );
    if (safetyChannel !== null) {
      await this.deps.outbox.in(tx).enqueue(
        {
          guildId: subject.guildId,
          channelId: safetyChannel,
          kind: "moderation_flagged",
          payload: { ...payload, pingRoleId: role, safetyCopy: true },
          dedupeKey: noticeKey.moderationSafetyCopy(verdictId),
        },
        now,
      );
    }
    return enqueued;
  }

  /** A check that could not be made, in a transaction of its own (see writeUnavailable). */
  private async recordUnavailable(
    subject: ModerationSubject,
    target: ModerationTarget,
    code: string,
  ): Promise<void> {
    await this.transaction((tx) => this.writeUnavailable(tx, subject, target, code, null));
  }

  /**
   * A check that could not be made: its row, and the teachers told once a day per guild. Inside the caller's
   * transaction (`tx`).
   */
  private async writeUnavailable(
    tx: Queryable,
    subject: ModerationSubject,
    target: ModerationTarget,
    code: string,
    answerId: number | null,
  ): Promise<void> {
    const now = new Date(this.now());
    const provider = this.deps.moderator.describe;
    await this.deps.verdicts.in(tx).insert({
      ...subject,
      answerId,
      target,
      outcome: "unavailable",
      provider: this.deps.moderator.kind,
      model: null,
      categories: [],
      topCategory: null,
      topScore: null,
      severe: false,
      error: code,
      flaggedText: null,
      createdAt: now.toISOString(),
    });
    await this.deps.outbox.in(tx).enqueue(
      {
        guildId: subject.guildId,
        channelId: null,
        kind: "moderation_unavailable",
        payload: { policy: this.deps.fail, provider, error: code },
        dedupeKey: noticeKey.moderationUnavailable(subject.guildId, now),
      },
      now,
    );
  }

  private unavailableCode(err: unknown): string {
    if (err instanceof ModerationUnavailableError) return err.code;
    // A bug in a moderator is an outage too: the fail policy still decides, and the log says what broke.
    this.deps.logger.error({ err }, "moderator failed unexpectedly");
    return "error";
  }
}
