-- Issue 14's one poller leader: a named lease (one row per name; classtune uses "scheduler") held by one process
-- until `expires_at` (ms since the epoch), renewed by its holder and taken over by another once it has expired.
-- Written only inside BEGIN IMMEDIATE transactions (src/db/leaderLease.ts), so two processes never both win it.
CREATE TABLE leader_lease (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  acquired_at INTEGER NOT NULL,
  renewed_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
