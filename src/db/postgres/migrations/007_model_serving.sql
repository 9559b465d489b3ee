-- PostgreSQL twin of src/db/migrations/007_model_serving.sql. The CHECK is named so that 008 can replace it.
ALTER TABLE models ADD COLUMN serving_status text NOT NULL DEFAULT 'ready'
  CONSTRAINT models_serving_status_check CHECK (serving_status IN ('deploying', 'ready', 'failed', 'manual'));
ALTER TABLE models ADD COLUMN served_as text;
ALTER TABLE models ADD COLUMN deployment_name text;
ALTER TABLE models ADD COLUMN deploy_attempt bigint NOT NULL DEFAULT 0;
ALTER TABLE models ADD COLUMN serving_error text;
ALTER TABLE models ADD COLUMN serving_updated_at text;
UPDATE models SET served_as = name, serving_updated_at = created_at;
CREATE INDEX models_deploying ON models (provider) WHERE serving_status = 'deploying';
CREATE INDEX models_job ON models (job_id) WHERE job_id IS NOT NULL;
