"""Evidently, imported once on first use (it takes seconds) without its import-time
deprecation warnings (numpy.core, litestar), which are Evidently's business, not ours."""

from __future__ import annotations

import warnings
from functools import cache
from typing import Any


@cache
def _modules() -> tuple[Any, Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from evidently.legacy.calculations import stattests
        from evidently.legacy.core import ColumnType
        from evidently.legacy.metrics.data_drift import embedding_drift_methods
    return stattests, ColumnType, embedding_drift_methods


def load() -> None:
    """Import Evidently now (with scikit-learn, SciPy and pandas behind it)."""
    _modules()


def get_stattest(reference: Any, current: Any, column_type: str, name: str | None) -> Any:
    """Evidently's StatTest ``name`` for the column (``None``: Evidently's default choice);
    ``column_type`` is ``"num"`` or ``"cat"``."""
    stattests, column_types, _ = _modules()
    return stattests.get_stattest(reference, current, column_types(column_type), name)


def column_type(code: str) -> Any:
    return _modules()[1](code)


def embedding_methods() -> Any:
    """``evidently.legacy.metrics.data_drift.embedding_drift_methods``."""
    return _modules()[2]
