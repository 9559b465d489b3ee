// Repository for the datasets table. Every read takes the guild id: another guild's row is "not found".
import { sql } from "kysely";
import { compiled, type Param } from "./query/compiled.ts";
import type { Queryable } from "./query/store.ts";

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

type FileFields = Omit<NewDataset, "guildId" | "uploaderId" | "fileName" | "createdAt">;

const COLUMNS = [
  "id",
  "guild_id as guildId",
  "uploader_id as uploaderId",
  "file_name as fileName",
  "sha256",
  "bytes",
  "format",
  "examples",
  "valid",
  "invalid",
  "total_tokens as totalTokens",
  "base_model as baseModel",
  "fine_tunable as fineTunable",
  "report_json as reportJson",
  "stored_path as storedPath",
  "cleaned_path as cleanedPath",
  "created_at as createdAt",
] as const;

type RawRow = Omit<DatasetRow, "fineTunable"> & { fineTunable: number };
const fromRaw = (r: RawRow): DatasetRow => ({ ...r, fineTunable: r.fineTunable === 1 });

type InsertValues = Omit<NewDataset, "fineTunable" | "createdAt"> & {
  fineTunable: number;
  createdAt: string;
};

const insertRow = compiled((db, p: Param<InsertValues>) =>
  db
    .insertInto("datasets")
    .values({
      guild_id: p("guildId"),
      uploader_id: p("uploaderId"),
      file_name: p("fileName"),
      sha256: p("sha256"),
      bytes: p("bytes"),
      format: p("format"),
      examples: p("examples"),
      valid: p("valid"),
      invalid: p("invalid"),
      total_tokens: p("totalTokens"),
      base_model: p("baseModel"),
      fine_tunable: p("fineTunable"),
      report_json: p("reportJson"),
      stored_path: p("storedPath"),
      cleaned_path: p("cleanedPath"),
      created_at: p("createdAt"),
    })
    .returning(COLUMNS),
);

const byId = compiled((db, p: Param<{ guildId: string; id: number }>) =>
  db.selectFrom("datasets").select(COLUMNS).where("guild_id", "=", p("guildId")).where("id", "=", p("id")),
);

const newest = compiled((db, p: Param<{ guildId: string; limit: number }>) =>
  db
    .selectFrom("datasets")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .orderBy("id", "desc")
    .limit(p("limit")),
);

const updateFile = compiled(
  (db, p: Param<Omit<FileFields, "fineTunable"> & { fineTunable: number; guildId: string; id: number }>) =>
    db
      .updateTable("datasets")
      .set({
        sha256: p("sha256"),
        bytes: p("bytes"),
        format: p("format"),
        examples: p("examples"),
        valid: p("valid"),
        invalid: p("invalid"),
        total_tokens: p("totalTokens"),
        base_model: p("baseModel"),
        fine_tunable: p("fineTunable"),
        report_json: p("reportJson"),
        stored_path: p("storedPath"),
        cleaned_path: p("cleanedPath"),
      })
      .where("guild_id", "=", p("guildId"))
      .where("id", "=", p("id")),
);

const anyUsing = compiled((db, p: Param<{ path: string }>) =>
  db
    .selectFrom("datasets")
    .select(sql<number>`1`.as("one"))
    .where((eb) => eb.or([eb("stored_path", "=", p("path")), eb("cleaned_path", "=", p("path"))]))
    .limit(1),
);

/** LIKE as SQLite's (case-insensitive for ASCII letters): ILIKE on PostgreSQL, whose LIKE tells case apart. */
const matching = compiled((db, p: Param<{ guildId: string; like: string; limit: number }>, engine) => {
  const like = engine === "postgres" ? sql`ilike` : sql`like`;
  return db
    .selectFrom("datasets")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .where(
      sql<boolean>`(file_name ${like} ${p("like")} escape '\\' or cast(id as text) ${like} ${p("like")} escape '\\')`,
    )
    .orderBy("id", "desc")
    .limit(p("limit"));
});

export class DatasetRepository {
  constructor(private readonly on: Queryable) {}

  /** The same repository over a transaction of its store (store.transaction's `tx`). */
  in(tx: Queryable): DatasetRepository {
    return new DatasetRepository(tx);
  }

  async insert(d: NewDataset): Promise<DatasetRow> {
    const row = await insertRow.executeTakeFirst(this.on, {
      ...d,
      fineTunable: d.fineTunable ? 1 : 0,
      createdAt: d.createdAt ?? new Date().toISOString(),
    });
    if (!row) throw new Error("inserted dataset vanished");
    return fromRaw(row);
  }

  async get(guildId: string, id: number): Promise<DatasetRow | undefined> {
    const r = await byId.executeTakeFirst(this.on, { guildId, id });
    return r && fromRaw(r);
  }

  async list(guildId: string, limit = 25): Promise<DatasetRow[]> {
    return (await newest.execute(this.on, { guildId, limit })).map(fromRaw);
  }

  /** Points the row at a rewritten file (/dataset remove-student): its new content, counts and report. */
  async replaceFile(guildId: string, id: number, d: FileFields): Promise<DatasetRow | undefined> {
    await updateFile.executeChanges(this.on, {
      sha256: d.sha256,
      bytes: d.bytes,
      format: d.format,
      examples: d.examples,
      valid: d.valid,
      invalid: d.invalid,
      totalTokens: d.totalTokens,
      baseModel: d.baseModel,
      fineTunable: d.fineTunable ? 1 : 0,
      reportJson: d.reportJson,
      storedPath: d.storedPath,
      cleanedPath: d.cleanedPath,
      guildId,
      id,
    });
    return this.get(guildId, id);
  }

  /** Whether any dataset (of any server: files are content-addressed) still refers to this file. */
  async fileInUse(path: string): Promise<boolean> {
    return (await anyUsing.executeTakeFirst(this.on, { path })) !== undefined;
  }

  /** For autocomplete: newest first, matching the id or file name. */
  async search(guildId: string, text: string, limit = 25): Promise<DatasetRow[]> {
    const like = `%${text.replace(/[%_\\]/g, (c) => `\\${c}`)}%`;
    return (await matching.execute(this.on, { guildId, like, limit })).map(fromRaw);
  }
}
