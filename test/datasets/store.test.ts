import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { storeDataset } from "../../src/datasets/store.ts";
import { DatasetRepository } from "../../src/db/datasets.ts";
import { openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";

const dir = mkdtempSync(join(tmpdir(), "classtune-datasets-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const example = (i: number) =>
  JSON.stringify({
    messages: [
      { role: "system", content: "You are a helpful educational assistant." },
      { role: "user", content: `What is ${i} + ${i}?` },
      { role: "assistant", content: `${i} + ${i} = ${2 * i}.` },
    ],
  });

describe("storeDataset", () => {
  it("stores the same upload once, content-addressed, with one row per upload and guild", async () => {
    const db = openDb(":memory:");
    const source = join(dir, "good.jsonl");
    writeFileSync(source, `${Array.from({ length: 12 }, (_, i) => example(i)).join("\n")}\n`);
    const args = {
      store: sqliteStore(db),
      dataDir: join(dir, "data"),
      uploaderId: "u1",
      fileName: "good.jsonl",
      sourcePath: source,
      model: "gpt-4o-mini",
    };
    const a = await storeDataset({ ...args, guildId: "g1" });
    const b = await storeDataset({ ...args, guildId: "g2" });
    assert.equal(a.report.fineTunable, true);
    assert.ok(a.row && b.row, "both stored");
    assert.equal(a.row.storedPath, b.row.storedPath);
    assert.equal(readFileSync(a.row.storedPath, "utf8"), readFileSync(source, "utf8"));
    assert.deepEqual(
      readdirSync(join(dir, "data", "datasets")).filter((f) => !f.startsWith(".")),
      [`${a.report.sha256}.jsonl`],
    );
    assert.equal(a.row.cleanedPath, null, "nothing dropped, no cleaned file");
    const repo = new DatasetRepository(sqliteStore(db));
    assert.equal(await repo.get("g2", a.row.id), undefined, "g1's row is not g2's");
    assert.equal((await repo.list("g1")).length, 1);
  });

  it("keeps a cleaned file of the valid lines when some were dropped", async () => {
    const db = openDb(":memory:");
    const source = join(dir, "mixed.jsonl");
    const lines = [...Array.from({ length: 11 }, (_, i) => example(i)), "{not json"];
    writeFileSync(source, `${lines.join("\n")}\n`);
    const { row, report } = await storeDataset({
      store: sqliteStore(db),
      dataDir: join(dir, "data2"),
      guildId: "g1",
      uploaderId: "u1",
      fileName: "../../etc/mixed.jsonl",
      sourcePath: source,
      model: "gpt-4o-mini-2024-07-18",
    });
    assert.equal(report.invalid, 1);
    assert.ok(row, "stored");
    assert.equal(row.fineTunable, false);
    assert.equal(row.fileName, "mixed.jsonl", "no path in the stored name");
    assert.ok(row.cleanedPath);
    assert.equal(readFileSync(row.cleanedPath, "utf8").trim().split("\n").length, 11);
  });

  it("does not store a binary or an empty file, and says why", async () => {
    const db = openDb(":memory:");
    const dataDir = join(dir, "data3");
    const png = join(dir, "photo.jsonl");
    writeFileSync(
      png,
      Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(500, 1)]),
    );
    const empty = join(dir, "empty.jsonl");
    writeFileSync(empty, "\n  \n");
    for (const [sourcePath, reason] of [
      [png, /PNG image, not a JSONL text file/],
      [empty, /no examples, only blank lines/],
    ] as const) {
      const result = await storeDataset({
        store: sqliteStore(db),
        dataDir,
        guildId: "g1",
        uploaderId: "u1",
        fileName: "upload.jsonl",
        sourcePath,
        model: "gpt-4o-mini",
      });
      assert.equal(result.row, null, "no dataset row");
      assert.match(result.row === null ? result.refused : "", reason);
      assert.equal(result.report.examples, 0, "the report still says what was found");
    }
    assert.deepEqual(await new DatasetRepository(sqliteStore(db)).list("g1"), []);
    assert.deepEqual(readdirSync(join(dataDir, "datasets")), [], "no file kept");
  });
});
