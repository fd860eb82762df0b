"""Per-column drift tests: Evidently's statistical tests, called directly (no Report).

Default (``significance_and_effect``): a column drifts when the difference is both
*significant* -- Kolmogorov-Smirnov (numeric) or chi-square / Z (categorical, Z for two
values) p-value under the threshold the caller shares out -- and *material* -- Wasserstein
distance normed by the reference std (numeric) or Jensen-Shannon distance (categorical) at
or above Evidently's default 0.1.  The p-value accounts for both sample sizes, so the false
alarm rate holds for small windows; the distance keeps very large windows from alarming on
negligible differences.  ``evidently_defaults`` is Evidently's own choice instead (one test
picked by reference size: p-values up to 1,000 rows, distances above, default thresholds).

Evidently is imported on first use (:mod:`llmpulse.drift._evidently`).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from llmpulse.drift import _evidently as evidently
from llmpulse.drift.outcome import ScoreKind, StatOutcome

ColumnTests = Literal["significance_and_effect", "evidently_defaults"]
P_VALUE_METHODS = frozenset({"ks", "chisquare", "z"})
DISTANCE_METHODS = frozenset({"wasserstein", "jensenshannon"})
#: Numeric columns with at most this many distinct values are tested as categories.
LOW_CARDINALITY = 5
#: A category seen (both sides together) fewer times than this, or under this share of the
#: rows, is pooled with the other rare ones; a pool that is itself that rare is left out.
#: Chi-square is unreliable on tiny expected counts, and a value seen twice in the current
#: window only must not read as "a new category appeared".
MIN_CATEGORY_COUNT = 30
MIN_CATEGORY_SHARE = 0.02
RARE = "(rare)"


def pool_rare(reference: np.ndarray, current: np.ndarray) -> tuple[pd.Series, pd.Series]:
    ref, cur = pd.Series(reference, dtype=object), pd.Series(current, dtype=object)
    counts = pd.concat([ref, cur]).value_counts()
    floor = max(MIN_CATEGORY_COUNT, MIN_CATEGORY_SHARE * (len(ref) + len(cur)))
    rare = set(counts.index[counts < floor])
    if not rare:
        return ref, cur
    ref, cur = ref.where(~ref.isin(rare), RARE), cur.where(~cur.isin(rare), RARE)
    if int(counts[list(rare)].sum()) < floor:
        ref, cur = ref[ref != RARE], cur[cur != RARE]
    return ref.reset_index(drop=True), cur.reset_index(drop=True)


def _as_series(reference: np.ndarray, current: np.ndarray, kind: str, pool: bool
               ) -> tuple[pd.Series, pd.Series, str]:
    distinct = len(np.unique(np.concatenate([reference, current])))
    if kind == "numeric" and distinct > LOW_CARDINALITY:
        return (pd.Series(reference, dtype=np.float64), pd.Series(current, dtype=np.float64),
                "num")
    if kind == "numeric":
        reference, current = reference.astype(str), current.astype(str)
    if pool:
        ref, cur = pool_rare(reference, current)
        return ref, cur, "cat"
    return pd.Series(reference, dtype=object), pd.Series(current, dtype=object), "cat"


def _run(stattest: Any, ref: pd.Series, cur: pd.Series, column_type: Any,
         p_threshold: float | None) -> StatOutcome:
    score_kind: ScoreKind
    if stattest.name in P_VALUE_METHODS:
        score_kind = "p_value"
        threshold = p_threshold if p_threshold is not None else stattest.default_threshold
    elif stattest.name in DISTANCE_METHODS:
        score_kind, threshold = "distance", stattest.default_threshold
    else:
        raise ValueError(f"unexpected Evidently stattest {stattest.name!r}")
    with np.errstate(divide="ignore", invalid="ignore"):  # a new category: chi-square is inf
        result = stattest(ref, cur, column_type, float(threshold))
    return StatOutcome(stattest.name, score_kind, float(result.drift_score), float(threshold),
                       bool(result.drifted))


def column_tests(reference: np.ndarray, current: np.ndarray,
                 kind: Literal["numeric", "categorical"], p_threshold: float,
                 mode: ColumnTests = "significance_and_effect") -> tuple[StatOutcome, ...]:
    """The column's tests; it drifts when all of them say so."""
    ref, cur, type_code = _as_series(reference, current, kind,
                                     pool=mode == "significance_and_effect")
    if ref.empty or cur.empty:  # everything was a rare category
        return (StatOutcome("none", "p_value", 1.0, p_threshold, False),)
    column_type = evidently.column_type(type_code)
    if mode == "evidently_defaults":
        return (_run(evidently.get_stattest(ref, cur, type_code, None), ref, cur, column_type,
                     None),)
    if type_code == "num":
        names = ("ks", "wasserstein")
    else:
        names = ("chisquare" if pd.concat([ref, cur]).nunique() > 2 else "z", "jensenshannon")
    return tuple(_run(evidently.get_stattest(ref, cur, type_code, name), ref, cur, column_type,
                      p_threshold) for name in names)
