import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { builtInCatalog, resolveModel } from "../../src/datasets/catalog.ts";
import { checkLine, type RuleContext } from "../../src/datasets/rules.ts";
import { textCounter } from "../../src/datasets/tokens.ts";
import { getOpenTokenizer } from "../../src/tokenizers/index.ts";

const ctx = { counter: textCounter("o200k_base"), maxTokensPerExample: 65_536 };
const check = (line: unknown, c: RuleContext = ctx) =>
  checkLine(typeof line === "string" ? line : JSON.stringify(line), c);
const codes = (line: unknown, c: RuleContext = ctx) => check(line, c).errors.map((e) => e.code);

const sys = { role: "system", content: "You are a tutor." };
const user = { role: "user", content: "What is 2 + 2?" };
const assistant = { role: "assistant", content: "4." };
const chat = (...messages: unknown[]) => ({ messages });

describe("checkLine: a valid chat example", () => {
  it("is valid with tokens counted and no warnings", () => {
    const v = check(chat(sys, user, assistant));
    assert.deepEqual(v.errors, []);
    assert.deepEqual(v.warnings, []);
    assert.equal(v.shape, "chat");
    assert.ok(v.tokens > 10);
  });

  it("counts per example 3, per message 3 + role + content, name + 1", () => {
    const c = ctx.counter;
    const plain = check(chat(user, assistant)).tokens;
    assert.equal(
      plain,
      3 + 3 + c.count("user") + c.count(user.content) + 3 + c.count("assistant") + c.count("4."),
    );
    const named = check(chat({ ...user, name: "Ada" }, assistant)).tokens;
    assert.equal(named, plain + c.count("Ada") + 1);
  });
});

describe("checkLine: each error code", () => {
  it("invalid_json", () => assert.deepEqual(codes('{"messages": [}'), ["invalid_json"]));
  it("data_type for JSON that is not an object", () => {
    assert.deepEqual(codes("[1, 2]"), ["data_type"]);
    assert.deepEqual(codes('"text"'), ["data_type"]);
    assert.deepEqual(codes("null"), ["data_type"]);
  });
  it("missing_messages_list", () => {
    assert.deepEqual(codes({ prompt: "x", completion: "y" }), ["missing_messages_list"]);
    assert.deepEqual(codes({ messages: [] }), ["missing_messages_list"]);
    assert.deepEqual(codes({ messages: "hi" }), ["missing_messages_list"]);
  });
  it("message_missing_key: no role, no content, not an object", () => {
    assert.ok(codes(chat({ content: "x" }, assistant)).includes("message_missing_key"));
    assert.deepEqual(codes(chat({ role: "user" }, assistant)), ["message_missing_key"]);
    assert.ok(codes(chat("hello", assistant)).includes("message_missing_key"));
  });
  it("message_unrecognized_key", () => {
    assert.deepEqual(codes(chat({ ...user, mood: "happy" }, assistant)), ["message_unrecognized_key"]);
  });
  it("unrecognized_role", () => {
    assert.deepEqual(codes(chat({ role: "teacher", content: "x" }, assistant)), ["unrecognized_role"]);
  });
  it("missing_content: empty, whitespace, null, wrong type, bad parts", () => {
    for (const content of [
      "",
      "   \n",
      null,
      42,
      { text: "x" },
      [],
      [{ type: "audio" }],
      [{ type: "text" }],
    ]) {
      assert.deepEqual(
        codes(chat({ role: "user", content }, assistant)),
        ["missing_content"],
        JSON.stringify(content),
      );
    }
  });
  it("example_missing_assistant_message", () => {
    assert.deepEqual(codes(chat(sys, user)), ["example_missing_assistant_message"]);
  });
  it("invalid_weight: not 0 or 1, or on a non-assistant message", () => {
    assert.deepEqual(codes(chat(user, { ...assistant, weight: 0.5 })), ["invalid_weight"]);
    assert.deepEqual(codes(chat({ ...user, weight: 1 }, assistant)), ["invalid_weight"]);
    assert.deepEqual(codes(chat(user, { ...assistant, weight: 0 })), []);
  });
  it("too_many_tokens over the model's limit", () => {
    const small = { counter: ctx.counter, maxTokensPerExample: 20 };
    const v = check(chat(user, { role: "assistant", content: "word ".repeat(50) }), small);
    assert.deepEqual(
      v.errors.map((e) => e.code),
      ["too_many_tokens"],
    );
    assert.match(v.errors[0]?.message ?? "", /limit of 20/);
  });
  it("special_token in content, without throwing", () => {
    const v = check(chat(user, { role: "assistant", content: "The end.<|endoftext|>" }));
    assert.deepEqual(
      v.errors.map((e) => e.code),
      ["special_token"],
    );
    assert.match(v.errors[0]?.message ?? "", /<\|endoftext\|>/);
    assert.deepEqual(codes(chat(user, { role: "assistant", content: "use <|im_start|> here" })), [
      "special_token",
    ]);
  });
  it("reports several codes on one line, one per code", () => {
    const c = codes(chat({ role: "teacher", content: "" }, { role: "user", content: "" }));
    assert.deepEqual(c.sort(), ["example_missing_assistant_message", "missing_content", "unrecognized_role"]);
  });
});

