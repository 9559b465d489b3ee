// Splits a long answer into Discord-sized messages at paragraph, then line, then sentence, then word
// boundaries, and as a last resort between graphemes (never inside an emoji); never inside a fenced code
// block (a block too big for one message is carried whole in a .txt instead). Pure: no discord.js.
import { DiscordLimits } from "./limits.ts";

export interface SplitResult {
  /** Message contents, each ≤ limit characters. Empty when the whole text goes to the attachment. */
  parts: string[];
  /** Set when the text cannot be split cleanly (a code block over the limit, or too many parts). */
  attachment?: { name: string; content: string };
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
    const fence = /^\s*(```|~~~)/.test(line);
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
    } else if (line.trim() === "") {
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
  { pattern: /(?<=[.!?…])\s+/, sep: " " },
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
  const add = (unit: string) => {
    if (piece.length + unit.length > limit && piece !== "") {
      out.push(piece);
      piece = "";
    }
    piece += unit;
  };
  for (const { segment } of graphemes.segment(text)) {
    if (segment.length <= limit) add(segment);
    else for (const codePoint of segment) add(codePoint);
  }
  if (piece !== "") out.push(piece);
  return out;
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
  { limit = DiscordLimits.messageContent, maxParts = 5, fileName = "answer.txt" } = {},
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
