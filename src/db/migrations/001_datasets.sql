-- Validated datasets, scoped by guild ("cli" for the terminal). The file itself is stored
-- content-addressed under DATA_DIR/datasets/<sha256>.jsonl, so the same upload is stored once.
CREATE TABLE datasets (
  id INTEGER PRIMARY KEY,
  guild_id TEXT NOT NULL,
  uploader_id TEXT NOT NULL,
  file_name TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  format TEXT NOT NULL,
  examples INTEGER NOT NULL,
  valid INTEGER NOT NULL,
  invalid INTEGER NOT NULL,
  total_tokens INTEGER NOT NULL,
  base_model TEXT NOT NULL,
  fine_tunable INTEGER NOT NULL,
  report_json TEXT NOT NULL,
  stored_path TEXT NOT NULL,
  cleaned_path TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX datasets_guild ON datasets (guild_id, id DESC);
