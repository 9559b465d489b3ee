// The fine-tuning format rules for one JSONL line, and its token count. Pure: a decoded line in, a verdict
// out. Runs inside the validation workers (worker.ts) and directly in tests. The shape is OpenAI's chat format,
// which every provider in the catalogs takes; what a provider's trainer accepts beyond it (its roles, message
// keys, content forms) comes from its catalog as TrainerRules (default: OpenAI's).
//
// How tokens are counted for an open-weight model (ctx.template): exactly, as the length of the model's own
// chat template applied to the example (src/tokenizers), default system text and tools included. A preference
// (DPO) line counts both sequences its trainer feeds the model, prompt + preferred and prompt + non-preferred,
// each checked against the per-example limit. Text holding one of the template's special tokens (e.g.
// "<|eot_id|>") is refused: the tokenizer reads it as that token, which would end a turn inside the text.
//
// How tokens are counted for OpenAI's models (OpenAI cookbook, "Data preparation and analysis for chat model fine-tuning"):
//   per example 3; per message 3 + tokens(role) + tokens(content text) + (tokens(name) + 1 when named).
//   Content given as parts counts each text part; image parts are not counted (billed separately).
// Tool and function calls (OpenAI does not publish its exact rendering, so for these lines the count is an
// estimate; plain chat examples are exact):
//   - an assistant message's `tool_calls` / `function_call`: tokens of their compact JSON text;
//   - the line-level `tools` (or legacy `functions`) definitions: tokens of their compact JSON, once per example;
//   - a tool message's `tool_call_id` is not counted (it links messages and is not model text).
// Preference (DPO) lines: 3 + the messages of input.messages, preferred_output and non_preferred_output.

import { ChatTemplateError, ExampleShapeError, type OpenTokenizer } from "../tokenizers/index.ts";
import { findSpecialToken, type TextCounter } from "./counter.ts";
import { type JsonPath, MAX_JSON_DEPTH, nestsDeeperThan, rawValueAt } from "./jsonText.ts";
import { OPENAI_TRAINER, type TrainerRules } from "./trainer.ts";
import type { ErrorCode, WarningCode } from "./types.ts";

export type LineShape = "chat" | "preference" | "none";

export interface LineIssue<C> {
  code: C;
  message: string;
}

export interface LineVerdict {
  /** What the line looks like: decides the file's format (the first shaped line wins). */
  shape: LineShape;
  errors: LineIssue<ErrorCode>[];
  warnings: LineIssue<WarningCode>[];
  /** Tokens of the example; -1 when the line is invalid before counting. */
  tokens: number;
}

export interface RuleContext {
  /** OpenAI's models: the encoding's counter, for the cookbook rule. */
  counter?: TextCounter | undefined;
  /** Open-weight models: the model's own tokenizer and chat template (then `counter` is not used). */
  template?: OpenTokenizer | undefined;
  maxTokensPerExample: number;
  /** What the provider's trainer accepts; default OpenAI's. */
  trainer?: TrainerRules | undefined;
}

/** A trainer's roles and keys as sets, built once per rule set. */
const compiled = new WeakMap<TrainerRules, { roles: Set<string>; keys: Set<string> }>();
function setsOf(trainer: TrainerRules): { roles: Set<string>; keys: Set<string> } {
  let sets = compiled.get(trainer);
  if (!sets) {
    sets = { roles: new Set(trainer.roles), keys: new Set(trainer.messageKeys) };
    compiled.set(trainer, sets);
  }
  return sets;
}
const PREFERENCE_KEYS = ["input", "preferred_output", "non_preferred_output"] as const;
const MESSAGE_LIMIT = 160;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

function clip(text: string): string {
  return text.length <= MESSAGE_LIMIT ? text : `${text.slice(0, MESSAGE_LIMIT - 1)}…`;
}

/** The value at `path` for a message, as the line writes it (1e999, not the null JSON.stringify makes of Infinity). */
function written(line: string, path: JsonPath, value: Json | undefined): string {
  return clip(rawValueAt(line, path) ?? JSON.stringify(value ?? null));
}

/** A message built only when it is kept: finding a value's text scans the line, once per code, not per message. */
type Message = string | (() => string);

