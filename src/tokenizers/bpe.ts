// A byte-level BPE tokenizer over a Hugging Face tokenizer.json (the model type of Llama 3 and Qwen 2):
// added tokens split out first, then the optional NFC normalizer, the Split pre-tokenizer regex, the
// byte-to-unicode mapping and merges by rank. Only encoding is implemented, and counting, which skips
// building id lists and remembers the counts of chunks (chunks.ts: natural text repeats its words), splitting
// ASCII text with the pattern rewritten over ASCII ranges.
//
// The regex of a tokenizer.json is an Oniguruma pattern; JavaScript lacks inline flags and reads \s
// differently (it adds U+FEFF and drops U+0085), so the pattern is rewritten to the same character sets.

/** The parts of a tokenizer.json this reads. */
export interface TokenizerJson {
  added_tokens: { id: number; content: string }[];
  normalizer: { type: string } | null;
  pre_tokenizer: PreTokenizerJson & { pretokenizers?: PreTokenizerJson[] };
  model: {
    type: string;
    vocab: Record<string, number>;
    merges: (string | [string, string])[];
    ignore_merges?: boolean;
  };
}

interface PreTokenizerJson {
  type: string;
  pattern?: { Regex?: string };
  behavior?: string;
}

/** Tokens of one text, and token ids when asked. */
export interface BpeTokenizer {
  encode(text: string): number[];
  count(text: string): number;
  /** The id of an added (special) token, or undefined. */
  addedTokenId(content: string): number | undefined;
  /** The first added (special) token's text in `text`, if any: such text is read as that token. */
  findAddedToken(text: string): string | undefined;
}

import { ByteTable } from "./byteTable.ts";
import { asciiRuns, asciiSplitRegex, ChunkCounts, unicodeWhitespace } from "./chunks.ts";
import type { Packed } from "./tableFile.ts";

/** Counts of pieces up to this many characters are remembered (longer pieces are rare and unique). */
const CACHED_PIECE_CHARS = 48;
/** The piece cache is emptied when it holds this many pieces: the cap keeps a worker's memory flat. */
const PIECE_CACHE_ENTRIES = 100_000;
/** Pieces longer than this many bytes merge with a heap (O(n log n)) instead of scanning every pair. */
const LONG_PIECE_BYTES = 128;

/** GPT-2's reversible byte → printable character mapping, used by every byte-level BPE vocabulary. */
function byteToUnicode(): string[] {
  const chars: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return chars;
}

/** Unicode White_Space: what Oniguruma's (and Rust regex's) \s means; JavaScript's \s differs. */
const WHITE_SPACE = "\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
/** The contraction group of Llama 3 and Qwen 2, `(?i:'s|'t|'re|'ve|'m|'ll|'d)`, without the inline flag. */
const CONTRACTIONS_ONIG = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
const CONTRACTIONS_JS = "'(?:[sS\\u017f]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])";

/** The pre-tokenizer pattern of a tokenizer.json rewritten as a JavaScript regex with the same matches. */
export function jsPattern(onig: string): RegExp {
  let src = onig.split(CONTRACTIONS_ONIG).join(CONTRACTIONS_JS);
  if (src.includes("(?i")) throw new Error(`unsupported inline flag in pre-tokenizer pattern ${onig}`);
  let out = "";
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i] as string;
    if (c === "\\") {
      const next = src[i + 1];
      if (next === "s") out += inClass ? WHITE_SPACE : `[${WHITE_SPACE}]`;
      else if (next === "S") {
        if (inClass) throw new Error(`unsupported \\S in a character class in ${onig}`);
        out += `[^${WHITE_SPACE}]`;
      } else out += `\\${next}`;
      i++;
      continue;
    }
    if (c === "[" && !inClass) inClass = true;
    else if (c === "]" && inClass) inClass = false;
    out += c;
  }
  src = out;
  return new RegExp(src, "gu");
}

/**
 * Merge table: (left id, right id) → rank and merged id, in typed arrays (open addressing), so ~300,000
 * merges cost ~16 MB outside the JavaScript heap (workers run with a small heap), stored as they are.
 */
export class MergeTable {
  private readonly mask: number;

  constructor(
    readonly left: Int32Array,
    readonly right: Int32Array,
    readonly rank: Int32Array,
    readonly merged: Int32Array,
  ) {
    this.mask = left.length - 1;
  }

  /** An empty table for `size` merges. */
  static sized(size: number): MergeTable {
    let slots = 1;
    while (slots < size * 2) slots <<= 1;
    return new MergeTable(
      new Int32Array(slots).fill(-1),
      new Int32Array(slots),
      new Int32Array(slots),
      new Int32Array(slots),
    );
  }

