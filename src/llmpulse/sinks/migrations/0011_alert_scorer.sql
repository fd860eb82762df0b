-- The scorer version whose scores a quality rule's last value is of (a rule evaluates
-- each scorer version on its own: two versions' scores are never mixed in one value);
-- '' for rules on other metrics, budgets, canaries and states stored before.
ALTER TABLE alert_state ADD COLUMN IF NOT EXISTS scorer LowCardinality(String) DEFAULT '';
