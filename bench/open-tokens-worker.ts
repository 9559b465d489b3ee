// A worker for the open-model counting benchmark (bench/validate.ts): like a validation worker, it receives
// batches of raw lines, decodes them and counts each example, with either the cookbook rule on o200k
// (checkLine, what the validator runs for gpt-4o-mini) or an open model's chat template (src/tokenizers).
import { parentPort, workerData } from "node:worker_threads";
import { loadTextCounter } from "../src/datasets/counter.ts";
import { checkLine } from "../src/datasets/rules.ts";
import type { OpenTokenizerFiles } from "../src/tokenizers/index.ts";
import { getOpenTokenizer, type JsonObject, type OpenTokenizerFamily } from "../src/tokenizers/index.ts";

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
  const tokenizer = getOpenTokenizer(mode.family, mode.files);
  countLine = (line) => tokenizer.countExample(JSON.parse(line) as JsonObject);
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
