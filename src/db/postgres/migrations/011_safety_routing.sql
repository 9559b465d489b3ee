-- PostgreSQL twin of src/db/migrations/011_safety_routing.sql.
ALTER TABLE guild_settings ADD COLUMN safety_channel_id text;
ALTER TABLE guild_settings ADD COLUMN safety_role_id text;
ALTER TABLE moderation_verdicts ADD COLUMN review_status text CHECK (review_status IN ('reviewed', 'false_alarm'));
ALTER TABLE moderation_verdicts ADD COLUMN reviewed_by text;
ALTER TABLE moderation_verdicts ADD COLUMN reviewed_at text;
