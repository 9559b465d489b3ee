// Splits a long answer into Discord-sized messages at paragraph, then line, then sentence, then word
// boundaries, and as a last resort between graphemes (never inside an emoji); never inside a fenced code
// block (a block too big for one message is carried whole in a .txt instead). Pure: no discord.js.
import { DiscordLimits } from "./limits.ts";

/** A text the caller sends as a file (a .txt) because it cannot be shown cleanly in messages. */
export interface TextAttachment {
  name: string;
  content: string;
}

export interface SplitResult {
  /** Message contents, each ≤ limit characters. Empty when the whole text goes to the attachment. */
  parts: string[];
  /** Set when the text cannot be split cleanly (a code block over the limit, or too many parts). */
  attachment?: TextAttachment;
}

/** At most this many messages for one answer; past it, the answer goes to a file instead. */
export const MAX_PARTS = 5;

/** Where a message may break, gentlest first: between paragraphs, lines, sentences, words (then graphemes). */
export type Break = "paragraph" | "line" | "sentence" | "word";

/** The opening or closing line of a fenced code block (``` or ~~~, maybe indented). */
export function isFenceLine(line: string): boolean {
  return /^\s*(```|~~~)/.test(line);
}

/** A blank line ends a paragraph. */
export function isBlankLine(line: string): boolean {
  return line.trim() === "";
}

/** What ends a sentence (the sentence break is the whitespace after it). */
export const SENTENCE_END = /[.!?…]/;

/**
 * The break a character `c` offers outside a code block, after `prev`, on a line blank so far or not
 * (isBlankLine): a newline ends a paragraph (after a blank line) or a line; a space ends a sentence or a word.
 */
export function breakAt(c: string, prev: string, lineIsBlank: boolean): Break | undefined {
  if (c === "\n") return lineIsBlank ? "paragraph" : "line";
  if (!/\s/.test(c)) return undefined;
  return SENTENCE_END.test(prev) ? "sentence" : "word";
}

interface Block {
  text: string;
  code: boolean;
}

/** Paragraph-level blocks; fenced code blocks stay whole, with their fences. */
function blocks(text: string): Block[] {
  const out: Block[] = [];
  const lines = text.split("\n");
  let buf: string[] = [];
  let inCode = false;
  const flush = (code: boolean) => {
    if (buf.length > 0) out.push({ text: buf.join("\n"), code });
    buf = [];
  };
  for (const line of lines) {
    const fence = isFenceLine(line);
    if (!inCode && fence) {
      flush(false);
      inCode = true;
      buf.push(line);
    } else if (inCode) {
      buf.push(line);
      if (fence) {
        flush(true);
        inCode = false;
      }
    } else if (isBlankLine(line)) {
      flush(false);
    } else {
      buf.push(line);
    }
  }
  flush(inCode);
  return out;
}

const PROSE_BOUNDARIES = [
  { pattern: /\n/, sep: "\n" },
  { pattern: new RegExp(`(?<=${SENTENCE_END.source})\\s+`), sep: " " },
  { pattern: /\s+/, sep: " " },
];

/** Splits prose (no code fences) into pieces ≤ limit at the gentlest boundary available. */
function splitProse(text: string, limit: number, level = 0): string[] {
  if (text.length <= limit) return [text];
  for (let l = level; l < PROSE_BOUNDARIES.length; l++) {
    const { pattern, sep } = PROSE_BOUNDARIES[l] as (typeof PROSE_BOUNDARIES)[number];
    const pieces = text.split(pattern).filter((p) => p !== "");
    if (pieces.length > 1)
      return pack(
        pieces.flatMap((p) => splitProse(p, limit, l + 1)),
        limit,
        sep,
      );
  }
  return hardSplit(text, limit);
}

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/**
 * A run with no gentler boundary, cut into pieces of ≤ limit UTF-16 units between graphemes, so an emoji
 * (a surrogate pair, a ZWJ family, a flag, a skin tone) is never cut in half. A single grapheme longer than
 * the limit (a long ZWJ or combining-mark chain) is cut between code points, never inside a surrogate pair.
 */
function hardSplit(text: string, limit: number): string[] {
  const out: string[] = [];
  let piece = "";
  for (const unit of cuttableUnits(text, limit)) {
    if (piece.length + unit.length > limit && piece !== "") {
      out.push(piece);
      piece = "";
    }
    piece += unit;
  }
  if (piece !== "") out.push(piece);
  return out;
}

/** The units a hard cut may fall between: graphemes, or the code points of a grapheme longer than `limit`. */
function* cuttableUnits(text: string, limit: number): Generator<string> {
  for (const { segment } of graphemes.segment(text)) {
    if (segment.length <= limit) yield segment;
    else yield* segment;
  }
}

/**
 * The longest prefix of `text` of at most `max` UTF-16 units that ends between graphemes (the hard cut
 * splitMessage makes where no gentler boundary exists), as its length. At least one unit when `max` ≥ 2.
 */
export function graphemeCut(text: string, max: number): number {
  let at = 0;
  for (const unit of cuttableUnits(text.slice(0, max + 64), max)) {
    if (at + unit.length > max) break;
    at += unit.length;
  }
  return at;
}

function packer(limit: number, sep: string) {
  return (acc: string[], piece: string): string[] => {
    const last = acc[acc.length - 1];
    if (last !== undefined && last.length + sep.length + piece.length <= limit)
      acc[acc.length - 1] = last + sep + piece;
    else acc.push(piece);
    return acc;
  };
}

function pack(pieces: string[], limit: number, sep: string): string[] {
  return pieces.reduce(packer(limit, sep), []);
}

/**
 * Splits `text` into at most `maxParts` messages of ≤ `limit` characters. When that is impossible without
 * cutting a code block, or needs more parts, the whole text is returned as an attachment instead.
 */
export function splitMessage(
  text: string,
  { limit = DiscordLimits.messageContent, maxParts = MAX_PARTS, fileName = "answer.txt" } = {},
): SplitResult {
  if (text.length <= limit) return { parts: [text] };
  const asFile = (): SplitResult => ({ parts: [], attachment: { name: fileName, content: text } });
  const pieces: string[] = [];
  for (const block of blocks(text)) {
    if (block.code) {
      if (block.text.length > limit) return asFile();
      pieces.push(block.text);
    } else {
      pieces.push(...splitProse(block.text, limit));
    }
  }
  const parts = pack(pieces, limit, "\n\n");
  return parts.length <= maxParts ? { parts } : asFile();
}
