-- PostgreSQL twin of src/db/migrations/005_job_intents.sql.
CREATE TABLE job_intents (
  tag text PRIMARY KEY,
  guild_id text NOT NULL,
  provider text NOT NULL,
  input text NOT NULL,
  created_at text NOT NULL
);
CREATE INDEX job_intents_provider ON job_intents (provider, created_at);
