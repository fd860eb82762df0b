"""Migrations are safe to run from several processes at once (N workers starting on a
fresh store): every statement is idempotent, and a version is recorded once."""

from __future__ import annotations

import re
from typing import Any

import pytest

from llmpulse.sinks.clickhouse import ClickHouseStore, _statements, migrations


def schema(store: ClickHouseStore) -> list[tuple[Any, ...]]:
    columns = store.query("SELECT table, name, type, default_expression FROM system.columns "
                          "WHERE database = currentDatabase() ORDER BY table, position")
    keys = store.query("SELECT name, engine, sorting_key FROM system.tables "
                       "WHERE database = currentDatabase() ORDER BY name")
    return columns + keys


@pytest.mark.parametrize(("version", "name", "sql"), migrations(), ids=lambda v: str(v)[:40])
def test_every_statement_says_if_not_exists(version: int, name: str, sql: str) -> None:
    for statement in _statements(sql):
        for verb in re.findall(r"\b(CREATE (?:TABLE|VIEW)|ADD COLUMN)\b(?! IF NOT EXISTS)",
                               statement):
            pytest.fail(f"{name}: {verb} without IF NOT EXISTS (another process may have "
                        "run it already)")


def test_every_migration_run_again_on_a_migrated_store_changes_nothing(
        chdb_store: ClickHouseStore) -> None:
    before = schema(chdb_store)
    for _, _, sql in migrations():
        for statement in _statements(sql):
            chdb_store.client.command(statement)
    assert schema(chdb_store) == before


def test_a_process_that_raced_another_one_records_nothing_twice(
        chdb_store: ClickHouseStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """It read the versions before the other process recorded them, ran every migration
    again, and finds them recorded when it would record them."""
    real = chdb_store.applied_migrations
    reads = 0

    def stale_first() -> set[int]:
        nonlocal reads
        reads += 1
        return set() if reads == 1 else real()

    monkeypatch.setattr(chdb_store, "applied_migrations", stale_first)
    before = schema(chdb_store)
    assert chdb_store.migrate() == [version for version, _, _ in migrations()]
    assert schema(chdb_store) == before
    [[rows, versions]] = chdb_store.query(
        "SELECT count(), uniqExact(version) FROM schema_migrations")
    assert rows == versions == len(migrations())
