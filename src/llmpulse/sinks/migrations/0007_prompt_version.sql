-- Prompt version is a group dimension ('*' where not grouped on), in the stored windows,
-- the alert states and the retraining triggers.  A windows row is one per sorting key,
-- so the new column joins the key; ClickHouse allows that only for a column added by the
-- same statement without a default, so windows stored before this migration read ''.
-- IF NOT EXISTS: two processes may run a migration at once (every statement is
-- idempotent); the second finds the column there and the same sorting key, a no-op.
ALTER TABLE windows
    ADD COLUMN IF NOT EXISTS prompt_version LowCardinality(String),
    MODIFY ORDER BY (width_s, model, route, tenant, start, prompt_version);

ALTER TABLE alert_state ADD COLUMN IF NOT EXISTS prompt_version LowCardinality(String) DEFAULT '*';

ALTER TABLE retrain_triggers ADD COLUMN IF NOT EXISTS prompt_version LowCardinality(String) DEFAULT '*';