  private slot(a: number, b: number): number {
    let s = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca6b)) & this.mask;
    while (this.left[s] !== -1 && (this.left[s] !== a || this.right[s] !== b)) s = (s + 1) & this.mask;
    return s;
  }

  add(a: number, b: number, rank: number, merged: number): void {
    const s = this.slot(a, b);
    if (this.left[s] !== -1) return; // a duplicate merge keeps its first (lowest) rank
    this.left[s] = a;
    this.right[s] = b;
    this.rank[s] = rank;
    this.merged[s] = merged;
  }

  /** The slot of the pair, or -1 when the pair does not merge. */
  find(a: number, b: number): number {
    const s = this.slot(a, b);
    return this.left[s] === -1 ? -1 : s;
  }
}

/** What a tokenizer is built from: the parts of a tokenizer.json it needs, its tables already built. */
export interface BpeTables {
  /** The Split pre-tokenizer's Oniguruma pattern. */
  pattern: string;
  nfc: boolean;
  /** Added (special) tokens: [text, id]. */
  added: [string, number][];
  /** The token id of each single byte. */
  byteIds: Int32Array;
  merges: MergeTable;
  /** Whole pieces found in the vocabulary skip the merges (tokenizer.json's ignore_merges, Llama 3's). */
  vocab: ByteTable | undefined;
}

function splitRegexOf(json: TokenizerJson): string {
  const pre = json.pre_tokenizer;
  const steps: PreTokenizerJson[] = pre.type === "Sequence" ? (pre.pretokenizers ?? []) : [pre];
  const split = steps.find((s) => s.type === "Split");
  const regex = split?.pattern?.Regex;
  const rest = steps.filter((s) => s !== split).map((s) => s.type);
  if (!regex || split?.behavior !== "Isolated" || rest.join() !== "ByteLevel") {
    throw new Error(`unsupported pre-tokenizer ${JSON.stringify(steps.map((s) => s.type))}`);
  }
  return regex;
}

/** Builds the tables from a parsed tokenizer.json (byte-level BPE with a Split pre-tokenizer only). */
export function bpeTablesFromJson(json: TokenizerJson): BpeTables {
  if (json.model.type !== "BPE") throw new Error(`unsupported model type ${json.model.type}`);
  const normalizer = json.normalizer?.type ?? null;
  if (normalizer !== null && normalizer !== "NFC") throw new Error(`unsupported normalizer ${normalizer}`);
  const pattern = splitRegexOf(json);
  jsPattern(pattern); // refuses a pattern this cannot rewrite, now rather than at first use
  const bytesToChars = byteToUnicode();
  const vocab = new Map<string, number>(Object.entries(json.model.vocab));
  const byteIds = new Int32Array(256);
  for (let b = 0; b < 256; b++) {
    const id = vocab.get(bytesToChars[b] as string);
    if (id === undefined) throw new Error(`the vocabulary lacks byte ${b}`);
    byteIds[b] = id;
  }
  const merges = MergeTable.sized(json.model.merges.length);
  json.model.merges.forEach((m, rank) => {
    const [a, b] = typeof m === "string" ? (m.split(" ") as [string, string]) : m;
    const ia = vocab.get(a);
    const ib = vocab.get(b);
    const im = vocab.get(a + b);
    if (ia === undefined || ib === undefined || im === undefined) throw new Error(`bad merge ${a} ${b}`);
    merges.add(ia, ib, rank, im);
  });
  let whole: ByteTable | undefined;
  if (json.model.ignore_merges === true) {
    const charToByte = new Map(bytesToChars.map((c, b) => [c, b]));
    const entries: [Uint8Array, number][] = [];
    for (const [token, id] of vocab) {
      const bytes = new Uint8Array(token.length);
      let ok = true;
      for (let i = 0; i < token.length && ok; i++) {
        const b = charToByte.get(token[i] as string);
        if (b === undefined) ok = false;
        else bytes[i] = b;
      }
      // A token with a character outside the byte mapping can never equal a piece's bytes.
      if (ok) entries.push([bytes, id]);
    }
    whole = ByteTable.build(entries);
  }
  return {
    pattern,
    nfc: normalizer === "NFC",
    added: json.added_tokens.map((t) => [t.content, t.id]),
    byteIds,
    merges,
    vocab: whole,
  };
}

