import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import cl100k from "gpt-tokenizer/encoding/cl100k_base";
import o200k from "gpt-tokenizer/encoding/o200k_base";
import { createTextCounter, rankTablesOf } from "../../src/datasets/counter.ts";
import { checkLine } from "../../src/datasets/rules.ts";
import { findSpecialToken, loadTextCounter, textCounter } from "../../src/datasets/tokens.ts";
import { ByteTable } from "../../src/tokenizers/byteTable.ts";

// A copy of the shared toy fixture (OpenAI cookbook example data), so a fresh clone has it.
const TOY = new URL("./fixtures/toy_chat_fine_tuning.jsonl", import.meta.url);
const plain = { disallowedSpecial: new Set<string>() };
const WORDS_FOR_CACHE =
  "the of and to in is that photosynthesis mitochondria Energy CELL, plant. water? x².".split(" ");

/** Deterministic pseudo-random text over a small alphabet: long single pre-tokenizer pieces. */
function randomPiece(seed: number, length: number, alphabet: string): string {
  let x = seed;
  let s = "";
  for (let i = 0; i < length; i++) {
    x = (x * 48271) % 2147483647;
    s += alphabet[x % alphabet.length];
  }
  return s;
}

describe("token counts equal tiktoken's", () => {
  it("on the toy vector with cl100k_base: 45, 111, 26, 28, 8032", () => {
    const ctx = { counter: textCounter("cl100k_base"), maxTokensPerExample: 16_385 };
    const lines = readFileSync(TOY, "utf8").trim().split("\n");
    assert.deepEqual(
      lines.map((l) => checkLine(l, ctx).tokens),
      [45, 111, 26, 28, 8032],
    );
  });

  for (const [name, api] of [
    ["cl100k_base", cl100k],
    ["o200k_base", o200k],
  ] as const) {
    it(`long pieces (heap merge) match gpt-tokenizer's own merge, ${name}`, () => {
      const counter = textCounter(name);
      for (let k = 0; k < 40; k++) {
        const alphabet = k % 2 === 0 ? "abcd" : "abcdefghijklmnopqrstuvwxyzéàüßçñ漢字かなабв";
        const piece = randomPiece(k + 1, 300 + k * 37, alphabet);
        assert.equal(counter.count(piece), api.countTokens(piece, plain), `piece ${k}`);
      }
    });
  }

  it("the ASCII fast path cuts text only where pieces do not change (fuzzed against gpt-tokenizer)", () => {
    const parts = [
      ..."abZQex123.,!?/-()'",
      " ",
      " ",
      "  ",
      "\t",
      "\n",
      "\r\n",
      "  \n",
      "'s",
      "'LL",
      "456",
      "don't",
      "I'M",
      "...",
      "é",
      "É",
      "ü",
      "ß",
      "中文",
      "🙂",
      "\u0301",
      "\u00a0",
      "\u3000",
      "ǅ",
      "ʰ",
      "²",
      "٣",
    ];
    let x = 11;
    const next = () => {
      x = (x * 48271) % 2147483647;
      return x;
    };
    for (const [name, api] of [
      ["cl100k_base", cl100k],
      ["o200k_base", o200k],
    ] as const) {
      const counter = textCounter(name);
      for (let k = 0; k < 3000; k++) {
        let s = "";
        for (let i = 0, len = 1 + (next() % 40); i < len; i++) s += parts[next() % parts.length];
        assert.equal(counter.count(s), api.countTokens(s, plain), JSON.stringify(s));
      }
    }
  });

  it("counts special-token text as plain text and never throws", () => {
    const counter = textCounter("cl100k_base");
    assert.equal(counter.count("<|endoftext|>"), cl100k.encode("<|endoftext|>", plain).length);
    assert.ok(counter.count("<|endoftext|>") > 1);
    assert.equal(findSpecialToken("a <|endoftext|> b"), "<|endoftext|>");
    assert.equal(findSpecialToken("<|fim_prefix|>"), "<|fim_prefix|>");
    assert.equal(findSpecialToken("a <| b |> c"), undefined);
  });

  it("counts a pathological 100,000-character line without spaces correctly", () => {
    const counter = textCounter("cl100k_base");
    // gpt-tokenizer's own (quadratic) merge gives these, in seconds to minutes.
    assert.equal(counter.count("a".repeat(100_000)), 12_500);
    assert.equal(counter.count("é".repeat(100_000)), 100_000);
  });

  it("the count cache gives the uncached path's counts on varied text, also after it is emptied", () => {
    const words = [
      ...WORDS_FOR_CACHE,
      ..."é ü ß 中文 🙂 ǅ ² ٣ \u0301 \u00a0 \u3000 \ufeff \u0085".split(" "),
      "supercalifragilisticexpialidocious",
      "Pneumonoultramicroscopicsilicovolcanoconiosis",
      "a".repeat(300),
      "é".repeat(40),
      "  ",
      "\n",
      "\t",
      "don't",
      "THEY'RE",
      "12345",
    ];
    let x = 7;
    const next = () => {
      x = (x * 48271) % 2147483647;
      return x;
    };
    for (const [name, api] of [
      ["cl100k_base", cl100k],
      ["o200k_base", o200k],
    ] as const) {
      const cached = textCounter(name);
      const plainCounter = createTextCounter(name, api, { pieceCache: false });
      assert.notEqual(cached, plainCounter);
      // 40,000 distinct words overflow the table (emptied at 32,768 chunks) and come back.
      const distinct = Array.from({ length: 40_000 }, (_, i) => `w${i.toString(36)}`).join(" ");
      assert.equal(cached.count(distinct), plainCounter.count(distinct));
      assert.equal(cached.count(distinct), plainCounter.count(distinct));
      for (let k = 0; k < 2000; k++) {
        let s = "";
        for (let i = 0, len = 1 + (next() % 60); i < len; i++) {
          s += (next() % 3 === 0 ? "" : " ") + words[next() % words.length];
        }
        assert.equal(cached.count(s), plainCounter.count(s), JSON.stringify(s));
        // gpt-tokenizer splits tokens that start with a BOM (see below); elsewhere it is tiktoken.
        if (k % 10 === 0 && !s.includes("\ufeff")) {
          assert.equal(cached.count(s), api.countTokens(s, plain), JSON.stringify(s));
        }
      }
    }
  });

  it("merges a token that starts with a BOM as tiktoken does (cl100k 3305 is the bytes EF BB BF)", () => {
    // gpt-tokenizer keeps such tokens as bytes (decoding them to text drops the BOM) and then encodes
    // "\ufeff" as [171, 3299]; tiktoken looks the piece's bytes up and finds 3305.
    assert.deepEqual(cl100k.encode("\ufeff", plain), [171, 3299]);
    assert.equal(textCounter("cl100k_base").count("\ufeff"), 1);
    assert.equal(textCounter("cl100k_base").count("a\ufeffb"), 3);
  });

  it("builds the rank table from the plain rank list as from one array per token (same table, same file)", () => {
    for (const [encoding, api] of [
      ["o200k_base", o200k],
      ["cl100k_base", cl100k],
    ] as const) {
      const { ranks } = rankTablesOf(encoding, api);
      const decoder = (
        api as unknown as { bytePairEncodingCoreProcessor: { bytePairRankDecoder: unknown[] } }
      ).bytePairEncodingCoreProcessor.bytePairRankDecoder;
      const encoder = new TextEncoder();
      const entries: [Uint8Array, number][] = [];
      decoder.forEach((v, rank) => {
        if (v !== undefined)
          entries.push([typeof v === "string" ? encoder.encode(v) : Uint8Array.from(v as number[]), rank]);
      });
      const reference = ByteTable.build(entries);
      for (const k of ["bytes", "offsets", "ids", "slots"] as const) {
        assert.ok(
          Buffer.from(ranks[k].buffer, ranks[k].byteOffset, ranks[k].byteLength).equals(
            Buffer.from(reference[k].buffer, reference[k].byteOffset, reference[k].byteLength),
          ),
          `${encoding} ${k}`,
        );
      }
    }
  });

  it("loads an encoding on demand to the same counts", async () => {
    const lazy = await loadTextCounter("o200k_base");
    assert.equal(
      lazy.count("Photosynthesis happens in chloroplasts."),
      o200k.countTokens("Photosynthesis happens in chloroplasts."),
    );
  });
});
