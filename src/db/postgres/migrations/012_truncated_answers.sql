-- PostgreSQL twin of src/db/migrations/012_truncated_answers.sql.
ALTER TABLE ask_usage ADD COLUMN truncated bigint NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN truncated bigint NOT NULL DEFAULT 0;
