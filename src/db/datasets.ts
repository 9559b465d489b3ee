// Repository for the datasets table. Every read takes the guild id: another guild's row is "not found".
import type { Db } from "./open.ts";
import { prepared } from "./statements.ts";

export interface DatasetRow {
  id: number;
  guildId: string;
  uploaderId: string;
  fileName: string;
  sha256: string;
  bytes: number;
  format: string;
  examples: number;
  valid: number;
  invalid: number;
  totalTokens: number;
  baseModel: string;
  fineTunable: boolean;
  reportJson: string;
  storedPath: string;
  cleanedPath: string | null;
  createdAt: string;
}

export type NewDataset = Omit<DatasetRow, "id" | "createdAt"> & { createdAt?: string };

const COLUMNS = `id, guild_id AS guildId, uploader_id AS uploaderId, file_name AS fileName, sha256, bytes, format,
  examples, valid, invalid, total_tokens AS totalTokens, base_model AS baseModel, fine_tunable AS fineTunable,
  report_json AS reportJson, stored_path AS storedPath, cleaned_path AS cleanedPath, created_at AS createdAt`;

type RawRow = Omit<DatasetRow, "fineTunable"> & { fineTunable: number };
const fromRaw = (r: RawRow): DatasetRow => ({ ...r, fineTunable: r.fineTunable === 1 });

export class DatasetRepository {
  constructor(private readonly db: Db) {}

  insert(d: NewDataset): DatasetRow {
    const info = prepared(
      this.db,
      `INSERT INTO datasets (guild_id, uploader_id, file_name, sha256, bytes, format, examples, valid, invalid,
          total_tokens, base_model, fine_tunable, report_json, stored_path, cleaned_path, created_at)
         VALUES (@guildId, @uploaderId, @fileName, @sha256, @bytes, @format, @examples, @valid, @invalid,
          @totalTokens, @baseModel, @fineTunable, @reportJson, @storedPath, @cleanedPath, @createdAt)`,
    ).run({ ...d, fineTunable: d.fineTunable ? 1 : 0, createdAt: d.createdAt ?? new Date().toISOString() });
    const row = this.get(d.guildId, Number(info.lastInsertRowid));
    if (!row) throw new Error("inserted dataset vanished");
    return row;
  }

  get(guildId: string, id: number): DatasetRow | undefined {
    const r = prepared(this.db, `SELECT ${COLUMNS} FROM datasets WHERE guild_id = ? AND id = ?`).get(
      guildId,
      id,
    ) as RawRow | undefined;
    return r && fromRaw(r);
  }

  list(guildId: string, limit = 25): DatasetRow[] {
    return (
      prepared(this.db, `SELECT ${COLUMNS} FROM datasets WHERE guild_id = ? ORDER BY id DESC LIMIT ?`).all(
        guildId,
        limit,
      ) as RawRow[]
    ).map(fromRaw);
  }

  /** Points the row at a rewritten file (/dataset remove-student): its new content, counts and report. */
  replaceFile(
    guildId: string,
    id: number,
    d: Omit<NewDataset, "guildId" | "uploaderId" | "fileName" | "createdAt">,
  ): DatasetRow | undefined {
    prepared(
      this.db,
      `UPDATE datasets SET sha256 = @sha256, bytes = @bytes, format = @format, examples = @examples, valid = @valid,
           invalid = @invalid, total_tokens = @totalTokens, base_model = @baseModel, fine_tunable = @fineTunable,
           report_json = @reportJson, stored_path = @storedPath, cleaned_path = @cleanedPath
         WHERE guild_id = @guildId AND id = @id`,
    ).run({ ...d, fineTunable: d.fineTunable ? 1 : 0, guildId, id });
    return this.get(guildId, id);
  }

  /** Whether any dataset (of any server: files are content-addressed) still refers to this file. */
  fileInUse(path: string): boolean {
    return (
      prepared(this.db, `SELECT 1 FROM datasets WHERE stored_path = ? OR cleaned_path = ? LIMIT 1`).get(
        path,
        path,
      ) !== undefined
    );
  }

  /** For autocomplete: newest first, matching the id or file name. */
  search(guildId: string, text: string, limit = 25): DatasetRow[] {
    const like = `%${text.replace(/[%_\\]/g, (c) => `\\${c}`)}%`;
    return (
      prepared(
        this.db,
        `SELECT ${COLUMNS} FROM datasets WHERE guild_id = ? AND (file_name LIKE ? ESCAPE '\\' OR CAST(id AS TEXT) LIKE ? ESCAPE '\\')
           ORDER BY id DESC LIMIT ?`,
      ).all(guildId, like, like, limit) as RawRow[]
    ).map(fromRaw);
  }
}
