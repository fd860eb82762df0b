-- Window aggregates per (width, group, start), computed from the stored calls
-- once a window has closed; recomputing a window replaces it.  route/tenant
-- '*' is the model overall.
CREATE TABLE IF NOT EXISTS windows
(
    width_s UInt32,
    start DateTime('UTC'),
    model LowCardinality(String),
    route LowCardinality(String),
    tenant LowCardinality(String),
    calls UInt64,
    errors UInt64,
    timeouts UInt64,
    finish_length UInt64,
    finish_content_filter UInt64,
    tokens_in UInt64,
    tokens_out UInt64,
    cost_usd Float64,
    unpriced UInt64,
    duration_p50 Nullable(Float64),
    duration_p95 Nullable(Float64),
    duration_p99 Nullable(Float64),
    ttft_p50 Nullable(Float64),
    ttft_p95 Nullable(Float64),
    ttft_p99 Nullable(Float64),
    tpot_p50 Nullable(Float64),
    tpot_p95 Nullable(Float64),
    tpot_p99 Nullable(Float64),
    computed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(start)
ORDER BY (width_s, model, route, tenant, start);

-- The current state of every (rule, group) the engine has evaluated.
CREATE TABLE IF NOT EXISTS alert_state
(
    dedup_key String,
    rule LowCardinality(String),
    severity LowCardinality(String),
    model LowCardinality(String),
    route LowCardinality(String),
    tenant LowCardinality(String),
    state LowCardinality(String),
    value Nullable(Float64),
    threshold Nullable(Float64),
    since DateTime64(3, 'UTC'),
    updated DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated)
ORDER BY dedup_key;

-- Every notification and how each channel took it; the whole message is kept.
CREATE TABLE IF NOT EXISTS alert_notifications
(
    id String,
    channel LowCardinality(String),
    dedup_key String,
    kind LowCardinality(String),
    state LowCardinality(String),
    rule LowCardinality(String),
    severity LowCardinality(String),
    summary String,
    value Nullable(Float64),
    threshold Nullable(Float64),
    time DateTime64(3, 'UTC'),
    ok UInt8,
    attempts UInt16,
    http_status Nullable(UInt16),
    error String,
    message String,
    delivered_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(delivered_at)
PARTITION BY toYYYYMM(time)
ORDER BY (id, channel);
