// A validation worker thread: receives batches of raw lines (split on the main thread), decodes, checks and
// counts them off the main event loop, and answers with compact typed arrays.
import { hash } from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";
import { getOpenTokenizer, isOpenTokenizerFamily } from "../tokenizers/index.ts";
import {
  collectUnwrittenTables,
  unwrittenTables,
  useCacheDir,
  useHandedOverTables,
} from "../tokenizers/tableFile.ts";
import { loadTextCounter } from "./counter.ts";
import type { BatchRequest, BatchResult, WorkerInit, WorkerReady } from "./protocol.ts";
import { HASH_BYTES, LINE_BLANK, LINE_INVALID, SHAPE_CODES } from "./protocol.ts";
import { checkLine, type LineShape, type RuleContext } from "./rules.ts";

const init = workerData as WorkerInit;
const { tokenizer, maxTokensPerExample, trainer } = init;
useCacheDir(init.cacheDir);
useHandedOverTables(init.tables);
collectUnwrittenTables();
// Open-weight models count by their own tokenizer and chat template; OpenAI's by the cookbook rule.
const ctx: RuleContext = isOpenTokenizerFamily(tokenizer)
  ? { template: getOpenTokenizer(tokenizer, init.openFiles), maxTokensPerExample, trainer }
  : { counter: await loadTextCounter(tokenizer, init.encodingUrl), maxTokensPerExample, trainer };
const fatalDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

const shapeCode = (s: LineShape): number => SHAPE_CODES.indexOf(s);

function handle(req: BatchRequest): BatchResult {
  const { buf, starts, ends } = req;
  const n = starts.length;
  const tokens = new Int32Array(n);
  const shapes = new Uint8Array(n);
  const hashes = new Uint8Array(n * HASH_BYTES);
  const issues: BatchResult["issues"] = [];
  // Fast path: the whole batch decodes as UTF-8; otherwise decode line by line to find the bad ones.
  let whole: string | undefined;
  try {
    whole = fatalDecoder.decode(buf);
  } catch {
    whole = undefined;
  }
  const wholeLines = whole?.split("\n");
  for (let i = 0; i < n; i++) {
    let text: string;
    if (wholeLines) text = wholeLines[i] ?? "";
    else {
      try {
        text = fatalDecoder.decode(buf.subarray(starts[i], ends[i]));
      } catch {
        tokens[i] = LINE_INVALID;
        issues.push({ i, code: "invalid_encoding", message: "the line is not valid UTF-8 text" });
        continue;
      }
    }
    if (text.endsWith("\r")) text = text.slice(0, -1);
    if (text.trim() === "") {
      tokens[i] = LINE_BLANK;
      continue;
    }
    const verdict = checkLine(text, ctx);
    shapes[i] = shapeCode(verdict.shape);
    tokens[i] = verdict.tokens;
    for (const e of verdict.errors) issues.push({ i, code: e.code, message: e.message });
    for (const w of verdict.warnings) issues.push({ i, code: w.code, message: w.message, warning: true });
    if (verdict.tokens >= 0) {
      // The line's own bytes (a trailing CR dropped), hashed in one call: no re-encoding of the text.
      const start = starts[i] as number;
      let end = ends[i] as number;
      if (end > start && buf[end - 1] === 13) end--;
      const digest = hash("sha1", buf.subarray(start, end), "buffer") as unknown as Buffer;
      hashes.set(digest.subarray(0, HASH_BYTES), i * HASH_BYTES);
    }
  }
  return { id: req.id, tokens, shapes, hashes, issues };
}

const port = parentPort;
if (!port) throw new Error("worker.ts must run as a worker thread");
port.postMessage({ ready: true, tables: unwrittenTables() } satisfies WorkerReady);
port.on("message", (req: BatchRequest) => {
  const result = handle(req);
  port.postMessage(result, [
    result.tokens.buffer as ArrayBuffer,
    result.shapes.buffer as ArrayBuffer,
    result.hashes.buffer as ArrayBuffer,
  ]);
});
