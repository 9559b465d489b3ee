-- Hosting billed for as long as it runs (a dedicated endpoint on Together or Fireworks), as a costed lifecycle.
-- A model whose hosting classtune stopped is 'asleep' until a teacher wakes it: models is rebuilt because SQLite
-- cannot change a CHECK constraint in place (nothing references models, so the copy keeps every row and id).
CREATE TABLE models_new (
  id INTEGER PRIMARY KEY,
  guild_id TEXT NOT NULL,
  name TEXT NOT NULL,
  provider TEXT NOT NULL,
  base_model TEXT NOT NULL,
  job_id INTEGER REFERENCES jobs (id),
  label TEXT,
  created_at TEXT NOT NULL,
  shutdown_date TEXT,
  serving_status TEXT NOT NULL DEFAULT 'ready'
    CHECK (serving_status IN ('deploying', 'ready', 'failed', 'manual', 'asleep')),
  served_as TEXT,
  deployment_name TEXT,
  deploy_attempt INTEGER NOT NULL DEFAULT 0,
  serving_error TEXT,
  serving_updated_at TEXT,
  UNIQUE (guild_id, name)
);
INSERT INTO models_new (id, guild_id, name, provider, base_model, job_id, label, created_at, shutdown_date,
    serving_status, served_as, deployment_name, deploy_attempt, serving_error, serving_updated_at)
  SELECT id, guild_id, name, provider, base_model, job_id, label, created_at, shutdown_date,
    serving_status, served_as, deployment_name, deploy_attempt, serving_error, serving_updated_at FROM models;
DROP TABLE models;
ALTER TABLE models_new RENAME TO models;
CREATE INDEX models_deploying ON models (provider) WHERE serving_status = 'deploying';
CREATE INDEX models_job ON models (job_id) WHERE job_id IS NOT NULL;

-- One row per deployment classtune asked a billing provider for: the price per hour it was started at (from the
-- catalog or the provider's entry, kept so that a later price change does not rewrite history), when it was
-- requested (billing is counted from then: an honest over-estimate, as providers bill a starting endpoint), when it
-- became ready and was last asked (the idle clock), and when its stop was requested and confirmed by the provider.
-- Minutes and cost are counted up to stopped_at (or now while it runs). The sweep that stops idle and over-budget
-- hosting reads only this table and models, so it picks up where it was after a restart.
CREATE TABLE hosting_sessions (
  id INTEGER PRIMARY KEY,
  guild_id TEXT NOT NULL,
  model_name TEXT NOT NULL,
  provider TEXT NOT NULL,
  deployment_name TEXT NOT NULL,
  hardware TEXT,
  usd_per_hour REAL NOT NULL CHECK (usd_per_hour >= 0),
  price_source TEXT NOT NULL,
  -- a Discord user id, or 'auto' (the provider's entry deploys after every job)
  started_by TEXT NOT NULL,
  started_at TEXT NOT NULL,
  ready_at TEXT,
  last_asked_at TEXT,
  stop_reason TEXT CHECK (stop_reason IN ('teacher', 'idle', 'budget', 'failed', 'gone')),
  stopped_by TEXT,
  stop_requested_at TEXT,
  stop_attempts INTEGER NOT NULL DEFAULT 0,
  stop_error TEXT,
  stopped_at TEXT,
  UNIQUE (provider, deployment_name)
);
CREATE INDEX hosting_open ON hosting_sessions (guild_id) WHERE stopped_at IS NULL;
CREATE INDEX hosting_guild_time ON hosting_sessions (guild_id, started_at);