describe("checkLine: warnings", () => {
  it("missing_system_message and missing_user_message on valid examples", () => {
    assert.deepEqual(
      check(chat(user, assistant)).warnings.map((w) => w.code),
      ["missing_system_message"],
    );
    assert.deepEqual(
      check(chat(sys, assistant)).warnings.map((w) => w.code),
      ["missing_user_message"],
    );
  });
});

describe("checkLine: tool calls and multimodal content", () => {
  const call = {
    id: "call_1",
    type: "function",
    function: { name: "get_weather", arguments: '{"city":"Paris"}' },
  };
  const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }];

  it("accepts an assistant message with tool_calls and no content, and counts the calls and tools", () => {
    const withCalls = {
      tools,
      parallel_tool_calls: false,
      messages: [
        user,
        { role: "assistant", tool_calls: [call] },
        { role: "tool", tool_call_id: "call_1", content: '{"temp": 12}' },
        { role: "assistant", content: "It is 12 °C in Paris." },
      ],
    };
    const v = check(withCalls);
    assert.deepEqual(v.errors, []);
    const c = ctx.counter;
    const withoutToolsAndCalls =
      3 +
      (3 + c.count("user") + c.count(user.content)) +
      (3 + c.count("assistant")) +
      (3 + c.count("tool") + c.count('{"temp": 12}')) +
      (3 + c.count("assistant") + c.count("It is 12 °C in Paris."));
    assert.equal(
      v.tokens,
      withoutToolsAndCalls + c.count(JSON.stringify([call])) + c.count(JSON.stringify(tools)),
    );
  });

  it("accepts content null on an assistant message with function_call", () => {
    const line = chat(user, {
      role: "assistant",
      content: null,
      function_call: { name: "f", arguments: "{}" },
    });
    assert.deepEqual(codes(line), []);
  });

  it("still requires content on an assistant message without calls", () => {
    assert.deepEqual(codes(chat(user, { role: "assistant", content: null })), ["missing_content"]);
  });

  it("accepts text and image_url parts, counting only the text", () => {
    const content = [
      { type: "text", text: "What is in this picture?" },
      { type: "image_url", image_url: { url: "https://example.com/cat.png" } },
    ];
    const v = check(chat({ role: "user", content }, assistant));
    assert.deepEqual(v.errors, []);
    const textOnly = check(chat({ role: "user", content: "What is in this picture?" }, assistant));
    assert.equal(v.tokens, textOnly.tokens);
  });
});

describe("checkLine: preference (DPO) lines", () => {
  const pref = {
    input: { messages: [user] },
    preferred_output: [{ role: "assistant", content: "2 + 2 = 4." }],
    non_preferred_output: [{ role: "assistant", content: "5." }],
  };

  it("is valid and counted over input, preferred and non-preferred messages", () => {
    const v = check(pref);
    assert.equal(v.shape, "preference");
    assert.deepEqual(v.errors, []);
    const c = ctx.counter;
    const msg = (role: string, text: string) => 3 + c.count(role) + c.count(text);
    assert.equal(
      v.tokens,
      3 + msg("user", user.content) + msg("assistant", "2 + 2 = 4.") + msg("assistant", "5."),
    );
  });

  it("missing_preference_fields for a missing or malformed part", () => {
    assert.deepEqual(codes({ ...pref, non_preferred_output: undefined }), ["missing_preference_fields"]);
    assert.deepEqual(codes({ ...pref, input: { messages: [] } }), ["missing_preference_fields"]);
    assert.deepEqual(codes({ ...pref, preferred_output: [user] }), ["missing_preference_fields"]);
  });

  it("uses the chat codes for the messages inside", () => {
    assert.deepEqual(codes({ ...pref, input: { messages: [{ role: "pupil", content: "x" }] } }), [
      "unrecognized_role",
    ]);
  });
});

