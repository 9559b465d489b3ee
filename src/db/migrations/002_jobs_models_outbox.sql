-- Fine-tuning jobs, the guild's registered models, the loss points behind the loss chart, and the
-- outbox of notices to post (written in the same transaction as the change they announce).
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY,
  -- classtune's own id for the job, sent as metadata.classtune_job_id: finds an ambiguous create again
  tag TEXT NOT NULL UNIQUE,
  guild_id TEXT NOT NULL,
  provider TEXT NOT NULL,
  remote_id TEXT NOT NULL,
  dataset_id INTEGER NOT NULL REFERENCES datasets (id),
  requester_id TEXT NOT NULL,
  base_model TEXT NOT NULL,
  suffix TEXT,
  hyperparameters TEXT NOT NULL,
  training_file_id TEXT NOT NULL,
  status TEXT NOT NULL,
  raw_status TEXT NOT NULL,
  fine_tuned_model TEXT,
  trained_tokens INTEGER,
  error_code TEXT,
  error_message TEXT,
  -- newest provider event already read (events come newest first)
  last_event_id TEXT,
  last_events_at TEXT,
  -- {"step":12,"totalSteps":120,"loss":1.23}
  progress TEXT,
  -- what the provider's job object looked like last tick: a change triggers an events fetch
  remote_fingerprint TEXT,
  estimated_cost_usd REAL,
  notify_channel_id TEXT,
  -- held-out [{question, expected}] asked of the finished model
  test_questions TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  updated_at TEXT NOT NULL,
  UNIQUE (provider, remote_id)
);
CREATE INDEX jobs_guild ON jobs (guild_id, id DESC);
CREATE INDEX jobs_active ON jobs (provider, status) WHERE status NOT IN ('succeeded', 'failed', 'cancelled');

-- One row per training step with metrics (from the provider's metrics events): the loss chart.
CREATE TABLE job_metrics (
  job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  train_loss REAL,
  valid_loss REAL,
  train_accuracy REAL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (job_id, step)
);

CREATE TABLE models (
  id INTEGER PRIMARY KEY,
  guild_id TEXT NOT NULL,
  name TEXT NOT NULL,
  provider TEXT NOT NULL,
  base_model TEXT NOT NULL,
  job_id INTEGER REFERENCES jobs (id),
  label TEXT,
  created_at TEXT NOT NULL,
  shutdown_date TEXT,
  UNIQUE (guild_id, name)
);

CREATE TABLE outbox (
  id INTEGER PRIMARY KEY,
  guild_id TEXT NOT NULL,
  channel_id TEXT,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL,
  -- e.g. job:12:succeeded; a notice can never be enqueued twice
  dedupe_key TEXT NOT NULL UNIQUE,
  -- bumped when a notice is updated in place (progress): a posted one is then edited
  revision INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  posted_at TEXT,
  message_id TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT
);
CREATE INDEX outbox_pending ON outbox (id) WHERE posted_at IS NULL;
