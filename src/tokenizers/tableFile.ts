// Built tokenizer tables kept between runs: a worker reads a few MB of typed arrays instead of parsing a
// tokenizer.json (or compiling gpt-tokenizer's 2.4 MB rank module) and building its maps again. The files live
// in the project's own node_modules/.cache/classtune (never a shared temp folder: nobody else can plant one), or
// in CLASSTUNE_CACHE_DIR when set (useCacheDir). A folder that cannot be written costs a build per run, never a
// wrong count; in a validation run the first worker's build is handed to the others in shared memory.
// Format: a magic, a JSON header (the caller's meta and data, each array's offset and length), the typed arrays
// 8-byte aligned, and a sha256 of all of it; a file that is damaged, or whose meta differs, is never used.
import { createHash } from "node:crypto";
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, sep } from "node:path";
import { threadId } from "node:worker_threads";

const MAGIC = "ctables\u0001";
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const sha256 = (data: Uint8Array): Uint8Array => createHash("sha256").update(data).digest();
const align = (n: number) => (n + 7) & ~7;

type TypedArray = Int32Array | Uint8Array;
export interface Packed {
  /** What the tables were built from; a reader gives the meta it expects. */
  meta: Record<string, string>;
  /** Small JSON data beside the arrays. */
  data: unknown;
  arrays: Record<string, TypedArray>;
}

/** The tables as one buffer. */
export function packTables(p: Packed): Uint8Array {
  const sections: Record<string, [kind: "i32" | "u8", offset: number, length: number]> = {};
  let at = 0;
  for (const [name, a] of Object.entries(p.arrays)) {
    sections[name] = [a instanceof Int32Array ? "i32" : "u8", at, a.length];
    at = align(at + a.byteLength);
  }
  const header = encoder.encode(JSON.stringify({ meta: p.meta, data: p.data, sections }));
  const start = align(MAGIC.length + 4 + header.length);
  const out = new Uint8Array(start + at + 32);
  out.set(encoder.encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(MAGIC.length, header.length, true);
  out.set(header, MAGIC.length + 4);
  for (const [name, a] of Object.entries(p.arrays)) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), start + (sections[name]?.[1] ?? 0));
  }
  out.set(sha256(out.subarray(0, out.length - 32)), out.length - 32);
  return out;
}

/** The tables in a buffer from packTables, or undefined when it is not one, is damaged or its meta differs. */
export function unpackTables(buf: Uint8Array, meta: Record<string, string>): Packed | undefined {
  if (buf.length < MAGIC.length + 4 + 32) return undefined;
  if (decoder.decode(buf.subarray(0, MAGIC.length)) !== MAGIC) return undefined;
  const digest = sha256(buf.subarray(0, buf.length - 32));
  const stored = buf.subarray(buf.length - 32);
  if (digest.some((b, i) => b !== stored[i])) return undefined;
  // Typed arrays need aligned offsets: copy once if the buffer does not start on an 8-byte boundary.
  const bytes = buf.byteOffset % 8 === 0 ? buf : new Uint8Array(buf);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(MAGIC.length, true);
  const header = JSON.parse(
    decoder.decode(bytes.subarray(MAGIC.length + 4, MAGIC.length + 4 + headerLength)),
  ) as Packed & { sections: Record<string, ["i32" | "u8", number, number]> };
  for (const [k, v] of Object.entries(meta)) if (header.meta[k] !== v) return undefined;
  const start = align(MAGIC.length + 4 + headerLength);
  const arrays: Record<string, TypedArray> = {};
  for (const [name, [kind, offset, length]] of Object.entries(header.sections)) {
    const Type = kind === "i32" ? Int32Array : Uint8Array;
    arrays[name] = new Type(bytes.buffer as ArrayBuffer, bytes.byteOffset + start + offset, length);
  }
  return { meta: header.meta, data: header.data, arrays };
}

let configuredDir: string | undefined;

/**
 * Keeps tables (and the validation worker's bundle) in `dir` instead of node_modules/.cache/classtune
 * (CLASSTUNE_CACHE_DIR: set by the process's wiring from its config, and in each validation worker from the
 * main thread's). undefined goes back to the default.
 */
export function useCacheDir(dir: string | undefined): void {
  configuredDir = dir;
}

/** The folder set by useCacheDir, if any. */
export function configuredCacheDir(): string | undefined {
  return configuredDir;
}

/** The cache folder: the configured one, else that of the node_modules a package file is in (none when in none). */
function cacheDirOf(fileInNodeModules: string): string | undefined {
  if (configuredDir !== undefined) return configuredDir;
  const marker = `${sep}node_modules${sep}`;
  const at = fileInNodeModules.lastIndexOf(marker);
  return at < 0 ? undefined : join(fileInNodeModules.slice(0, at + marker.length), ".cache", "classtune");
}

interface CacheEntry {
  file: string | undefined;
  meta: Record<string, string>;
}

