-- PostgreSQL twin of src/db/migrations/013_follow_ups.sql.
ALTER TABLE answers ADD COLUMN parent_id bigint REFERENCES answers (id) ON DELETE CASCADE;
ALTER TABLE answers ADD COLUMN turn bigint NOT NULL DEFAULT 1 CHECK (turn >= 1);
CREATE INDEX answers_parent ON answers (parent_id) WHERE parent_id IS NOT NULL;
