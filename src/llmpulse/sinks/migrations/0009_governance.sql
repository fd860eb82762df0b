-- Data governance (see README, "Data governance").
-- Who did what to the store or to what llmpulse drives (erasures, retraining approvals,
-- dashboard pushes): one row per action, kept for ever.
CREATE TABLE IF NOT EXISTS audit_log
(
    time DateTime64(3, 'UTC'),
    actor String,
    action LowCardinality(String),
    target String,
    details String CODEC(ZSTD(3)),
    outcome LowCardinality(String)
)
ENGINE = MergeTree
ORDER BY time;

-- Subjects erased by `llmpulse erase` (kind: request_id, user_hash or tenant): workers
-- drop rows of them that arrive later (a half waiting in a join, a late response), a
-- request id for good, a user or tenant for the rows dated up to erased_at.  Kept 30
-- days, far longer than any join or feedback wait.
CREATE TABLE IF NOT EXISTS erasures
(
    kind LowCardinality(String),
    value String,
    erased_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(erased_at)
ORDER BY (kind, value)
TTL toDateTime(erased_at) + INTERVAL 30 DAY;

-- The retention TTL last applied to each table or column (LLMPULSE_RETENTION_*), so an
-- unchanged setting does not alter the table again at the next start.
CREATE TABLE IF NOT EXISTS retention_applied
(
    target String,
    clause String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY target;
