// From an example line of an OpenAI-format fine-tuning file to the `messages` and `tools` a Hugging Face chat
// template takes (what `apply_chat_template(messages, tools=tools)` would be called with). Pure.
//
// The OpenAI format is mapped the way OpenAI-compatible servers (vLLM, TGI) map a chat request:
//   - content given as a list of parts becomes its text parts joined by "\n" (image parts are dropped: these
//     are text-only models);
//   - a tool call's `function.arguments` JSON string is parsed into an object (Hugging Face templates expect a
//     mapping and render it with `tojson`); arguments that are not valid JSON stay a string;
//   - an empty or null `tool_calls` is dropped (Llama 3.1's template tests for the key, not its length);
//   - the legacy `function_call` becomes a one-call `tool_calls`, role "function" becomes "tool", and the legacy
//     line-level `functions` become `tools` of type "function";
//   - `weight` is dropped (it marks what to learn from, it is not model text); other keys pass through and the
//     templates ignore them.
// Preference (DPO) lines: `input.messages` (with `input.tools` or a line-level `tools`) followed by
// `preferred_output`, or by `non_preferred_output` for the other sequence.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface TemplateChat {
  messages: JsonObject[];
  /** null when the example has no tools (transformers passes tools=None then). */
  tools: Json[] | null;
}

/** The example is not one this module can render (the validator reports such lines before counting). */
export class ExampleShapeError extends Error {}

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

function textOf(content: Json | undefined): Json | undefined {
  if (!Array.isArray(content)) return content;
  const texts: string[] = [];
  for (const part of content) {
    if (isObject(part) && part.type === "text" && typeof part.text === "string") texts.push(part.text);
  }
  return texts.join("\n");
}

function parsedArguments(args: Json | undefined): Json | undefined {
  if (typeof args !== "string") return args;
  try {
    return JSON.parse(args) as Json;
  } catch {
    return args;
  }
}

function templateCall(call: Json): Json {
  if (!isObject(call) || !isObject(call.function)) return call;
  const fn = call.function;
  return { ...call, function: { ...fn, arguments: parsedArguments(fn.arguments) ?? null } };
}

function templateMessage(m: Json): JsonObject {
  if (!isObject(m)) throw new ExampleShapeError("a message is not an object");
  const { weight: _weight, function_call, tool_calls, ...rest } = m;
  const out: JsonObject = { ...rest };
  if (out.role === "function") out.role = "tool";
  if ("content" in m) out.content = textOf(m.content) ?? null;
  if (Array.isArray(tool_calls) && tool_calls.length > 0) out.tool_calls = tool_calls.map(templateCall);
  else if (isObject(function_call)) {
    out.tool_calls = [templateCall({ type: "function", function: function_call })];
  }
  return out;
}

function templateTools(line: JsonObject, input: JsonObject | undefined): Json[] | null {
  const tools = input?.tools ?? line.tools;
  if (Array.isArray(tools) && tools.length > 0) return tools;
  const functions = input?.functions ?? line.functions;
  if (Array.isArray(functions) && functions.length > 0) {
    return functions.map((f) => ({ type: "function", function: f }));
  }
  return null;
}

function messagesOf(list: Json | undefined, what: string): JsonObject[] {
  if (!Array.isArray(list) || list.length === 0)
    throw new ExampleShapeError(`${what} is not a non-empty list`);
  return list.map(templateMessage);
}

/** The chat of a chat-format line ({"messages": [...], "tools"?: [...]}). */
export function chatOfExample(line: JsonObject): TemplateChat {
  return { messages: messagesOf(line.messages, '"messages"'), tools: templateTools(line, undefined) };
}

/** The two sequences of a preference (DPO) line: the prompt followed by each output. */
export function chatsOfPreference(line: JsonObject): { preferred: TemplateChat; nonPreferred: TemplateChat } {
  const input = isObject(line.input) ? line.input : undefined;
  const prompt = messagesOf(input?.messages, '"input.messages"');
  const tools = templateTools(line, input);
  return {
    preferred: { messages: [...prompt, ...messagesOf(line.preferred_output, '"preferred_output"')], tools },
    nonPreferred: {
      messages: [...prompt, ...messagesOf(line.non_preferred_output, '"non_preferred_output"')],
      tools,
    },
  };
}

export const isPreferenceLine = (line: JsonObject): boolean =>
  "input" in line || "preferred_output" in line || "non_preferred_output" in line;
