// Synchronous token counting for in-process callers (the sandbox, tests): both encodings loaded up front.
// The validation workers use counter.ts directly and load only the encoding they need.
import cl100k from "gpt-tokenizer/encoding/cl100k_base";
import o200k from "gpt-tokenizer/encoding/o200k_base";
import { createTextCounter, type EncodingName, type TextCounter } from "./counter.ts";

export {
  countLongPiece,
  ENCODING_MODULES,
  type EncodingName,
  findSpecialToken,
  loadTextCounter,
  type TextCounter,
} from "./counter.ts";

const APIS: Record<EncodingName, unknown> = { cl100k_base: cl100k, o200k_base: o200k };

/** The counter for `encoding` (special-token text counted as plain text, never thrown on). */
export function textCounter(encoding: EncodingName): TextCounter {
  return createTextCounter(encoding, APIS[encoding]);
}