describe("checkLine: deeply nested values", () => {
  const lists = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
  const objects = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
  const deepLines: Record<string, string> = {
    role: `{"messages":[{"role":${lists(40_000)},"content":"x"},{"role":"assistant","content":"ok"}]}`,
    weight: `{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"ok","weight":${objects(40_000)}}]}`,
    tool_calls: `{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":${lists(40_000)}}]}`,
    tools: `{"tools":${lists(40_000)},"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"ok"}]}`,
  };

  for (const [key, line] of Object.entries(deepLines)) {
    it(`refuses "${key}" nested 40,000 levels deep as too_deeply_nested, without throwing`, () => {
      const v = checkLine(line, ctx);
      assert.deepEqual(
        v.errors.map((e) => e.code),
        ["too_deeply_nested"],
      );
      assert.match(v.errors[0]?.message ?? "", /more than 64 levels/);
      assert.equal(v.tokens, -1);
    });
  }

  it("accepts tool definitions nested up to the limit", () => {
    let schema: unknown = { type: "string" };
    for (let i = 0; i < 28; i++) schema = { type: "object", properties: { child: schema } };
    const line = JSON.stringify({
      tools: [{ type: "function", function: { name: "f", parameters: schema } }],
      ...chat(user, assistant),
    });
    assert.deepEqual(codes(line), []);
  });

  it("does not count brackets inside strings, escaped quotes included", () => {
    const text = `${"[{".repeat(100)} \\" ]}`;
    assert.deepEqual(codes(chat(user, { role: "assistant", content: text })), []);
  });
});

