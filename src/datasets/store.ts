// Stores a teacher's dataset: validates it, keeps the file content-addressed under
// DATA_DIR/datasets/<sha256>.jsonl (the same upload is stored once), writes the cleaned file when lines
// were dropped, and records the row for the guild. A file that is no dataset at all (binary, or empty) is
// not stored: the caller gets the report saying why, and no row.
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { DatasetRepository, type DatasetRow, type NewDataset } from "../db/datasets.ts";

export type { DatasetRow };

import type { Store } from "../db/query/store.ts";
import type { Catalog } from "./catalog.ts";
import { cleaningScratchPath, copyTempPath } from "./tempFiles.ts";
import type { ValidationReport } from "./types.ts";
import { validateFile } from "./validator.ts";

export interface StoreDatasetInput {
  store: Store;
  dataDir: string;
  guildId: string;
  uploaderId: string;
  fileName: string;
  /** The file as received (a temporary download, or the CLI's argument); it is copied, never moved. */
  sourcePath: string;
  model: string;
  /** The fine-tuning provider whose catalog and rules apply (read by the bound StoreDataset); default the default one. */
  provider?: string | undefined;
  catalog?: Catalog | undefined;
}

/** The dataset row's fields that come from a validation report. */
export function datasetFieldsFromReport(
  report: ValidationReport,
): Pick<
  NewDataset,
  | "sha256"
  | "bytes"
  | "format"
  | "examples"
  | "valid"
  | "invalid"
  | "totalTokens"
  | "baseModel"
  | "fineTunable"
  | "reportJson"
> {
  return {
    sha256: report.sha256,
    bytes: report.bytes,
    format: report.format,
    examples: report.examples,
    valid: report.valid,
    invalid: report.invalid,
    totalTokens: report.tokens.total,
    baseModel: report.model,
    fineTunable: report.fineTunable,
    reportJson: JSON.stringify(report),
  };
}

export interface StoredDataset {
  row: DatasetRow;
  report: ValidationReport;
}

/** A file that is no dataset at all: validated, not stored. */
export interface RefusedDataset {
  row: null;
  report: ValidationReport;
  /** Why, from the report's file-level error: e.g. "this is a PNG image, not a JSONL text file". */
  refused: string;
}

export type StoreResult = StoredDataset | RefusedDataset;

/** `storeDataset` with the database, the data directory and the catalog bound (src/wire.ts): what callers receive. */
export type StoreDataset = (
  input: Omit<StoreDatasetInput, "store" | "dataDir" | "catalog">,
) => Promise<StoreResult>;

