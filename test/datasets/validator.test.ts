import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  linkSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { builtInCatalog, loadCatalogSet } from "../../src/datasets/catalog.ts";
import { sampleDatasetJsonl } from "../../src/datasets/sample.ts";
import { HashIndex, MAX_LINE_BYTES, MAX_STORED_ISSUES, validateFile } from "../../src/datasets/validator.ts";
import { UserError } from "../../src/domain/errors.ts";
import { useCacheDir } from "../../src/tokenizers/tableFile.ts";

const dir = mkdtempSync(join(tmpdir(), "classtune-validate-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(content: string | Buffer): string {
  const path = join(dir, `f${n++}.jsonl`);
  writeFileSync(path, content);
  return path;
}

const TOY = new URL("./fixtures/toy_chat_fine_tuning.jsonl", import.meta.url);

const example = (i: number, answer = `Answer number ${i}.`) =>
  JSON.stringify({
    messages: [
      { role: "system", content: "You are a tutor." },
      { role: "user", content: `Question number ${i}?` },
      { role: "assistant", content: answer },
    ],
  });
const lines = (count: number, from = 0) => Array.from({ length: count }, (_, i) => example(from + i));
const codesOf = (items: { code: string }[]) => items.map((e) => e.code);

describe("validateFile on the toy vector", () => {
  it("gives tiktoken's counts, 20 epochs and the two warnings", async () => {
    const r = await validateFile(TOY.pathname, { model: "gpt-3.5-turbo-0125" });
    assert.equal(r.format, "chat");
    assert.equal(r.encoding, "cl100k_base");
    assert.deepEqual([r.examples, r.valid, r.invalid], [5, 5, 0]);
    assert.deepEqual(r.tokens, { total: 8242, min: 26, max: 8032, mean: 1648.4, p50: 45, p90: 8032 });
    assert.equal(r.epochs, 20);
    assert.equal(r.billingTokens, 164_840);
    assert.equal(r.estimatedCostUsd, 1.3187);
    assert.equal(r.costIsEstimate, true);
    assert.equal(r.warningCounts.missing_system_message, 1);
    assert.equal(r.warningCounts.missing_user_message, 1);
    assert.deepEqual(
      r.warnings.filter((w) => w.line !== undefined).map((w) => [w.line, w.code]),
      [
        [3, "missing_system_message"],
        [4, "missing_user_message"],
      ],
    );
    assert.equal(r.fineTunable, false, "5 examples are fewer than OpenAI's 10");
    assert.ok(codesOf(r.warnings).includes("too_few_examples"));
    assert.equal(r.sha256, createHash("sha256").update(readFileSync(TOY)).digest("hex"));
  });
});

describe("validateFile: bytes and lines", () => {
  it("accepts a correct file as fine-tunable, with only the recommendation warning", async () => {
    const r = await validateFile(file(sampleDatasetJsonl()));
    assert.equal(r.fineTunable, true);
    assert.equal(r.model, "gpt-4o-mini-2024-07-18");
    assert.equal(r.encoding, "o200k_base");
    assert.deepEqual(codesOf(r.warnings), ["below_recommended_examples"]);
    assert.deepEqual(r.errors, []);
  });

  it("accepts a UTF-8 BOM and CRLF line endings", async () => {
    const plain = await validateFile(file(`${lines(12).join("\n")}\n`));
    const r = await validateFile(
      file(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${lines(12).join("\r\n")}\r\n`)])),
    );
    assert.deepEqual([r.valid, r.invalid, r.fineTunable], [12, 0, true]);
    assert.deepEqual(r.tokens, plain.tokens, "CR and BOM are not counted");
  });

  it("accepts a last line without a newline", async () => {
    const r = await validateFile(file(lines(10).join("\n")));
    assert.deepEqual([r.examples, r.valid], [10, 10]);
  });

  it("skips blank lines with a warning, and counts physical lines", async () => {
    const r = await validateFile(file(`${example(1)}\n\n   \n${example(2)}\n{bad\n`));
    assert.deepEqual(
      r.warnings.filter((w) => w.code === "blank_line").map((w) => w.line),
      [2, 3],
    );
    assert.equal(r.examples, 3);
    assert.deepEqual(
      r.errors.map((e) => [e.line, e.code]),
      [[5, "invalid_json"]],
    );
  });

  it("reports invalid UTF-8 on its line only", async () => {
    const bad = Buffer.concat([
      Buffer.from(`${example(1)}\n{"messages": "caf`),
      Buffer.from([0xe9, 0x22, 0x7d]),
      Buffer.from(`\n${example(2)}\n`),
    ]);
    const r = await validateFile(file(bad));
    assert.deepEqual(
      r.errors.map((e) => [e.line, e.code]),
      [[2, "invalid_encoding"]],
    );
    assert.deepEqual([r.valid, r.invalid], [2, 1]);
  });

  it("gives an empty file one file-level error", async () => {
    for (const content of ["", "\n\n  \n"]) {
      const r = await validateFile(file(content));
      assert.deepEqual(
        r.errors.map((e) => [e.line, e.code]),
        [[0, "empty_file"]],
      );
      assert.equal(r.fineTunable, false);
    }
  });

  it("gives a binary file one file-level error, not a flood of line errors", async () => {
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      Buffer.alloc(5000, 7),
    ]);
    const withNul = Buffer.concat([Buffer.from(`${example(1)}\n`), Buffer.alloc(100), Buffer.from("\n\n\n")]);
    const utf16 = Buffer.from(`\ufeff${lines(3).join("\n")}`, "utf16le");
    for (const [content, pattern] of [
      [png, /PNG/],
      [withNul, /NUL/],
      [utf16, /UTF-16/],
    ] as const) {
      const r = await validateFile(file(content));
      assert.equal(r.errors.length, 1);
      assert.equal(r.errors[0]?.code, "not_text");
      assert.equal(r.errors[0]?.line, 0);
      assert.match(r.errors[0]?.message ?? "", pattern);
      assert.equal(r.examples, 0);
      assert.equal(r.fineTunable, false);
      assert.equal(r.bytes, content.length);
    }
  });

  it("warns about duplicate examples, naming the first one", async () => {
    const r = await validateFile(file(`${[...lines(10), example(3)].join("\n")}\n`));
    assert.deepEqual(
      r.warnings.filter((w) => w.code === "duplicate_example"),
      [{ line: 11, code: "duplicate_example", message: "the same example as line 4" }],
    );
  });

  it("warns below 50 examples, and below 10 that OpenAI refuses the file", async () => {
    const few = await validateFile(file(lines(9).join("\n")));
    assert.deepEqual(codesOf(few.warnings).sort(), ["below_recommended_examples", "too_few_examples"]);
    const enough = await validateFile(file(lines(50).join("\n")));
    assert.deepEqual(enough.warnings, []);
    assert.equal(enough.fineTunable, true);
  });

  it("reports too_many_tokens against the chosen model's limit", async () => {
    const long = example(1, "word ".repeat(17_000));
    const r35 = await validateFile(file(`${long}\n`), { model: "gpt-3.5-turbo" });
    assert.deepEqual(codesOf(r35.errors), ["too_many_tokens"]);
    const r4o = await validateFile(file(`${long}\n`), { model: "gpt-4o-mini" });
    assert.deepEqual(r4o.errors, []);
  });

  it("checks a pathological 100,000-character line without spaces", async () => {
    const r = await validateFile(
      file(`${example(1, "x".repeat(100_000))}\n${example(2, "é".repeat(100_000))}\n`),
    );
    // "é" is one o200k token each: 100,000 tokens, over gpt-4o-mini's 65,536.
    assert.deepEqual(
      r.errors.map((e) => [e.line, e.code]),
      [[2, "too_many_tokens"]],
    );
    assert.match(r.errors[0]?.message ?? "", /100,0\d\d tokens/);
    assert.equal(r.valid, 1);
  });

  it("reports a line over MAX_LINE_BYTES without reading it whole, and goes on", async () => {
    const huge = example(2, "y".repeat(MAX_LINE_BYTES + 1000));
    const r = await validateFile(file(`${example(1)}\n${huge}\n${example(3)}\n{bad\n`));
    assert.deepEqual(
      r.errors.map((e) => [e.line, e.code]),
      [
        [2, "too_many_tokens"],
        [4, "invalid_json"],
      ],
    );
    assert.deepEqual([r.examples, r.valid, r.invalid], [4, 2, 2]);
  });

  it("reports lines nested 40,000 levels deep on their own lines and checks the rest", async () => {
    const lists = `${"[".repeat(40_000)}${"]".repeat(40_000)}`;
    const deep = [
      `{"messages":[{"role":${lists},"content":"x"},{"role":"assistant","content":"ok"}]}`,
      `{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"ok","weight":${lists}}]}`,
      `{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":${lists}}]}`,
      `{"tools":${lists},"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"ok"}]}`,
    ];
    const r = await validateFile(file(`${[...deep, ...lines(10)].join("\n")}\n`));
    assert.deepEqual(
      r.errors.map((e) => [e.line, e.code]),
      [
        [1, "too_deeply_nested"],
        [2, "too_deeply_nested"],
        [3, "too_deeply_nested"],
        [4, "too_deeply_nested"],
      ],
    );
    assert.deepEqual([r.examples, r.valid, r.invalid], [14, 10, 4]);
  });

  it("reports special tokens", async () => {
    const r = await validateFile(file(`${example(1, "done <|endoftext|>")}\n`));
    assert.deepEqual(
      r.errors.map((e) => [e.line, e.code]),
      [[1, "special_token"]],
    );
  });
});

describe("validateFile: formats", () => {
  const pref = (i: number) =>
    JSON.stringify({
      input: { messages: [{ role: "user", content: `Explain ${i}.` }] },
      preferred_output: [{ role: "assistant", content: `A clear explanation of ${i}.` }],
      non_preferred_output: [{ role: "assistant", content: "No." }],
    });

  it("detects a preference (DPO) file", async () => {
    const r = await validateFile(file(Array.from({ length: 12 }, (_, i) => pref(i)).join("\n")));
    assert.equal(r.format, "preference");
    assert.deepEqual([r.valid, r.invalid, r.fineTunable], [12, 0, true]);
  });

  it("reports lines of the other format and shapeless lines with the file's codes", async () => {
    const content = [JSON.stringify({ foo: 1 }), pref(1), example(2), pref(3)].join("\n");
    const r = await validateFile(file(content));
    assert.equal(r.format, "preference");
    assert.deepEqual(
      r.errors.map((e) => [e.line, e.code]),
      [
        [1, "missing_preference_fields"],
        [3, "missing_preference_fields"],
      ],
    );
    assert.deepEqual(r.errorCounts, { missing_preference_fields: 2 });
    const chat = await validateFile(file([JSON.stringify({ foo: 1 }), example(1), pref(2)].join("\n")));
    assert.equal(chat.format, "chat");
    assert.deepEqual(
      chat.errors.map((e) => [e.line, e.code]),
      [
        [1, "missing_messages_list"],
        [3, "missing_messages_list"],
      ],
    );
  });
});

describe("validateFile: outputs and limits", () => {
  it("writes the valid lines byte for byte, in order, to the cleaned file", async () => {
    const valid = [example(1), example(2, "Ünïcödé ✓ 中文"), example(3)];
    const content = `${valid[0]}\r\n{broken\n\n${valid[1]}\n[1]\n${valid[2]}`;
    const out = join(dir, "cleaned.jsonl");
    const r = await validateFile(file(content), { cleanedOutPath: out });
    assert.deepEqual([r.valid, r.invalid], [3, 2]);
    assert.equal(readFileSync(out, "utf8"), `${valid[0]}\r\n${valid[1]}\n${valid[2]}`);
  });

  it("keeps at most MAX_STORED_ISSUES errors and counts the rest", async () => {
    const count = MAX_STORED_ISSUES + 25;
    const r = await validateFile(file("{\n".repeat(count)));
    assert.equal(r.errors.length, MAX_STORED_ISSUES);
    assert.equal(r.errorsOmitted, 25);
    assert.equal(r.errorCounts.invalid_json, count);
    assert.equal(r.invalid, count);
    assert.equal(r.errors.at(-1)?.line, MAX_STORED_ISSUES);
  });

  it("keeps results in file order across batches and workers", async () => {
    const many = Array.from({ length: 6000 }, (_, i) =>
      i % 1000 === 999 ? "{oops" : example(i, "x ".repeat(200)),
    );
    const r = await validateFile(file(many.join("\n")), { workers: 2 });
    assert.deepEqual(
      r.errors.map((e) => e.line),
      [1000, 2000, 3000, 4000, 5000, 6000],
    );
    assert.equal(r.valid, 5994);
  });

  it("reports progress up to the file size, and keeps the event loop turning", async () => {
    const path = file(
      Array.from({ length: 3000 }, (_, i) => example(i, "long answer ".repeat(100))).join("\n"),
    );
    const size = readFileSync(path).length;
    const seen: number[] = [];
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      await validateFile(path, { onProgress: (done, total) => seen.push(done / total) });
    } finally {
      clearInterval(timer);
    }
    assert.equal(seen.at(-1), 1);
    assert.ok(seen.length > 1, "several progress reports");
    assert.ok(ticks > 5, `the main thread kept serving timers (${ticks} ticks for ${size} bytes)`);
  });

  it("stops when aborted, before or while reading", async () => {
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    await assert.rejects(validateFile(file(example(1)), { signal: controller.signal }), /stop/);
    const midway = new AbortController();
    const big = file(Array.from({ length: 4000 }, (_, i) => example(i, "an answer ".repeat(30))).join("\n"));
    await assert.rejects(
      validateFile(big, {
        signal: midway.signal,
        onProgress: (done) => {
          if (done > 0) midway.abort(new Error("stopped midway"));
        },
      }),
      /stopped midway/,
    );
  });

  it("raises UserErrors for an unknown model, a missing file and a cleaned path equal to the input", async () => {
    await assert.rejects(
      validateFile(file(example(1)), { model: "gpt-9" }),
      (e: unknown) => e instanceof UserError && /known models are/.test(e.message),
    );
    await assert.rejects(
      validateFile(join(dir, "nope.jsonl")),
      (e: unknown) => e instanceof UserError && /no such file/.test(e.message),
    );
    const path = file(example(1));
    await assert.rejects(validateFile(path, { cleanedOutPath: path }), UserError);
    assert.equal(readFileSync(path, "utf8"), example(1), "the input is untouched");
  });
});

