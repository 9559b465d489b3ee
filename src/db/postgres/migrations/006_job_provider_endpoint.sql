-- PostgreSQL twin of src/db/migrations/006_job_provider_endpoint.sql.
ALTER TABLE jobs ADD COLUMN provider_kind text;
ALTER TABLE jobs ADD COLUMN provider_endpoint text;
ALTER TABLE job_intents ADD COLUMN provider_kind text;
ALTER TABLE job_intents ADD COLUMN provider_endpoint text;
