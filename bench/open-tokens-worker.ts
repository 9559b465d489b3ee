// A worker for the counting benchmark (bench/validate.ts): like a validation worker, it receives batches of raw
// lines, decodes them and checks and counts each example with checkLine, with either the cookbook rule on o200k
// (what the validator runs for gpt-4o-mini) or an open model's own tokenizer and chat template (what it runs
// for Llama and Qwen models).
import { parentPort, workerData } from "node:worker_threads";
import { loadTextCounter } from "../src/datasets/counter.ts";
import { checkLine } from "../src/datasets/rules.ts";
import type { OpenTokenizerFiles } from "../src/tokenizers/index.ts";
import { getOpenTokenizer, type OpenTokenizerFamily } from "../src/tokenizers/index.ts";

export type BenchMode =
  | { kind: "o200k"; encodingUrl: string }
  | {
      kind: "open";
      family: OpenTokenizerFamily;
      files: OpenTokenizerFiles;
    };

const mode = workerData as BenchMode;
let countLine: (line: string) => number;
if (mode.kind === "o200k") {
  const ctx = { counter: await loadTextCounter("o200k_base", mode.encodingUrl), maxTokensPerExample: 65_536 };
  countLine = (line) => checkLine(line, ctx).tokens;
} else {
  const ctx = { template: getOpenTokenizer(mode.family, mode.files), maxTokensPerExample: 131_072 };
  countLine = (line) => checkLine(line, ctx).tokens;
}
const decoder = new TextDecoder("utf-8", { fatal: true });
const port = parentPort;
if (!port) throw new Error("open-tokens-worker.ts must run as a worker thread");
port.on("message", (buf: Uint8Array) => {
  let tokens = 0;
  let examples = 0;
  for (const line of decoder.decode(buf).split("\n")) {
    if (line.trim() === "") continue;
    tokens += countLine(line);
    examples++;
  }
  port.postMessage({ tokens, examples });
});
