// Repository for dataset_exports: which student's answer is which line of a teacher's exported dataset.
import type { Db } from "./open.ts";
import { prepared } from "./statements.ts";

export interface ExportedLine {
  datasetId: number;
  guildId: string;
  /** 1-based line of the dataset's JSONL file. */
  line: number;
  studentId: string;
  exportedBy: string;
}

export class DatasetExportRepository {
  constructor(private readonly db: Db) {}

  /** Records an export's lines (one transaction). */
  record(lines: ExportedLine[], at: string): void {
    const insert = prepared(
      this.db,
      `INSERT INTO dataset_exports (dataset_id, guild_id, line, student_id, exported_by, created_at)
       VALUES (@datasetId, @guildId, @line, @studentId, @exportedBy, @at)`,
    );
    this.db.transaction(() => {
      for (const l of lines) insert.run({ ...l, at });
    })();
  }

  /** The datasets of this server holding lines of the student's. */
  datasetsOf(guildId: string, studentId: string): number[] {
    return (
      prepared(
        this.db,
        `SELECT DISTINCT dataset_id AS id FROM dataset_exports WHERE guild_id = ? AND student_id = ? ORDER BY id`,
      ).all(guildId, studentId) as { id: number }[]
    ).map((r) => r.id);
  }

  /** Every recorded line of a dataset, in file order. */
  lines(guildId: string, datasetId: number): ExportedLine[] {
    return prepared(
      this.db,
      `SELECT dataset_id AS datasetId, guild_id AS guildId, line, student_id AS studentId, exported_by AS exportedBy
         FROM dataset_exports WHERE guild_id = ? AND dataset_id = ? ORDER BY line`,
    ).all(guildId, datasetId) as ExportedLine[];
  }

  /** Replaces a dataset's recorded lines (after its file was rewritten without some of them). */
  replace(guildId: string, datasetId: number, lines: ExportedLine[], at: string): void {
    this.db.transaction(() => {
      prepared(this.db, `DELETE FROM dataset_exports WHERE guild_id = ? AND dataset_id = ?`).run(
        guildId,
        datasetId,
      );
      this.record(lines, at);
    })();
  }
}