/** The tables' arrays and data, for a cache file (tableFile.ts). */
export function packBpeTables(t: BpeTables): Omit<Packed, "meta"> {
  const arrays: Packed["arrays"] = {
    byteIds: t.byteIds,
    left: t.merges.left,
    right: t.merges.right,
    rank: t.merges.rank,
    merged: t.merges.merged,
  };
  if (t.vocab) {
    Object.assign(arrays, {
      vocabBytes: t.vocab.bytes,
      vocabOffsets: t.vocab.offsets,
      vocabIds: t.vocab.ids,
      vocabSlots: t.vocab.slots,
    });
  }
  return { data: { pattern: t.pattern, nfc: t.nfc, added: t.added }, arrays };
}

/** The tables from packBpeTables's arrays and data. */
export function unpackBpeTables(p: Packed): BpeTables {
  const { pattern, nfc, added } = p.data as Pick<BpeTables, "pattern" | "nfc" | "added">;
  const a = p.arrays as Record<string, Int32Array>;
  const need = (name: string) => {
    const v = a[name];
    if (!v) throw new Error(`the tokenizer tables have no ${name}`);
    return v;
  };
  return {
    pattern,
    nfc,
    added,
    byteIds: need("byteIds"),
    merges: new MergeTable(need("left"), need("right"), need("rank"), need("merged")),
    vocab: p.arrays.vocabBytes
      ? new ByteTable(
          p.arrays.vocabBytes as Uint8Array,
          need("vocabOffsets"),
          need("vocabIds"),
          need("vocabSlots"),
        )
      : undefined,
  };
}

const NON_ASCII = /[\u0080-\uffff]/;

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A tokenizer over its tables (`bpeTablesFromJson`, or read back with `unpackBpeTables`). */
export function createBpeTokenizer(tables: BpeTables): BpeTokenizer {
  const { nfc, byteIds, merges, vocab: wholePiece } = tables;
  const pieceRe = jsPattern(tables.pattern);
  const added = new Map(tables.added);
  // Leftmost-longest, like the tokenizers library's added-vocabulary matcher: the alternatives longest first,
  // tried (sticky) only where one can start, at a character that begins some added token.
  const addedRe = new RegExp(
    [...added.keys()]
      .sort((x, y) => y.length - x.length)
      .map(escapeRegex)
      .join("|"),
    "y",
  );
  const addedStarts = [...new Set([...added.keys()].map((k) => k[0] as string))];
  const nextAddedStart = (text: string, from: number): number => {
    let best = -1;
    for (const c of addedStarts) {
      const i = text.indexOf(c, from);
      if (i >= 0 && (best < 0 || i < best)) best = i;
    }
    return best;
  };
  /** The added token at the first position at or after `from` where one starts: [index, text], or undefined. */
  const nextAdded = (text: string, from: number): [number, string] | undefined => {
    for (let i = nextAddedStart(text, from); i >= 0; i = nextAddedStart(text, i + 1)) {
      addedRe.lastIndex = i;
      const m = addedRe.exec(text);
      if (m) return [i, m[0]];
    }
    return undefined;
  };
  const encoder = new TextEncoder();
  const pieceCounts = new Map<string, number>();
  const asciiPieceRe = asciiSplitRegex(pieceRe);

  /** Token ids of one pre-tokenized piece (bytes), merged by rank, leftmost first on ties. */
  const mergePiece = (bytes: Uint8Array): number[] => {
    const ids: number[] = new Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) ids[i] = byteIds[bytes[i] as number] as number;
    if (bytes.length > LONG_PIECE_BYTES) return mergeLong(ids, merges);
    for (;;) {
      let best = -1;
      let bestRank = Number.MAX_SAFE_INTEGER;
      let bestSlot = -1;
      for (let i = 0; i + 1 < ids.length; i++) {
        const s = merges.find(ids[i] as number, ids[i + 1] as number);
        if (s >= 0 && (merges.rank[s] as number) < bestRank) {
          bestRank = merges.rank[s] as number;
          best = i;
          bestSlot = s;
        }
      }
      if (best < 0) return ids;
      // Merge every occurrence of this pair, left to right (what one rank step does in BPE).
      const a = ids[best] as number;
      const b = ids[best + 1] as number;
      const m = merges.merged[bestSlot] as number;
      let w = 0;
      for (let i = 0; i < ids.length; i++) {
        if (i >= best && i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) {
          ids[w++] = m;
          i++;
        } else ids[w++] = ids[i] as number;
      }
      ids.length = w;
    }
  };

  const pieceIds = (piece: string): number[] => {
    const bytes = encoder.encode(piece);
    const id = wholePiece?.get(bytes);
    return id === undefined ? mergePiece(bytes) : [id];
  };

  const countPiece = (piece: string): number => {
    if (piece.length > CACHED_PIECE_CHARS) return pieceIds(piece).length;
    let n = pieceCounts.get(piece);
    if (n === undefined) {
      n = pieceIds(piece).length;
      if (pieceCounts.size >= PIECE_CACHE_ENTRIES) pieceCounts.clear();
      pieceCounts.set(piece, n);
    }
    return n;
  };

  /** Calls `onText` for each stretch of ordinary text and `onAdded` for each added token, in order. */
  const segments = (text: string, onText: (t: string) => void, onAdded: (id: number) => void): void => {
    let at = 0;
    for (let hit = nextAdded(text, 0); hit !== undefined; hit = nextAdded(text, at)) {
      const [index, token] = hit;
      if (index > at) onText(text.slice(at, index));
      onAdded(added.get(token) as number);
      at = index + token.length;
    }
    if (at < text.length) onText(at === 0 ? text : text.slice(at));
  };
  const normalize = (t: string) => (nfc && NON_ASCII.test(t) ? t.normalize("NFC") : t);

  const countPieces = (text: string, re: RegExp): number => {
    let n = 0;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) n += countPiece(m[0]);
    return n;
  };
  /** Tokens of normalized ordinary text (no added tokens): ASCII runs through the ASCII pattern. */
  const countPlain = (text: string): number => {
    if (!asciiPieceRe) return countPieces(text, pieceRe);
    let n = 0;
    for (const [start, end, ascii] of asciiRuns(text, unicodeWhitespace)) {
      const run = start === 0 && end === text.length ? text : text.slice(start, end);
      n += countPieces(run, ascii ? asciiPieceRe : pieceRe);
    }
    return n;
  };
  const chunks = new ChunkCounts(countPlain, unicodeWhitespace);

  return {
    addedTokenId: (content) => added.get(content),
    findAddedToken: (text) => nextAdded(text, 0)?.[1],
    encode(text) {
      const out: number[] = [];
      segments(
        text,
        (t) => {
          for (const m of normalize(t).matchAll(pieceRe)) out.push(...pieceIds(m[0]));
        },
        (id) => out.push(id),
      );
      return out;
    },
    count(text) {
      let n = 0;
      segments(
        text,
        (t) => {
          n += chunks.countText(normalize(t));
        },
        () => {
          n++;
        },
      );
      return n;
    },
  };
}

