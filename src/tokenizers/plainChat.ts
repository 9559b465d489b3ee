// The chat templates of the open families written out for the common case, a plain chat: no tools, only
// system, user and assistant messages, every content a string, no tool calls. For such a chat each template
// is a fixed concatenation, so rendering it needs no template interpreter (jinja costs more than counting the
// text it renders). Each function returns exactly the text the family's template renders (tested against the
// template on many examples), or undefined when the chat is not plain: the template itself renders it then.
import type { TemplateChat } from "./chat.ts";
import type { OpenTokenizerFamily } from "./families.ts";

export type PlainRender = (chat: TemplateChat, strip: (s: string) => string) => string | undefined;

const PLAIN_ROLES = new Set(["system", "user", "assistant"]);

/** The messages' roles and contents, when the chat is plain. */
function plainMessages(chat: TemplateChat): { role: string; content: string }[] | undefined {
  if (chat.tools !== null) return undefined;
  const out: { role: string; content: string }[] = [];
  for (const m of chat.messages) {
    const { role, content } = m;
    if (typeof role !== "string" || !PLAIN_ROLES.has(role) || typeof content !== "string") return undefined;
    if ("tool_calls" in m) return undefined;
    out.push({ role, content });
  }
  return out.length > 0 ? out : undefined;
}

/**
 * Llama 3.1 (LLAMA_3_1_CHAT_TEMPLATE, tools none): the begin-of-text token, the system header with the
 * knowledge and "today" dates, the first system message trimmed, then each message trimmed in its header.
 */
function llama31(chat: TemplateChat, strip: (s: string) => string): string | undefined {
  const messages = plainMessages(chat);
  if (!messages) return undefined;
  let i = 0;
  let system = "";
  if (messages[0]?.role === "system") {
    system = strip(messages[0].content);
    i = 1;
  }
  let out =
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
    "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" +
    `${system}<|eot_id|>`;
  for (; i < messages.length; i++) {
    const m = messages[i] as { role: string; content: string };
    out += `<|start_header_id|>${m.role}<|end_header_id|>\n\n${strip(m.content)}<|eot_id|>`;
  }
  return out;
}

/** Qwen 2.5 (its tokenizer_config.json template, no tools): the system turn (or the default one), then each turn. */
function qwen25(chat: TemplateChat): string | undefined {
  const messages = plainMessages(chat);
  if (!messages) return undefined;
  let i = 0;
  let out: string;
  if (messages[0]?.role === "system") {
    out = `<|im_start|>system\n${messages[0].content}<|im_end|>\n`;
    i = 1;
  } else {
    out =
      "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n";
  }
  for (; i < messages.length; i++) {
    const m = messages[i] as { role: string; content: string };
    out += `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`;
  }
  return out;
}

export const PLAIN_RENDERERS: Record<OpenTokenizerFamily, PlainRender> = {
  "llama3.1": llama31,
  "qwen2.5": qwen25,
};
