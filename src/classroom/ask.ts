// /ask: route the question to the right model and provider, within the guild's limits, from the cache when
// it can, with the channel's fallback when a model is gone; record usage and the answer.

import type { AskConfig } from "../config.ts";
import {
  type AnswerModeration,
  type AnswerRepository,
  type AnswerRow,
  FollowUpParentGone,
} from "../db/answers.ts";
import type { ChannelSettings, ChannelSettingsRepository } from "../db/channels.ts";
import type { Queryable } from "../db/query/store.ts";
import type { UsageRepository } from "../db/usage.ts";
import {
  type ChatMessage,
  DEFAULT_MAX_TOKENS,
  DEFAULT_SYSTEM_PROMPT,
  DEFAULT_TEMPERATURE,
} from "../domain/assistant.ts";
import type { Logger } from "../logger.ts";
import type { ChatProvider } from "../providers/chatRegistry.ts";
import {
  type ChatDelta,
  type ChatRequest,
  type ChatUsage,
  completeChat,
  refusesStreaming,
  streamChat,
} from "../providers/chatStream.ts";
import { classifyProviderError, explainProviderError } from "../providers/errors.ts";
import { AnswerCache } from "./cache.ts";
import { canFollowUp, conversationMessages } from "./conversation.ts";
import { type SpendReservation, SpendReservations, TokenBuckets } from "./limits.ts";
import type {
  AnswerScreening,
  GuildModerationPolicy,
  ModerationGate,
  QuestionScreening,
} from "./moderation.ts";
import { type ChatPriceTable, promptTokensAtMost } from "./prices.ts";
import { isPastShutdown, type ModelRouter, type ModelSource, notReadyReason } from "./routing.ts";
import type { QuestionSettings } from "./settings.ts";
import { ModeratedRelease, type TextSink } from "./streaming.ts";

/** The /ask limits from the configuration (AskConfig): the service reads only these. */
export type AskLimits = Pick<
  AskConfig,
  | "maxQuestionChars"
  | "userPerMinute"
  | "userBurst"
  | "guildPerMinute"
  | "guildBurst"
  | "dailyBudgetUsd"
  | "cacheTtlSeconds"
  | "cacheMaxEntries"
  | "contextTurns"
>;

export interface ModelUnavailableInfo {
  /** Why the model could not answer, in plain words. */
  reason: string;
  /** The model that answered instead, if any. */
  fallbackModel: string | undefined;
}

export interface AskServiceDeps {
  router: ModelRouter;
  prices: ChatPriceTable;
  channels: ChannelSettingsRepository;
  usage: UsageRepository;
  answers: AnswerRepository;
  limits: AskLimits;
  logger: Logger;
  /** Wall clock in ms (rate limits, the daily cap, the cache TTL, row times). */
  now?: () => number;
  /** Told once per guild, model and UTC day that a model is gone (for the teachers' channel). */
  onModelUnavailable?: (guildId: string, model: string, info: ModelUnavailableInfo) => void | Promise<void>;
  /**
   * Told of every answer a registered model gave (cached ones too): billed hosting's idle clock restarts. `tx`: the
   * answer's transaction, when it has one (the moderation gate's), for its statement to run in.
   */
  onModelUsed?: (guildId: string, model: string, tx?: Queryable) => void | Promise<void>;
  /** Checks questions before the cache and the model, answers before they are posted (classroom/moderation.ts). */
  moderation?: ModerationGate | undefined;
  /** The longest a streamed answer may take (default STREAM_DEADLINE_MS, providers/chatStream.ts). */
  streamDeadlineMs?: number | undefined;
  /**
   * A model's context window in tokens (prompt and answer), by what the catalog knows it as (ResolvedModel.baseModel),
   * for trimming a follow-up; default DEFAULT_CONTEXT_TOKENS.
   */
  contextTokens?: (baseModel: string) => number | undefined;
}

/** The context window assumed for a model whose catalog entry gives none (most chat models have at least this). */
export const DEFAULT_CONTEXT_TOKENS = 8192;

export interface AskRequest {
  guildId: string;
  channelId: string;
  userId: string;
  isTeacher: boolean;
  question: string;
  model?: string | undefined;
  /** A follow-up: the answer (of this student, in this channel) whose conversation the question continues. */
  followUpOf?: number | undefined;
  /**
   * The guild's and the channel's settings as the caller read them for this question (the /ask command reads them to
   * defer and to know a teacher): the question is answered under them, not read again. Read here when absent.
   */
  settings?: QuestionSettings | undefined;
}

