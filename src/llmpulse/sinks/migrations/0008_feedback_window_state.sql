-- Feedback whose call is not stored yet is stored at once with window_state 'waiting';
-- once it is in the windows (or counted unjoined) a later row says 'done'.  A worker
-- that takes over the partition (a restart, a rebalance) picks the waiting ones up.
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS window_state LowCardinality(String) DEFAULT 'done';
