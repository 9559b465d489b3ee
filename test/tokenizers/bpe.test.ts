// The byte-level BPE tables (src/tokenizers/bpe.ts): read back from a cache buffer, they tokenize exactly as
// the ones built from the tokenizer.json.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  bpeTablesFromJson,
  createBpeTokenizer,
  packBpeTables,
  type TokenizerJson,
  unpackBpeTables,
} from "../../src/tokenizers/bpe.ts";
import { openTokenizerFiles } from "../../src/tokenizers/index.ts";
import { packTables, unpackTables } from "../../src/tokenizers/tableFile.ts";

const TEXTS = [
  "Hello world",
  "naïve café — Straße 日本語 🙂👍🏽 it's THEY'RE 1234567 x\u0085y\ufeffz\u00a0 \n\n  end",
  `${"é".repeat(150)} ${"ab".repeat(200)}`,
  "<|im_start|>user\nhi<|im_end|><tool_call> <|eot_id|>",
];

describe("BPE tables in a cache buffer", () => {
  for (const family of ["llama3.1", "qwen2.5"] as const) {
    it(`${family}: read back, they encode and count every text exactly as the built ones`, () => {
      const json = JSON.parse(
        readFileSync(openTokenizerFiles(family).tokenizerJson, "utf8"),
      ) as TokenizerJson;
      const built = bpeTablesFromJson(json);
      const packed = unpackTables(packTables({ meta: { family }, ...packBpeTables(built) }), { family });
      assert.ok(packed);
      const a = createBpeTokenizer(built);
      const b = createBpeTokenizer(unpackBpeTables(packed));
      for (const text of TEXTS) {
        assert.deepEqual(b.encode(text), a.encode(text), text);
        assert.equal(b.count(text), a.encode(text).length, text);
      }
    });
  }
});