export interface AskAnswer {
  ok: true;
  answer: string;
  model: string;
  provider: string;
  source: ModelSource;
  usedFallback: boolean;
  /** When usedFallback: the model that was asked for, and a line for the student saying so. */
  unavailableModel: string | undefined;
  notice: string | undefined;
  cached: boolean;
  /** The model stopped at max_tokens: the answer ends with truncationNote. */
  truncated: boolean;
  /** The stream broke off midway: the answer is what arrived, ending with interruptionNote. */
  interrupted: boolean;
  /** The text was told to the sink as it arrived (its last piece may still have been held for moderation). */
  streamed: boolean;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
  latencyMs: number;
  costUsd: number;
  /** Asked in a class channel: the reply is public. */
  public: boolean;
  answerId: number;
  /** How the answer's moderation ended (unchecked: moderation off, or down under MODERATION_FAIL=open). */
  moderation: AnswerModeration;
  /** `answer` is the message shown instead of the model's (flagged, or moderation down under closed). */
  withheld: boolean;
  /** Which question of its conversation this was (1: a new /ask) … */
  turn: number;
  /** … of at most this many (ASK_CONTEXT_TURNS): at turn < maxTurns it can be followed up. */
  maxTurns: number;
}

export type AskRefusalReason =
  | "empty_question"
  | "question_too_long"
  | "model_not_found"
  | "model_not_allowed"
  | "model_not_ready"
  | "rate_limited"
  | "spend_cap"
  | "model_unavailable"
  | "model_asleep"
  | "provider_error"
  | "moderation_flagged"
  | "moderation_unavailable"
  | "follow_up_not_found"
  | "follow_up_limit"
  | "follow_up_too_long";

export interface AskRefusal {
  ok: false;
  reason: AskRefusalReason;
  /** What the student reads. */
  message: string;
  model: string | undefined;
  provider: string | undefined;
  /** rate_limited / spend_cap: when to try again. */
  retryAfterSeconds: number | undefined;
  /** The provider's error code, for provider_error ("insufficient_quota", "timeout", …). */
  code: string | undefined;
  /** model_unavailable: whether this call raised the (once a day) notice to the teachers. */
  teachersNotified: boolean;
  /** model_asleep: the model a teacher can wake (its hosting was stopped); the reply offers them to. */
  wakeModel?: string | undefined;
}

export type AskResult = AskAnswer | AskRefusal;

const DAY_MS = 86_400_000;
const MAX_NOTICE_KEYS = 1000;
/** Models named in a "you may ask" refusal. */
const MAX_LISTED_MODELS = 10;

function refusal(
  reason: AskRefusalReason,
  message: string,
  extra: Partial<Omit<AskRefusal, "ok" | "reason" | "message">> = {},
): AskRefusal {
  return {
    ok: false,
    reason,
    message,
    model: extra.model,
    provider: extra.provider,
    retryAfterSeconds: extra.retryAfterSeconds,
    code: extra.code,
    teachersNotified: extra.teachersNotified ?? false,
    ...(extra.wakeModel ? { wakeModel: extra.wakeModel } : {}),
  };
}

/** A model whose billed hosting classtune stopped: the student hears why, and a teacher is offered to wake it. */
function asleepRefusal(model: string, provider: string): AskRefusal {
  return refusal(
    "model_asleep",
    `"${model}" is asleep: its server was stopped, so that the school pays nothing while nobody uses it. A teacher can wake it; it takes a few minutes to start.`,
    { model, provider, wakeModel: model },
  );
}

/** A follow-up whose conversation is gone (it was deleted while the answer was written). */
function followUpGone(): AskRefusal {
  return refusal(
    "follow_up_not_found",
    "That conversation was deleted while the answer was being written, so it can't be continued. Ask with /ask to start a new one.",
  );
}

/** The line under an answer whose stream broke off: the student keeps what arrived. */
export function interruptionNote(provider: string): string {
  return `(the answer stopped early: the connection to ${provider} broke off mid-way — ask again for the rest)`;
}

/** The line under an answer the model stopped at max_tokens. */
export function truncationNote(maxTokens: number): string {
  return `(answer cut at ${maxTokens} tokens — a teacher can raise max-tokens with \`/classroom setup\`)`;
}

/** $5.00, but a test-sized budget as $0.002 rather than $0.00. */
const usd = (v: number) => (v >= 0.01 ? v.toFixed(2) : String(Number(v.toPrecision(3))));

