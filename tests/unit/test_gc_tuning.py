"""The worker's collector settings (process-wide: restored after the test)."""

from __future__ import annotations

import gc

from llmpulse.gc_tuning import YOUNG_THRESHOLD, tune_for_throughput


def test_start_up_heap_frozen_and_young_threshold_raised() -> None:
    before = gc.get_threshold()
    try:
        tune_for_throughput()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2])
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
