// Counting a text piece by piece without pre-tokenizing all of it, shared by the OpenAI encodings
// (datasets/counter.ts) and the open models' byte-level BPE (tokenizers/bpe.ts). Their pre-tokenizer patterns
// have the same shape: a piece holds a space only as its first character or inside a run of whitespace, and the
// patterns look behind nothing. So a text may be cut at any space whose previous character is not whitespace
// (in the pattern's own sense of whitespace): no piece spans the cut, and matching resumes there exactly as at
// the start of a string. The count of a text is then the sum of the counts of its chunks, which repeat in
// natural text and are remembered (ChunkCounts), and a chunk of ASCII text can be split by the pattern
// rewritten over ASCII ranges (asciiSplitRegex), which is ~2x faster than Unicode property classes.

/** Is this UTF-16 unit whitespace in the pre-tokenizer's sense (decides where a text may be cut)? */
export type IsWhitespace = (code: number) => boolean;

/** JavaScript's \s (what gpt-tokenizer's patterns mean): it includes U+FEFF and not U+0085. */
export const jsWhitespace: IsWhitespace = (code) =>
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

/** Unicode White_Space (what Oniguruma's and Rust regex's \s mean, hence Hugging Face tokenizers'). */
export const unicodeWhitespace: IsWhitespace = (code) =>
  code === 0x20 ||
  (code >= 0x09 && code <= 0x0d) ||
  code === 0x85 ||
  code === 0xa0 ||
  code === 0x1680 ||
  (code >= 0x2000 && code <= 0x200a) ||
  code === 0x2028 ||
  code === 0x2029 ||
  code === 0x202f ||
  code === 0x205f ||
  code === 0x3000;

/** Ints per slot of the chunk table: one 64-byte cache line, so a lookup touches one line. */
const SLOT_INTS = 16;
/** A slot holds the hash, length and count, then the chunk's UTF-16 units two to an int. */
const CACHED_CHUNK_UNITS = (SLOT_INTS - 2) * 2;
const CHUNK_SLOTS = 1 << 16;
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/**
 * The count cache. Text is cut into chunks at every space whose previous character is not whitespace (see
 * the top of this file: no pre-tokenized piece spans one, and matching resumes there as at the start of a
 * string), so a text's count is the sum of its chunks' counts. A chunk is a word with its
 * leading space and punctuation, one or a few pieces; natural text repeats them, so nearly every chunk is
 * tokenized once per worker. The table is open addressing in one typed array (4 MB, outside the JavaScript
 * heap) holding each chunk's characters, compared in place: a repeated chunk costs one cache line, no
 * string and no garbage. It is emptied when half full; chunks over 28 UTF-16 units are not remembered.
 */
export class ChunkCounts {
  /** Per slot: [hash, length << 16 | count (0 = empty), units...]. */
  private readonly slots = new Int32Array(CHUNK_SLOTS * SLOT_INTS);
  private size = 0;

  constructor(
    private readonly countPlain: (text: string) => number,
    private readonly isWhitespace: IsWhitespace = jsWhitespace,
  ) {}

  countText(text: string): number {
    let n = 0;
    let start = 0;
    // Cut points are spaces: String#indexOf finds them at native speed.
    for (let sp = text.indexOf(" ", 1); sp >= 0; sp = text.indexOf(" ", sp + 1)) {
      if (sp > start && !this.isWhitespace(text.charCodeAt(sp - 1))) {
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

const isCutPoint = (text: string, i: number, isWhitespace: IsWhitespace) =>
  text.charCodeAt(i) === 0x20 && i > 0 && !isWhitespace(text.charCodeAt(i - 1));

const NON_ASCII = /[\u0080-\uffff]/g;

/** [start, end, isAscii] runs covering `text`, cut only at safe points. */
export function* asciiRuns(
  text: string,
  isWhitespace: IsWhitespace = jsWhitespace,
): Generator<[number, number, boolean]> {
  let pos = 0;
  while (pos < text.length) {
    NON_ASCII.lastIndex = pos;
    const hit = NON_ASCII.exec(text);
    if (!hit) {
      yield [pos, text.length, true];
      return;
    }
    let start = hit.index;
    while (start > pos && !isCutPoint(text, start, isWhitespace)) start--;
    if (start > pos) yield [pos, start, true];
    let end = hit.index + 1;
    while (end < text.length && !isCutPoint(text, end, isWhitespace)) end++;
    yield [start, end, false];
    pos = end;
  }
}