/** Collects at most one issue per code on a line (the first one found says where). */
class Issues {
  readonly errors: LineIssue<ErrorCode>[] = [];
  private readonly seen = new Set<ErrorCode>();
  add(code: ErrorCode, message: Message): void {
    if (this.seen.has(code)) return;
    this.seen.add(code);
    this.errors.push({ code, message: typeof message === "string" ? message : message() });
  }
  get any(): boolean {
    return this.errors.length > 0;
  }
}

/** Text the model reads in a message's content, or why the content is unusable (a Message). */
function contentTexts(
  content: Json | undefined,
  line: string,
  /** The message list's path in the line and the message's index (for a value shown as written). */
  listPath: JsonPath,
  message: number,
  trainer: TrainerRules,
): { texts: string[]; hasImage: boolean } | Message | { unsupported: string } {
  if (typeof content === "string") return { texts: [content], hasImage: false };
  if (Array.isArray(content)) {
    if (!trainer.contentParts) {
      return { unsupported: "content is a list of parts; this provider's trainer takes only a string" };
    }
    if (content.length === 0) return "content is an empty list";
    const texts: string[] = [];
    let hasImage = false;
    for (const [i, part] of content.entries()) {
      if (!isObject(part)) return `content part ${i + 1} is not an object`;
      if (part.type === "text") {
        if (typeof part.text !== "string") return `content part ${i + 1} (text) has no "text" string`;
        texts.push(part.text);
      } else if (part.type === "image_url") {
        const image = part.image_url;
        const url = isObject(image) ? image.url : image;
        if (typeof url !== "string" || url.trim() === "") {
          return `content part ${i + 1} (image_url) has no image_url.url`;
        }
        if (!trainer.images) {
          return { unsupported: `content part ${i + 1} is an image; this model is trained on text only` };
        }
        hasImage = true;
      } else {
        return () =>
          `content part ${i + 1} has type ${written(line, [...listPath, message, "content", i, "type"], part.type)} (expected "text" or "image_url")`;
      }
    }
    return { texts, hasImage };
  }
  if (content === null || content === undefined) return "content is null";
  return `content is a ${typeof content} (expected a string or a list of parts)`;
}

const hasCalls = (m: JsonObject): boolean =>
  (Array.isArray(m.tool_calls) && m.tool_calls.length > 0) || isObject(m.function_call);

/**
 * Checks the messages of one list (chat `messages`, DPO `input.messages` or an output list), adding issues,
 * and returns their tokens (meaningful only when no issue was added).
 */