describe("validateFile: a cleaned output that is the input by another name", () => {
  for (const [how, link] of [
    ["a symlink", symlinkSync],
    ["a hard link", linkSync],
  ] as const) {
    it(`refuses a cleaned path that is ${how} to the input, and leaves the input untouched`, async () => {
      const content = `${lines(11).join("\n")}\n{broken\n`;
      const input = file(content);
      const out = join(dir, `out-${n++}.jsonl`);
      link(input, out);
      await assert.rejects(
        validateFile(input, { cleanedOutPath: out }),
        (e: unknown) => e instanceof UserError && /is the file being checked/.test(e.message),
      );
      assert.equal(readFileSync(input, "utf8"), content, "the input is untouched");
    });
  }

  it("replaces an existing, different cleaned file", async () => {
    const out = file("an older, longer cleaned file\n".repeat(100));
    const r = await validateFile(file(`${example(1)}\n{broken\n`), { cleanedOutPath: out });
    assert.equal(r.valid, 1);
    assert.equal(readFileSync(out, "utf8"), `${example(1)}\n`);
  });
});

describe("HashIndex", () => {
  it("returns the first line of a repeated hash and grows past its initial size", () => {
    const index = new HashIndex();
    const hash = (i: number) => createHash("sha1").update(String(i)).digest();
    for (let i = 1; i <= 10_000; i++) assert.equal(index.addOrGet(hash(i), 0, i), undefined);
    assert.equal(index.addOrGet(hash(1234), 0, 20_000), 1234);
    assert.equal(index.addOrGet(hash(99_999), 0, 20_001), undefined);
  });
});

