-- Which host each job (and each pending create) was sent to, beside the provider's configured name: its kind
-- ("openai", "nebius", …) and its endpoint (the API's base URL, or "sandbox:embedded"; never a key). A job
-- whose name is no longer configured (PROVIDER_NAME changed) is matched to the configured provider with the
-- same endpoint and re-pointed to its name (src/finetuning/providerNames.ts). NULL for rows written before this
-- migration: filled in from the configuration the first time a process that knows their name runs.
ALTER TABLE jobs ADD COLUMN provider_kind TEXT;
ALTER TABLE jobs ADD COLUMN provider_endpoint TEXT;
ALTER TABLE job_intents ADD COLUMN provider_kind TEXT;
ALTER TABLE job_intents ADD COLUMN provider_endpoint TEXT;
