// Token counting exactly as OpenAI's tiktoken does it, on gpt-tokenizer (pure JS, identical token ids,
// ~5x faster than js-tiktoken on this machine: see bench/validate.ts). This module loads an encoding's
// tables only when asked (`loadTextCounter`); tokens.ts adds a synchronous `textCounter` for in-process use.
//
// Special-token text such as "<|endoftext|>" is counted as plain text (tiktoken's encode_ordinary), never
// thrown on; the validator reports it separately with `findSpecialToken`.
//
// Long pieces: gpt-tokenizer's byte-pair merge is quadratic in the length of one pre-tokenized piece
// (100,000 "é" take ~11 s). Pieces longer than LONG_PIECE chars are merged here with a heap instead:
// same rule as tiktoken (repeatedly merge the lowest-ranked adjacent pair, leftmost on ties), O(n log n).
export type EncodingName = "cl100k_base" | "o200k_base";

/**
 * The gpt-tokenizer module of each encoding, loaded on demand: each holds ~70 MB of tables once loaded,
 * and a worker needs only one. (The worker bootstrap preloads it by this specifier, outside tsx, which is faster.)
 */
export const ENCODING_MODULES: Record<EncodingName, string> = {
  cl100k_base: "gpt-tokenizer/encoding/cl100k_base",
  o200k_base: "gpt-tokenizer/encoding/o200k_base",
};

/** The parts of gpt-tokenizer's BytePairEncodingCore used here (public at runtime, private in its typings). */
interface BpeCore {
  tokenSplitRegex: RegExp;
  getBpeRankFromString(piece: string): number | undefined;
  getBpeRankFromBytes(bytes: Uint8Array): number | undefined;
  bytePairEncode(piece: string): number[];
}

const LONG_PIECE = 256;

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
  if (!core || !(core.tokenSplitRegex instanceof RegExp) || typeof core.bytePairEncode !== "function") {
    throw new Error(`gpt-tokenizer internals changed: no byte-pair core for ${encoding}`);
  }
  return core;
}

const counters = new Map<EncodingName, TextCounter>();

/** The counter for `encoding`, loading its tables on first use. */
export async function loadTextCounter(
  encoding: EncodingName,
  moduleUrl: string = ENCODING_MODULES[encoding],
): Promise<TextCounter> {
  const mod = (await import(moduleUrl)) as { default: unknown };
  return createTextCounter(encoding, mod.default);
}

/** The counter over an already loaded gpt-tokenizer encoding API (its default export). */
export function createTextCounter(encoding: EncodingName, api: unknown): TextCounter {
  let counter = counters.get(encoding);
  if (!counter) {
    const core = coreOf(encoding, api);
    const encoder = new TextEncoder();
    const unicodeSplit = core.tokenSplitRegex;
    const asciiSplit = asciiSplitRegex(unicodeSplit);
    const countPieces = (text: string, split: RegExp): number => {
      const pieces = text.match(split);
      if (!pieces) return 0;
      let n = 0;
      for (const piece of pieces) {
        if (core.getBpeRankFromString(piece) !== undefined) n++;
        else if (piece.length > LONG_PIECE) n += countLongPiece(core, encoder.encode(piece));
        else n += core.bytePairEncode(piece).length;
      }
      return n;
    };
    counter = {
      encoding,
      count(text: string): number {
        if (!asciiSplit) return countPieces(text, unicodeSplit);
        let n = 0;
        for (const [start, end, ascii] of asciiRuns(text)) {
          const run = start === 0 && end === text.length ? text : text.slice(start, end);
          n += countPieces(run, ascii ? asciiSplit : unicodeSplit);
        }
        return n;
      },
    };
    counters.set(encoding, counter);
  }
  return counter;
}

// ASCII fast path. The pre-tokenizer regexes use Unicode property classes (\p{L}, \p{N}...), which make
// them ~2x slower than the same pattern over ASCII ranges; most text in a dataset is ASCII. On a string with
// only ASCII characters, \p{L} is exactly [A-Za-z], \p{Lu} [A-Z], \p{Ll} [a-z], \p{N} [0-9], and \p{Lt},
// \p{Lm}, \p{Lo}, \p{M} match nothing, so the rewritten pattern yields the same pieces.
// Text is cut into ASCII and non-ASCII runs only at a space whose previous character is not whitespace:
// no piece of either encoding spans such a point (a piece holds a space only as its first character or
// inside a whitespace run), and matching resumes there exactly as at the start of a string.
const ASCII_CLASSES: Record<string, string> = {
  L: "A-Za-z",
  Lu: "A-Z",
  Ll: "a-z",
  Lt: "",
  Lm: "",
  Lo: "",
  M: "",
  N: "0-9",
};

