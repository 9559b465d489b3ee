-- Together-style dedicated endpoints (POST /v1/endpoints): a fine-tuned model served on its own hardware, billed
-- (by Together) for as long as it runs. The state is derived from the clock: the latest start or stop request
-- (phase, phase_at_ms) moves it PENDING -> STARTING -> STARTED (or ERROR, when a failure was planned) by
-- pending_until_ms and settles_at_ms, or STOPPING -> STOPPED by settles_at_ms.
CREATE TABLE sandbox_endpoints (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL,
  model TEXT NOT NULL,
  hardware TEXT NOT NULL,
  min_replicas INTEGER NOT NULL,
  max_replicas INTEGER NOT NULL,
  created_at_ms INTEGER NOT NULL,
  phase TEXT NOT NULL CHECK (phase IN ('start', 'stop')),
  phase_at_ms INTEGER NOT NULL,
  pending_until_ms INTEGER,
  settles_at_ms INTEGER NOT NULL,
  planned_error INTEGER NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0
);
