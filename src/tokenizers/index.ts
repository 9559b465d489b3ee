// Exact token counts for open-weight base models: tokens per example = the length of the base model's own
// chat template applied to the example, as Hugging Face transformers computes it with
// `apply_chat_template(messages, tools=tools, tokenize=True, add_generation_prompt=False)`, default system
// text, tool definitions and tool calls included. See chat.ts for how an OpenAI-format line becomes
// `messages`/`tools`, families.ts for where each family's data and template come from.
//
// Loading is lazy and cached per thread: a family's tables (~10 MB of JSON) are read the first time it is
// asked for, from node_modules by path. In a validation worker bundled from a data: URL, pass the paths from
// the main thread (`openTokenizerFiles`), as the worker does for the o200k tables. The built tables are kept
// in node_modules/.cache/classtune (tableFile.ts: checked by sha256, keyed to the tokenizer.json's path, size
// and time), so later loads read them instead of parsing the JSON and building ~300,000 merges again.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";
import {
  type BpeTables,
  bpeTablesFromJson,
  createBpeTokenizer,
  packBpeTables,
  type TokenizerJson,
  unpackBpeTables,
} from "./bpe.ts";
import {
  chatOfExample,
  chatsOfPreference,
  isPreferenceLine,
  type JsonObject,
  type TemplateChat,
} from "./chat.ts";
import { FAMILIES, type OpenTokenizerFamily } from "./families.ts";
import { type OpenTokenizerFiles, openTablesKey, openTokenizerFiles } from "./files.ts";
import { PLAIN_RENDERERS } from "./plainChat.ts";
import { cachedTables } from "./tableFile.ts";

export { ExampleShapeError, type Json, type JsonObject } from "./chat.ts";
export { isOpenTokenizerFamily, OPEN_TOKENIZER_FAMILIES, type OpenTokenizerFamily } from "./families.ts";
export { type OpenTokenizerFiles, openTablesKey, openTokenizerFiles } from "./files.ts";

export interface OpenTokenizer {
  readonly family: OpenTokenizerFamily;
  /** Token ids of `text`; special-token text such as "<|eot_id|>" is that token, as transformers reads it. */
  encode(text: string): number[];
  /** The number of tokens `encode(text)` returns, without building the list. */
  count(text: string): number;
  /** The base model's chat template applied to an example line (chat, or a preference line's preferred sequence). */
  render(example: JsonObject): string;
  /**
   * The same text through the template interpreter itself. `render` writes plain chats (no tools, string
   * contents) directly, which is several times faster and gives the same text (tests compare the two).
   */
  renderWithTemplate(example: JsonObject): string;
  /** The first special-token text in `text` (e.g. "<|eot_id|>"): the tokenizer reads it as that token, not as text. */
  findSpecialToken(text: string): string | undefined;
  /**
   * Tokens of one example line. Chat lines: the rendered template. Preference (DPO) lines: the prompt followed
   * by the preferred output (use `countPreference` for both sequences, e.g. to check each against a limit).
   */
  countExample(example: JsonObject): number;
  /** Tokens of each sequence a DPO trainer feeds the model: the prompt + preferred, the prompt + non-preferred output. */
  countPreference(example: JsonObject): { preferred: number; nonPreferred: number };
}

/** The model's own chat template refuses the example (e.g. Llama 3.1 takes one tool call per message). */
export class ChatTemplateError extends Error {}

function readChecked(path: string, sha256: string, what: string): string {
  const bytes = readFileSync(path);
  const actual = createHash("sha256").update(bytes).digest("hex");
  if (actual !== sha256) {
    throw new Error(`${what} at ${path} is not the expected file (sha256 ${actual}, expected ${sha256})`);
  }
  return bytes.toString("utf8");
}

/** Python's str.isspace() characters: what jinja2's `trim` (str.strip) removes. JavaScript's trim differs. */
const PY_SPACE = "\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "g");
const PYTHON_STRIP = "__classtune_python_strip";

/** jinja2's `trim` filter: `str(value).strip()`. */
function pythonStrip(value: unknown): string {
  return (typeof value === "string" ? value : value === null ? "None" : String(value)).replace(PY_STRIP, "");
}

interface AstNode {
  type: string;
  [key: string]: unknown;
}

