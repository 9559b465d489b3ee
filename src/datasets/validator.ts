// The dataset validator: streams a JSONL file, splits it into lines on the main thread, checks and counts
// the lines in worker threads (the event loop keeps turning: a bot's gateway heartbeat keeps beating), and
// folds the results, in file order, into a ValidationReport. Memory stays flat: a bounded number of batches
// is in flight, errors and warnings are stored up to a cap, duplicates are found through 12-byte hashes.
import { createHash } from "node:crypto";
import { once } from "node:events";
import { constants, createWriteStream, type WriteStream } from "node:fs";
import { type FileHandle, mkdir, open, readdir, rename, stat, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { UserError } from "../domain/errors.ts";
import { isFineTunableFile } from "../domain/trainable.ts";
import { isOpenTokenizerFamily } from "../tokenizers/families.ts";
import { openTablesKey, openTokenizerFiles } from "../tokenizers/files.ts";
import { configuredCacheDir, hasCachedTables } from "../tokenizers/tableFile.ts";
import { type Catalog, defaultCatalog, type ModelInfo, resolveModel } from "./catalog.ts";
import { ENCODING_MODULES, rankTablesKey } from "./counter.ts";
import {
  billingTokens,
  defaultEpochs,
  preferenceBilling,
  pricePerMillionFor,
  trainingCostUsd,
} from "./estimate.ts";
import {
  type BatchRequest,
  type BatchResult,
  HASH_BYTES,
  LINE_BLANK,
  SHAPE_CODES,
  type WorkerInit,
  type WorkerReady,
} from "./protocol.ts";
import type {
  DatasetFormat,
  ErrorCode,
  LineError,
  TokenStats,
  ValidateOptions,
  ValidationReport,
  Warning,
  WarningCode,
} from "./types.ts";

/** Errors and warnings kept in the report; the rest are only counted. */
export const MAX_STORED_ISSUES = 10_000;
/** A longer line is reported without being read into memory (no legitimate example comes near it). */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;
const CHUNK_BYTES = 128 * 1024;
const BATCHES_IN_FLIGHT_PER_WORKER = 2;
/** Validation workers' heaps, capped so memory stays flat as files grow (the bench and tests reuse them). */
export const WORKER_HEAP_LIMITS = { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 96 };
/** How a worker's entry is bundled into one plain-JS module (see loadWorkerEntry). */
export const WORKER_BUNDLE_OPTIONS = {
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  write: false,
  logLevel: "silent",
} as const;
/** Files smaller than this use one worker: starting a second costs more than it saves. */
const BYTES_PER_WORKER = 1024 * 1024;
const RECOMMENDED_EXAMPLES = 50;

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Known binary signatures: a file starting with one is not a dataset. */
const BINARY_SIGNATURES: { name: string; bytes: number[] }[] = [
  { name: "a PNG image", bytes: [0x89, 0x50, 0x4e, 0x47] },
  { name: "a JPEG image", bytes: [0xff, 0xd8, 0xff] },
  { name: "a GIF image", bytes: [0x47, 0x49, 0x46, 0x38] },
  { name: "a PDF document", bytes: [0x25, 0x50, 0x44, 0x46, 0x2d] },
  { name: "a ZIP archive (or an Office document such as .xlsx/.docx)", bytes: [0x50, 0x4b, 0x03, 0x04] },
  { name: "a gzip archive", bytes: [0x1f, 0x8b] },
  { name: "UTF-16 text (save it as UTF-8)", bytes: [0xff, 0xfe] },
  { name: "UTF-16 text (save it as UTF-8)", bytes: [0xfe, 0xff] },
  { name: "an old Office document (.xls/.doc)", bytes: [0xd0, 0xcf, 0x11, 0xe0] },
  { name: "a WebAssembly or executable file", bytes: [0x7f, 0x45, 0x4c, 0x46] },
];
const SNIFF_BYTES = 8192;

/** Why the start of the file shows it is not text, if it does. */
export function sniffBinary(head: Uint8Array): string | undefined {
  for (const sig of BINARY_SIGNATURES) {
    if (sig.bytes.every((b, i) => head[i] === b)) return `this is ${sig.name}, not a JSONL text file`;
  }
  const nul = head.subarray(0, SNIFF_BYTES).indexOf(0);
  if (nul >= 0)
    return `the file contains NUL bytes (at byte ${nul + 1}): it is binary, not a JSONL text file`;
  return undefined;
}

const dataUrl = (code: string) => new URL(`data:text/javascript,${encodeURIComponent(code)}`);

/**
 * Fallback worker entry, through tsx: Node 20 does not run the parent's `--import tsx` hooks in worker
 * threads, so this registers tsx when the plain import of worker.ts fails, and retries under a fresh URL
 * (the failed import stays cached under the first one).
 */
function tsxBootstrap(): URL {
  const href = new URL("./worker.ts", import.meta.url).href;
  return dataUrl(`try { await import(${JSON.stringify(href)}); } catch (err) {
  if (err?.code !== "ERR_UNKNOWN_FILE_EXTENSION") throw err;
  const { register } = await import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))});
  register();
  await import(${JSON.stringify(`${href}?tsx`)});
}`);
}

let workerEntry: Promise<URL> | undefined;

/**
 * The worker's code: worker.ts and its imports bundled into one plain-JS module by esbuild (installed with
 * tsx), so a worker starts without a TypeScript loader of its own: ~0.3 s faster and ~20 MB lighter each.
 * Built once per process and cached in node_modules/.cache/classtune under a key of the sizes and times of
 * the files it is built from (this folder's and src/tokenizers'; saves starting esbuild on every CLI run),
 * and started from that file (from a data: URL when it cannot be kept); the tsx bootstrap if esbuild is
 * unavailable.
 */
function loadWorkerEntry(): Promise<URL> {
  workerEntry ??= (async () => {
    try {
      const folder = fileURLToPath(new URL(".", import.meta.url));
      const key = createHash("sha1");
      for (const dir of [folder, fileURLToPath(new URL("../tokenizers/", import.meta.url))]) {
        const files = (await readdir(dir)).filter((f) => f.endsWith(".ts")).sort();
        for (const f of files) {
          const info = await stat(join(dir, f));
          key.update(`${dir}${f}:${info.size}:${info.mtimeMs}\n`);
        }
      }
      // The project's own cache folder, not the shared temp directory: nobody else can plant code there.
      const cacheDir =
        configuredCacheDir() ??
        fileURLToPath(new URL("../../node_modules/.cache/classtune/", import.meta.url));
      const cached = join(cacheDir, `validation-worker-${key.digest("hex").slice(0, 16)}.mjs`);
      // The kept file itself, not its code in a data: URL (a worker starts ~8 ms sooner from a file).
      const hit = await stat(cached).then(
        (info) => info.isFile() && info.size > 0,
        () => false,
      );
      if (hit) return pathToFileURL(cached);
      const esbuild = await import("esbuild");
      const out = await esbuild.build({
        entryPoints: [join(folder, "worker.ts")],
        ...WORKER_BUNDLE_OPTIONS,
      });
      const code = out.outputFiles[0]?.text;
      if (!code) return tsxBootstrap();
      const tmp = `${cached}.${process.pid}.tmp`;
      return await mkdir(cacheDir, { recursive: true })
        .then(() => writeFile(tmp, code))
        .then(() => rename(tmp, cached))
        .then(
          () => pathToFileURL(cached),
          () => dataUrl(code),
        );
    } catch {
      return tsxBootstrap();
    }
  })();
  return workerEntry;
}

interface Batch {
  firstLine: number;
  /** The batch's bytes, kept only when writing the cleaned output. */
  region: Uint8Array;
  starts: Int32Array;
  ends: Int32Array;
  result: Promise<BatchResult>;
}

/** The worker threads of one validation, each with a count of its outstanding batches. */
class WorkerPool {
  private readonly workers: { worker: Worker; outstanding: number }[] = [];
  private readonly waiting = new Map<
    number,
    { resolve: (r: BatchResult) => void; reject: (e: Error) => void }
  >();
  private failure: Error | undefined;
  private nextId = 0;

  /** Whether the rest of the workers may start (at once, unless the first is building the tables). */
  private othersMayStart: boolean;

  constructor(
    private readonly size: number,
    private init: WorkerInit,
    private readonly entry: URL,
    /**
     * The tables are not kept yet: the first worker builds and keeps them before the others start, so they
     * read the kept file instead of building them at the same time (two builds at once crossed 300 MB).
     */
    tablesKept: boolean,
  ) {
    this.othersMayStart = tablesKept;
  }

  run(buf: Uint8Array, starts: Int32Array, ends: Int32Array): Promise<BatchResult> {
    if (this.failure) return Promise.reject(this.failure);
    // All workers start with the first batch: each takes a few hundred ms to load its tables.
    if (this.workers.length === 0) this.spawn();
    if (this.othersMayStart) this.spawnOthers();
    const slot = this.workers.reduce((a, b) => (b.outstanding < a.outstanding ? b : a));
    const id = this.nextId++;
    slot.outstanding++;
    const req: BatchRequest = { id, buf, starts, ends };
    return new Promise<BatchResult>((resolve, reject) => {
      this.waiting.set(id, {
        resolve: (r) => {
          slot.outstanding--;
          resolve(r);
        },
        reject,
      });
      slot.worker.postMessage(req, [
        buf.buffer as ArrayBuffer,
        starts.buffer as ArrayBuffer,
        ends.buffer as ArrayBuffer,
      ]);
    });
  }

  private spawnOthers(): void {
    while (this.workers.length < this.size) this.spawn();
  }

  private spawn(): void {
    // Small heaps make V8 collect early: RSS stays flat (the tables take ~30 MB, a batch a few MB).
    const worker = new Worker(this.entry, { workerData: this.init, resourceLimits: WORKER_HEAP_LIMITS });
    worker.on("message", (r: BatchResult | WorkerReady) => {
      if ("ready" in r) {
        // The first worker's tables are loaded, and kept when it could write them: the others read them
        // (or, when it could not, take its copy in shared memory).
        if (!this.othersMayStart && !this.failure) {
          if (Object.keys(r.tables).length > 0) this.init = { ...this.init, tables: r.tables };
          this.othersMayStart = true;
          this.spawnOthers();
        }
        return;
      }
      const w = this.waiting.get(r.id);
      this.waiting.delete(r.id);
      w?.resolve(r);
    });
    const fail = (err: Error) => {
      this.failure ??= err;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    worker.on("error", (err: Error & { code?: string }) =>
      fail(
        err.code === "ERR_WORKER_OUT_OF_MEMORY"
          ? new UserError(
              "the file has a line too large to check in memory; split or shorten it",
              "too_large",
            )
          : err,
      ),
    );
    worker.on("exit", (code) => {
      if (code !== 0) fail(new Error(`validation worker exited with code ${code}`));
    });
    this.workers.push({ worker, outstanding: 0 });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
    this.workers.length = 0;
  }
}

/** A growable list of example token counts (4 bytes each). */
class TokenList {
  private data = new Uint32Array(1024);
  length = 0;
  push(n: number): void {
    if (this.length === this.data.length) {
      const bigger = new Uint32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = n;
  }
  values(): Uint32Array {
    return this.data.subarray(0, this.length);
  }
}

/**
 * Line number of each distinct example, keyed by 64 bits of its hash: an open-addressing table in typed
 * arrays (12 bytes a slot, at most 3/4 full), so duplicate detection stays small on a 500 MB file.
 */
export class HashIndex {
  private hi = new Uint32Array(1 << 12);
  private lo = new Uint32Array(1 << 12);
  private lines = new Uint32Array(1 << 12); // 0 = empty slot (lines start at 1)
  private size = 0;

  /** Records `line` under the 8 bytes at hashes[offset..]; returns the earlier line with that hash, if any. */
  addOrGet(hashes: Uint8Array, offset: number, line: number): number | undefined {
    const view = new DataView(hashes.buffer, hashes.byteOffset + offset, 8);
    const hi = view.getUint32(0);
    const lo = view.getUint32(4);
    const found = this.find(hi, lo);
    const existing = this.lines[found] as number;
    if (existing !== 0) return existing;
    this.hi[found] = hi;
    this.lo[found] = lo;
    this.lines[found] = line;
    if (++this.size * 4 > this.lines.length * 3) this.grow();
    return undefined;
  }

  private find(hi: number, lo: number): number {
    const mask = this.lines.length - 1;
    let slot = lo & mask;
    while (this.lines[slot] !== 0 && (this.hi[slot] !== hi || this.lo[slot] !== lo)) slot = (slot + 1) & mask;
    return slot;
  }

  private grow(): void {
    const { hi, lo, lines } = this;
    this.hi = new Uint32Array(lines.length * 2);
    this.lo = new Uint32Array(lines.length * 2);
    this.lines = new Uint32Array(lines.length * 2);
    for (let i = 0; i < lines.length; i++) {
      if (lines[i] === 0) continue;
      const slot = this.find(hi[i] as number, lo[i] as number);
      this.hi[slot] = hi[i] as number;
      this.lo[slot] = lo[i] as number;
      this.lines[slot] = lines[i] as number;
    }
  }
}

export function tokenStats(values: Uint32Array): TokenStats {
  if (values.length === 0) return { total: 0, min: 0, max: 0, mean: 0, p50: 0, p90: 0 };
  const sorted = Uint32Array.from(values).sort();
  let total = 0;
  for (const v of sorted) total += v;
  // Nearest-rank percentiles: always the token count of a real example.
  const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] as number;
  return {
    total,
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
    mean: Math.round((total / sorted.length) * 100) / 100,
    p50: rank(50),
    p90: rank(90),
  };
}

const NO_PREFERENCE_KEYS = `the line has none of "input", "preferred_output", "non_preferred_output"`;

/** Folds batch results, in file order, into the report's counts, issues and token list. */
class Tally {
  format: DatasetFormat | undefined;
  examples = 0;
  valid = 0;
  invalid = 0;
  readonly errors: LineError[] = [];
  errorsOmitted = 0;
  readonly errorCounts: Partial<Record<ErrorCode, number>> = {};
  readonly warnings: Warning[] = [];
  warningsOmitted = 0;
  readonly warningCounts: Partial<Record<WarningCode, number>> = {};
  readonly tokens = new TokenList();
  private readonly seen = new HashIndex();
  /** Shapeless lines seen before the format was known: their code depends on it. */
  private readonly shapeless: LineError[] = [];
  private shapelessCount = 0;

  constructor(private readonly cleaned: WriteStream | undefined) {}

  error(line: number, code: ErrorCode, message: string): LineError | undefined {
    this.errorCounts[code] = (this.errorCounts[code] ?? 0) + 1;
    if (this.errors.length >= MAX_STORED_ISSUES) {
      this.errorsOmitted++;
      return undefined;
    }
    const e = { line, code, message };
    this.errors.push(e);
    return e;
  }

  warning(line: number | undefined, code: WarningCode, message: string): void {
    this.warningCounts[code] = (this.warningCounts[code] ?? 0) + 1;
    if (this.warnings.length >= MAX_STORED_ISSUES) {
      this.warningsOmitted++;
      return;
    }
    this.warnings.push(line === undefined ? { code, message } : { line, code, message });
  }

  private decideFormat(format: DatasetFormat): void {
    this.format = format;
    if (format === "preference" && this.shapelessCount > 0) {
      for (const e of this.shapeless) {
        e.code = "missing_preference_fields";
        e.message = NO_PREFERENCE_KEYS;
      }
      this.errorCounts.missing_messages_list =
        (this.errorCounts.missing_messages_list ?? 0) - this.shapelessCount;
      if (this.errorCounts.missing_messages_list === 0) delete this.errorCounts.missing_messages_list;
      this.errorCounts.missing_preference_fields =
        (this.errorCounts.missing_preference_fields ?? 0) + this.shapelessCount;
    }
    this.shapeless.length = 0;
  }

  /** Records one example line that could not be read at all (over MAX_LINE_BYTES). */
  oversized(line: number, bytes: number): void {
    this.examples++;
    this.invalid++;
    this.error(
      line,
      "too_many_tokens",
      `the line is ${(bytes / 1024 / 1024).toFixed(0)} MB long, far over any model's per-example limit`,
    );
  }

  async add(batch: Batch, r: BatchResult): Promise<void> {
    let k = 0;
    const issues = r.issues;
    for (let i = 0; i < r.tokens.length; i++) {
      const line = batch.firstLine + i;
      const t = r.tokens[i] as number;
      const start = k;
      while (k < issues.length && (issues[k] as BatchResult["issues"][number]).i === i) k++;
      if (t === LINE_BLANK) {
        this.warning(line, "blank_line", "blank line (skipped)");
        continue;
      }
      this.examples++;
      const shape = SHAPE_CODES[r.shapes[i] as number];
      if (this.format === undefined && (shape === "chat" || shape === "preference")) this.decideFormat(shape);
      const mismatch =
        this.format !== undefined && (shape === "chat" || shape === "preference") && shape !== this.format;
      if (t >= 0 && !mismatch) {
        this.valid++;
        this.tokens.push(t);
        const first = this.seen.addOrGet(r.hashes, i * HASH_BYTES, line);
        if (first !== undefined) this.warning(line, "duplicate_example", `the same example as line ${first}`);
        for (let j = start; j < k; j++) {
          const w = issues[j] as BatchResult["issues"][number];
          this.warning(line, w.code as WarningCode, w.message);
        }
        if (this.cleaned) {
          const end = (batch.ends[i] as number) + (batch.ends[i] === batch.region.length ? 0 : 1);
          if (!this.cleaned.write(batch.region.subarray(batch.starts[i], end)))
            await once(this.cleaned, "drain");
        }
        continue;
      }
      this.invalid++;
      if (mismatch) {
        if (this.format === "chat") {
          this.error(line, "missing_messages_list", `the line is a preference (DPO) example in a chat file`);
        } else
          this.error(line, "missing_preference_fields", `the line is a chat example in a preference file`);
        continue;
      }
      for (let j = start; j < k; j++) {
        const e = issues[j] as BatchResult["issues"][number];
        if (e.warning) continue;
        if (shape === "none" && e.code === "missing_messages_list") {
          if (this.format === "preference") this.error(line, "missing_preference_fields", NO_PREFERENCE_KEYS);
          else {
            const stored = this.error(line, "missing_messages_list", e.message);
            if (this.format === undefined) {
              this.shapelessCount++;
              if (stored) this.shapeless.push(stored);
            }
          }
        } else this.error(line, e.code as ErrorCode, e.message);
      }
    }
  }
}

const EMPTY = new Uint8Array(0);

/** `parts` then `tail` in one new array with its own ArrayBuffer (never Node's shared pool: it is transferred). */
function joined(parts: Uint8Array[], tail: Uint8Array): Uint8Array {
  let length = tail.length;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  out.set(tail, at);
  return out;
}

/** Splits a region of complete lines into line ranges (a trailing "\n" ends the last line). */
function splitLines(bytes: Uint8Array): { starts: Int32Array; ends: Int32Array } {
  const region = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length); // Buffer#indexOf is memchr
  const starts: number[] = [];
  const ends: number[] = [];
  let s = 0;
  for (;;) {
    const nl = region.indexOf(10, s);
    if (nl < 0) {
      if (s < region.length) {
        starts.push(s);
        ends.push(region.length);
      }
      break;
    }
    starts.push(s);
    ends.push(nl);
    s = nl + 1;
  }
  return { starts: Int32Array.from(starts), ends: Int32Array.from(ends) };
}

function workerCount(requested: number | undefined, bytes: number): number {
  const wanted = requested ?? Math.min(2, availableParallelism());
  return Math.max(1, Math.min(wanted, Math.ceil(bytes / BYTES_PER_WORKER)));
}

async function openForReading(path: string) {
  try {
    const handle = await open(path, "r");
    const info = await handle.stat();
    if (info.isDirectory()) {
      await handle.close();
      throw new UserError(`cannot read ${path}: it is a directory`, "io");
    }
    return { handle, size: info.size };
  } catch (err) {
    if (err instanceof UserError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EACCES"
          ? "permission denied"
          : code === "EISDIR"
            ? "it is a directory"
            : (err as Error).message;
    throw new UserError(`cannot read ${path}: ${why}`, "io");
  }
}

/**
 * Opens the cleaned output without truncating it, and truncates it only once it is known not to be the input:
 * the same file (device and inode of the open files), whatever the path says (a symlink, a hard link).
 */
async function openCleanedOutput(out: string, input: FileHandle): Promise<WriteStream> {
  let handle: FileHandle;
  try {
    handle = await open(out, constants.O_WRONLY | constants.O_CREAT, 0o666);
  } catch (err) {
    throw new UserError(`cannot write ${out}: ${(err as Error).message}`, "io");
  }
  try {
    const [target, source] = await Promise.all([handle.stat(), input.stat()]);
    if (target.dev === source.dev && target.ino === source.ino) {
      throw new UserError(
        `the cleaned output ${out} is the file being checked (the same file, by whatever name); choose another path`,
        "usage",
      );
    }
    await handle.truncate(0);
  } catch (err) {
    await handle.close();
    if (err instanceof UserError) throw err;
    throw new UserError(`cannot write ${out}: ${(err as Error).message}`, "io");
  }
  return createWriteStream(out, { fd: handle });
}

/**
 * Validations a process runs at once; more wait their turn. Each uses up to two worker threads and about
 * 250 MB, so ten teachers uploading at the same moment must not mean twenty workers.
 */
export const MAX_CONCURRENT_VALIDATIONS = 2;
let activeValidations = 0;
const waitingValidations: (() => void)[] = [];

/** How many validations are running now (the rest are queued). */
export function runningValidations(): number {
  return activeValidations;
}

/** Validates a JSONL fine-tuning dataset; see ValidationReport for what it reports. */
export async function validateFile(path: string, options: ValidateOptions = {}): Promise<ValidationReport> {
  if (activeValidations < MAX_CONCURRENT_VALIDATIONS) activeValidations++;
  else await new Promise<void>((resolve) => waitingValidations.push(resolve)); // the slot is handed over
  try {
    return await validateFileNow(path, options);
  } finally {
    const next = waitingValidations.shift();
    if (next) next();
    else activeValidations--;
  }
}

/** What a worker loads to count for the model: an OpenAI encoding's module, or an open family's data files. */
function workerTokenizer(model: ModelInfo): Pick<WorkerInit, "tokenizer" | "encodingUrl" | "openFiles"> {
  const { tokenizer } = model;
  if (isOpenTokenizerFamily(tokenizer)) return { tokenizer, openFiles: openTokenizerFiles(tokenizer) };
  return { tokenizer, encodingUrl: import.meta.resolve(ENCODING_MODULES[tokenizer]) };
}

/** Whether the tables the workers load are kept already (in the cache folder: tokenizers/tableFile.ts). */
function tablesKept(t: Pick<WorkerInit, "tokenizer" | "encodingUrl" | "openFiles">): boolean {
  const key = isOpenTokenizerFamily(t.tokenizer)
    ? t.openFiles && openTablesKey(t.tokenizer, t.openFiles)
    : rankTablesKey(t.tokenizer, t.encodingUrl);
  return key !== undefined && hasCachedTables(key.name, key.source, key.meta);
}

async function validateFileNow(path: string, options: ValidateOptions): Promise<ValidationReport> {
  const catalog: Catalog = options.catalog ?? defaultCatalog();
  const model: ModelInfo = resolveModel(options.model ?? catalog.defaultModel, catalog);
  options.signal?.throwIfAborted();
  const entry = loadWorkerEntry();
  const { handle, size } = await openForReading(path);
  let cleaned: WriteStream | undefined;
  try {
    cleaned = options.cleanedOutPath ? await openCleanedOutput(options.cleanedOutPath, handle) : undefined;
  } catch (err) {
    await handle.close();
    throw err;
  }
  let writeError: Error | undefined;
  cleaned?.on("error", (err) => {
    writeError ??= err;
  });
  const tally = new Tally(cleaned);
  const tokenizer = workerTokenizer(model);
  const pool = new WorkerPool(
    workerCount(options.workers, size),
    {
      ...tokenizer,
      maxTokensPerExample: model.maxTokensPerExample,
      trainer: model.trainer,
      cacheDir: configuredCacheDir(),
    },
    await entry,
    tablesKept(tokenizer),
  );
  const maxInFlight = workerCount(options.workers, size) * BATCHES_IN_FLIGHT_PER_WORKER;
  const sha = createHash("sha256");
  const queue: Batch[] = [];
  let bytesRead = 0;
  let fileError: { code: ErrorCode; message: string } | undefined;
  let nextLine = 1;
  let first = true;
  let carry: Uint8Array[] = [];
  let carryBytes = 0;
  let oversizeBytes = 0; // > 0 while skipping an over-long line

  const drainHead = async () => {
    const batch = queue.shift();
    if (batch) await tally.add(batch, await batch.result);
  };
  /** Sends complete lines to a worker. `region` is owned here (its own ArrayBuffer): transferred, not copied, unless the cleaned output needs it. */
  const submit = async (region: Uint8Array) => {
    const { starts, ends } = splitLines(region);
    if (starts.length === 0) return;
    const last = ends[ends.length - 1] as number;
    const buf = cleaned ? new Uint8Array(region.subarray(0, last)) : region.subarray(0, last);
    const batch: Batch = {
      firstLine: nextLine,
      region: cleaned ? region : EMPTY,
      starts,
      ends,
      result: pool.run(buf, starts.slice(), ends.slice()),
    };
    batch.result.catch(() => {}); // awaited in order by drainHead
    nextLine += starts.length;
    queue.push(batch);
    while (queue.length >= maxInFlight) await drainHead();
  };
  const flushOversize = async () => {
    while (queue.length > 0) await drainHead();
    tally.oversized(nextLine, oversizeBytes);
    nextLine++;
    oversizeBytes = 0;
  };

  try {
    // One read buffer, reused: what outlives a read (a batch, a partial line) is copied out of it.
    const readBuf = Buffer.allocUnsafeSlow(CHUNK_BYTES);
    for (;;) {
      options.signal?.throwIfAborted();
      const { bytesRead: n } = await handle.read(readBuf, 0, CHUNK_BYTES, null);
      if (n === 0) break;
      const raw = readBuf.subarray(0, n);
      sha.update(raw);
      bytesRead += n;
      options.onProgress?.(bytesRead, size);
      if (fileError) continue;
      let chunk = raw;
      if (first) {
        first = false;
        if (chunk.subarray(0, 3).equals(BOM)) chunk = chunk.subarray(3);
        const why = sniffBinary(chunk);
        if (why) {
          fileError = { code: "not_text", message: why };
          continue;
        }
      }
      const nl = chunk.lastIndexOf(10);
      if (oversizeBytes > 0) {
        if (nl < 0) {
          oversizeBytes += chunk.length;
          continue;
        }
        const firstNl = chunk.indexOf(10);
        oversizeBytes += firstNl;
        await flushOversize();
        chunk = chunk.subarray(firstNl + 1);
        const rest = chunk.lastIndexOf(10);
        await submit(joined([], chunk.subarray(0, rest + 1)));
        carry = [new Uint8Array(chunk.subarray(rest + 1))];
        carryBytes = chunk.length - rest - 1;
        continue;
      }
      if (nl < 0) {
        carry.push(new Uint8Array(chunk));
        carryBytes += chunk.length;
        if (carryBytes > MAX_LINE_BYTES) {
          oversizeBytes = carryBytes;
          carry = [];
          carryBytes = 0;
        }
        continue;
      }
      const region = joined(carry, chunk.subarray(0, nl + 1));
      carry = [new Uint8Array(chunk.subarray(nl + 1))]; // a copy: readBuf is reused
      carryBytes = chunk.length - nl - 1;
      await submit(region);
    }
    if (!fileError) {
      if (oversizeBytes > 0) await flushOversize();
      else if (carryBytes > 0) await submit(joined(carry, EMPTY));
    }
    while (queue.length > 0) await drainHead();
  } finally {
    await pool.close();
    await handle.close();
    if (cleaned) {
      cleaned.end();
      await once(cleaned, "close").catch(() => {});
    }
  }
  options.signal?.throwIfAborted();
  if (writeError) throw new UserError(`cannot write ${options.cleanedOutPath}: ${writeError.message}`, "io");

  if (fileError) tally.error(0, fileError.code, fileError.message);
  else if (tally.examples === 0) {
    tally.error(
      0,
      "empty_file",
      size === 0 ? "the file is empty" : "the file has no examples, only blank lines",
    );
  } else {
    if (tally.valid < model.minExamples) {
      tally.warning(
        undefined,
        "too_few_examples",
        `only ${tally.valid} valid example(s): ${model.trainerName} refuses a file with fewer than ${model.minExamples} for ${model.id}`,
      );
    }
    if (tally.valid < RECOMMENDED_EXAMPLES) {
      tally.warning(
        undefined,
        "below_recommended_examples",
        `${tally.valid} valid example(s): at least ${RECOMMENDED_EXAMPLES} are recommended (50–100 is a good start)`,
      );
    }
  }
  return buildReport(tally, model, catalog, size, sha.digest("hex"));
}

function buildReport(
  tally: Tally,
  model: ModelInfo,
  catalog: Catalog,
  bytes: number,
  sha256: string,
): ValidationReport {
  const values = tally.tokens.values();
  const epochs = model.defaultEpochs === "auto" ? defaultEpochs(tally.valid) : model.defaultEpochs;
  const billing = tally.valid > 0 ? billingTokens(values, model.maxTokensPerExample, epochs) : 0;
  const format = tally.format ?? "chat";
  const price = pricePerMillionFor(format, model.trainingPricePerMillionUsd, model.trainerName);
  return {
    format,
    provider: catalog.provider,
    providerKind: catalog.kind,
    trainerName: model.trainerName,
    model: model.id,
    encoding: model.tokenizer,
    tokenizer: model.tokenizer,
    chatTemplate: model.chatTemplate,
    maxTokensPerExample: model.maxTokensPerExample,
    minExamples: model.minExamples,
    bytes,
    sha256,
    examples: tally.examples,
    valid: tally.valid,
    invalid: tally.invalid,
    fineTunable: isFineTunableFile(
      {
        valid: tally.valid,
        invalid: tally.invalid,
        fileLevelErrors: tally.errors.filter((e) => e.line <= 0).length,
      },
      model.minExamples,
    ),
    errors: tally.errors,
    errorsOmitted: tally.errorsOmitted,
    errorCounts: tally.errorCounts,
    warnings: tally.warnings,
    warningsOmitted: tally.warningsOmitted,
    warningCounts: tally.warningCounts,
    tokens: tokenStats(values),
    epochs,
    billingTokens: billing,
    estimatedCostUsd: trainingCostUsd(billing, price),
    costIsEstimate: true,
    pricePerMillionTrainingTokensUsd: price,
    pricesAsOf: model.priceAsOf,
    priceSource: model.priceSource,
    ...(format === "preference" ? { preferenceBilling: preferenceBilling(model.trainerName) } : {}),
  };
}