function checkMessages(
  messages: Json[],
  line: string,
  path: JsonPath,
  where: string,
  issues: Issues,
  ctx: RuleContext,
  specials: { found?: string | undefined },
): number {
  const trainer = ctx.trainer ?? OPENAI_TRAINER;
  const { roles: ROLES, keys: MESSAGE_KEYS } = setsOf(trainer);
  const findSpecial = ctx.template ? ctx.template.findSpecialToken : findSpecialToken;
  let tokens = 0;
  for (const [i, m] of messages.entries()) {
    const at = `${where} ${i + 1}`;
    if (!isObject(m)) {
      issues.add("message_missing_key", `${at} is not an object with "role" and "content"`);
      continue;
    }
    const role = m.role;
    if (!("role" in m)) issues.add("message_missing_key", `${at} has no "role"`);
    else if (typeof role !== "string" || !ROLES.has(role)) {
      issues.add(
        "unrecognized_role",
        () =>
          `${at} has role ${written(line, [...path, i, "role"], role)} (allowed: ${[...ROLES].join(", ")})`,
      );
    }
    const extra = Object.keys(m).filter((k) => !MESSAGE_KEYS.has(k));
    if (extra.length > 0) {
      issues.add(
        "message_unrecognized_key",
        clip(`${at} has unrecognized key(s) ${extra.map((k) => JSON.stringify(k)).join(", ")}`),
      );
    }
    if ("weight" in m && MESSAGE_KEYS.has("weight")) {
      if (role !== "assistant")
        issues.add("invalid_weight", `${at}: "weight" is only allowed on assistant messages`);
      else if (m.weight !== 0 && m.weight !== 1) {
        issues.add(
          "invalid_weight",
          () => `${at}: weight must be 0 or 1, got ${written(line, [...path, i, "weight"], m.weight)}`,
        );
      }
    }
    const callsOk = role === "assistant" && hasCalls(m);
    let texts: string[] = [];
    if (!("content" in m)) {
      if (!callsOk) issues.add("message_missing_key", `${at} (${String(role)}) has no "content"`);
    } else if (!(callsOk && (m.content === null || m.content === ""))) {
      const c = contentTexts(m.content, line, path, i, trainer);
      if (typeof c === "string") issues.add("missing_content", `${at} (${String(role)}): ${c}`);
      else if (typeof c === "function")
        issues.add("missing_content", () => `${at} (${String(role)}): ${c()}`);
      else if ("unsupported" in c)
        issues.add("unsupported_content", `${at} (${String(role)}): ${c.unsupported}`);
      else if (!c.hasImage && !callsOk && c.texts.every((t) => t.trim() === "")) {
        issues.add("missing_content", `${at} (${String(role)}) has empty content`);
      } else texts = c.texts;
    }
    const name = typeof m.name === "string" ? m.name : undefined;
    const calls = [m.tool_calls, m.function_call].filter((v) => v !== undefined && v !== null);
    const callTexts = calls.map((v) => JSON.stringify(v));
    for (const t of [...texts, ...callTexts, name ?? ""]) {
      specials.found ??= findSpecial(t);
    }
    const counter = ctx.counter;
    if (issues.any || typeof role !== "string" || !counter) continue;
    tokens += 3 + counter.count(role);
    for (const t of texts) tokens += counter.count(t);
    for (const t of callTexts) tokens += counter.count(t);
    if (name !== undefined) tokens += counter.count(name) + 1;
  }
  return tokens;
}

const roles = (messages: Json[]) => new Set(messages.map((m) => (isObject(m) ? m.role : undefined)));

function toolTokens(line: JsonObject, ctx: RuleContext, specials: { found?: string | undefined }): number {
  let tokens = 0;
  const findSpecial = ctx.template ? ctx.template.findSpecialToken : findSpecialToken;
  const tools = [line.tools, line.functions];
  if (ctx.template && isObject(line.input)) tools.push(line.input.tools, line.input.functions);
  for (const v of tools) {
    if (v === undefined || v === null) continue;
    const text = JSON.stringify(v);
    specials.found ??= findSpecial(text);
    if (ctx.counter && !ctx.template) tokens += ctx.counter.count(text);
  }
  return tokens;
}

/** Why the text may not hold a special token, for the model being checked. */
function specialTokenReason(ctx: RuleContext): string {
  return ctx.template
    ? "a control token of the model's chat template: the tokenizer would read it as that token, not as text"
    : "which OpenAI rejects in training data";
}

/**
 * The example's tokens by the open model's own chat template: a chat line's rendered text; a preference line's
 * two sequences (prompt + preferred, prompt + non-preferred), each checked against the limit. Or the error.
 */
function templateTokens(
  parsed: JsonObject,
  shape: LineShape,
  template: OpenTokenizer,
  limit: number,
): { tokens: number } | LineIssue<ErrorCode> {
  try {
    if (shape === "preference") {
      const { preferred, nonPreferred } = template.countPreference(parsed);
      const longest = Math.max(preferred, nonPreferred);
      if (longest > limit) return tooMany(longest, limit, "its longer sequence (prompt and one output)");
      return { tokens: preferred + nonPreferred };
    }
    return { tokens: template.countExample(parsed) };
  } catch (err) {
    if (err instanceof ChatTemplateError || err instanceof ExampleShapeError) {
      return { code: "template_refused", message: clip(err.message) };
    }
    throw err;
  }
}

function tooMany(tokens: number, limit: number, what = "the example"): LineIssue<ErrorCode> {
  return {
    code: "too_many_tokens",
    message: `${what} has ${tokens.toLocaleString("en-US")} tokens, over the model's limit of ${limit.toLocaleString("en-US")}`,
  };
}

export function shapeOf(line: JsonObject): LineShape {
  if (PREFERENCE_KEYS.some((k) => k in line)) return "preference";
  if ("messages" in line) return "chat";
  return "none";
}