/**
 * The template with every `x | trim` turned into a call of pythonStrip: @huggingface/jinja's trim is
 * JavaScript's String#trim, which also strips U+FEFF and keeps U+0085 and U+001C–U+001F, unlike the Python
 * jinja2 that transformers renders with.
 */
function withPythonTrim(template: Template): Template {
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const v of value) visit(v);
      return;
    }
    if (typeof value !== "object" || value === null) return;
    const node = value as AstNode;
    for (const v of Object.values(node)) visit(v);
    const filter = node.filter as AstNode | undefined;
    if (node.type === "FilterExpression" && filter?.type === "Identifier" && filter.value === "trim") {
      node.type = "CallExpression";
      filter.value = PYTHON_STRIP;
      node.callee = filter;
      node.args = [node.operand];
    }
  };
  visit((template as unknown as { parsed: unknown }).parsed);
  return template;
}

/** The family's tables: built from its verified tokenizer.json, kept in node_modules/.cache (tableFile.ts). */
function tablesOf(family: OpenTokenizerFamily, files: OpenTokenizerFiles): BpeTables {
  const spec = FAMILIES[family];
  const key = openTablesKey(family, files);
  return cachedTables(
    key.name,
    key.source,
    key.meta,
    () => {
      const json = JSON.parse(
        readChecked(files.tokenizerJson, spec.tokenizerJson.sha256, `the ${spec.label} tokenizer.json`),
      ) as TokenizerJson;
      if (spec.addedTokenText) {
        for (const t of json.added_tokens) t.content = spec.addedTokenText(t.id);
      }
      return bpeTablesFromJson(json);
    },
    packBpeTables,
    unpackBpeTables,
  );
}

function load(family: OpenTokenizerFamily, files: OpenTokenizerFiles): OpenTokenizer {
  const spec = FAMILIES[family];
  const bpe = createBpeTokenizer(tablesOf(family, files));
  let source: string;
  if ("text" in spec.chatTemplate) source = spec.chatTemplate.text;
  else {
    if (!files.tokenizerConfig) throw new Error(`no tokenizer_config.json path given for ${spec.label}`);
    const config = JSON.parse(
      readChecked(files.tokenizerConfig, spec.chatTemplate.sha256, `the ${spec.label} tokenizer_config.json`),
    ) as { chat_template?: unknown };
    if (typeof config.chat_template !== "string") throw new Error(`${spec.label}: no chat_template`);
    source = config.chat_template;
  }
  const template = withPythonTrim(new Template(source));
  const plain = PLAIN_RENDERERS[family];
  const renderTemplate = (chat: TemplateChat): string => {
    try {
      return template.render({
        messages: chat.messages,
        tools: chat.tools,
        add_generation_prompt: false,
        ...spec.templateTokens,
        [PYTHON_STRIP]: pythonStrip,
      });
    } catch (err) {
      throw new ChatTemplateError(
        `the ${spec.label} chat template refuses this example: ${(err as Error).message}`,
      );
    }
  };
  const render = (chat: TemplateChat): string => plain(chat, pythonStrip) ?? renderTemplate(chat);
  const chatOf = (line: JsonObject) =>
    isPreferenceLine(line) ? chatsOfPreference(line).preferred : chatOfExample(line);
  return {
    family,
    encode: (text) => bpe.encode(text),
    count: (text) => bpe.count(text),
    findSpecialToken: (text) => bpe.findAddedToken(text),
    render: (line) => render(chatOf(line)),
    renderWithTemplate: (line) => renderTemplate(chatOf(line)),
    countExample: (line) => bpe.count(render(chatOf(line))),
    countPreference(line) {
      const { preferred, nonPreferred } = chatsOfPreference(line);
      return { preferred: bpe.count(render(preferred)), nonPreferred: bpe.count(render(nonPreferred)) };
    },
  };
}

const loaded = new Map<OpenTokenizerFamily, OpenTokenizer>();

/**
 * The tokenizer of `family`, loaded on first use and kept for the life of the thread. `files` defaults to
 * the packages in node_modules (resolved from this module, or from the working directory in a bundle).
 */
export function getOpenTokenizer(family: OpenTokenizerFamily, files?: OpenTokenizerFiles): OpenTokenizer {
  let tokenizer = loaded.get(family);
  if (!tokenizer) {
    tokenizer = load(family, files ?? openTokenizerFiles(family));
    loaded.set(family, tokenizer);
  }
  return tokenizer;
}
