// The openai Moderator: POST /v1/moderations through the official SDK (its retries and timeout: no loop of
// ours), read per OpenAI's spec (results[0].flagged, categories, category_scores). Pointed at the sandbox it is
// the sandbox moderator: the sandbox serves the same path with a word-list classifier (src/sandbox/moderation.ts).
import type OpenAI from "openai";
import { APIConnectionError, APIConnectionTimeoutError, APIError } from "openai";
import { type CategoryScore, isModerationCategory } from "../domain/moderation.ts";
import type { Logger } from "../logger.ts";
import {
  byScore,
  isSevere,
  type ModerationInput,
  ModerationUnavailableError,
  type ModerationVerdict,
  type Moderator,
} from "./moderation.ts";

export const DEFAULT_MODERATION_MODEL = "omni-moderation-latest";

export interface OpenAIModeratorOptions {
  client: OpenAI;
  /** "openai", or "sandbox" for the sandbox's classifier. */
  kind: "openai" | "sandbox";
  model: string;
  logger: Logger;
}

export class OpenAIModerator implements Moderator {
  readonly kind: "openai" | "sandbox";
  readonly describe: string;

  constructor(private readonly options: OpenAIModeratorOptions) {
    this.kind = options.kind;
    this.describe = `${options.kind} (${options.model})`;
  }

  async moderate(input: ModerationInput): Promise<ModerationVerdict> {
    let response: OpenAI.Moderations.ModerationCreateResponse;
    try {
      response = await this.options.client.moderations.create({
        model: this.options.model,
        input: input.text,
      });
    } catch (err) {
      throw this.unavailable(err);
    }
    const result = response.results?.[0];
    if (!result || typeof result.flagged !== "boolean" || typeof result.category_scores !== "object") {
      throw new ModerationUnavailableError(
        `the moderation endpoint answered without a result (${this.describe})`,
        "unreadable",
      );
    }
    const scores: CategoryScore[] = [];
    const flaggedCategories: CategoryScore[] = [];
    const flags = (result.categories ?? {}) as unknown as Record<string, unknown>;
    for (const [name, value] of Object.entries(
      result.category_scores as unknown as Record<string, unknown>,
    )) {
      // A category OpenAI adds later is not one classtune can name yet: its flag still counts (`flagged`).
      if (!isModerationCategory(name) || typeof value !== "number" || !Number.isFinite(value)) continue;
      const scored = { category: name, score: value };
      scores.push(scored);
      if (flags[name] === true) flaggedCategories.push(scored);
    }
    scores.sort(byScore);
    flaggedCategories.sort(byScore);
    return {
      flagged: result.flagged,
      flaggedCategories,
      scores,
      provider: this.kind,
      model: response.model || this.options.model,
      severe: isSevere(flaggedCategories),
    };
  }

  /** Any failure after the SDK's own retries: the fail policy decides; the log keeps the request id. */
  private unavailable(err: unknown): ModerationUnavailableError {
    let code = "error";
    if (err instanceof APIConnectionTimeoutError) code = "timeout";
    else if (err instanceof APIConnectionError) code = "connection";
    else if (err instanceof APIError) code = err.status ? `http_${err.status}` : "api_error";
    this.options.logger.warn(
      {
        moderator: this.kind,
        code,
        requestId: (err as { requestID?: string }).requestID,
        message: err instanceof Error ? err.message : String(err),
      },
      "moderation unavailable",
    );
    return new ModerationUnavailableError(`the moderation provider could not be reached (${code})`, code, {
      cause: err,
    });
  }
}
