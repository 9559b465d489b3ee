-- PostgreSQL twin of src/db/migrations/016_withheld_answers.sql.
ALTER TABLE answers ADD COLUMN withheld bigint NOT NULL DEFAULT 0 CHECK (withheld IN (0, 1));
UPDATE answers SET withheld = 1 WHERE moderation = 'flagged';
