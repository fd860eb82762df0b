from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llmpulse.config import load_settings
from llmpulse.governance.guard import ErasureGuard
from llmpulse.sinks.clickhouse import ClickHouseStore

TABLES = ("inference_events", "signals", "feedback", "windows", "alert_state",
          "alert_notifications", "retrain_triggers", "drift_baselines", "erasures", "audit_log",
          "release_verdicts")


@pytest.fixture(scope="session")
def chdb_store(tmp_path_factory: pytest.TempPathFactory) -> ClickHouseStore:
    """One embedded store per test process (chdb allows one path per process)."""
    path: Path = tmp_path_factory.mktemp("chdb") / "store"
    return ClickHouseStore.open(load_settings({"LLMPULSE_CLICKHOUSE_URL": f"chdb://{path}"}))


@pytest.fixture
def store(chdb_store: ClickHouseStore) -> Iterator[ClickHouseStore]:
    for table in TABLES:
        chdb_store.client.command(f"TRUNCATE TABLE {table}")
    chdb_store.guard = ErasureGuard(chdb_store.query)  # forget erasures read earlier
    yield chdb_store
