-- An explanation can quote the answer (the unsupported sentences), so it expires
-- with the message bodies: 30 days after the call.
ALTER TABLE signals MODIFY COLUMN explanation String DEFAULT '' TTL toDateTime(time) + INTERVAL 30 DAY CODEC(ZSTD(3));
