-- Issue 14's "every notice is posted exactly once across processes": a process claims the notices it is about to
-- post (src/db/outbox.ts, claim()) and only the holder may mark them posted or failed. `claim_holder` is a process
-- id (a Leadership id or a random one), never a person: it is named so (not claimed_by) because it holds no user id.
-- `claim_expires_at` is ms since the epoch: past it, a crashed holder's notices may be claimed by another process.
ALTER TABLE outbox ADD COLUMN claim_holder TEXT;
ALTER TABLE outbox ADD COLUMN claim_expires_at INTEGER;
-- The claim's lane check: which guilds have a notice held right now (few rows: only those being posted).
CREATE INDEX outbox_claimed ON outbox (guild_id, claim_expires_at) WHERE claim_holder IS NOT NULL;