describe("checkLine: values shown as the line writes them", () => {
  const withWeight = (raw: string) =>
    `{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"ok","weight":${raw}}]}`;
  const messageOf = (line: string) => checkLine(line, ctx).errors.map((e) => e.message);

  it("reports a weight of 1e999 as 1e999, not as the null JSON.stringify makes of Infinity", () => {
    assert.deepEqual(messageOf(withWeight("1e999")), ["message 2: weight must be 0 or 1, got 1e999"]);
    assert.deepEqual(messageOf(withWeight("-1E+999")), ["message 2: weight must be 0 or 1, got -1E+999"]);
  });

  it("shows the last of duplicate keys, as JSON.parse keeps it, and finds escaped keys", () => {
    const line = `{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"ok","weight":1,"weigh\\u0074":  2.50e1 }]}`;
    assert.deepEqual(messageOf(line), ["message 2: weight must be 0 or 1, got 2.50e1"]);
  });

  it("reports a role written as a number or a list as written, cut when long", () => {
    const role = (raw: string) =>
      `{"messages":[{"role":${raw},"content":"x"},{"role":"assistant","content":"ok"}]}`;
    assert.match(messageOf(role("1e400"))[0] ?? "", /^message 1 has role 1e400 \(allowed:/);
    const long = `[${Array.from({ length: 100 }, () => "1e999").join(", ")}]`;
    const message = messageOf(role(long))[0] ?? "";
    assert.match(message, /^message 1 has role \[1e999, 1e999, .*…/);
    assert.ok(message.length < 250, `${message.length} characters`);
  });

  it("reports a content part's type as written", () => {
    const line = `{"messages":[{"role":"user","content":[{"type": 1e999}]},{"role":"assistant","content":"ok"}]}`;
    assert.match(
      messageOf(line)[0] ?? "",
      /content part 1 has type 1e999 \(expected "text" or "image_url"\)/,
    );
  });

  it("looks a value up once per code, not once per message: a line of 50,000 bad messages takes well under a second", () => {
    const bad = { role: 5, content: [{ type: 7 }], weight: 3 };
    const line = JSON.stringify({ messages: Array.from({ length: 50_000 }, () => bad) });
    const started = performance.now();
    const v = checkLine(line, ctx);
    const ms = performance.now() - started;
    assert.match(v.errors[0]?.message ?? "", /^message 1 has role 5/);
    assert.ok(ms < 3000, `${Math.round(ms)} ms`);
  });

  it("shows a preference line's values at their own place", () => {
    const line = `{"input":{"messages":[{"role":"user","content":"x"}]},"preferred_output":[{"role":"assistant","content":"a","weight":1e999}],"non_preferred_output":[{"role":"assistant","content":"b","weight":-1e999}]}`;
    assert.deepEqual(messageOf(line), ["preferred_output message 1: weight must be 0 or 1, got 1e999"]);
  });
});

describe("checkLine: a provider's trainer rules and an open model's own chat template", () => {
  const llama = getOpenTokenizer("llama3.1");
  const qwen = getOpenTokenizer("qwen2.5");
  const rulesOf = (kind: "together" | "nebius", id: string) => resolveModel(id, builtInCatalog(kind)).trainer;
  const together = {
    template: llama,
    maxTokensPerExample: 131_072,
    trainer: rulesOf("together", "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"),
  };
  const nebius = {
    template: llama,
    maxTokensPerExample: 8192,
    trainer: rulesOf("nebius", "meta-llama/Llama-3.1-8B-Instruct"),
  };
  const [withTools, preference, , twoToolCalls] = readFileSync(
    new URL("../tokenizers/fixtures/open_examples.jsonl", import.meta.url),
    "utf8",
  )
    .trim()
    .split("\n");

  it("counts a chat by the model's template, default system header included (Llama 3.1: 38; Qwen 2.5: 33)", () => {
    const hiYo = chat({ role: "user", content: "hi" }, { role: "assistant", content: "yo" });
    assert.equal(check(hiYo, together).tokens, 38);
    assert.equal(check(hiYo, { ...together, template: qwen }).tokens, 33);
  });

  it("counts tools, a tool call and its result as the template renders them (Llama 306, Qwen 279)", () => {
    assert.deepEqual(check(withTools, together).errors, []);
    assert.equal(check(withTools, together).tokens, 306);
    assert.equal(check(withTools, { ...nebius, template: qwen }).tokens, 279);
  });

  it("counts both sequences of a preference line (Llama 3.1: 83 + 52)", () => {
    assert.equal(check(preference, together).tokens, 83 + 52);
  });

  it("refuses what the model's own template refuses: two tool calls in one Llama 3.1 message", () => {
    const v = check(twoToolCalls, together);
    assert.deepEqual(
      v.errors.map((e) => e.code),
      ["template_refused"],
    );
    assert.match(v.errors[0]?.message ?? "", /only supports single tool-calls at once/);
    assert.deepEqual(codes(twoToolCalls, { ...together, template: qwen }), [], "Qwen 2.5 takes several");
  });

  it("checks the limit in the model's own tokens", () => {
    const long = chat(user, { role: "assistant", content: "word ".repeat(9000) });
    assert.deepEqual(codes(long, nebius), ["too_many_tokens"]);
    assert.match(check(long, nebius).errors[0]?.message ?? "", /over the model's limit of 8,192/);
    assert.deepEqual(codes(long, together), []);
  });

  it("refuses roles and keys the provider's trainer does not take, naming the ones it does", () => {
    const fn = chat(user, { role: "function", name: "f", content: "{}" }, assistant);
    assert.deepEqual(codes(fn, ctx), [], "OpenAI takes the legacy function role");
    const v = check(fn, together);
    assert.deepEqual(
      v.errors.map((e) => e.code),
      ["unrecognized_role"],
    );
    assert.match(v.errors[0]?.message ?? "", /allowed: system, user, assistant, tool\)/);
    const weighted = chat(user, { ...assistant, weight: 0 }, { role: "user", content: "ok?" }, assistant);
    assert.deepEqual(codes(weighted, together), [], "Together documents weight");
    assert.deepEqual(codes(weighted, nebius), ["message_unrecognized_key"], "Nebius does not");
  });

  it("refuses content Together's trainer or a text-only model cannot take", () => {
    const parts = chat({ role: "user", content: [{ type: "text", text: "hi" }] }, assistant);
    assert.deepEqual(codes(parts, nebius), []);
    assert.deepEqual(codes(parts, together), ["unsupported_content"], "Together: content is a string");
    const image = chat(
      {
        role: "user",
        content: [
          { type: "text", text: "What is this?" },
          { type: "image_url", image_url: { url: "https://example.com/cell.png" } },
        ],
      },
      assistant,
    );
    assert.deepEqual(codes(image, ctx), [], "gpt-4o takes images");
    const v = check(image, nebius);
    assert.deepEqual(
      v.errors.map((e) => e.code),
      ["unsupported_content"],
    );
    assert.match(v.errors[0]?.message ?? "", /part 2 is an image; this model is trained on text only/);
  });

  it("refuses text holding the template's own special tokens, which OpenAI's rule would count as text", () => {
    const eot = chat(user, { role: "assistant", content: "4.<|eot_id|>" });
    assert.deepEqual(codes(eot, ctx), [], "plain text for OpenAI's encodings");
    const v = check(eot, together);
    assert.deepEqual(
      v.errors.map((e) => e.code),
      ["special_token"],
    );
    assert.match(v.errors[0]?.message ?? "", /<\|eot_id\|>, a control token of the model's chat template/);
    assert.deepEqual(
      codes(chat(user, { role: "assistant", content: "<tool_call>" }), { ...nebius, template: qwen }),
      ["special_token"],
    );
  });
});
