// Exact open-model token counts (src/tokenizers).
//
// Where the pinned numbers come from (computed outside this repository, once, and written down here):
//   - rendering: Python jinja2 3.1.2 (Debian python3-jinja2) set up exactly as transformers'
//     _compile_jinja_template (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
//     tojson = json.dumps(ensure_ascii=False), raise_exception) and called as apply_chat_template calls it
//     (messages, tools, add_generation_prompt=False, the special-token map), on the official templates;
//   - tokenizing: transformers.js (@huggingface/transformers 4.3.2, whose tokenizer is @huggingface/tokenizers
//     0.2.0) encoding that text with add_special_tokens=false, loaded from the same tokenizer.json files with
//     the official tokenizer_config.json of each model;
//   - the id lists of the two-message chats are transformers.js's own apply_chat_template(tokenize=true).
// The OpenAI-format lines were mapped to messages by the rules documented in src/tokenizers/chat.ts, written
// again independently in the Python reference.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import * as esbuild from "esbuild";
import { WORKER_BUNDLE_OPTIONS, WORKER_HEAP_LIMITS } from "../../src/datasets/validator.ts";
import {
  ChatTemplateError,
  getOpenTokenizer,
  type JsonObject,
  OPEN_TOKENIZER_FAMILIES,
  openTokenizerFiles,
} from "../../src/tokenizers/index.ts";

const TOY = new URL("../datasets/fixtures/toy_chat_fine_tuning.jsonl", import.meta.url);
const EXAMPLES = new URL("./fixtures/open_examples.jsonl", import.meta.url);
const linesOf = (url: URL) =>
  readFileSync(url, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as JsonObject);
const [withTools, preference, oddWhitespace, twoToolCalls] = linesOf(EXAMPLES) as [
  JsonObject,
  JsonObject,
  JsonObject,
  JsonObject,
];
const hiYo: JsonObject = {
  messages: [
    { role: "user", content: "hi" },
    { role: "assistant", content: "yo" },
  ],
};
const repeat = (id: number, n: number) => new Array<number>(n).fill(id);
const LONG_PIECES = `${"é".repeat(150)} ${"ab".repeat(200)}`;
const MIXED = "naïve café — Straße 日本語 🙂👍🏽 it's THEY'RE 1234567 x\u0085y\ufeffz\u00a0 \n\n  end";

describe("Llama 3.1 token counts equal transformers'", () => {
  const llama = getOpenTokenizer("llama3.1");

  it('encodes "Hello world" as [9906, 1917] and <|eot_id|> as 128009', () => {
    assert.deepEqual(llama.encode("Hello world"), [9906, 1917]);
    assert.deepEqual(llama.encode("<|eot_id|>"), [128009]);
  });

  it("knows the special tokens by their Llama 3.1 names, not Llama 3.0's", () => {
    const text = "<|eom_id|><|python_tag|><|finetune_right_pad_id|><tool_call><|reserved_special_token_247|>";
    assert.deepEqual(llama.encode(text), [128008, 128010, 128004, 27, 14506, 13735, 29, 128255]);
  });

  it("encodes long pieces, unicode and unusual whitespace as the reference does", () => {
    assert.deepEqual(llama.encode(LONG_PIECES), [...repeat(978, 150), 671, ...repeat(370, 199)]);
    assert.deepEqual(
      llama.encode(MIXED),
      [
        3458, 38672, 588, 53050, 2001, 27745, 24352, 105180, 102158, 28584, 9468, 239, 235, 9468, 237, 121,
        433, 596, 63593, 95253, 220, 4513, 10961, 22, 865, 116360, 88, 3305, 89, 4194, 4815, 220, 842,
      ],
    );
    assert.deepEqual(llama.encode("e\u0301 ﬁ Å"), [68, 54939, 33595, 71831, 80352]);
  });

  it("renders the template's default system header (Cutting Knowledge Date, Today Date 26 Jul 2024)", () => {
    assert.ok(
      llama.render(hiYo).includes("Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"),
    );
    assert.deepEqual(
      llama.encode(llama.render(hiYo)),
      [
        128000, 128006, 9125, 128007, 271, 38766, 1303, 33025, 2696, 25, 6790, 220, 2366, 18, 198, 15724,
        2696, 25, 220, 1627, 10263, 220, 2366, 19, 271, 128009, 128006, 882, 128007, 271, 6151, 128009,
        128006, 78191, 128007, 271, 16417, 128009,
      ],
    );
    assert.equal(llama.countExample(hiYo), 38);
  });

  it("counts the toy dataset's examples as 66, 138, 51, 48, 8053", () => {
    assert.deepEqual(
      linesOf(TOY).map((l) => llama.countExample(l)),
      [66, 138, 51, 48, 8053],
    );
  });

  it("counts an example with tools, a tool call and its result as 306 (tools in the first user turn)", () => {
    assert.equal(llama.countExample(withTools), 306);
    const text = llama.render(withTools);
    assert.ok(text.includes("Environment: ipython\n"));
    assert.ok(text.includes('{"name": "get_weather", "parameters": {"city": "Zürich", "unit": "celsius"}}'));
  });

  it("counts a preference line as its prompt plus preferred output (83), and gives both sequences", () => {
    assert.equal(llama.countExample(preference), 83);
    assert.deepEqual(llama.countPreference(preference), { preferred: 83, nonPreferred: 52 });
  });

  it("trims messages as Python does (keeps U+FEFF, strips U+0085): 46", () => {
    assert.equal(llama.countExample(oddWhitespace), 46);
    assert.ok(llama.render(oddWhitespace).includes("\n\n\ufeffBe brief.<|eot_id|>"));
  });

  it("refuses two tool calls in one message, as the model's own template does", () => {
    assert.throws(
      () => llama.countExample(twoToolCalls),
      (err: unknown) =>
        err instanceof ChatTemplateError && /only supports single tool-calls at once/.test(err.message),
    );
  });
});