/** Validates one non-blank, decoded line (no line terminator). */
export function checkLine(text: string, ctx: RuleContext): LineVerdict {
  // Before parsing: everything below walks the parsed value (JSON.stringify included), so its depth is bounded.
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    return {
      shape: "none",
      errors: [
        {
          code: "too_deeply_nested",
          message: `the line nests lists or objects more than ${MAX_JSON_DEPTH} levels deep`,
        },
      ],
      warnings: [],
      tokens: -1,
    };
  }
  let parsed: Json;
  try {
    parsed = JSON.parse(text) as Json;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return {
      shape: "none",
      errors: [{ code: "invalid_json", message: clip(`not valid JSON: ${why}`) }],
      warnings: [],
      tokens: -1,
    };
  }
  if (!isObject(parsed)) {
    const kind = Array.isArray(parsed) ? "an array" : parsed === null ? "null" : `a ${typeof parsed}`;
    return {
      shape: "none",
      errors: [{ code: "data_type", message: `the line is ${kind}, not a JSON object` }],
      warnings: [],
      tokens: -1,
    };
  }
  const shape = shapeOf(parsed);
  const issues = new Issues();
  const warnings: LineIssue<WarningCode>[] = [];
  const specials: { found?: string | undefined } = {};
  let tokens = 3;

  if (shape === "preference") {
    const input = parsed.input;
    const messages = isObject(input) ? input.messages : undefined;
    if (!Array.isArray(messages) || messages.length === 0) {
      issues.add("missing_preference_fields", `"input.messages" must be a non-empty list of messages`);
    } else {
      tokens += checkMessages(messages, text, ["input", "messages"], "input message", issues, ctx, specials);
      if (!roles(messages).has("user")) {
        warnings.push({ code: "missing_user_message", message: "input.messages has no user message" });
      }
    }
    for (const key of ["preferred_output", "non_preferred_output"] as const) {
      const out = parsed[key];
      if (!Array.isArray(out) || out.length === 0) {
        issues.add("missing_preference_fields", `"${key}" must be a non-empty list of assistant messages`);
        continue;
      }
      if (out.some((m) => !isObject(m) || m.role !== "assistant")) {
        issues.add("missing_preference_fields", `"${key}" must hold only assistant messages`);
      }
      tokens += checkMessages(out, text, [key], `${key} message`, issues, ctx, specials);
    }
  } else {
    const messages = parsed.messages;
    if (!Array.isArray(messages) || messages.length === 0) {
      issues.add("missing_messages_list", `the line has no non-empty "messages" list`);
    } else {
      tokens += checkMessages(messages, text, ["messages"], "message", issues, ctx, specials);
      const present = roles(messages);
      if (!present.has("assistant")) {
        issues.add("example_missing_assistant_message", "the example has no assistant message to learn from");
      }
      if (!present.has("system")) {
        warnings.push({ code: "missing_system_message", message: "the example has no system message" });
      }
      if (!present.has("user")) {
        warnings.push({ code: "missing_user_message", message: "the example has no user message" });
      }
    }
  }
  if (specials.found !== undefined) {
    issues.add(
      "special_token",
      `the text contains the special token ${specials.found}, ${specialTokenReason(ctx)}`,
    );
  }
  if (issues.any) return { shape, errors: issues.errors, warnings: [], tokens: -1 };
  tokens += toolTokens(parsed, ctx, specials);
  const refuse = (error: LineIssue<ErrorCode>): LineVerdict => ({
    shape,
    errors: [error],
    warnings: [],
    tokens: -1,
  });
  if (specials.found !== undefined) {
    return refuse({
      code: "special_token",
      message: `the tools contain the special token ${specials.found}, ${specialTokenReason(ctx)}`,
    });
  }
  if (ctx.template) {
    const counted = templateTokens(parsed, shape, ctx.template, ctx.maxTokensPerExample);
    if ("code" in counted) return refuse(counted);
    tokens = counted.tokens;
    if (shape === "preference") return { shape, errors: [], warnings, tokens };
  }
  if (tokens > ctx.maxTokensPerExample) return refuse(tooMany(tokens, ctx.maxTokensPerExample));
  return { shape, errors: [], warnings, tokens };
}
