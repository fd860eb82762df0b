-- Canary verdicts: one row per verdict id (the idempotency key on llm.releases); a later
-- row (the rollback webhook reached after all) replaces the earlier one.
CREATE TABLE IF NOT EXISTS release_verdicts
(
    id String,
    version UInt64,
    canary LowCardinality(String),
    model String,
    route String,
    selector LowCardinality(String),
    baseline String,
    candidate String,
    verdict LowCardinality(String),
    expired UInt8,
    reason String,
    started_at DateTime64(3, 'UTC'),
    created_at DateTime64(3, 'UTC'),
    forward_failed Array(String),
    forward_attempts UInt16,
    next_forward_at Nullable(DateTime64(3, 'UTC')),
    payload String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id;
