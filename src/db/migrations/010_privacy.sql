-- Privacy (issue 12): retention, self-service deletion, and a server removing the bot. Which tables and columns
-- hold a user id, and what deletion does to each, is written down once, in src/db/privacy.ts.

-- Anonymous daily usage: the retention sweep folds ask_usage rows past DATA_RETENTION_DAYS in here (no user id)
-- before deleting them, so /usage and `classtune usage` still count those days.
CREATE TABLE usage_daily (
  guild_id TEXT NOT NULL,
  -- YYYY-MM-DD (UTC)
  day TEXT NOT NULL,
  model TEXT NOT NULL,
  provider TEXT NOT NULL,
  questions INTEGER NOT NULL DEFAULT 0,
  errors INTEGER NOT NULL DEFAULT 0,
  cache_hits INTEGER NOT NULL DEFAULT 0,
  prompt_tokens INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  cost_usd REAL NOT NULL DEFAULT 0,
  PRIMARY KEY (guild_id, day, model, provider)
);

-- The folded days' errors by code (the /usage "Errors" line), equally anonymous.
CREATE TABLE usage_daily_errors (
  guild_id TEXT NOT NULL,
  day TEXT NOT NULL,
  code TEXT NOT NULL,
  count INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (guild_id, day, code)
);

-- Which student's answers a teacher's /dataset export put into which dataset (one row per exported line), so
-- /privacy can tell a student where their words live on, and /dataset remove-student can take them out.
CREATE TABLE dataset_exports (
  dataset_id INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
  guild_id TEXT NOT NULL,
  -- 1-based line of the dataset's JSONL file
  line INTEGER NOT NULL,
  student_id TEXT NOT NULL,
  exported_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (dataset_id, line)
);
CREATE INDEX dataset_exports_student ON dataset_exports (guild_id, student_id);

-- Servers that removed the bot: their data is deleted by the daily sweep once delete_after has passed, unless
-- the bot is invited back first (the row is then deleted).
CREATE TABLE guild_departures (
  guild_id TEXT PRIMARY KEY,
  left_at TEXT NOT NULL,
  delete_after TEXT NOT NULL
);

-- The daily privacy sweep's own state (last run), so a restart neither skips nor repeats a day.
CREATE TABLE privacy_sweeps (
  name TEXT PRIMARY KEY,
  last_run_at TEXT NOT NULL,
  last_result TEXT
);
