-- The sandbox's own state (separate tables, separate migration table): uploaded files, jobs, their
-- metadata (indexed for the `metadata[k]=v` filter) and the events materialised so far.
CREATE TABLE sandbox_files (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  filename TEXT NOT NULL,
  purpose TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  path TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE sandbox_jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  model TEXT NOT NULL,
  base_model TEXT NOT NULL,
  training_file TEXT NOT NULL,
  validation_file TEXT,
  suffix TEXT,
  seed INTEGER NOT NULL,
  method TEXT NOT NULL,
  requested_hyperparameters TEXT NOT NULL,
  metadata TEXT,
  created_at_ms INTEGER NOT NULL,
  -- timeline, fixed at creation so a restart with other settings does not reshape a job
  validate_ms INTEGER NOT NULL,
  queue_ms INTEGER NOT NULL,
  step_ms INTEGER NOT NULL,
  -- outcome of validation
  examples INTEGER NOT NULL DEFAULT 0,
  n_epochs INTEGER NOT NULL DEFAULT 0,
  batch_size INTEGER NOT NULL DEFAULT 1,
  learning_rate_multiplier REAL NOT NULL DEFAULT 1.8,
  total_steps INTEGER NOT NULL DEFAULT 0,
  trained_tokens_planned INTEGER NOT NULL DEFAULT 0,
  planned_error TEXT,
  planned_error_after_steps INTEGER,
  -- state materialised from the clock
  status TEXT NOT NULL,
  events_emitted INTEGER NOT NULL DEFAULT 0,
  next_event_at_ms INTEGER,
  started_at_ms INTEGER,
  finished_at_ms INTEGER,
  cancelled_at_ms INTEGER,
  fine_tuned_model TEXT UNIQUE,
  trained_tokens INTEGER,
  error TEXT,
  model_deleted INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE sandbox_job_metadata (
  job_id TEXT NOT NULL REFERENCES sandbox_jobs (id),
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (job_id, key)
);
CREATE INDEX sandbox_job_metadata_kv ON sandbox_job_metadata (key, value);

CREATE TABLE sandbox_events (
  id TEXT NOT NULL PRIMARY KEY,
  job_id TEXT NOT NULL REFERENCES sandbox_jobs (id),
  seq INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  level TEXT NOT NULL,
  message TEXT NOT NULL,
  type TEXT NOT NULL,
  data TEXT,
  UNIQUE (job_id, seq)
);