describe("Qwen 2.5 token counts equal transformers'", () => {
  const qwen = getOpenTokenizer("qwen2.5");

  it('encodes "Hello world" as [9707, 1879] and <|im_end|> as 151645', () => {
    assert.deepEqual(qwen.encode("Hello world"), [9707, 1879]);
    assert.deepEqual(qwen.encode("<|im_end|>"), [151645]);
  });

  it("encodes long pieces, unicode and unusual whitespace as the reference does (NFC applied)", () => {
    assert.deepEqual(qwen.encode(LONG_PIECES), [...repeat(963, 150), 668, ...repeat(370, 199)]);
    assert.deepEqual(
      qwen.encode(MIXED),
      [
        3376, 37572, 586, 51950, 1959, 26647, 23455, 75402, 21894, 102819, 27484, 144349, 145375, 432, 594,
        62493, 94153, 220, 16, 17, 18, 19, 20, 21, 22, 856, 126, 227, 88, 3225, 89, 4102, 4710, 220, 835,
      ],
    );
    assert.deepEqual(qwen.encode("e\u0301 ﬁ Å"), [963, 32495, 70731, 79252]);
  });

  it('renders the default system prompt "You are Qwen, created by Alibaba Cloud…" when there is none', () => {
    assert.ok(
      qwen
        .render(hiYo)
        .startsWith(
          "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n",
        ),
    );
    assert.deepEqual(
      qwen.encode(qwen.render(hiYo)),
      [
        151644, 8948, 198, 2610, 525, 1207, 16948, 11, 3465, 553, 54364, 14817, 13, 1446, 525, 264, 10950,
        17847, 13, 151645, 198, 151644, 872, 198, 6023, 151645, 198, 151644, 77091, 198, 16032, 151645, 198,
      ],
    );
  });

  it("counts the toy dataset's examples as 45, 117, 46, 27, 8032", () => {
    assert.deepEqual(
      linesOf(TOY).map((l) => qwen.countExample(l)),
      [45, 117, 46, 27, 8032],
    );
  });

  it("counts an example with tools, a tool call and its result as 279 (tools in the system turn)", () => {
    assert.equal(qwen.countExample(withTools), 279);
    const text = qwen.render(withTools);
    assert.ok(
      text.includes(
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Zürich", "unit": "celsius"}}',
      ),
    );
    assert.ok(text.includes("<tool_response>\n"));
  });

  it("counts a preference line as its prompt plus preferred output (64), and gives both sequences", () => {
    assert.equal(qwen.countExample(preference), 64);
    assert.deepEqual(qwen.countPreference(preference), { preferred: 64, nonPreferred: 32 });
  });

  it("counts odd whitespace (29) and two tool calls in one message (292)", () => {
    assert.equal(qwen.countExample(oddWhitespace), 29);
    assert.equal(qwen.countExample(twoToolCalls), 292);
  });
});

