// Token counting exactly as OpenAI's tiktoken does it, over gpt-tokenizer's rank tables (identical token ids;
// gpt-tokenizer was ~5x faster than js-tiktoken on this machine: see bench/validate.ts). The ranks are kept as
// bytes in a ByteTable and merged here by tiktoken's rule, so the built table can be kept in
// node_modules/.cache/classtune (tokenizers/tableFile.ts): a worker reads it in milliseconds instead of
// compiling gpt-tokenizer's 2.4 MB rank module and building its maps (~0.15–0.25 s each). This module loads
// an encoding only when asked (`loadTextCounter`); tokens.ts adds a synchronous `textCounter` for in-process use.
//
// Special-token text such as "<|endoftext|>" is counted as plain text (tiktoken's encode_ordinary), never
// thrown on; the validator reports it separately with `findSpecialToken`.
//
// Long pieces: gpt-tokenizer's byte-pair merge is quadratic in the length of one pre-tokenized piece
// (100,000 "é" take ~11 s). Pieces longer than LONG_PIECE chars are merged here with a heap instead:
// same rule as tiktoken (repeatedly merge the lowest-ranked adjacent pair, leftmost on ties), O(n log n).
import { fileURLToPath } from "node:url";
import { ByteTable } from "../tokenizers/byteTable.ts";
import { asciiRuns, asciiSplitRegex, ChunkCounts } from "../tokenizers/chunks.ts";
import { type Packed, readCachedTables, writeCachedTables } from "../tokenizers/tableFile.ts";

export type EncodingName = "cl100k_base" | "o200k_base";

/**
 * The gpt-tokenizer module of each encoding. A rank table that is not kept yet is built from the plain rank
 * list beside it (buildRankTables), not from the module itself, which holds ~70 MB of maps once loaded.
 */
export const ENCODING_MODULES: Record<EncodingName, string> = {
  cl100k_base: "gpt-tokenizer/encoding/cl100k_base",
  o200k_base: "gpt-tokenizer/encoding/o200k_base",
};

/** The parts of gpt-tokenizer's BytePairEncodingCore read here (public at runtime, private in its typings). */
interface BpeCore {
  tokenSplitRegex: RegExp;
  /** Per rank, the token's text, or its bytes when they are not UTF-8 (holes for unused ranks). */
  bytePairRankDecoder: (string | number[] | Uint8Array | undefined)[];
}

/** An encoding's tables: its pre-tokenizer pattern and each token's rank by its bytes. */
export interface RankTables {
  pattern: string;
  flags: string;
  ranks: ByteTable;
}

const LONG_PIECE = 256;
/** Texts longer than this are split lazily (String#match, faster, builds the whole list of pieces). */
const MATCH_ALL_ABOVE = 64 * 1024;

/** Special-token text of the cl100k/o200k encodings and the ChatML markers OpenAI rejects in training data. */
const SPECIAL_TOKEN_RE =
  /<\|(?:endoftext|fim_prefix|fim_middle|fim_suffix|endofprompt|im_start|im_end|im_sep)\|>/;

/** The first special-token text in `text`, if any. */
export function findSpecialToken(text: string): string | undefined {
  if (!text.includes("<|")) return undefined;
  return SPECIAL_TOKEN_RE.exec(text)?.[0];
}

export interface TextCounter {
  readonly encoding: EncodingName;
  /** Tokens in `text`, special-token text counted as ordinary text. */
  count(text: string): number;
}

function coreOf(encoding: EncodingName, api: unknown): BpeCore {
  const core = (api as { bytePairEncodingCoreProcessor?: BpeCore }).bytePairEncodingCoreProcessor;
  if (!core || !(core.tokenSplitRegex instanceof RegExp) || !Array.isArray(core.bytePairRankDecoder)) {
    throw new Error(`gpt-tokenizer internals changed: no byte-pair core for ${encoding}`);
  }
  return core;
}

/** The rank tables of a loaded gpt-tokenizer encoding API (its default export). */
export function rankTablesOf(encoding: EncodingName, api: unknown): RankTables {
  return rankTablesOfCore(coreOf(encoding, api));
}

/**
 * The tables over an encoding's rank decoder, every token's bytes written straight into one growing array (no
 * array per token: building them used to take ~95 MB of a worker's heap for o200k, this takes ~6 MB).
 */
