// Types of scripts/db-schema.js (plain JavaScript, as the other scripts), for the test that imports it.
import type Database from "better-sqlite3";

/** The text of src/db/query/schema.ts for a database with every migration applied. */
export function renderSchema(db: Database.Database): string;