function waitWords(seconds: number): string {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? "" : "s"}`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 90) return `${minutes} minutes`;
  return `${Math.ceil(minutes / 60)} hours`;
}

interface Attempt {
  /** The model's name in this server (what usage, answers and the cache record). */
  model: string;
  /** The id its provider's chat endpoint takes (a deployment's served name). */
  servedAs: string;
  provider: ChatProvider;
}

type AttemptResult =
  | { kind: "answer"; answer: AskAnswer }
  | { kind: "gone"; reason: string }
  | { kind: "refusal"; refusal: AskRefusal };

/** Everything an attempt at answering needs, whichever model it is made with. */
interface AskContext {
  req: AskRequest;
  question: string;
  systemPrompt: string;
  /** What the model is sent: the system prompt, the earlier turns of a follow-up, the question. */
  messages: ChatMessage[];
  /** A follow-up: the answer it continues. */
  parentId: number | undefined;
  /** Which question of its conversation this is (1 for a new /ask). */
  turn: number;
  temperature: number;
  maxTokens: number;
  isPublic: boolean;
  source: ModelSource;
  screened: QuestionScreening | undefined;
  /** The guild's moderation tightening, decided once for the whole question (ModerationGate.policy). */
  policy: GuildModerationPolicy | undefined;
}

/** What one answer was, for its usage row, its answer row and the student's copy. */
interface AnswerFacts {
  /** The model's own words (trimmed), or the empty-answer line. */
  answer: string;
  promptTokens: number;
  completionTokens: number;
  latencyMs: number;
  cached: boolean;
  /** The answer's moderation; undefined for a cache hit (checked when it was cached) or without moderation. */
  screening: AnswerScreening | undefined;
  /** The max_tokens the model stopped at (finish_reason "length"); undefined when it finished. */
  cutAt: number | undefined;
  /** The stream broke off after some text (the provider error's code); undefined when it ended. */
  interrupted: string | undefined;
  /** The text reached the student as it arrived. */
  streamed: boolean;
}

/** A model's answer as it came back, streamed or not. */
interface Generated {
  text: string;
  finishReason: string | null;
  promptTokens: number;
  completionTokens: number;
  screening: AnswerScreening | undefined;
  interrupted: string | undefined;
  streamed: boolean;
}

const EMPTY_ANSWER = "(The model returned an empty answer.)";

/** Providers and models that refused a streamed request: asked without streaming from then on. */
const MAX_NO_STREAM_KEYS = 1000;

export class AskService {
  private readonly userBuckets: TokenBuckets;
  private readonly guildBuckets: TokenBuckets;
  readonly cache: AnswerCache;
  private readonly reservations = new SpendReservations();
  private readonly notified = new Set<string>();
  private readonly noStream = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly deps: AskServiceDeps) {
    const l = deps.limits;
    this.userBuckets = new TokenBuckets({ perMinute: l.userPerMinute, burst: l.userBurst });
    this.guildBuckets = new TokenBuckets({ perMinute: l.guildPerMinute, burst: l.guildBurst });
    this.cache = new AnswerCache(l.cacheMaxEntries, l.cacheTtlSeconds * 1000);
    this.now = deps.now ?? Date.now;
  }

  /**
   * Answers `req`. With a `sink`, the answer is streamed where the provider can: its text is told to the sink as
   * it may be shown (moderated in chunks, see streaming.ts), and the result is the whole answer as usual.
   */
  async ask(req: AskRequest, sink?: TextSink): Promise<AskResult> {
    const question = req.question.trim();
    if (question === "") return refusal("empty_question", "Ask a question: the text was empty.");
    const max = this.deps.limits.maxQuestionChars;
    if (question.length > max) {
      return refusal(
        "question_too_long",
        `That question is ${question.length} characters long; please keep it under ${max}.`,
      );
    }

    const earlier = await this.conversationOf(req);
    if (!Array.isArray(earlier)) return earlier;
    const channel = req.settings
      ? req.settings.channel
      : await this.deps.channels.get(req.guildId, req.channelId);
    // A follow-up goes to the model that answered the conversation so far while the student may still ask it and it
    // can answer; else to whatever this channel routes to now (its fallback included), as a new question would.
    const asked = req.model ?? (await this.conversationModel(req, channel, earlier.at(-1)?.model));
    const { model, source } = await this.deps.router.choose(req.guildId, channel, asked, req.settings?.guild);
    const primary = await this.deps.router.resolve(req.guildId, model);
    if (!primary.ok && primary.reason === "not_found") {
      return refusal(
        "model_not_found",
        `There is no model called "${model}" in this server. /model list shows the ones you can use.`,
        { model },
      );
    }
    if (
      source === "explicit" &&
      !(await this.deps.router.mayAsk(req.guildId, channel, model, req.isTeacher, req.settings?.guild))
    ) {
      return refusal("model_not_allowed", await this.notAllowedMessage(req, channel, model), { model });
    }
    const asleep = !primary.ok && primary.reason === "not_ready" && primary.status === "asleep";
    if (source === "explicit" && asleep) return asleepRefusal(model, primary.provider);
    if (source === "explicit" && !primary.ok && primary.reason === "not_ready") {
      return refusal(
        "model_not_ready",
        `"${model}" cannot answer yet: ${notReadyReason(primary.status, primary.jobId)}.`,
        { model, provider: primary.provider },
      );
    }

    const limited = this.takeRateLimit(req);
    if (limited) return limited;

    // Before the cache and the model: a flagged question goes nowhere.
    const policy = await this.deps.moderation?.policy(req.guildId, req.settings?.guild);
    const screened = await this.deps.moderation?.screenQuestion(req, question, policy);
    if (screened?.kind === "refuse") {
      const providerName = primary.ok ? primary.provider.name : primary.provider;
      await this.recordError(req, model, providerName, 0, screened.reason);
      return refusal(screened.reason, screened.message, {
        model,
        provider: providerName,
        teachersNotified: screened.teachersAlerted,
      });
    }

    const systemPrompt = channel?.systemPrompt ?? DEFAULT_SYSTEM_PROMPT;
    const maxTokens = channel?.maxTokens ?? DEFAULT_MAX_TOKENS;
    const prompt = conversationMessages({
      systemPrompt,
      turns: earlier,
      question,
      maxTurns: this.deps.limits.contextTurns,
      contextTokens: this.deps.contextTokens?.(primary.baseModel) ?? DEFAULT_CONTEXT_TOKENS,
      reserveTokens: maxTokens,
      // An upper bound for any byte-level tokenizer: cheap, and never lets a prompt past the model's context.
      countTokens: (messages) => promptTokensAtMost(messages.map((m) => m.content)),
    });
    if (!prompt.fits) {
      return refusal(
        "follow_up_too_long",
        "This conversation and your question are too long for the model to read together. Start a new one with /ask.",
        { model },
      );
    }
    const context: AskContext = {
      req,
      question,
      systemPrompt,
      messages: prompt.messages,
      parentId: earlier.at(-1)?.id,
      turn: (earlier.at(-1)?.turn ?? 0) + 1,
      temperature: channel?.temperature ?? DEFAULT_TEMPERATURE,
      maxTokens,
      isPublic: channel?.isClass ?? false,
      source,
      screened,
      policy,
    };

    let goneReason: string;
    if (primary.ok) {
      const r = await this.attempt(
        context,
        { model, servedAs: primary.servedAs, provider: primary.provider },
        primary.shutdownDate,
        sink,
      );
      if (r.kind === "answer") return r.answer;
      if (r.kind === "refusal") return r.refusal;
      goneReason = r.reason;
    } else if (primary.reason === "not_ready") {
      goneReason = notReadyReason(primary.status, primary.jobId);
    } else {
      goneReason = `its provider "${primary.provider}" is not configured on this bot`;
    }

    const unavailable =
      !primary.ok && primary.reason === "not_ready" ? "cannot answer yet" : "is no longer available";
    // The model is gone: the channel's fallback, if it has one that works.
    const fallbackName = channel?.fallbackModel ?? undefined;
    if (fallbackName && fallbackName !== model) {
      const fallback = await this.deps.router.resolve(req.guildId, fallbackName);
      if (fallback.ok) {
        const r = await this.attempt(
          context,
          { model: fallbackName, servedAs: fallback.servedAs, provider: fallback.provider },
          fallback.shutdownDate,
          sink,
        );
        if (r.kind === "refusal") return r.refusal;
        if (r.kind === "answer") {
          // A model asleep was stopped by classtune, which told the teachers then.
          if (!asleep) {
            await this.notifyUnavailable(req.guildId, model, {
              reason: goneReason,
              fallbackModel: fallbackName,
            });
          }
          return {
            ...r.answer,
            usedFallback: true,
            unavailableModel: model,
            notice: `"${model}" ${unavailable} (${goneReason}), so "${fallbackName}" answered instead.`,
          };
        }
      }
    }
    const providerName = primary.ok ? primary.provider.name : primary.provider;
    if (asleep) {
      await this.recordError(req, model, providerName, 0, "model_asleep");
      return asleepRefusal(model, providerName);
    }
    await this.recordError(req, model, providerName, 0, "model_unavailable");
    const notified = await this.notifyUnavailable(req.guildId, model, {
      reason: goneReason,
      fallbackModel: undefined,
    });
    return refusal(
      "model_unavailable",
      `The model "${model}" ${unavailable} (${goneReason}) and this channel has no working fallback model. ${this.deps.onModelUnavailable ? "Your teachers have been told; try again later." : "Please tell your teacher."}`,
      { model, provider: providerName, teachersNotified: notified },
    );
  }

  /** The conversation's model, if this student may still ask it here and it can answer now. */
  private async conversationModel(
    req: AskRequest,
    channel: ChannelSettings | undefined,
    model: string | undefined,
  ): Promise<string | undefined> {
    if (model === undefined) return undefined;
    if (!(await this.deps.router.mayAsk(req.guildId, channel, model, req.isTeacher, req.settings?.guild)))
      return undefined;
    return (await this.deps.router.resolve(req.guildId, model)).ok ? model : undefined;
  }

  /**
   * Why this student cannot follow up this answer here (the Follow up button asks before it opens its modal), or
   * undefined when they can. The question itself is checked again when it is asked.
   */
  async followUpRefusal(
    guildId: string,
    channelId: string,
    userId: string,
    answerId: number,
  ): Promise<AskRefusal | undefined> {
    const r = await this.conversationOf({
      guildId,
      channelId,
      userId,
      isTeacher: false,
      question: "",
      followUpOf: answerId,
    });
    return Array.isArray(r) ? undefined : r;
  }

  /**
   * A follow-up's conversation so far (oldest first), or the refusal: not this student's conversation in this
   * channel (another student, a forged id, a deleted answer), or it is already as long as ASK_CONTEXT_TURNS allows.
   * A new question has none.
   */
  private async conversationOf(req: AskRequest): Promise<AnswerRow[] | AskRefusal> {
    if (req.followUpOf === undefined) return [];
    const maxTurns = this.deps.limits.contextTurns;
    const chain = await this.deps.answers.chain(
      req.guildId,
      req.channelId,
      req.userId,
      req.followUpOf,
      maxTurns,
    );
    const last = chain?.at(-1);
    if (!chain || !last) {
      return refusal(
        "follow_up_not_found",
        "That conversation can't be continued: only the student who asked can follow up, and only in the channel where they asked. Ask with /ask to start your own.",
      );
    }
    if (chain.some((t) => t.withheld || t.moderation === "flagged")) {
      return refusal(
        "follow_up_not_found",
        "That answer was held back for a teacher to check, so it can't be continued. Ask with /ask to start a new conversation.",
      );
    }
    if (!canFollowUp(last.turn, maxTurns)) {
      return refusal(
        "follow_up_limit",
        `This conversation has reached ${maxTurns} questions, the most one can hold. Start a new one with /ask.`,
        { model: last.model },
      );
    }
    return chain;
  }

  /** Names what the student may ask instead of `model`: the model used without model:, then the others. */
  private async notAllowedMessage(
    req: AskRequest,
    channel: ChannelSettings | undefined,
    model: string,
  ): Promise<string> {
    const [chosen, ...others] = await this.deps.router.studentModels(
      req.guildId,
      channel,
      MAX_LISTED_MODELS + 1,
      req.settings?.guild,
    );
    const listed = others.slice(0, MAX_LISTED_MODELS - 1).map((m) => `\`${m}\``);
    const more = others.length >= MAX_LISTED_MODELS ? " (/model list shows them all)" : "";
    const choose = listed.length > 0 ? `, or choose ${listed.join(", ")}${more}` : "";
    return `Students can't choose "${model}" here. Ask without model: to use \`${chosen}\`${choose}. Teachers can use other models.`;
  }

  /** Per-student (teachers exempt) and per-guild buckets; a token is taken from both only when both allow. */
  private takeRateLimit(req: AskRequest): AskRefusal | undefined {
    const now = this.now();
    const userKey = `${req.guildId}:${req.userId}`;
    const userWait = req.isTeacher ? 0 : this.userBuckets.waitSeconds(userKey, now);
    const guildWait = this.guildBuckets.waitSeconds(req.guildId, now);
    const wait = Math.max(userWait, guildWait);
    if (wait > 0) {
      const who = guildWait >= userWait ? "This server has" : "You have";
      return refusal(
        "rate_limited",
        `${who} asked a lot of questions in the last minute. Try again in ${waitWords(wait)}.`,
        { retryAfterSeconds: wait, code: guildWait >= userWait ? "guild_rate_limit" : "user_rate_limit" },
      );
    }
    if (!req.isTeacher) this.userBuckets.take(userKey, now);
    this.guildBuckets.take(req.guildId, now);
    return undefined;
  }

  private async attempt(
    ctx: AskContext,
    target: Attempt,
    shutdownDate: string | null,
    sink: TextSink | undefined,
  ): Promise<AttemptResult> {
    const { req } = ctx;
    const now = this.now();
    if (isPastShutdown(shutdownDate, now)) {
      return { kind: "gone", reason: `it was shut down on ${shutdownDate?.slice(0, 10)}` };
    }
    const { model, provider } = target;
    const cacheKey = AnswerCache.key(
      req.guildId,
      `${provider.name}/${model}`,
      ctx.systemPrompt,
      ctx.question,
    );
    // Only a conversation's first question is cacheable: a follow-up's answer depends on what came before.
    const cacheable = ctx.parentId === undefined;
    const hit = cacheable ? this.cache.get(cacheKey, now) : undefined;
    if (hit) {
      // Only answers that passed moderation are cached (or, with moderation off, every answer).
      return {
        kind: "answer",
        answer: await this.record(ctx, target, {
          answer: hit.answer,
          promptTokens: 0,
          completionTokens: 0,
          latencyMs: 0,
          cached: true,
          screening: undefined,
          cutAt: undefined,
          interrupted: undefined,
          streamed: false,
        }),
      };
    }

    const capped = await this.reserveSpend(ctx, target, now);
    if (capped.kind === "refusal") return capped;
    const { reservation } = capped;

    const started = performance.now();
    let g: Generated | undefined;
    try {
      g = await this.generate(ctx, target, sink);
      const latencyMs = Math.round(performance.now() - started);
      const answer = g.text === "" ? EMPTY_ANSWER : g.text;
      // Stopped at max_tokens: the student is told it was cut (and who can raise the limit), usage counts it, and
      // it is not cached (a teacher who raises the limit should not see the cut answer again). Neither is an
      // answer whose stream broke off, nor one that did not pass moderation.
      const cutAt = g.finishReason === "length" ? ctx.maxTokens : undefined;
      if (
        cacheable &&
        g.text !== "" &&
        cutAt === undefined &&
        g.interrupted === undefined &&
        (g.screening === undefined || this.deps.moderation?.cacheable(g.screening))
      ) {
        this.cache.set(cacheKey, { answer, model, provider: provider.name }, this.now());
      }
      return {
        kind: "answer",
        answer: await this.record(ctx, target, {
          answer,
          promptTokens: g.promptTokens,
          completionTokens: g.completionTokens,
          latencyMs,
          cached: false,
          screening: g.screening,
          cutAt,
          interrupted: g.interrupted,
          streamed: g.streamed,
        }),
      };
    } catch (err) {
      const latencyMs = Math.round(performance.now() - started);
      if (err instanceof FollowUpParentGone && g) {
        // The conversation was deleted while the answer was written (a /privacy delete, the retention sweep): the
        // answer is not stored without the turns it continues, but what it cost is.
        await this.insertUsage(
          ctx,
          target,
          { ...g, latencyMs, cached: false, cutAt: undefined },
          "follow_up_not_found",
        );
        return { kind: "refusal", refusal: followUpGone() };
      }
      const explained = explainProviderError(err, provider.name);
      if (!explained) throw err;
      this.deps.logger.warn(
        {
          guildId: req.guildId,
          model,
          provider: provider.name,
          code: explained.code,
          requestId: (err as { requestID?: string }).requestID,
        },
        "chat provider error",
      );
      // A gone model is recorded once, by the caller, whatever the fallback does: one usage row per question.
      if (explained.modelGone) return { kind: "gone", reason: "the provider no longer serves it" };
      await this.recordError(req, model, provider.name, latencyMs, explained.code);
      return {
        kind: "refusal",
        refusal: refusal("provider_error", explained.message, {
          model,
          provider: provider.name,
          code: explained.code,
        }),
      };
    } finally {
      // Settled: the answer's actual cost is in ask_usage by now (record runs before this), or there is none.
      reservation?.release();
    }
  }

  /**
   * The model's answer to ctx.messages. Streamed when there is a sink and the provider takes `stream: true` (with
   * usage in the last chunk); a provider or model that refuses streaming is asked again without it, and not
   * streamed to again. Either way the whole answer is moderated before the result is returned.
   */
  private async generate(ctx: AskContext, target: Attempt, sink: TextSink | undefined): Promise<Generated> {
    const { provider, servedAs } = target;
    const request: ChatRequest = {
      model: servedAs,
      messages: ctx.messages,
      temperature: ctx.temperature,
      maxTokens: ctx.maxTokens,
    };
    const streamKey = JSON.stringify([provider.name, servedAs]);
    if (sink && provider.stream && !this.noStream.has(streamKey)) {
      let deltas: AsyncIterable<ChatDelta> | undefined;
      try {
        deltas = await streamChat(
          provider,
          request,
          this.deps.streamDeadlineMs === undefined ? {} : { deadlineMs: this.deps.streamDeadlineMs },
        );
      } catch (err) {
        if (!refusesStreaming(err)) throw err;
        this.deps.logger.info(
          { provider: provider.name, model: target.model },
          "the provider refused a streamed answer; asking without streaming",
        );
        this.noStream.add(streamKey);
        if (this.noStream.size > MAX_NO_STREAM_KEYS) {
          const oldest = this.noStream.values().next();
          if (!oldest.done) this.noStream.delete(oldest.value);
        }
      }
      if (deltas) return this.readStream(ctx, deltas, sink);
    }
    const whole = await completeChat(provider, request);
    const text = whole.text.trim();
    return {
      text,
      finishReason: whole.finishReason,
      promptTokens: whole.usage?.promptTokens ?? 0,
      completionTokens: whole.usage?.completionTokens ?? 0,
      screening: await this.deps.moderation?.screenAnswer(
        ctx.question,
        text || EMPTY_ANSWER,
        ctx.req,
        ctx.policy,
      ),
      interrupted: undefined,
      streamed: false,
    };
  }

  /**
   * Reads a streamed answer, letting its text through to the sink in moderated chunks. A stream that breaks off
   * after some text is an answer (what arrived, `interrupted`); before any text, it is a provider error. Without
   * the usage chunk (a cut stream), the answer is counted at most what it can have cost: a token per content
   * chunk (OpenAI-compatible servers stream a token a chunk) and the prompt's upper bound (prices.ts).
   */
  private async readStream(
    ctx: AskContext,
    deltas: AsyncIterable<ChatDelta>,
    sink: TextSink,
  ): Promise<Generated> {
    const gate = this.deps.moderation;
    const release = new ModeratedRelease(
      sink,
      gate?.enabled ? (text) => gate.screenAnswer(ctx.question, text, ctx.req, ctx.policy) : undefined,
    );
    let raw = "";
    let chunks = 0;
    let finishReason: string | null = null;
    let usage: ChatUsage | undefined;
    let interrupted: string | undefined;
    try {
      for await (const d of deltas) {
        if (d.usage) usage = d.usage;
        if (d.text) {
          raw += d.text;
          chunks++;
          release.offer(raw.trimStart());
        }
        if (d.finishReason) finishReason = d.finishReason;
        // Flagged mid-way: leaving the loop aborts the request, so no more tokens are paid for.
        if (release.stopped) break;
      }
    } catch (err) {
      if (raw.trim() === "") throw err;
      interrupted = classifyProviderError(err)?.code ?? "provider_error";
      this.deps.logger.warn(
        { guildId: ctx.req.guildId, code: interrupted, requestId: (err as { requestID?: string }).requestID },
        "chat stream broke off",
      );
    }
    const text = raw.trim();
    const screening = await release.finish(text || EMPTY_ANSWER);
    return {
      text,
      finishReason,
      promptTokens: usage?.promptTokens ?? promptTokensAtMost(ctx.messages.map((m) => m.content)),
      completionTokens: usage?.completionTokens ?? chunks,
      screening,
      interrupted,
      streamed: true,
    };
  }

  /**
   * The daily spend cap. A paid question is let through while the guild's spend today plus what its questions
   * in flight have reserved is under the budget, and then reserves the most it can cost (prompt plus max
   * tokens at the model's price) until it is settled. So questions asked at once cannot all pass before any
   * is recorded: today's spend goes over the budget by at most one question's estimate.
   */
  private async reserveSpend(
    ctx: AskContext,
    { model, provider }: Attempt,
    now: number,
  ): Promise<
    { kind: "go"; reservation: SpendReservation | undefined } | { kind: "refusal"; refusal: AskRefusal }
  > {
    const price = this.deps.prices.price(model);
    const free = provider.free || (price.input === 0 && price.output === 0);
    const budget = this.deps.limits.dailyBudgetUsd;
    if (free || budget <= 0) return { kind: "go", reservation: undefined };
    const { guildId } = ctx.req;
    const dayStart = Math.floor(now / DAY_MS) * DAY_MS;
    const mark = this.reservations.mark(guildId, dayStart);
    const spent = await this.deps.usage.spentSince(guildId, new Date(dayStart).toISOString());
    // No await from here to the reservation: the check and the reserve are one step for questions asked at once.
    // What was released during the read still counts (SpendReservations: the read may have missed its usage row).
    const held =
      this.reservations.reserved(guildId, dayStart) +
      this.reservations.releasedSince(guildId, dayStart, mark);
    if (spent + held >= budget) {
      const retryAfterSeconds = Math.ceil((dayStart + DAY_MS - now) / 1000);
      return {
        kind: "refusal",
        refusal: refusal(
          "spend_cap",
          `This server has used today's /ask budget ($${usd(budget)}). It resets at 00:00 UTC, in ${waitWords(retryAfterSeconds)}.`,
          { model, provider: provider.name, retryAfterSeconds },
        ),
      };
    }
    const estimate = this.deps.prices.estimate(
      model,
      ctx.messages.map((m) => m.content),
      ctx.maxTokens,
    );
    return { kind: "go", reservation: this.reservations.reserve(guildId, dayStart, estimate) };
  }

  private async recordError(
    req: AskRequest,
    model: string,
    provider: string,
    latencyMs: number,
    error: string,
  ): Promise<void> {
    await this.deps.usage.insert({
      guildId: req.guildId,
      channelId: req.channelId,
      userId: req.userId,
      model,
      provider,
      promptTokens: 0,
      completionTokens: 0,
      latencyMs,
      costUsd: 0,
      cacheHit: false,
      error,
      createdAt: new Date(this.now()).toISOString(),
    });
  }

  /** Writes the usage row and the answer row; returns the answer for the caller. */
  private async record(ctx: AskContext, target: Attempt, f: AnswerFacts): Promise<AskAnswer> {
    const gate = this.deps.moderation;
    const moderation: AnswerModeration =
      f.screening?.status ?? (f.cached && gate?.enabled ? "passed" : "unchecked");
    const withheld = f.screening?.withheld ?? false;
    const write = (tx: Queryable | undefined) => this.writeAnswer(ctx, target, f, moderation, withheld, tx);
    const { answerId, costUsd } = gate ? await gate.transaction(write) : await write(undefined);
    const shown = f.screening?.shown ?? f.answer;
    // The answers row keeps the model's own words; only the student's copy says it was cut or broke off.
    const notes = withheld
      ? []
      : [
          ...(f.interrupted !== undefined ? [interruptionNote(target.provider.name)] : []),
          ...(f.cutAt !== undefined ? [truncationNote(f.cutAt)] : []),
        ];
    return {
      ok: true,
      answer: [shown, ...notes].join("\n\n"),
      truncated: f.cutAt !== undefined,
      interrupted: f.interrupted !== undefined,
      streamed: f.streamed,
      model: target.model,
      provider: target.provider.name,
      source: ctx.source,
      usedFallback: false,
      unavailableModel: undefined,
      notice: undefined,
      cached: f.cached,
      usage: {
        promptTokens: f.promptTokens,
        completionTokens: f.completionTokens,
        totalTokens: f.promptTokens + f.completionTokens,
      },
      latencyMs: f.latencyMs,
      costUsd,
      public: ctx.isPublic,
      answerId,
      moderation,
      withheld,
      turn: ctx.turn,
      maxTurns: this.deps.limits.contextTurns,
    };
  }

  /**
   * The usage row, the answer row (the model's own words, even when withheld) and its verdicts (with the moderation
   * gate, inside its transaction `tx`).
   */
  private async writeAnswer(
    ctx: AskContext,
    target: Attempt,
    f: AnswerFacts,
    moderation: AnswerModeration,
    withheld: boolean,
    tx: Queryable | undefined,
  ): Promise<{ answerId: number; costUsd: number }> {
    const { req } = ctx;
    const createdAt = new Date(this.now()).toISOString();
    // The answer row first: a follow-up whose conversation was deleted meanwhile throws FollowUpParentGone before
    // anything is written (with or without the moderation gate's transaction), and the caller records its usage.
    const answers = tx ? this.deps.answers.in(tx) : this.deps.answers;
    const answerId = await answers.insert({
      guildId: req.guildId,
      channelId: req.channelId,
      userId: req.userId,
      question: ctx.question,
      answer: f.answer,
      model: target.model,
      systemPrompt: ctx.systemPrompt,
      // A withheld answer was not shown to the class: no votes, and exported only if a teacher corrects it.
      public: ctx.isPublic && !withheld,
      createdAt,
      moderation,
      withheld,
      parentId: ctx.parentId,
    });
    // An answer whose stream broke off is shown (what arrived) and paid for, and counted among the errors.
    const { costUsd } = await this.insertUsage(
      ctx,
      target,
      f,
      f.interrupted === undefined ? null : `stream_${f.interrupted}`,
      createdAt,
      tx,
    );
    await this.deps.onModelUsed?.(req.guildId, target.model, tx);
    if (tx) {
      await this.deps.moderation?.recordAnswered(
        tx,
        req,
        answerId,
        { text: ctx.question, screening: ctx.screened },
        { text: f.answer, screening: f.screening },
        ctx.policy,
      );
    }
    return { answerId, costUsd };
  }

  /** An answer's usage row, with what it cost (on `tx` when given: the caller's transaction). */
  private async insertUsage(
    { req }: AskContext,
    target: Attempt,
    f: Pick<AnswerFacts, "promptTokens" | "completionTokens" | "latencyMs" | "cached" | "cutAt">,
    error: string | null,
    createdAt = new Date(this.now()).toISOString(),
    tx?: Queryable,
  ): Promise<{ costUsd: number }> {
    const costUsd =
      f.cached || target.provider.free
        ? 0
        : this.deps.prices.cost(target.model, f.promptTokens, f.completionTokens);
    await (tx ? this.deps.usage.in(tx) : this.deps.usage).insert({
      guildId: req.guildId,
      channelId: req.channelId,
      userId: req.userId,
      model: target.model,
      provider: target.provider.name,
      promptTokens: f.promptTokens,
      completionTokens: f.completionTokens,
      latencyMs: f.latencyMs,
      costUsd,
      cacheHit: f.cached,
      error,
      createdAt,
      truncated: f.cutAt !== undefined,
    });
    return { costUsd };
  }

  /** Calls onModelUnavailable once per guild, model and UTC day; true when this call did. */
  private async notifyUnavailable(
    guildId: string,
    model: string,
    info: ModelUnavailableInfo,
  ): Promise<boolean> {
    const day = new Date(this.now()).toISOString().slice(0, 10);
    const key = JSON.stringify([guildId, model, day]);
    if (this.notified.has(key) || !this.deps.onModelUnavailable) return false;
    this.notified.add(key);
    if (this.notified.size > MAX_NOTICE_KEYS) {
      const oldest = this.notified.values().next();
      if (!oldest.done) this.notified.delete(oldest.value);
    }
    try {
      await this.deps.onModelUnavailable(guildId, model, info);
    } catch (err) {
      this.deps.logger.error({ err, guildId, model }, "model-unavailable notice failed");
    }
    return true;
  }
}
