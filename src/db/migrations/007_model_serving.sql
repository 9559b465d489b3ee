-- A trained model's serving state, apart from its job's training state: a provider with a deploy step
-- (Nebius, Azure) serves a succeeded job's model only once a deployment is ready. serving_status is
-- 'deploying' | 'ready' | 'failed' | 'manual' (Azure without Resource Manager credentials: a person deploys it);
-- served_as is the id chat completions take once ready (the fine-tuned model itself where serving is immediate,
-- the deployed model's full name on Nebius, the deployment's name on Azure); deployment_name is the
-- deterministic name of the current attempt (providers/deployments.ts), deploy_attempt counts the attempts
-- (/finetune deploy starts another under a new name), serving_error keeps the provider's own words.
-- Rows from before this migration were asked by their name: they are ready, served as their name.
ALTER TABLE models ADD COLUMN serving_status TEXT NOT NULL DEFAULT 'ready'
  CHECK (serving_status IN ('deploying', 'ready', 'failed', 'manual'));
ALTER TABLE models ADD COLUMN served_as TEXT;
ALTER TABLE models ADD COLUMN deployment_name TEXT;
ALTER TABLE models ADD COLUMN deploy_attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE models ADD COLUMN serving_error TEXT;
ALTER TABLE models ADD COLUMN serving_updated_at TEXT;
UPDATE models SET served_as = name, serving_updated_at = created_at;
CREATE INDEX models_deploying ON models (provider) WHERE serving_status = 'deploying';
CREATE INDEX models_job ON models (job_id) WHERE job_id IS NOT NULL;