function rankTablesOfCore(core: BpeCore): RankTables {
  const encoder = new TextEncoder();
  const decoder = core.bytePairRankDecoder;
  let bytes = new Uint8Array(1 << 21);
  const offsets = new Int32Array(decoder.length + 1);
  const ids = new Int32Array(decoder.length);
  let at = 0;
  let n = 0;
  decoder.forEach((value, rank) => {
    if (value === undefined) return;
    const most = typeof value === "string" ? value.length * 3 : value.length; // UTF-8: ≤ 3 bytes a UTF-16 unit
    if (at + most > bytes.length) {
      const bigger = new Uint8Array(Math.max(bytes.length * 2, at + most));
      bigger.set(bytes.subarray(0, at));
      bytes = bigger;
    }
    offsets[n] = at;
    if (typeof value === "string") at += encoder.encodeInto(value, bytes.subarray(at)).written;
    else {
      bytes.set(value, at);
      at += value.length;
    }
    ids[n++] = rank;
  });
  offsets[n] = at;
  const re = core.tokenSplitRegex;
  return {
    pattern: re.source,
    flags: re.flags,
    ranks: ByteTable.index(bytes.slice(0, at), offsets.slice(0, n + 1), ids.slice(0, n)),
  };
}

/** The exported factory of gpt-tokenizer's encodingParams/<encoding>.js: the split pattern over a rank decoder. */
const PARAMS_FACTORIES: Record<EncodingName, string> = { cl100k_base: "Cl100KBase", o200k_base: "O200KBase" };

/**
 * The tables built from gpt-tokenizer's plain rank list and its encoding parameters, beside the encoding
 * module at `moduleUrl`, without loading the encoding itself (its maps take ~70 MB of a worker's memory; the
 * rank list alone ~45 MB). The whole encoding module when the files cannot be found there.
 */
async function buildRankTables(encoding: EncodingName, moduleUrl: string): Promise<RankTables> {
  let files: { ranks: string; params: string } | undefined;
  try {
    const resolved = moduleUrl.startsWith("file:") ? moduleUrl : import.meta.resolve(moduleUrl);
    files = {
      ranks: new URL(`../bpeRanks/${encoding}.js`, resolved).href,
      params: new URL(`../encodingParams/${encoding}.js`, resolved).href,
    };
  } catch {
    files = undefined;
  }
  if (files) {
    const [ranks, params] = await Promise.all([
      import(files.ranks) as Promise<{ default?: unknown }>,
      import(files.params) as Promise<Record<string, unknown>>,
    ]).catch(() => [undefined, undefined]);
    const factory = params?.[PARAMS_FACTORIES[encoding]];
    if (typeof factory === "function" && Array.isArray(ranks?.default)) {
      return rankTablesOfCore(coreOf(encoding, { bytePairEncodingCoreProcessor: factory(ranks.default) }));
    }
  }
  const mod = (await import(moduleUrl)) as { default: unknown };
  return rankTablesOf(encoding, mod.default);
}

const packRanks = (t: RankTables): Omit<Packed, "meta"> => ({
  data: { pattern: t.pattern, flags: t.flags },
  arrays: {
    bytes: t.ranks.bytes,
    offsets: t.ranks.offsets,
    ids: t.ranks.ids,
    slots: t.ranks.slots,
  },
});

function unpackRanks(p: Packed): RankTables {
  const { pattern, flags } = p.data as { pattern: string; flags: string };
  const a = p.arrays;
  if (!a.bytes || !a.offsets || !a.ids || !a.slots) throw new Error("damaged rank tables");
  return {
    pattern,
    flags,
    ranks: new ByteTable(
      a.bytes as Uint8Array,
      a.offsets as Int32Array,
      a.ids as Int32Array,
      a.slots as Int32Array,
    ),
  };
}

/** Bump when the kept rank tables' meaning changes. */
const RANKS_VERSION = "1";

const counters = new Map<EncodingName, TextCounter>();

/**
 * The counter for `encoding`, loading its tables on first use: kept ones from node_modules/.cache when they
 * were built from this gpt-tokenizer's rank file, else from gpt-tokenizer's module (and then kept).
 */
