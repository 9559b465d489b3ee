-- A job create written down before the (paid, non-idempotent) request is sent: if the process dies or the
-- provider's answer is lost, the poller later finds the job by its tag and records it, so it is neither lost
-- (a paid job nobody watches) nor started twice.
CREATE TABLE job_intents (
  tag TEXT PRIMARY KEY,
  guild_id TEXT NOT NULL,
  provider TEXT NOT NULL,
  -- everything needed to write the jobs row and its job_created notice once the remote job is known
  input TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX job_intents_provider ON job_intents (provider, created_at);
