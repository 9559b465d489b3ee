// DatasetRepository and DatasetExportRepository on both engines (issue 14): rows read alike (fineTunable a
// boolean, NULL as null), every read scoped to its guild, the autocomplete search matching like SQLite's LIKE
// (ASCII case ignored, % and _ literal), and an export's lines written in one transaction (all or none).
import assert from "node:assert/strict";
import { it } from "node:test";
import { DatasetExportRepository, type ExportedLine } from "../../src/db/datasetExports.ts";
import { DatasetRepository, type NewDataset } from "../../src/db/datasets.ts";
import { forEachEngine } from "../helpers/engines.ts";

const G = "100000000000000001";
const OTHER = "100000000000000002";
const TEACHER = "300000000000000001";
const AT = "2026-12-04T10:00:00.000Z";

const dataset = (o: Partial<NewDataset> = {}): NewDataset => ({
  guildId: G,
  uploaderId: TEACHER,
  fileName: "biology – week 1 “cells” 🧬.jsonl",
  sha256: "ab".repeat(32),
  bytes: 12_345,
  format: "chat",
  examples: 40,
  valid: 38,
  invalid: 2,
  totalTokens: 9_876,
  baseModel: "gpt-4o-mini-2024-07-18",
  fineTunable: true,
  reportJson: '{"model":"gpt-4o-mini-2024-07-18","provider":"openai"}',
  storedPath: "/data/datasets/ab.jsonl",
  cleanedPath: null,
  createdAt: AT,
  ...o,
});

forEachEngine("DatasetRepository", (open) => {
  it("inserts and reads back every field, fineTunable as a boolean, another guild's row not found", async (t) => {
    const repo = new DatasetRepository(await open(t));
    const row = await repo.insert(dataset());
    assert.deepEqual(row, { id: 1, ...dataset() });
    assert.deepEqual(await repo.get(G, row.id), row);
    assert.equal(await repo.get(OTHER, row.id), undefined, "another guild's row is not found");
    const unfit = await repo.insert(
      dataset({ fineTunable: false, cleanedPath: "/data/datasets/ab.cleaned.jsonl" }),
    );
    assert.equal(unfit.id, 2);
    assert.equal(unfit.fineTunable, false);
    assert.equal(unfit.cleanedPath, "/data/datasets/ab.cleaned.jsonl");
  });

  it("stamps createdAt when none is given", async (t) => {
    const repo = new DatasetRepository(await open(t));
    const before = new Date().toISOString();
    const { createdAt: _, ...rest } = dataset();
    const row = await repo.insert(rest);
    assert.ok(row.createdAt >= before && row.createdAt <= new Date().toISOString(), row.createdAt);
  });

  it("lists a guild's datasets newest first, up to the limit", async (t) => {
    const repo = new DatasetRepository(await open(t));
    for (const name of ["a.jsonl", "b.jsonl", "c.jsonl"]) await repo.insert(dataset({ fileName: name }));
    await repo.insert(dataset({ guildId: OTHER, fileName: "theirs.jsonl" }));
    assert.deepEqual(
      (await repo.list(G)).map((d) => d.fileName),
      ["c.jsonl", "b.jsonl", "a.jsonl"],
    );
    assert.deepEqual(
      (await repo.list(G, 2)).map((d) => d.id),
      [3, 2],
    );
    assert.deepEqual(
      (await repo.list(OTHER)).map((d) => d.fileName),
      ["theirs.jsonl"],
    );
  });

  it("replaces the file a row points at, in its own guild only", async (t) => {
    const repo = new DatasetRepository(await open(t));
    const row = await repo.insert(dataset());
    const file = {
      sha256: "cd".repeat(32),
      bytes: 999,
      format: "chat",
      examples: 30,
      valid: 9,
      invalid: 1,
      totalTokens: 4_321,
      baseModel: "gpt-4.1-mini",
      fineTunable: false,
      reportJson: "{}",
      storedPath: "/data/datasets/cd.jsonl",
      cleanedPath: "/data/datasets/cd.cleaned.jsonl",
    };
    assert.equal(await repo.replaceFile(OTHER, row.id, file), undefined, "not another guild's");
    assert.deepEqual(await repo.get(G, row.id), row, "unchanged by another guild's call");
    const replaced = await repo.replaceFile(G, row.id, file);
    assert.deepEqual(replaced, {
      ...file,
      id: row.id,
      guildId: G,
      uploaderId: TEACHER,
      fileName: row.fileName,
      createdAt: AT,
    });
  });

  it("tells whether any guild's row still refers to a file, stored or cleaned", async (t) => {
    const repo = new DatasetRepository(await open(t));
    await repo.insert(dataset({ guildId: OTHER, storedPath: "/s.jsonl", cleanedPath: "/c.jsonl" }));
    assert.equal(await repo.fileInUse("/s.jsonl"), true);
    assert.equal(await repo.fileInUse("/c.jsonl"), true);
    assert.equal(await repo.fileInUse("/other.jsonl"), false);
  });

  it("searches by file name or id, newest first: ASCII case ignored, % and _ taken literally", async (t) => {
    const repo = new DatasetRepository(await open(t));
    await repo.insert(dataset({ fileName: "Biology.jsonl" })); // 1
    await repo.insert(dataset({ fileName: "chem_100%.jsonl" })); // 2
    await repo.insert(dataset({ fileName: "chemAB100x.jsonl" })); // 3
    await repo.insert(dataset({ fileName: "history.jsonl" })); // 4
    await repo.insert(dataset({ guildId: OTHER, fileName: "biology-theirs.jsonl" })); // 5
    const names = async (text: string, limit?: number) =>
      (await repo.search(G, text, limit)).map((d) => d.fileName);
    assert.deepEqual(await names("BIOLOGY"), ["Biology.jsonl"], "case ignored; another guild's not shown");
    assert.deepEqual(await names("chem"), ["chemAB100x.jsonl", "chem_100%.jsonl"]);
    assert.deepEqual(await names("_100%"), ["chem_100%.jsonl"], "_ and % are no wildcards");
    assert.deepEqual(await names("4"), ["history.jsonl"], "the id matches too");
    assert.deepEqual(await names("jsonl", 2), ["history.jsonl", "chemAB100x.jsonl"]);
    assert.deepEqual(await names("\\"), [], "a backslash is a character, not an escape");
    assert.deepEqual(await names(""), [
      "history.jsonl",
      "chemAB100x.jsonl",
      "chem_100%.jsonl",
      "Biology.jsonl",
    ]);
  });

  it("runs on a transaction with in(tx): rolled back with it", async (t) => {
    const store = await open(t);
    const repo = new DatasetRepository(store);
    await assert.rejects(
      store.transaction(async (tx) => {
        const row = await repo.in(tx).insert(dataset());
        assert.deepEqual(await repo.in(tx).get(G, row.id), row, "seen inside its transaction");
        throw new Error("roll back");
      }),
      /roll back/,
    );
    assert.deepEqual(await repo.list(G), []);
  });
});