export async function loadTextCounter(
  encoding: EncodingName,
  moduleUrl: string = ENCODING_MODULES[encoding],
): Promise<TextCounter> {
  const existing = counters.get(encoding);
  if (existing) return existing;
  const key = rankTablesKey(encoding, moduleUrl);
  let tables = key ? readCachedTables(key.name, key.source, key.meta, unpackRanks) : undefined;
  if (!tables) {
    tables = await buildRankTables(encoding, moduleUrl);
    if (key) writeCachedTables(key.name, key.source, key.meta, tables, packRanks);
  }
  return counterOver(encoding, tables, {});
}

/** Where the encoding's tables are kept (tableFile.ts), when its rank file can be found. */
export function rankTablesKey(
  encoding: EncodingName,
  moduleUrl: string = ENCODING_MODULES[encoding],
): { name: string; source: string; meta: Record<string, string> } | undefined {
  const source = rankSourceOf(encoding, moduleUrl);
  return source
    ? { name: `encoding-${encoding}`, source, meta: { version: RANKS_VERSION, encoding } }
    : undefined;
}

/** The file the encoding's ranks come from (gpt-tokenizer's bpeRanks module), when it can be found. */
function rankSourceOf(encoding: EncodingName, moduleUrl: string): string | undefined {
  try {
    const resolved = moduleUrl.startsWith("file:") ? moduleUrl : import.meta.resolve(moduleUrl);
    return fileURLToPath(new URL(`../bpeRanks/${encoding}.js`, resolved));
  } catch {
    return undefined; // no file to key a kept table to: the module is loaded every time
  }
}

export interface CounterOptions {
  /**
   * Remember the counts of short pieces (default true). Natural text repeats its words, so nearly every
   * piece is counted once per worker; false is the plain path, which tests compare with.
   */
  pieceCache?: boolean;
}

/** The counter over an already loaded gpt-tokenizer encoding API (its default export). */
export function createTextCounter(
  encoding: EncodingName,
  api: unknown,
  options: CounterOptions = {},
): TextCounter {
  const existing = options.pieceCache !== false ? counters.get(encoding) : undefined;
  return existing ?? counterOver(encoding, rankTablesOf(encoding, api), options);
}

const NO_RANK = 0x7fffffff;

/** Token count of a short piece by tiktoken's merge: repeatedly merge the lowest-ranked adjacent pair, leftmost on ties. */
function countShortPiece(ranks: ByteTable, bytes: Uint8Array): number {
  const n = bytes.length;
  if (n <= 1) return n;
  // starts[k] is where part k begins (starts[parts] = n); rank[k] the rank of merging parts k and k + 1.
  const starts = new Int32Array(n + 1);
  const rank = new Int32Array(n);
  for (let i = 0; i <= n; i++) starts[i] = i;
  let parts = n;
  const pair = (k: number): number =>
    k + 1 < parts
      ? (ranks.getRange(bytes, starts[k] as number, starts[k + 2] as number) ?? NO_RANK)
      : NO_RANK;
  for (let k = 0; k < parts; k++) rank[k] = pair(k);
  for (;;) {
    let best = -1;
    let bestRank = NO_RANK;
    for (let k = 0; k + 1 < parts; k++) {
      if ((rank[k] as number) < bestRank) {
        bestRank = rank[k] as number;
        best = k;
      }
    }
    if (best < 0) return parts;
    starts.copyWithin(best + 1, best + 2, parts + 1);
    rank.copyWithin(best + 1, best + 2, parts);
    parts--;
    rank[best] = pair(best);
    if (best > 0) rank[best - 1] = pair(best - 1);
  }
}