/** Where tables built from `source` (a file in node_modules) are kept, and the meta that ties them to it. */
function cacheEntry(name: string, source: string, meta: Record<string, string>): CacheEntry {
  const info = statSync(source);
  const dir = cacheDirOf(source);
  return {
    file: dir ? join(dir, `${name}.bin`) : undefined,
    meta: { ...meta, source: `${source}:${info.size}:${info.mtimeMs}` },
  };
}

/**
 * Packed tables this thread built but could not keep (a read-only or missing cache folder), by name, in shared
 * memory: the validator hands them to its other workers (`useHandedOverTables`) so they do not build them too.
 */
const unwritten = new Map<string, Uint8Array>();
/** Packed tables handed over by another thread, by name: read before the cache folder. */
const handedOver = new Map<string, Uint8Array>();

let collectUnwritten = false;

/** From now on, tables this thread cannot keep are held for `unwrittenTables` (a validation worker's; off elsewhere). */
export function collectUnwrittenTables(): void {
  collectUnwritten = true;
}

/** The tables built here that could not be kept, packed in SharedArrayBuffers (shared, not copied, when posted). */
export function unwrittenTables(): Record<string, Uint8Array> {
  return Object.fromEntries(unwritten);
}

/** Tables from another thread's `unwrittenTables`: still checked against their meta and checksum when read. */
export function useHandedOverTables(tables: Record<string, Uint8Array> | undefined): void {
  for (const [name, buf] of Object.entries(tables ?? {})) handedOver.set(name, buf);
}

/** The kept tables, when they were built from this very `source` (its path, size and time) and `meta`. */
export function readCachedTables<T>(
  name: string,
  source: string,
  meta: Record<string, string>,
  unpack: (p: Packed) => T,
): T | undefined {
  const entry = cacheEntry(name, source, meta);
  const given = handedOver.get(name);
  const fromOtherThread = given && unpackTables(given, entry.meta);
  if (fromOtherThread) return unpack(fromOtherThread);
  if (!entry.file) return undefined;
  try {
    const packed = unpackTables(readFileSync(entry.file), entry.meta);
    return packed ? unpack(packed) : undefined;
  } catch {
    return undefined; // absent or unreadable: the caller builds them
  }
}

/**
 * Whether tables built from this very `source` and `meta` are kept: the file's header only (its checksum is
 * checked when it is read). Lets the validator start one builder, not one per worker, when they are not.
 */
export function hasCachedTables(name: string, source: string, meta: Record<string, string>): boolean {
  try {
    const entry = cacheEntry(name, source, meta);
    if (!entry.file) return false;
    const fd = openSync(entry.file, "r");
    try {
      const head = Buffer.alloc(MAGIC.length + 4);
      if (readSync(fd, head, 0, head.length, 0) !== head.length) return false;
      if (head.subarray(0, MAGIC.length).toString("latin1") !== MAGIC) return false;
      const header = Buffer.alloc(head.readUInt32LE(MAGIC.length));
      if (readSync(fd, header, 0, header.length, head.length) !== header.length) return false;
      const kept = (JSON.parse(header.toString("utf8")) as { meta: Record<string, string> }).meta;
      return Object.entries(entry.meta).every(([k, v]) => kept[k] === v);
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** Keeps tables built from `source`: written aside and renamed into place (two workers may race). */
export function writeCachedTables<T>(
  name: string,
  source: string,
  meta: Record<string, string>,
  tables: T,
  pack: (t: T) => Omit<Packed, "meta">,
): void {
  const entry = cacheEntry(name, source, meta);
  if (!entry.file && !collectUnwritten) return;
  const packed = packTables({ meta: entry.meta, ...pack(tables) });
  if (entry.file) {
    const tmp = `${entry.file}.${process.pid}.${threadId}.tmp`;
    try {
      mkdirSync(dirname(entry.file), { recursive: true });
      writeFileSync(tmp, packed);
      renameSync(tmp, entry.file);
      return;
    } catch {
      try {
        rmSync(tmp, { force: true });
      } catch {}
      // a read-only install: built again next time, and handed to this run's other workers meanwhile
    }
  }
  if (!collectUnwritten) return;
  const shared = new Uint8Array(new SharedArrayBuffer(packed.length));
  shared.set(packed);
  unwritten.set(name, shared);
}

/**
 * Tables built from `source` (a file in node_modules), kept in `<node_modules>/.cache/classtune/<name>.bin`:
 * read from there when they were built from this very file (its path, size and time, and `meta`), else built
 * and kept. A reader never sees half a file.
 */
export function cachedTables<T>(
  name: string,
  source: string,
  meta: Record<string, string>,
  build: () => T,
  pack: (t: T) => Omit<Packed, "meta">,
  unpack: (p: Packed) => T,
): T {
  const kept = readCachedTables(name, source, meta, unpack);
  if (kept !== undefined) return kept;
  const tables = build();
  writeCachedTables(name, source, meta, tables, pack);
  return tables;
}
