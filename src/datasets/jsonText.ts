// Reading a JSON line as text, without recursion. How deep it nests is checked before the line is parsed,
// so no walker of the parsed value (JSON.stringify, the rule checks) can overflow the stack. And a value can
// be shown as the line writes it: JSON.parse reads 1e999 as Infinity, which JSON.stringify writes as null
// (Node 20's JSON.parse reviver has no `context.source` to give the text back).

/**
 * The deepest nesting of lists and objects a line may have. A real example with tool definitions
 * (JSON Schema inside `tools`) nests maybe 10 to 20 levels deep. A deeper line is refused before it is
 * parsed.
 */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_LIST = 0x5b;
const CLOSE_LIST = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/** The index of the quote that closes the string opened at `start`, or -1 if it is never closed. */
function stringEnd(text: string, start: number): number {
  let at = start;
  for (;;) {
    at = text.indexOf('"', at + 1);
    if (at < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
}

/** Whether `text` nests lists and objects more than `limit` levels deep. Brackets inside strings do not count. */
export function nestsDeeperThan(text: string, limit: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = stringEnd(text, i);
      if (i < 0) return false; // not JSON: the parser says why
    } else if (c === OPEN_LIST || c === OPEN_OBJECT) {
      if (++depth > limit) return true;
    } else if (c === CLOSE_LIST || c === CLOSE_OBJECT) depth--;
  }
  return false;
}

/** A step into a JSON value: an object's key or a list's index. */
export type JsonPath = readonly (string | number)[];

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

function skipSpace(text: string, at: number): number {
  let i = at;
  while (isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** The index just after the value that starts at `start` (or -1 if it does not end). */
function valueEnd(text: string, start: number): number {
  const first = text.charCodeAt(start);
  if (first === QUOTE) {
    const end = stringEnd(text, start);
    return end < 0 ? -1 : end + 1;
  }
  if (first === OPEN_LIST || first === OPEN_OBJECT) {
    let depth = 0;
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        i = stringEnd(text, i);
        if (i < 0) return -1;
      } else if (c === OPEN_LIST || c === OPEN_OBJECT) depth++;
      else if ((c === CLOSE_LIST || c === CLOSE_OBJECT) && --depth === 0) return i + 1;
    }
    return -1;
  }
  let i = start; // a number, true, false or null
  while (i < text.length && !isSpace(text.charCodeAt(i)) && !",]}".includes(text.charAt(i))) i++;
  return i;
}

/** The start of the value at `step` inside the list or object starting at `start`, or -1. */
function stepInto(text: string, start: number, step: string | number): number {
  const open = text.charCodeAt(start);
  if (open !== (typeof step === "number" ? OPEN_LIST : OPEN_OBJECT)) return -1;
  let i = skipSpace(text, start + 1);
  let index = 0;
  let found = -1;
  while (i < text.length && text.charCodeAt(i) !== CLOSE_LIST && text.charCodeAt(i) !== CLOSE_OBJECT) {
    if (typeof step === "string") {
      const keyEnd = stringEnd(text, i);
      if (keyEnd < 0) return -1;
      const key = JSON.parse(text.slice(i, keyEnd + 1)) as string; // escapes decoded, as the parser does
      i = skipSpace(text, skipSpace(text, keyEnd + 1) + 1); // past the colon
      if (key === step) found = i; // the last of duplicate keys wins, as in JSON.parse
    } else if (index++ === step) return i;
    const end = valueEnd(text, i);
    if (end < 0) return -1;
    i = skipSpace(text, end);
    if (text.charCodeAt(i) === 0x2c) i = skipSpace(text, i + 1);
  }
  return found;
}

/** The text of the value at `path` in the JSON document `text`, as written; undefined if there is none. */
export function rawValueAt(text: string, path: JsonPath): string | undefined {
  let start = skipSpace(text, 0);
  for (const step of path) {
    start = stepInto(text, start, step);
    if (start < 0) return undefined;
  }
  const end = valueEnd(text, start);
  return end < 0 ? undefined : text.slice(start, end);
}