forEachEngine("DatasetExportRepository", (open) => {
  const line = (datasetId: number, n: number, studentId: string): ExportedLine => ({
    datasetId,
    guildId: G,
    line: n,
    studentId,
    exportedBy: TEACHER,
  });

  it("records an export's lines and reads them back by student and by dataset", async (t) => {
    const store = await open(t);
    const datasets = new DatasetRepository(store);
    const a = await datasets.insert(dataset());
    const b = await datasets.insert(dataset());
    const exports = new DatasetExportRepository(store);
    await exports.record([line(a.id, 2, "s2"), line(a.id, 1, "s1"), line(a.id, 3, "s1")], AT);
    await exports.record([line(b.id, 1, "s1")], AT);
    assert.deepEqual(await exports.datasetsOf(G, "s1"), [a.id, b.id]);
    assert.deepEqual(await exports.datasetsOf(G, "s2"), [a.id]);
    assert.deepEqual(await exports.datasetsOf(OTHER, "s1"), [], "another guild's student is not found");
    assert.deepEqual(await exports.lines(G, a.id), [
      line(a.id, 1, "s1"),
      line(a.id, 2, "s2"),
      line(a.id, 3, "s1"),
    ]);
    assert.deepEqual(await exports.lines(OTHER, a.id), []);
    const stamped = await store.db.selectFrom("dataset_exports").select("created_at").distinct().execute();
    assert.deepEqual(stamped, [{ created_at: AT }]);
  });

  it("records all of an export's lines or none (one transaction)", async (t) => {
    const store = await open(t);
    const a = await new DatasetRepository(store).insert(dataset());
    const exports = new DatasetExportRepository(store);
    // Line 2 twice: the second breaks the primary key (dataset_id, line) after the first two were written.
    await assert.rejects(exports.record([line(a.id, 1, "s1"), line(a.id, 2, "s1"), line(a.id, 2, "s2")], AT));
    assert.deepEqual(await exports.lines(G, a.id), [], "none kept");
  });

  it("replaces a dataset's lines, in one transaction: a failed replace keeps the old lines", async (t) => {
    const store = await open(t);
    const datasets = new DatasetRepository(store);
    const a = await datasets.insert(dataset());
    const b = await datasets.insert(dataset());
    const exports = new DatasetExportRepository(store);
    await exports.record([line(a.id, 1, "s1"), line(a.id, 2, "s2"), line(a.id, 3, "s1")], AT);
    await exports.record([line(b.id, 1, "s2")], AT);
    await exports.replace(G, a.id, [line(a.id, 1, "s1"), line(a.id, 2, "s1")], AT);
    assert.deepEqual(await exports.lines(G, a.id), [line(a.id, 1, "s1"), line(a.id, 2, "s1")]);
    assert.deepEqual(await exports.datasetsOf(G, "s2"), [b.id], "s2's line is gone from dataset a only");
    await assert.rejects(exports.replace(G, a.id, [line(a.id, 1, "s3"), line(a.id, 1, "s3")], AT));
    assert.deepEqual(
      await exports.lines(G, a.id),
      [line(a.id, 1, "s1"), line(a.id, 2, "s1")],
      "the delete was rolled back with the failed insert",
    );
    await exports.replace(OTHER, a.id, [], AT);
    assert.equal((await exports.lines(G, a.id)).length, 2, "another guild's replace deletes nothing");
  });

  it("runs inside a caller's transaction with in(tx), committed or rolled back with it", async (t) => {
    const store = await open(t);
    const a = await new DatasetRepository(store).insert(dataset());
    const exports = new DatasetExportRepository(store);
    await assert.rejects(
      store.transaction(async (tx) => {
        await exports.in(tx).record([line(a.id, 1, "s1")], AT);
        assert.deepEqual(await exports.in(tx).datasetsOf(G, "s1"), [a.id], "seen inside");
        throw new Error("roll back");
      }),
      /roll back/,
    );
    assert.deepEqual(await exports.lines(G, a.id), []);
    await store.transaction(async (tx) => {
      await exports.in(tx).record([line(a.id, 1, "s1"), line(a.id, 2, "s2")], AT);
      await exports.in(tx).replace(G, a.id, [line(a.id, 1, "s2")], AT);
    });
    assert.deepEqual(await exports.lines(G, a.id), [line(a.id, 1, "s2")]);
  });
});
