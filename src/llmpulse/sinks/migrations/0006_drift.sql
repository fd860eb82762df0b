-- A pinned drift reference per model (`llmpulse drift baseline set`); the latest wins.
CREATE TABLE IF NOT EXISTS drift_baselines
(
    model String,
    start DateTime64(6, 'UTC'),
    end DateTime64(6, 'UTC'),
    set_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(set_at)
ORDER BY model;