function counterOver(encoding: EncodingName, tables: RankTables, options: CounterOptions): TextCounter {
  const cached = options.pieceCache !== false;
  const { ranks } = tables;
  const encoder = new TextEncoder();
  const unicodeSplit = new RegExp(tables.pattern, tables.flags);
  const asciiSplit = asciiSplitRegex(unicodeSplit);
  const rankOf = (bytes: Uint8Array, start: number, end: number) => ranks.getRange(bytes, start, end);
  const countPiece = (piece: string): number => {
    const bytes = encoder.encode(piece);
    if (ranks.get(bytes) !== undefined) return 1;
    if (piece.length > LONG_PIECE) return countLongPiece(rankOf, bytes);
    return countShortPiece(ranks, bytes);
  };
  const countPieces = (text: string, split: RegExp): number => {
    let n = 0;
    if (text.length > MATCH_ALL_ABOVE) {
      // Iterate: a multi-megabyte text would otherwise hold millions of pieces at once.
      for (const match of text.matchAll(split)) n += countPiece(match[0]);
      return n;
    }
    for (const piece of text.match(split) ?? []) n += countPiece(piece);
    return n;
  };
  const countPlain = (text: string): number => {
    if (!asciiSplit) return countPieces(text, unicodeSplit);
    let n = 0;
    for (const [start, end, ascii] of asciiRuns(text)) {
      const run = start === 0 && end === text.length ? text : text.slice(start, end);
      n += countPieces(run, ascii ? asciiSplit : unicodeSplit);
    }
    return n;
  };
  const chunks = cached ? new ChunkCounts(countPlain) : undefined;
  const counter: TextCounter = { encoding, count: chunks ? (text) => chunks.countText(text) : countPlain };
  if (cached) counters.set(encoding, counter);
  return counter;
}

/** Token count of one pre-tokenized piece by heap-ordered byte-pair merging (tiktoken's rule, O(n log n)). */
export function countLongPiece(
  rankOf: (bytes: Uint8Array, start: number, end: number) => number | undefined,
  bytes: Uint8Array,
): number {
  const n = bytes.length;
  if (n <= 1) return n;
  const NONE = -1; // no mergeable pair
  // Parts are identified by their first byte; next/prev link the live parts; rank[i] is the rank of
  // merging part i with the next one. About 21 bytes of memory per input byte.
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const rank = new Int32Array(n);
  const dead = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1;
    prev[i] = i - 1;
  }
  const pairRank = (i: number): number => {
    const j = next[i] as number;
    if (j >= n) return NONE;
    return rankOf(bytes, i, next[j] as number) ?? NONE;
  };
  // Min-heap of keys rank * 2^32 + position: lowest rank first, leftmost on ties. Stale keys (the pair
  // changed) are skipped when popped, and dropped when the heap is full.
  const SHIFT = 2 ** 32;
  let heap = new Float64Array(n);
  let size = 0;
  const isCurrent = (key: number) => {
    const i = key % SHIFT;
    return dead[i] === 0 && rank[i] === (key - i) / SHIFT;
  };
  const siftDown = (start: number, key: number) => {
    let k = start;
    for (;;) {
      let child = 2 * k + 1;
      if (child >= size) break;
      if (child + 1 < size && (heap[child + 1] as number) < (heap[child] as number)) child++;
      if ((heap[child] as number) >= key) break;
      heap[k] = heap[child] as number;
      k = child;
    }
    heap[k] = key;
  };
  const compact = () => {
    let kept = 0;
    for (let k = 0; k < size; k++) {
      const key = heap[k] as number;
      if (isCurrent(key)) heap[kept++] = key;
    }
    size = kept;
    for (let k = (size >> 1) - 1; k >= 0; k--) siftDown(k, heap[k] as number);
    if (size * 4 > heap.length * 3) {
      const bigger = new Float64Array(Math.ceil(heap.length * 1.5));
      bigger.set(heap.subarray(0, size));
      heap = bigger;
    }
  };
  const push = (r: number, i: number) => {
    if (r === NONE) return;
    if (size === heap.length) compact();
    const key = r * SHIFT + i;
    let k = size++;
    while (k > 0) {
      const parent = (k - 1) >> 1;
      if ((heap[parent] as number) <= key) break;
      heap[k] = heap[parent] as number;
      k = parent;
    }
    heap[k] = key;
  };
  const pop = (): number => {
    const top = heap[0] as number;
    size--;
    if (size > 0) siftDown(0, heap[size] as number);
    return top;
  };
  for (let i = 0; i < n; i++) {
    rank[i] = pairRank(i);
    push(rank[i] as number, i);
  }
  let parts = n;
  while (size > 0) {
    const key = pop();
    if (!isCurrent(key)) continue;
    const i = key % SHIFT;
    const j = next[i] as number;
    dead[j] = 1;
    const after = next[j] as number;
    next[i] = after;
    if (after < n) prev[after] = i;
    parts--;
    rank[i] = pairRank(i);
    push(rank[i] as number, i);
    const p = prev[i] as number;
    if (p >= 0) {
      rank[p] = pairRank(p);
      push(rank[p] as number, p);
    }
  }
  return parts;
}
