// The byte-level BPE tables and their cache (src/tokenizers/bpe.ts, kept by index.ts in
// node_modules/.cache/classtune): tables read back from a buffer tokenize exactly as the ones built from the
// tokenizer.json, and a damaged or foreign buffer is never used.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  bpeTablesFromBuffer,
  bpeTablesFromJson,
  bpeTablesToBuffer,
  createBpeTokenizer,
  type TokenizerJson,
} from "../../src/tokenizers/bpe.ts";
import { openTokenizerFiles } from "../../src/tokenizers/index.ts";

const sha256 = (d: Uint8Array) => createHash("sha256").update(d).digest();
const dir = mkdtempSync(join(tmpdir(), "classtune-bpe-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const TEXTS = [
  "Hello world",
  "naïve café — Straße 日本語 🙂👍🏽 it's THEY'RE 1234567 x\u0085y\ufeffz\u00a0 \n\n  end",
  `${"é".repeat(150)} ${"ab".repeat(200)}`,
  "<|im_start|>user\nhi<|im_end|><tool_call> <|eot_id|>",
];

describe("BPE tables in a buffer", () => {
  for (const family of ["llama3.1", "qwen2.5"] as const) {
    const json = JSON.parse(readFileSync(openTokenizerFiles(family).tokenizerJson, "utf8")) as TokenizerJson;
    const built = bpeTablesFromJson(json);
    const buffer = bpeTablesToBuffer(built, { family }, sha256);

    it(`${family}: read back, they encode and count every text exactly as the built ones`, () => {
      const read = bpeTablesFromBuffer(buffer, { family }, sha256);
      assert.ok(read);
      const a = createBpeTokenizer(built);
      const b = createBpeTokenizer(read);
      for (const text of TEXTS) {
        assert.deepEqual(b.encode(text), a.encode(text), text);
        assert.equal(b.count(text), a.encode(text).length, text);
      }
    });

    it(`${family}: a damaged buffer, a truncated one or one made for other files is refused`, () => {
      const damaged = new Uint8Array(buffer);
      const at = Math.floor(damaged.length / 2);
      damaged[at] = (damaged[at] as number) ^ 1;
      assert.equal(bpeTablesFromBuffer(damaged, { family }, sha256), undefined);
      assert.equal(bpeTablesFromBuffer(buffer.subarray(0, 1000), { family }, sha256), undefined);
      assert.equal(bpeTablesFromBuffer(buffer, { family: "other" }, sha256), undefined);
    });
  }

  it("is kept beside the tokenizer's package in node_modules/.cache/classtune and read on the next load", async () => {
    const pkg = join(dir, "node_modules", "@lenml", "tokenizer-qwen2_5", "models");
    mkdirSync(pkg, { recursive: true });
    const copy = join(pkg, "tokenizer.json");
    const files = openTokenizerFiles("qwen2.5");
    copyFileSync(files.tokenizerJson, copy);
    const load = async () => {
      const mod = (await import(
        `../../src/tokenizers/index.ts?cache=${Math.random()}`
      )) as typeof import("../../src/tokenizers/index.ts");
      return mod.getOpenTokenizer("qwen2.5", { ...files, tokenizerJson: copy });
    };
    assert.deepEqual((await load()).encode("Hello world"), [9707, 1879]);
    const cache = join(dir, "node_modules", ".cache", "classtune", "tokenizer-qwen2.5.bin");
    const written = readFileSync(cache);
    assert.ok(written.length > 1_000_000, "the tables were written");
    // A damaged cache is not used: the tokenizer is built again from the JSON, and the cache rewritten.
    const damaged = Buffer.from(written);
    damaged.writeUInt8(damaged.readUInt8(damaged.length - 100) ^ 0xff, damaged.length - 100);
    writeFileSync(cache, damaged);
    assert.deepEqual((await load()).encode("<|im_end|> Hello world"), [151645, 21927, 1879]);
    assert.deepEqual(readFileSync(cache), written);
  });
});
