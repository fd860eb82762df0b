-- Canary verdicts: one row per verdict id (the idempotency key on llm.releases).
CREATE TABLE IF NOT EXISTS release_verdicts
(
    id String,
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
    payload String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree(created_at)
ORDER BY id;
