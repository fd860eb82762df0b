"""The alert state machine, step by step with an injected clock."""

from __future__ import annotations

from collections.abc import Sequence

from llmpulse.alerting.state import (
    AlertPolicy,
    AlertState,
    AlertStateMachine,
    AlertStatus,
    Evaluation,
    dedup_key,
)

KEY = dedup_key("p95_latency", {"model": "gpt-4o", "route": "chat"})


def ev(t: float, value: float, *, breach: bool | None = None, clear: bool | None = None,
       threshold: float = 2.0, clear_below: float = 1.5) -> Evaluation:
    return Evaluation(t, value, value > threshold if breach is None else breach,
                      value < clear_below if clear is None else clear)


def run(policy: AlertPolicy, steps: Sequence[tuple[float, float | None]]
        ) -> tuple[AlertStatus, list[tuple[float, str]], list[AlertState]]:
    machine = AlertStateMachine(policy, KEY)
    status = AlertStatus()
    sent: list[tuple[float, str]] = []
    states: list[AlertState] = []
    for t, value in steps:
        status, note = machine.step(status, None if value is None else ev(t, value), t)
        states.append(status.state)
        if note is not None:
            assert note.dedup_key == KEY
            sent.append((t, note.kind))
    return status, sent, states


def test_dedup_key_is_stable_and_order_free() -> None:
    assert dedup_key("p95_latency", {"route": "chat", "model": "gpt-4o"}) == KEY
    assert dedup_key("p95_latency", {"model": "gpt-4o", "route": "rag"}) != KEY


def test_fires_after_for_and_resolves_after_resolve_for() -> None:
    policy = AlertPolicy(for_s=120, resolve_for_s=60)
    _, sent, states = run(policy, [(0, 3), (60, 3), (120, 3), (180, 1), (240, 1), (300, 1)])
    assert states == [AlertState.PENDING, AlertState.PENDING, AlertState.FIRING,
                      AlertState.FIRING, AlertState.RESOLVED, AlertState.RESOLVED]
    assert sent == [(120, "trigger"), (240, "resolve")]


def test_pending_that_clears_never_pages() -> None:
    _, sent, states = run(AlertPolicy(for_s=120), [(0, 3), (60, 1), (120, 3), (180, 1)])
    assert sent == [] and states[-1] is AlertState.OK


def test_hysteresis_band_keeps_the_state() -> None:
    # 1.8 is neither a breach (> 2) nor clear (< 1.5)
    _, sent, states = run(AlertPolicy(), [(0, 3), (60, 1.8), (120, 1.8), (180, 1.4)])
    assert states == [AlertState.FIRING, AlertState.FIRING, AlertState.FIRING,
                      AlertState.RESOLVED]
    assert sent == [(0, "trigger"), (180, "resolve")]


def test_breach_during_resolve_wait_restarts_it() -> None:
    policy = AlertPolicy(resolve_for_s=120)
    _, sent, _ = run(policy, [(0, 3), (60, 1), (120, 3), (180, 1), (240, 1), (300, 1)])
    assert sent == [(0, "trigger"), (300, "resolve")]


def test_renotify_while_firing() -> None:
    _, sent, _ = run(AlertPolicy(renotify_s=600),
                     [(t, 3) for t in range(0, 1300, 100)] + [(1300, 1)])
    assert sent == [(0, "trigger"), (600, "renotify"), (1200, "renotify"), (1300, "resolve")]


def test_no_data_policies() -> None:
    keep = run(AlertPolicy(no_data="keep"), [(0, 3), (60, None), (120, None)])
    assert keep[2][-1] is AlertState.FIRING and keep[1] == [(0, "trigger")]
    as_ok = run(AlertPolicy(no_data="ok"), [(0, 3), (60, None)])
    assert as_ok[1] == [(0, "trigger"), (60, "resolve")]
    as_alert = run(AlertPolicy(no_data="alert", for_s=60), [(0, None), (60, None)])
    assert as_alert[1] == [(60, "trigger")]


def test_stale_data_counts_as_no_data() -> None:
    machine = AlertStateMachine(AlertPolicy(no_data="ok", stale_after_s=100), KEY)
    status, note = machine.step(AlertStatus(), ev(0, 3), 0)
    assert note is not None and note.kind == "trigger"
    status, note = machine.step(status, ev(0, 3), 500)  # the same old window again
    assert status.state is AlertState.RESOLVED and note is not None and note.kind == "resolve"


def test_flapping_pauses_notifications_then_reconciles() -> None:
    policy = AlertPolicy(flap_window_s=1000, flap_max=4)
    flips = [(t, 3 if (t // 10) % 2 == 0 else 1) for t in range(0, 100, 10)]
    status, sent, _ = run(policy, flips)
    # the 4th change (t=30) makes it flap: from then on nothing is sent
    assert sent == [(0, "trigger"), (10, "resolve"), (20, "trigger")]
    assert status.flapping and status.state is AlertState.RESOLVED and status.told == "firing"
    machine = AlertStateMachine(policy, KEY)
    quiet, note = machine.step(status, ev(2000, 1), 2000)  # long quiet: no longer flapping
    assert not quiet.flapping
    assert note is not None and note.kind == "resolve"  # receivers learn it is over


def test_restart_with_persisted_status_neither_repages_nor_forgets_resolve() -> None:
    machine = AlertStateMachine(AlertPolicy(), KEY)
    status, note = machine.step(AlertStatus(), ev(0, 3), 0)
    assert note is not None and note.kind == "trigger"
    restored = AlertStatus(**{f: getattr(status, f) for f in AlertStatus.__dataclass_fields__})
    again = AlertStateMachine(AlertPolicy(), KEY)  # a new process
    status, note = again.step(restored, ev(60, 3), 60)
    assert note is None
    status, note = again.step(status, ev(120, 1), 120)
    assert note is not None and note.kind == "resolve"