/** The pattern rewritten for ASCII-only text, or undefined when it uses a class this does not know. */
export function asciiSplitRegex(unicode: RegExp): RegExp | undefined {
  const src = unicode.source;
  let out = "";
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i] as string;
    if (c === "\\") {
      const prop = /^\\p\{(\w+)\}/.exec(src.slice(i));
      if (prop) {
        const ranges = ASCII_CLASSES[prop[1] as string];
        if (ranges === undefined) return undefined;
        out += inClass ? ranges : `[${ranges}]`;
        i += prop[0].length - 1;
        continue;
      }
      out += src.slice(i, i + 2);
      i++;
      continue;
    }
    if (c === "[" && !inClass) inClass = true;
    else if (c === "]" && inClass) inClass = false;
    out += c;
  }
  return new RegExp(out, unicode.flags.replace("u", ""));
}

const isWhitespace = (code: number) =>
  code === 0x20 ||
  (code >= 0x09 && code <= 0x0d) ||
  code === 0xa0 ||
  code === 0x1680 ||
  (code >= 0x2000 && code <= 0x200a) ||
  code === 0x2028 ||
  code === 0x2029 ||
  code === 0x202f ||
  code === 0x205f ||
  code === 0x3000 ||
  code === 0xfeff;

const isCutPoint = (text: string, i: number) =>
  text.charCodeAt(i) === 0x20 && i > 0 && !isWhitespace(text.charCodeAt(i - 1));

const NON_ASCII = /[\u0080-\uffff]/g;

/** [start, end, isAscii] runs covering `text`, cut only at safe points. */
export function* asciiRuns(text: string): Generator<[number, number, boolean]> {
  let pos = 0;
  while (pos < text.length) {
    NON_ASCII.lastIndex = pos;
    const hit = NON_ASCII.exec(text);
    if (!hit) {
      yield [pos, text.length, true];
      return;
    }
    let start = hit.index;
    while (start > pos && !isCutPoint(text, start)) start--;
    if (start > pos) yield [pos, start, true];
    let end = hit.index + 1;
    while (end < text.length && !isCutPoint(text, end)) end++;
    yield [start, end, false];
    pos = end;
  }
}

/** Token count of one pre-tokenized piece by heap-ordered byte-pair merging (tiktoken's rule, O(n log n)). */
export function countLongPiece(core: BpeCore, bytes: Uint8Array): number {
  const n = bytes.length;
  if (n <= 1) return n;
  // Parts are identified by their first byte; next/prev link the live parts.
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const rank = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1;
    prev[i] = i - 1;
  }
  const pairRank = (i: number): number => {
    const j = next[i] as number;
    if (j >= n) return Number.POSITIVE_INFINITY;
    const end = next[j] as number;
    return core.getBpeRankFromBytes(bytes.subarray(i, end)) ?? Number.POSITIVE_INFINITY;
  };
  // Min-heap of keys rank * 2^32 + position: lowest rank first, leftmost on ties.
  const SHIFT = 2 ** 32;
  let heap = new Float64Array(n);
  let size = 0;
  const push = (key: number) => {
    if (size === heap.length) {
      const bigger = new Float64Array(heap.length * 2);
      bigger.set(heap);
      heap = bigger;
    }
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
    const last = heap[--size] as number;
    let k = 0;
    for (;;) {
      let child = 2 * k + 1;
      if (child >= size) break;
      if (child + 1 < size && (heap[child + 1] as number) < (heap[child] as number)) child++;
      if ((heap[child] as number) >= last) break;
      heap[k] = heap[child] as number;
      k = child;
    }
    heap[k] = last;
    return top;
  };
  for (let i = 0; i < n - 1; i++) {
    const r = pairRank(i);
    rank[i] = r;
    if (r !== Number.POSITIVE_INFINITY) push(r * SHIFT + i);
  }
  rank[n - 1] = Number.POSITIVE_INFINITY;
  const dead = new Uint8Array(n);
  let parts = n;
  while (size > 0) {
    const key = pop();
    const i = key % SHIFT;
    const r = (key - i) / SHIFT;
    if (dead[i] === 1 || rank[i] !== r) continue; // stale entry
    const j = next[i] as number;
    dead[j] = 1;
    const after = next[j] as number;
    next[i] = after;
    if (after < n) prev[after] = i;
    parts--;
    const ri = pairRank(i);
    rank[i] = ri;
    if (ri !== Number.POSITIVE_INFINITY) push(ri * SHIFT + i);
    const p = prev[i] as number;
    if (p >= 0) {
      const rp = pairRank(p);
      rank[p] = rp;
      if (rp !== Number.POSITIVE_INFINITY) push(rp * SHIFT + p);
    }
  }
  return parts;
}

/**
 * A counter that remembers the counts of short texts: datasets repeat their system prompt (and roles) in
 * every example, so each worker tokenizes them once. Bounded: emptied when full.
 */
export function memoizedCounter(counter: TextCounter, maxEntries = 4096, maxLength = 4096): TextCounter {
  const memo = new Map<string, number>();
  return {
    encoding: counter.encoding,
    count(text: string): number {
      if (text.length > maxLength) return counter.count(text);
      let n = memo.get(text);
      if (n === undefined) {
        n = counter.count(text);
        if (memo.size >= maxEntries) memo.clear();
        memo.set(text, n);
      }
      return n;
    },
  };
}
