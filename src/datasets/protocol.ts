// Messages between the validator (main thread) and its workers.

import type { OpenTokenizerFiles } from "../tokenizers/index.ts";
import type { TokenizerName } from "./catalog.ts";
import type { LineShape } from "./rules.ts";
import type { TrainerRules } from "./trainer.ts";
import type { ErrorCode, WarningCode } from "./types.ts";

export interface WorkerInit {
  tokenizer: TokenizerName;
  /** OpenAI encodings: the encoding's module, resolved by the main thread (the worker may run from a data: URL). */
  encodingUrl?: string | undefined;
  /** Open-weight families: their data files, resolved by the main thread. */
  openFiles?: OpenTokenizerFiles | undefined;
  maxTokensPerExample: number;
  trainer: TrainerRules;
  /** The main thread's CLASSTUNE_CACHE_DIR, when set (tokenizers/tableFile.ts). */
  cacheDir?: string | undefined;
  /** Tables the first worker built but could not keep, in shared memory (tableFile.ts useHandedOverTables). */
  tables?: Record<string, Uint8Array> | undefined;
}

export interface BatchRequest {
  id: number;
  /** The batch's bytes: its lines separated by "\n", no trailing newline. */
  buf: Uint8Array;
  /** Byte range of each line within buf (end excludes the "\n"). */
  starts: Int32Array;
  ends: Int32Array;
}

/** A worker's first message: its tables are loaded (and kept in the cache when they were built). */
export interface WorkerReady {
  ready: true;
  /** Tables it built but could not keep (tableFile.ts unwrittenTables), for the other workers. */
  tables: Record<string, Uint8Array>;
}

export interface BatchResult {
  id: number;
  /** Per line: the example's tokens, or LINE_INVALID / LINE_BLANK. */
  tokens: Int32Array;
  /** Per line: index into SHAPE_CODES. */
  shapes: Uint8Array;
  /** Per valid line: HASH_BYTES of sha1(the line's bytes, without a trailing CR), for duplicate detection. */
  hashes: Uint8Array;
  /** Per-line problems, in line order. */
  issues: { i: number; code: ErrorCode | WarningCode; message: string; warning?: true }[];
}

export const LINE_INVALID = -1;
export const LINE_BLANK = -2;
export const HASH_BYTES = 12;
export const SHAPE_CODES: readonly LineShape[] = ["none", "chat", "preference"];