describe("plain chats are rendered without the template interpreter, to the same text", () => {
  const WHITE = [" ", "  ", "\n", "\t", "\u0085", "\u00a0", "\ufeff", "\u001f", "\u3000", ""];
  const WORDS = ["Hello", "world", "naïve", "日本語", "x²", "it's", "<b>", "{{ x }}", "%}", "🙂", "1234567"];
  /** Deterministic pseudo-random chats: roles in every order, contents with odd whitespace at either end. */
  function chats(n: number): JsonObject[] {
    let x = 7;
    const rand = (k: number) => {
      x = (x * 48271) % 2147483647;
      return x % k;
    };
    const text = () => {
      const words = Array.from({ length: rand(6) }, () => WORDS[rand(WORDS.length)] as string);
      return `${WHITE[rand(WHITE.length)]}${words.join(WHITE[rand(3)] as string)}${WHITE[rand(WHITE.length)]}`;
    };
    return Array.from({ length: n }, () => {
      const roles = ["system", "user", "assistant"];
      const messages = Array.from({ length: 1 + rand(5) }, () => ({
        role: roles[rand(3)] as string,
        content: text(),
      }));
      return { messages };
    });
  }

  for (const family of OPEN_TOKENIZER_FAMILIES) {
    it(`${family}: the same text as its chat template on 500 chats, and the same counts`, () => {
      const t = getOpenTokenizer(family);
      for (const example of [...chats(500), hiYo, oddWhitespace, ...linesOf(TOY)]) {
        assert.equal(t.render(example), t.renderWithTemplate(example), JSON.stringify(example));
        assert.equal(t.countExample(example), t.encode(t.renderWithTemplate(example)).length);
      }
    });
  }

  it("leaves chats with tools, tool calls or parts to the template (the fixtures' pinned counts above)", () => {
    const llama = getOpenTokenizer("llama3.1");
    assert.equal(llama.render(withTools), llama.renderWithTemplate(withTools));
    const parts: JsonObject = {
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "a" },
            { type: "text", text: "b" },
          ],
        },
        { role: "assistant", content: "c" },
      ],
    };
    assert.ok(llama.render(parts).includes("a\nb<|eot_id|>"));
  });
});

describe("special tokens in text", () => {
  it("are found as the tokenizer would read them: Llama 3.1's and Qwen 2.5's own", () => {
    const llama = getOpenTokenizer("llama3.1");
    const qwen = getOpenTokenizer("qwen2.5");
    assert.equal(llama.findSpecialToken("a <|eot_id|> b"), "<|eot_id|>");
    assert.equal(llama.findSpecialToken("<|im_end|> <b> <|unknown|>"), undefined);
    assert.equal(qwen.findSpecialToken("x <tool_call> y"), "<tool_call>");
    assert.equal(qwen.findSpecialToken("<|im_start"), undefined);
  });
});

describe("open tokenizer loading", () => {
  it("counts exactly what it encodes, piece cache and long-piece merging included", () => {
    const texts = [
      LONG_PIECES,
      MIXED,
      "ab ".repeat(5000),
      `${"x".repeat(2000)}é${"yz".repeat(700)}`,
      // Odd whitespace next to the points where the count cache cuts text (a space after a non-space), and
      // special tokens inside words.
      "a\u0085  b a\ufeff  b a\u3000 \u3000 b e\u0301 x  \n\n y",
      "word, word. word! word? <|eot_id|> word<|im_end|>word <tool_call>",
    ];
    for (const family of OPEN_TOKENIZER_FAMILIES) {
      const t = getOpenTokenizer(family);
      for (const text of texts)
        assert.equal(t.count(text), t.encode(text).length, `${family}: ${text.slice(0, 20)}`);
    }
  });

  it("loads a family once per thread", () => {
    assert.equal(getOpenTokenizer("qwen2.5"), getOpenTokenizer("qwen2.5"));
  });

  it("refuses a tokenizer.json that is not the expected file, naming its sha256", () => {
    const qwenFiles = openTokenizerFiles("qwen2.5");
    // A fresh module instance has no cached Llama tokenizer.
    const fresh = `../../src/tokenizers/index.ts?fresh=${Date.now()}`;
    return import(fresh).then((mod: typeof import("../../src/tokenizers/index.ts")) => {
      assert.throws(
        () => mod.getOpenTokenizer("llama3.1", { tokenizerJson: qwenFiles.tokenizerJson }),
        /tokenizer\.json at .* is not the expected file \(sha256 c0382117/,
      );
    });
  });

  it("loads and counts inside an esbuild-bundled worker started from a data: URL with the validator's heap limits", async () => {
    const entry = `
      import { parentPort, workerData } from "node:worker_threads";
      import { getOpenTokenizer } from ${JSON.stringify(new URL("../../src/tokenizers/index.ts", import.meta.url).pathname)};
      const t = getOpenTokenizer(workerData.family, workerData.files);
      parentPort.on("message", (line) => parentPort.postMessage(t.countExample(JSON.parse(line))));`;
    const out = await esbuild.build({
      stdin: { contents: entry, resolveDir: process.cwd(), loader: "ts" },
      ...WORKER_BUNDLE_OPTIONS,
    });
    const code = out.outputFiles[0]?.text ?? "";
    const counts: number[] = [];
    for (const family of OPEN_TOKENIZER_FAMILIES) {
      const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), {
        workerData: { family, files: openTokenizerFiles(family) },
        resourceLimits: WORKER_HEAP_LIMITS,
      });
      try {
        const answer = new Promise<number>((resolve, reject) => {
          worker.once("message", resolve);
          worker.once("error", reject);
        });
        worker.postMessage(JSON.stringify(withTools));
        counts.push(await answer);
      } finally {
        await worker.terminate();
      }
    }
    assert.deepEqual(counts, [306, 279]);
  });
});
