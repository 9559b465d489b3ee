// Repository for dataset_exports: which student's answer is which line of a teacher's exported dataset.
import { compiled, type Param } from "./query/compiled.ts";
import type { Queryable, Store } from "./query/store.ts";

export interface ExportedLine {
  datasetId: number;
  guildId: string;
  /** 1-based line of the dataset's JSONL file. */
  line: number;
  studentId: string;
  exportedBy: string;
}

const insertLine = compiled((db, p: Param<ExportedLine & { at: string }>) =>
  db.insertInto("dataset_exports").values({
    dataset_id: p("datasetId"),
    guild_id: p("guildId"),
    line: p("line"),
    student_id: p("studentId"),
    exported_by: p("exportedBy"),
    created_at: p("at"),
  }),
);

const datasetsHolding = compiled((db, p: Param<{ guildId: string; studentId: string }>) =>
  db
    .selectFrom("dataset_exports")
    .select("dataset_id as id")
    .distinct()
    .where("guild_id", "=", p("guildId"))
    .where("student_id", "=", p("studentId"))
    .orderBy("id"),
);

const linesOf = compiled((db, p: Param<{ guildId: string; datasetId: number }>) =>
  db
    .selectFrom("dataset_exports")
    .select([
      "dataset_id as datasetId",
      "guild_id as guildId",
      "line",
      "student_id as studentId",
      "exported_by as exportedBy",
    ])
    .where("guild_id", "=", p("guildId"))
    .where("dataset_id", "=", p("datasetId"))
    .orderBy("line"),
);

const deleteLines = compiled((db, p: Param<{ guildId: string; datasetId: number }>) =>
  db
    .deleteFrom("dataset_exports")
    .where("guild_id", "=", p("guildId"))
    .where("dataset_id", "=", p("datasetId")),
);

/** The statements of DatasetExportRepository on one Queryable: a transaction's, or the store's for the reads. */
export class DatasetExportStatements {
  constructor(private readonly on: Queryable) {}

  /** Records an export's lines (run it in a transaction: the caller's). */
  async record(lines: ExportedLine[], at: string): Promise<void> {
    for (const l of lines) {
      await insertLine.executeChanges(this.on, {
        datasetId: l.datasetId,
        guildId: l.guildId,
        line: l.line,
        studentId: l.studentId,
        exportedBy: l.exportedBy,
        at,
      });
    }
  }

  /** The datasets of this server holding lines of the student's. */
  async datasetsOf(guildId: string, studentId: string): Promise<number[]> {
    return (await datasetsHolding.execute(this.on, { guildId, studentId })).map((r) => r.id);
  }

  /** Every recorded line of a dataset, in file order. */
  lines(guildId: string, datasetId: number): Promise<ExportedLine[]> {
    return linesOf.execute(this.on, { guildId, datasetId });
  }

  /** Replaces a dataset's recorded lines (run it in a transaction: the caller's). */
  async replace(guildId: string, datasetId: number, lines: ExportedLine[], at: string): Promise<void> {
    await deleteLines.executeChanges(this.on, { guildId, datasetId });
    await this.record(lines, at);
  }
}

export class DatasetExportRepository {
  private readonly reads: DatasetExportStatements;

  constructor(private readonly store: Store) {
    this.reads = new DatasetExportStatements(store);
  }

  /** The same statements on a transaction of the store (store.transaction's `tx`): the caller's transaction. */
  in(tx: Queryable): DatasetExportStatements {
    return new DatasetExportStatements(tx);
  }

  /** Records an export's lines (one transaction). */
  record(lines: ExportedLine[], at: string): Promise<void> {
    return this.store.transaction((tx) => this.in(tx).record(lines, at));
  }

  /** The datasets of this server holding lines of the student's. */
  datasetsOf(guildId: string, studentId: string): Promise<number[]> {
    return this.reads.datasetsOf(guildId, studentId);
  }

  /** Every recorded line of a dataset, in file order. */
  lines(guildId: string, datasetId: number): Promise<ExportedLine[]> {
    return this.reads.lines(guildId, datasetId);
  }

  /** Replaces a dataset's recorded lines (after its file was rewritten without some of them), in one transaction. */
  replace(guildId: string, datasetId: number, lines: ExportedLine[], at: string): Promise<void> {
    return this.store.transaction((tx) => this.in(tx).replace(guildId, datasetId, lines, at));
  }
}
