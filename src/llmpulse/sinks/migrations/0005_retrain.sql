-- Retraining triggers: one row per trigger id (the idempotency key on llm.retrain);
-- a later status (approved) replaces the earlier one.
CREATE TABLE IF NOT EXISTS retrain_triggers
(
    id String,
    version UInt64,
    status LowCardinality(String),
    policy LowCardinality(String),
    model LowCardinality(String),
    route LowCardinality(String),
    tenant LowCardinality(String),
    created_at DateTime64(3, 'UTC'),
    window_start DateTime64(3, 'UTC'),
    window_end DateTime64(3, 'UTC'),
    reason String,
    evidence Array(String),
    dataset_query String,
    approved_by String,
    payload String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id;

-- Corrections are candidate training pairs: the prompt, the answer users rejected,
-- and the answer they gave instead.
CREATE VIEW IF NOT EXISTS training_pairs AS
SELECT f.feedback_id AS feedback_id, f.request_id AS request_id, f.time AS corrected_at,
       e.request_model AS model, e.route AS route, e.prompt_template_id AS prompt_template_id,
       e.prompt_template_version AS prompt_template_version,
       e.input_messages AS prompt, e.output_messages AS bad_answer, f.correction AS corrected_answer
FROM (SELECT * FROM feedback FINAL WHERE correction != '') AS f
INNER JOIN (SELECT * FROM inference_events FINAL) AS e ON e.request_id = f.request_id;
