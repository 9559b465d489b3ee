// Built tokenizer tables kept in node_modules/.cache/classtune (src/tokenizers/tableFile.ts): read back as
// written, never used when damaged, truncated or built from other files, and rebuilt then.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  cachedTables,
  collectUnwrittenTables,
  hasCachedTables,
  type Packed,
  packTables,
  readCachedTables,
  unpackTables,
  unwrittenTables,
  useCacheDir,
  useHandedOverTables,
  writeCachedTables,
} from "../../src/tokenizers/tableFile.ts";

const dir = mkdtempSync(join(tmpdir(), "classtune-tables-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const sample = () => ({
  meta: { family: "test" },
  data: { pattern: "\\s+" },
  arrays: { ids: Int32Array.from([1, -2, 3]), bytes: Uint8Array.from([7, 8, 9, 10, 11]) },
});

describe("a tables buffer", () => {
  it("reads back the arrays and data it was written with", () => {
    const read = unpackTables(packTables(sample()), { family: "test" });
    assert.ok(read);
    assert.deepEqual(read.data, { pattern: "\\s+" });
    assert.deepEqual([...(read.arrays.ids ?? [])], [1, -2, 3]);
    assert.deepEqual([...(read.arrays.bytes ?? [])], [7, 8, 9, 10, 11]);
    const unaligned = new Uint8Array(packTables(sample()).length + 1).subarray(1);
    unaligned.set(packTables(sample()));
    assert.deepEqual(
      [...(unpackTables(unaligned, {})?.arrays.ids ?? [])],
      [1, -2, 3],
      "copied when unaligned",
    );
  });

  it("is refused when damaged, truncated, not a tables file, or built for another meta", () => {
    const buf = packTables(sample());
    const damaged = new Uint8Array(buf);
    damaged[buf.length - 40] = (damaged[buf.length - 40] as number) ^ 1;
    assert.equal(unpackTables(damaged, {}), undefined);
    assert.equal(unpackTables(buf.subarray(0, buf.length - 1), {}), undefined);
    assert.equal(unpackTables(new TextEncoder().encode("{}".repeat(40)), {}), undefined);
    assert.equal(unpackTables(buf, { family: "other" }), undefined);
  });
});

describe("cachedTables", () => {
  const source = join(dir, "node_modules", "some-package", "tokenizer.json");
  mkdirSync(join(dir, "node_modules", "some-package"), { recursive: true });
  writeFileSync(source, "{}");
  const cacheFile = join(dir, "node_modules", ".cache", "classtune", "test-tables.bin");
  let builds = 0;
  const load = () =>
    cachedTables(
      "test-tables",
      source,
      { version: "1" },
      () => {
        builds++;
        return [...sample().arrays.ids];
      },
      (t) => ({ data: null, arrays: { ids: Int32Array.from(t) } }),
      (p) => [...(p.arrays.ids ?? [])],
    );

  it("builds once, keeps the tables beside the package, and reads them on the next load", () => {
    assert.deepEqual(load(), [1, -2, 3]);
    assert.equal(builds, 1);
    assert.ok(readFileSync(cacheFile).length > 0);
    assert.deepEqual(load(), [1, -2, 3]);
    assert.equal(builds, 1, "read from the cache");
  });

  it("builds again when the cache is damaged or the source file changed", () => {
    const written = readFileSync(cacheFile);
    const damaged = Buffer.from(written);
    damaged.writeUInt8(damaged.readUInt8(damaged.length - 3) ^ 0xff, damaged.length - 3);
    writeFileSync(cacheFile, damaged);
    assert.deepEqual(load(), [1, -2, 3]);
    assert.equal(builds, 2);
    assert.deepEqual(readFileSync(cacheFile), written, "rewritten");
    utimesSync(source, new Date(), new Date(Date.now() + 5000));
    load();
    assert.equal(builds, 3, "a changed source file is not the one the cache was built from");
  });
});

describe("a cache folder given by CLASSTUNE_CACHE_DIR (useCacheDir)", () => {
  const source = join(dir, "elsewhere", "tokenizer.json");
  mkdirSync(join(dir, "elsewhere"), { recursive: true });
  writeFileSync(source, "{}");
  const folder = join(dir, "configured-cache");
  const pack = (t: number[]) => ({ data: null, arrays: { ids: Int32Array.from(t) } });
  const unpack = (p: Packed) => [...(p.arrays.ids ?? [])];
  after(() => useCacheDir(undefined));

  it("keeps the tables there, and hasCachedTables says so for this source and meta only", () => {
    useCacheDir(folder);
    assert.equal(hasCachedTables("t", source, { version: "1" }), false, "nothing kept yet");
    writeCachedTables("t", source, { version: "1" }, [4, 5], pack);
    assert.ok(readFileSync(join(folder, "t.bin")).length > 0);
    assert.equal(hasCachedTables("t", source, { version: "1" }), true);
    assert.equal(hasCachedTables("t", source, { version: "2" }), false, "other meta");
    assert.deepEqual(readCachedTables("t", source, { version: "1" }, unpack), [4, 5]);
  });

  it("hands tables it cannot keep to another thread through shared memory, still checked by meta", () => {
    useCacheDir(join(source, "not-a-folder")); // under a file: mkdir fails, even for root
    collectUnwrittenTables();
    writeCachedTables("u", source, { version: "1" }, [6, 7, 8], pack);
    const handed = unwrittenTables();
    assert.ok(handed.u?.buffer instanceof SharedArrayBuffer);
    assert.equal(readCachedTables("u", source, { version: "1" }, unpack), undefined, "not read back here");
    useHandedOverTables(handed);
    assert.deepEqual(readCachedTables("u", source, { version: "1" }, unpack), [6, 7, 8]);
    assert.equal(readCachedTables("u", source, { version: "2" }, unpack), undefined, "other meta");
  });
});
