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
  const cached = options.pieceCache !== false;
  const existing = cached ? counters.get(encoding) : undefined;
  if (existing) return existing;
  const core = coreOf(encoding, api);
  const encoder = new TextEncoder();
  const unicodeSplit = core.tokenSplitRegex;
  const asciiSplit = asciiSplitRegex(unicodeSplit);
  const countPiece = (piece: string): number => {
    if (core.getBpeRankFromString(piece) !== undefined) return 1;
    if (piece.length > LONG_PIECE) return countLongPiece(core, encoder.encode(piece));
    return core.bytePairEncode(piece).length;
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

/** Ints per slot of the chunk table: one 64-byte cache line, so a lookup touches one line. */
const SLOT_INTS = 16;
/** A slot holds the hash, length and count, then the chunk's UTF-16 units two to an int. */
const CACHED_CHUNK_UNITS = (SLOT_INTS - 2) * 2;
const CHUNK_SLOTS = 1 << 16;
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/**
 * The count cache. Text is cut into chunks at every space whose previous character is not whitespace (the
 * cut points of the ASCII fast path below: no pre-tokenized piece spans one, and matching resumes there as
 * at the start of a string), so a text's count is the sum of its chunks' counts. A chunk is a word with its
 * leading space and punctuation, one or a few pieces; natural text repeats them, so nearly every chunk is
 * tokenized once per worker. The table is open addressing in one typed array (4 MB, outside the JavaScript
 * heap) holding each chunk's characters, compared in place: a repeated chunk costs one cache line, no
 * string and no garbage. It is emptied when half full; chunks over 28 UTF-16 units are not remembered.
 */
export class ChunkCounts {
  /** Per slot: [hash, length << 16 | count (0 = empty), units...]. */
  private readonly slots = new Int32Array(CHUNK_SLOTS * SLOT_INTS);
  private size = 0;

  constructor(private readonly countPlain: (text: string) => number) {}

  countText(text: string): number {
    let n = 0;
    let start = 0;
    // Cut points are spaces: String#indexOf finds them at native speed.
    for (let sp = text.indexOf(" ", 1); sp >= 0; sp = text.indexOf(" ", sp + 1)) {
      if (sp > start && !isWhitespace(text.charCodeAt(sp - 1))) {
        n += this.lookup(text, start, sp);
        start = sp;
      }
    }
    if (start < text.length) n += this.lookup(text, start, text.length);
    return n;
  }

  /** Tokens of the chunk text[start, end): from the table, or counted and remembered. */
  private lookup(text: string, start: number, end: number): number {
    const length = end - start;
    if (length > CACHED_CHUNK_UNITS) return this.countPlain(text.slice(start, end));
    // The hash samples the length and up to five characters (O(1) a chunk); the comparison keeps it exact.
    const last = end - 1;
    let h = Math.imul(FNV_OFFSET ^ length, FNV_PRIME);
    h = Math.imul(h ^ text.charCodeAt(start), FNV_PRIME);
    h = Math.imul(h ^ text.charCodeAt(last), FNV_PRIME);
    if (length > 2) {
      h = Math.imul(h ^ text.charCodeAt(start + 1), FNV_PRIME);
      h = Math.imul(h ^ text.charCodeAt(last - 1), FNV_PRIME);
      h = Math.imul(h ^ text.charCodeAt(start + (length >> 1)), FNV_PRIME);
    }
    h ^= h >>> 15;
    const slots = this.slots;
    const mask = CHUNK_SLOTS - 1;
    let slot = h & mask;
    for (;;) {
      const base = slot * SLOT_INTS;
      const meta = slots[base + 1] as number;
      if (meta === 0) break;
      if (slots[base] === h && meta >>> 16 === length && this.same(text, start, length, base + 2)) {
        return meta & 0xffff;
      }
      slot = (slot + 1) & mask;
    }
    const n = this.countPlain(text.slice(start, end));
    if (n > 0xffff) return n; // cannot happen for 28 units; kept exact regardless
    if (this.size * 2 >= CHUNK_SLOTS) {
      slots.fill(0);
      this.size = 0;
      slot = h & mask;
      while (slots[slot * SLOT_INTS + 1] !== 0) slot = (slot + 1) & mask;
    }
    const base = slot * SLOT_INTS;
    slots[base] = h;
    // A chunk of one or more characters has a count of at least 1, so meta is never 0 for a used slot.
    slots[base + 1] = (length << 16) | n;
    for (let i = 0; i < length; i += 2) {
      const lo = text.charCodeAt(start + i);
      const hi = i + 1 < length ? text.charCodeAt(start + i + 1) : 0;
      slots[base + 2 + (i >> 1)] = lo | (hi << 16);
    }
    this.size++;
    return n;
  }

  private same(text: string, start: number, length: number, at: number): boolean {
    const slots = this.slots;
    for (let i = 0; i < length; i += 2) {
      const lo = text.charCodeAt(start + i);
      const hi = i + 1 < length ? text.charCodeAt(start + i + 1) : 0;
      if (slots[at + (i >> 1)] !== (lo | (hi << 16))) return false;
    }
    return true;
  }
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
    return core.getBpeRankFromBytes(bytes.subarray(i, next[j])) ?? NONE;
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
