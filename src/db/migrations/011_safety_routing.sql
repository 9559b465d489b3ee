-- Issue 12's routing of severe alerts and the teachers' review of each alert. safety_channel_id: where a severe
-- alert is posted as well as the teachers' channel (a channel of this guild, set by a server admin);
-- safety_role_id: the only role classtune may ever ping, and only on a severe alert. review_status on a verdict:
-- what a teacher said of its alert ('reviewed' or 'false_alarm'), by whom and when.
ALTER TABLE guild_settings ADD COLUMN safety_channel_id TEXT;
ALTER TABLE guild_settings ADD COLUMN safety_role_id TEXT;
ALTER TABLE moderation_verdicts ADD COLUMN review_status TEXT CHECK (review_status IN ('reviewed', 'false_alarm'));
ALTER TABLE moderation_verdicts ADD COLUMN reviewed_by TEXT;
ALTER TABLE moderation_verdicts ADD COLUMN reviewed_at TEXT;
