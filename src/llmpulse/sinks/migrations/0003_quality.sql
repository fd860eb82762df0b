-- Quality scores (toxicity, groundedness, judge) are signals too; their explanation
-- (which labels fired, which sentences were unsupported) is kept with them.
ALTER TABLE signals ADD COLUMN IF NOT EXISTS explanation String DEFAULT '' CODEC(ZSTD(3));
