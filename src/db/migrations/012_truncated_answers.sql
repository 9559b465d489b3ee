-- Issue 13's honest length: an answer the model stopped at max_tokens (finish_reason "length") is counted, per
-- question and in the anonymous daily totals, so /usage shows a teacher when a channel's max-tokens is too low.
ALTER TABLE ask_usage ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0;
