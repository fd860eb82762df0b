-- One row per LLM call. ReplacingMergeTree keyed by request_id: a redelivered or
-- replayed call replaces itself; the most complete version (rank) wins.
CREATE TABLE IF NOT EXISTS inference_events
(
    request_id String,
    call_time DateTime64(6, 'UTC'),
    join_status LowCardinality(String),
    version UInt64,
    provider LowCardinality(String),
    request_model LowCardinality(String),
    response_model LowCardinality(String),
    model LowCardinality(String),
    operation LowCardinality(String),
    tenant LowCardinality(String),
    route LowCardinality(String),
    environment LowCardinality(String),
    start_time Nullable(DateTime64(6, 'UTC')),
    end_time Nullable(DateTime64(6, 'UTC')),
    duration_s Nullable(Float64),
    ttft_s Nullable(Float64),
    tpot_s Nullable(Float64),
    input_tokens Nullable(UInt64),
    output_tokens Nullable(UInt64),
    cache_read_tokens UInt64,
    cache_creation_tokens UInt64,
    reasoning_tokens UInt64,
    finish_reasons Array(LowCardinality(String)),
    error_type LowCardinality(String),
    is_error UInt8,
    cost_usd Nullable(Float64),
    cost_source LowCardinality(String),
    price_version LowCardinality(String),
    response_id String,
    conversation_id String,
    server_address String,
    prompt_template_id LowCardinality(String),
    prompt_template_version LowCardinality(String),
    model_version LowCardinality(String),
    user_hash String,
    system_instructions String TTL toDateTime(call_time) + INTERVAL 30 DAY,
    input_messages String TTL toDateTime(call_time) + INTERVAL 30 DAY,
    output_messages String TTL toDateTime(call_time) + INTERVAL 30 DAY,
    context_documents String TTL toDateTime(call_time) + INTERVAL 30 DAY,
    ingested_at DateTime64(3, 'UTC'),
    INDEX idx_model model TYPE set(256) GRANULARITY 4,
    INDEX idx_route route TYPE set(256) GRANULARITY 4,
    INDEX idx_time call_time TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(call_time)
ORDER BY request_id;

-- Signals in long form, one row per (call, signal name); the version of the call's
-- row wins, so a late-joined call's signals replace those of its lone half.
CREATE TABLE IF NOT EXISTS signals
(
    time DateTime64(6, 'UTC'),
    version UInt64,
    name LowCardinality(String),
    value Float64,
    label LowCardinality(String),
    request_id String,
    provider LowCardinality(String),
    model LowCardinality(String),
    route LowCardinality(String),
    tenant LowCardinality(String),
    detector LowCardinality(String),
    source LowCardinality(String),
    ingested_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(time)
ORDER BY (name, request_id);

CREATE TABLE IF NOT EXISTS feedback
(
    feedback_id String,
    request_id String,
    time DateTime64(6, 'UTC'),
    thumbs LowCardinality(String),
    rating Nullable(UInt8),
    correction String,
    flags Array(LowCardinality(String)),
    comment String,
    given_by LowCardinality(String),
    user_hash String,
    ingested_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(time)
ORDER BY feedback_id;
