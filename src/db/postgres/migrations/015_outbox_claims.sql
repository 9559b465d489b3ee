-- PostgreSQL twin of src/db/migrations/015_outbox_claims.sql.
ALTER TABLE outbox ADD COLUMN claim_holder text;
ALTER TABLE outbox ADD COLUMN claim_expires_at bigint;
CREATE INDEX outbox_claimed ON outbox (guild_id, claim_expires_at) WHERE claim_holder IS NOT NULL;