/** Why the report shows the file is no dataset (binary or without one example), or undefined if it is one. */
export function notADataset(report: ValidationReport): string | undefined {
  return report.errors.find((e) => e.line === 0 && (e.code === "not_text" || e.code === "empty_file"))
    ?.message;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Copies atomically (temp file + rename) so a crash never leaves a half-written content-addressed file. */
async function copyOnce(source: string, dest: string): Promise<void> {
  if (await exists(dest)) return;
  const tmp = copyTempPath(dest);
  await copyFile(source, tmp);
  await rename(tmp, dest);
}

export async function storeDataset(input: StoreDatasetInput): Promise<StoreResult> {
  const dir = join(input.dataDir, "datasets");
  await mkdir(dir, { recursive: true });
  const scratchCleaned = cleaningScratchPath(dir);
  try {
    const report = await validateFile(input.sourcePath, {
      model: input.model,
      cleanedOutPath: scratchCleaned,
      ...(input.catalog ? { catalog: input.catalog } : {}),
    });
    const refused = notADataset(report);
    if (refused !== undefined) return { row: null, report, refused };
    const storedPath = join(dir, `${report.sha256}.jsonl`);
    await copyOnce(input.sourcePath, storedPath);
    let cleanedPath: string | null = null;
    if (report.invalid > 0 && report.valid > 0) {
      cleanedPath = join(dir, `${report.sha256}.${report.model}.cleaned.jsonl`);
      await copyOnce(scratchCleaned, cleanedPath);
    }
    const row = await new DatasetRepository(input.store).insert({
      guildId: input.guildId,
      uploaderId: input.uploaderId,
      fileName: basename(input.fileName).slice(0, 200),
      ...datasetFieldsFromReport(report),
      storedPath,
      cleanedPath,
    });
    return { row, report };
  } finally {
    await rm(scratchCleaned, { force: true });
  }
}

export interface RewriteDatasetInput {
  store: Store;
  dataDir: string;
  /** The catalog of the provider the dataset was checked for (its report names it). */
  catalogFor?: ((provider: string | undefined) => Catalog) | undefined;
  guildId: string;
  datasetId: number;
  /** Keeps the file's line `n` (1-based)? */
  keepLine(n: number): boolean;
}

export interface RewrittenDataset {
  row: DatasetRow;
  report: ValidationReport;
  /** Lines taken out. */
  removed: number;
  /** The text of the lines taken out (a job's held-out test questions may have come from them). */
  removedLines: string[];
  /** Old line number → new line number, for the lines kept. */
  renumbered: Map<number, number>;
}

/** `rewriteDataset` with the database, the data directory and the catalog bound (src/wire.ts). */
export type RewriteDataset = (
  input: Omit<RewriteDatasetInput, "store" | "dataDir" | "catalogFor">,
) => Promise<RewrittenDataset | undefined>;

/**
 * Rewrites a stored dataset without some of its lines (a student's exported answers): the new file is validated
 * and stored content-addressed like any upload, the same row (same id, so `/finetune start dataset:N` takes the new
 * file) points at it, and the old files are deleted when no other row refers to them. Undefined: no such dataset.
 */
export async function rewriteDataset(input: RewriteDatasetInput): Promise<RewrittenDataset | undefined> {
  const repo = new DatasetRepository(input.store);
  const before = await repo.get(input.guildId, input.datasetId);
  if (!before) return undefined;
  const dir = join(input.dataDir, "datasets");
  await mkdir(dir, { recursive: true });
  const lines = (await readFile(before.storedPath, "utf8")).split("\n");
  if (lines.at(-1) === "") lines.pop();
  const kept: string[] = [];
  const removedLines: string[] = [];
  const renumbered = new Map<number, number>();
  lines.forEach((text, i) => {
    if (!input.keepLine(i + 1)) {
      removedLines.push(text);
      return;
    }
    kept.push(text);
    renumbered.set(i + 1, kept.length);
  });
  const source = copyTempPath(join(dir, `rewrite-${before.id}.jsonl`));
  const scratchCleaned = cleaningScratchPath(dir);
  try {
    await writeFile(source, kept.length === 0 ? "" : `${kept.join("\n")}\n`);
    const checkedFor = (JSON.parse(before.reportJson) as Partial<ValidationReport>).provider;
    const catalog = input.catalogFor?.(checkedFor);
    const report = await validateFile(source, {
      model: before.baseModel,
      cleanedOutPath: scratchCleaned,
      ...(catalog ? { catalog } : {}),
    });
    const storedPath = join(dir, `${report.sha256}.jsonl`);
    await copyOnce(source, storedPath);
    let cleanedPath: string | null = null;
    if (report.invalid > 0 && report.valid > 0) {
      cleanedPath = join(dir, `${report.sha256}.${report.model}.cleaned.jsonl`);
      await copyOnce(scratchCleaned, cleanedPath);
    }
    const row = await repo.replaceFile(input.guildId, before.id, {
      ...datasetFieldsFromReport(report),
      storedPath,
      cleanedPath,
    });
    if (!row) throw new Error(`dataset #${before.id} vanished while it was rewritten`);
    for (const old of [before.storedPath, before.cleanedPath]) {
      if (old !== null && !(await repo.fileInUse(old))) await rm(old, { force: true });
    }
    return { row, report, removed: removedLines.length, removedLines, renumbered };
  } finally {
    await rm(source, { force: true });
    await rm(scratchCleaned, { force: true });
  }
}
