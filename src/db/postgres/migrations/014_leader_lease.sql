-- PostgreSQL twin of src/db/migrations/014_leader_lease.sql (ms since the epoch fit bigint, and a JS number).
CREATE TABLE leader_lease (
  name text PRIMARY KEY,
  holder text NOT NULL,
  acquired_at bigint NOT NULL,
  renewed_at bigint NOT NULL,
  expires_at bigint NOT NULL
);
