"""Sinks: where records, signals and feedback go (ClickHouse, Prometheus, DLQ)."""