/**
 * Rank-ordered merging of a long piece with a min-heap (lowest rank first, leftmost on ties): the same
 * result as the pair scan, in O(n log n). Parts are linked lists over the initial positions.
 */
function mergeLong(initial: number[], merges: MergeTable): number[] {
  const n = initial.length;
  const id = Int32Array.from(initial);
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const dead = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1;
    prev[i] = i - 1;
  }
  // Heap keys: rank * 2^32 + position. A key is stale when its pair changed since it was pushed.
  const SHIFT = 2 ** 32;
  const heap: number[] = [];
  const pairRank = (i: number): number => {
    const j = next[i] as number;
    if (j >= n) return -1;
    const s = merges.find(id[i] as number, id[j] as number);
    return s < 0 ? -1 : (merges.rank[s] as number);
  };
  const push = (i: number) => {
    const r = pairRank(i);
    if (r < 0) return;
    heap.push(r * SHIFT + i);
    let k = heap.length - 1;
    while (k > 0) {
      const p = (k - 1) >> 1;
      if ((heap[p] as number) <= (heap[k] as number)) break;
      [heap[p], heap[k]] = [heap[k] as number, heap[p] as number];
      k = p;
    }
  };
  const pop = (): number => {
    const top = heap[0] as number;
    const last = heap.pop() as number;
    if (heap.length > 0) {
      heap[0] = last;
      let k = 0;
      for (;;) {
        const l = 2 * k + 1;
        if (l >= heap.length) break;
        const c = l + 1 < heap.length && (heap[l + 1] as number) < (heap[l] as number) ? l + 1 : l;
        if ((heap[c] as number) >= (heap[k] as number)) break;
        [heap[c], heap[k]] = [heap[k] as number, heap[c] as number];
        k = c;
      }
    }
    return top;
  };
  for (let i = 0; i < n - 1; i++) push(i);
  while (heap.length > 0) {
    const key = pop();
    const i = key % SHIFT;
    const r = (key - i) / SHIFT;
    if (dead[i] === 1 || pairRank(i) !== r) continue;
    const j = next[i] as number;
    const s = merges.find(id[i] as number, id[j] as number);
    id[i] = merges.merged[s] as number;
    dead[j] = 1;
    next[i] = next[j] as number;
    if ((next[j] as number) < n) prev[next[j] as number] = i;
    push(i);
    const p = prev[i] as number;
    if (p >= 0) push(p);
  }
  const out: number[] = [];
  for (let i = 0; i < n; i = next[i] as number) out.push(id[i] as number);
  return out;
}
