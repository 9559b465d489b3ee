-- PostgreSQL twin of src/db/migrations/010_privacy.sql.
CREATE TABLE usage_daily (
  guild_id text NOT NULL,
  day text NOT NULL,
  model text NOT NULL,
  provider text NOT NULL,
  questions bigint NOT NULL DEFAULT 0,
  errors bigint NOT NULL DEFAULT 0,
  cache_hits bigint NOT NULL DEFAULT 0,
  prompt_tokens bigint NOT NULL DEFAULT 0,
  completion_tokens bigint NOT NULL DEFAULT 0,
  cost_usd double precision NOT NULL DEFAULT 0,
  PRIMARY KEY (guild_id, day, model, provider)
);

CREATE TABLE usage_daily_errors (
  guild_id text NOT NULL,
  day text NOT NULL,
  code text NOT NULL,
  count bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (guild_id, day, code)
);

CREATE TABLE dataset_exports (
  dataset_id bigint NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
  guild_id text NOT NULL,
  line bigint NOT NULL,
  student_id text NOT NULL,
  exported_by text NOT NULL,
  created_at text NOT NULL,
  PRIMARY KEY (dataset_id, line)
);
CREATE INDEX dataset_exports_student ON dataset_exports (guild_id, student_id);

CREATE TABLE guild_departures (
  guild_id text PRIMARY KEY,
  left_at text NOT NULL,
  delete_after text NOT NULL
);

CREATE TABLE privacy_sweeps (
  name text PRIMARY KEY,
  last_run_at text NOT NULL,
  last_result text
);