describe("validateFile for a chosen provider and model", () => {
  const catalogs = loadCatalogSet(
    [
      { name: "school-together", kind: "together" },
      { name: "school-nebius", kind: "nebius" },
      { name: "openai", kind: "openai" },
    ],
    "openai",
  );
  const together = catalogs.catalogFor("school-together");
  const nebius = catalogs.catalogFor("school-nebius");
  const OPEN = readFileSync(new URL("../tokenizers/fixtures/open_examples.jsonl", import.meta.url), "utf8")
    .trim()
    .split("\n");
  const [withTools, , oddWhitespace, twoToolCalls] = OPEN as [string, string, string, string];

  it("counts the toy dataset exactly by Llama 3.1's and Qwen 2.5's own chat templates, in the workers", async () => {
    const llama = await validateFile(TOY.pathname, {
      catalog: together,
      model: "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    });
    assert.deepEqual(
      [llama.provider, llama.providerKind, llama.tokenizer, llama.encoding, llama.chatTemplate],
      ["school-together", "together", "llama3.1", "llama3.1", "llama3.1"],
    );
    assert.deepEqual(llama.tokens, { total: 8356, min: 48, max: 8053, mean: 1671.2, p50: 66, p90: 8053 });
    const qwen = await validateFile(TOY.pathname, { catalog: together, model: "Qwen/Qwen2.5-7B-Instruct" });
    assert.equal(qwen.tokenizer, "qwen2.5");
    assert.equal(qwen.tokens.total, 45 + 117 + 46 + 27 + 8032);
  });

  it("counts tools and tool calls as the templates render them (Llama 306 + 46, Qwen 279 + 29)", async () => {
    const path = file(`${withTools}\n${oddWhitespace}\n`);
    const llama = await validateFile(path, { catalog: nebius, model: "meta-llama/Llama-3.1-8B-Instruct" });
    assert.deepEqual([llama.valid, llama.tokens.total], [2, 352]);
    const qwen = await validateFile(path, { catalog: nebius, model: "Qwen/Qwen2.5-7B-Instruct" });
    assert.deepEqual([qwen.valid, qwen.tokens.total], [2, 308]);
  });

  it("applies the provider's minimum: Together trains 5 examples, Nebius and OpenAI want 10", async () => {
    const tg = await validateFile(TOY.pathname, {
      catalog: together,
      model: "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    });
    assert.deepEqual([tg.minExamples, tg.fineTunable], [1, true]);
    assert.equal(codesOf(tg.warnings).includes("too_few_examples"), false);
    const nb = await validateFile(TOY.pathname, { catalog: nebius });
    assert.deepEqual(
      [nb.model, nb.minExamples, nb.fineTunable],
      ["meta-llama/Llama-3.1-8B-Instruct", 10, false],
    );
    assert.match(
      nb.warnings.find((w) => w.code === "too_few_examples")?.message ?? "",
      /Nebius refuses a file with fewer than 10 for meta-llama\/Llama-3\.1-8B-Instruct/,
    );
  });

  it("applies the provider's limit, roles and template: each refusal on its line", async () => {
    const long = JSON.stringify({
      messages: [
        { role: "user", content: "Say it long." },
        { role: "assistant", content: "word ".repeat(9000) },
      ],
    });
    const fn = JSON.stringify({
      messages: [
        { role: "user", content: "Call f." },
        { role: "function", name: "f", content: "{}" },
        { role: "assistant", content: "Done." },
      ],
    });
    const path = file(`${lines(10).join("\n")}\n${long}\n${fn}\n${twoToolCalls}\n`);
    const nb = await validateFile(path, { catalog: nebius });
    assert.deepEqual(
      nb.errors.map((e) => [e.line, e.code]),
      [
        [11, "too_many_tokens"],
        [12, "unrecognized_role"],
        [13, "template_refused"],
      ],
    );
    assert.equal(nb.maxTokensPerExample, 8192);
    const openai = await validateFile(path, { catalog: catalogs.catalogFor("openai") });
    assert.deepEqual(
      openai.errors.map((e) => [e.line, e.code]),
      [],
      "OpenAI's gpt-4o-mini takes all three",
    );
  });

  it("prices the estimate by the model's catalog, with its date, source and default epochs", async () => {
    const r = await validateFile(TOY.pathname, {
      catalog: together,
      model: "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    });
    assert.equal(r.epochs, 1, "Together runs one epoch unless told otherwise");
    assert.equal(r.billingTokens, 8356);
    assert.equal(r.pricePerMillionTrainingTokensUsd, 0.48);
    assert.equal(r.pricesAsOf, "2026-12-03");
    assert.match(r.priceSource, /^unconfirmed: /);
  });
});

describe("validateFile with a cold or unwritable cache folder (CLASSTUNE_CACHE_DIR)", () => {
  // Over 1 MB, so both workers run: the first builds the tables, the second reads them (or takes its copy).
  const path = file(
    Array.from({ length: 3000 }, (_, i) => example(i, `Answer ${i}: ${"é and x ".repeat(60)}`)).join("\n"),
  );
  const catalog = builtInCatalog("sandbox");
  const models = ["o200k_base", "llama3.1"].map(
    (t) => catalog.models.find((m) => m.tokenizer === t)?.id ?? t,
  );
  const run = (model: string) => validateFile(path, { catalog, model, workers: 2 });
  after(() => useCacheDir(undefined));

  it("gives the same report with an empty cache folder, and leaves tables the next run reads", async () => {
    useCacheDir(undefined);
    const warm = await Promise.all(models.map(run)); // node_modules/.cache: kept tables (or built once here)
    const cold = mkdtempSync(join(dir, "cold-cache-"));
    useCacheDir(cold);
    for (const [i, model] of models.entries()) assert.deepEqual(await run(model), warm[i], model);
    const kept = ["encoding-o200k_base.bin", "tokenizer-llama3.1.bin"].map((f) => join(cold, f));
    const written = kept.map((f) => statSync(f).mtimeMs);
    for (const [i, model] of models.entries()) assert.deepEqual(await run(model), warm[i], `${model}, kept`);
    assert.deepEqual(
      kept.map((f) => statSync(f).mtimeMs),
      written,
      "read, not built again",
    );
    assert.ok(
      readdirSync(cold).every((f) => !f.endsWith(".tmp")),
      "no temp files left",
    );
  });

  it("validates with the same counts when the cache folder cannot be created", async () => {
    useCacheDir(undefined);
    const warm = await Promise.all(models.map(run));
    const notADir = file("a file, not a folder");
    useCacheDir(join(notADir, "cache")); // mkdir fails even for root
    for (const [i, model] of models.entries()) assert.deepEqual(await run(model), warm[i], model);
  });
});
