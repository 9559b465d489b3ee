-- Nebius-style custom models (POST /v0/models): a LoRA checkpoint of a succeeded open-model job, deployed
-- under a short name and served under its full name. Status is derived from the clock: validating until
-- ready_at_ms, then active (or error, when a failure was planned).
CREATE TABLE sandbox_deployments (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  full_name TEXT NOT NULL UNIQUE,
  base_model TEXT NOT NULL,
  source TEXT NOT NULL,
  job_id TEXT NOT NULL REFERENCES sandbox_jobs (id),
  checkpoint_id TEXT NOT NULL,
  description TEXT,
  created_at_ms INTEGER NOT NULL,
  ready_at_ms INTEGER NOT NULL,
  planned_error TEXT,
  deleted INTEGER NOT NULL DEFAULT 0
);
