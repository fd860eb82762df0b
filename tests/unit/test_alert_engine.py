"""The rule engine on partial aggregates: fire, resolve, baselines, restart, evidence."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from llmpulse.alerting.budget_alerts import BudgetWatch
from llmpulse.alerting.engine import AlertEngine, RuleStatus
from llmpulse.alerting.message import AlertMessage
from llmpulse.alerting.rules import parse_rules
from llmpulse.budgets import Budget
from llmpulse.budgets import evaluate as evaluate_budget
from llmpulse.records import InferenceRecord
from llmpulse.windows import GroupKey, fold

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
RULES = """
rules:
  - name: slow
    metric: duration_p95
    group_by: [model, route]
    window: 10s
    threshold: 2.0
    clear_threshold: 1.5
    min_count: 5
    severity: critical
  - name: spend
    metric: cost_usd
    group_by: [tenant]
    window: 10s
    baseline: {method: ewma, windows: 10, min_windows: 4, factor: 3}
    min_count: 5
"""


def call(i: int, at: float, duration: float = 0.5, route: str = "chat",
         tenant: str = "acme") -> InferenceRecord:
    start = T0 + timedelta(seconds=at - duration)
    return InferenceRecord(
        request_id=f"r{i}", join_status="inference", provider="openai",
        request_model="gpt-4o", response_model=None, operation="chat", start_time=start,
        end_time=start + timedelta(seconds=duration), input_tokens=100, output_tokens=10,
        route=route, tenant=tenant)


class Engine:
    """An engine fed second by second; ``now`` follows event time."""

    def __init__(self, store: dict[str, Any] | None = None) -> None:
        self.rules = parse_rules(RULES, "test")
        self.store: dict[str, Any] = store if store is not None else {}
        self.engine = AlertEngine(self.rules, pane_s=5, lateness_s=0, store=self.store)
        self.i = 0
        self.sent: list[AlertMessage] = []

    def second(self, at: float, n: int = 10, cost: float = 0.01, **kw: Any) -> None:
        calls = []
        for _ in range(n):
            self.i += 1
            calls.append((call(self.i, at, **kw), cost))
        self.engine.add((g, p, a) for (g, p), a in
                        fold(calls, [("model", "route"), ("tenant",)], 5).items())
        messages, _ = self.engine.evaluate(T0.timestamp() + at)
        self.sent.extend(messages)
        self.store.update(self.engine.take_changes())

    def kinds(self, rule: str) -> list[tuple[str, dict[str, str]]]:
        return [(m.kind, m.group) for m in self.sent if m.rule == rule]


def test_latency_spike_on_one_route_fires_for_that_route_and_resolves() -> None:
    e = Engine()
    for t in range(1, 21):
        e.second(t, route="chat")
        e.second(t, route="search")
    for t in range(21, 31):
        e.second(t, route="chat", duration=5.0)
        e.second(t, route="search")
    assert e.kinds("slow") == [("trigger", {"model": "gpt-4o", "route": "chat"})]
    trigger = e.sent[0]
    assert trigger.value is not None and trigger.value > 2.0 and trigger.threshold == 2.0
    assert trigger.severity == "critical" and trigger.count >= 5
    assert {ev.request_id for ev in trigger.evidence} <= {f"r{i}" for i in range(1, e.i + 1)}
    assert all((ev.value or 0) >= 4.9 for ev in trigger.evidence)  # the slow calls
    assert all(ev.detail.startswith("duration ") for ev in trigger.evidence)  # says what
    for t in range(31, 51):
        e.second(t, route="chat")
        e.second(t, route="search")
    assert e.kinds("slow") == [("trigger", {"model": "gpt-4o", "route": "chat"}),
                               ("resolve", {"model": "gpt-4o", "route": "chat"})]
    assert e.sent[-1].state == "resolved" and e.sent[-1].dedup_key == trigger.dedup_key


def test_tenant_spending_three_times_its_baseline_fires_without_a_threshold() -> None:
    e = Engine()
    for t in range(1, 121):  # 12 windows of steady spend: learnt, nothing fires
        e.second(t, cost=0.01, tenant="acme")
        e.second(t, cost=0.01, tenant="globex")
    assert e.kinds("spend") == []
    for t in range(121, 141):
        e.second(t, cost=0.04, tenant="acme")  # 4x the usual for acme
        e.second(t, cost=0.01, tenant="globex")
    assert e.kinds("spend") == [("trigger", {"tenant": "acme"})]
    fired = next(m for m in e.sent if m.rule == "spend")
    assert fired.baseline is not None and abs(fired.baseline.value - 1.0) < 1e-6  # $ per 10 s
    assert fired.threshold is not None and abs(fired.threshold - 3.0) < 1e-6


def test_a_restarted_engine_neither_repages_nor_forgets_the_resolve() -> None:
    e = Engine()
    for t in range(1, 16):
        e.second(t, duration=5.0)
    assert e.kinds("slow") == [("trigger", {"model": "gpt-4o", "route": "chat"})]
    restarted = Engine(store=e.store)  # the persisted statuses, no panes
    for t in range(16, 26):
        restarted.second(t, duration=5.0)
    assert restarted.sent == []
    for t in range(26, 46):
        restarted.second(t)
    assert restarted.kinds("slow") == [("resolve", {"model": "gpt-4o", "route": "chat"})]


def test_history_is_not_learnt_while_firing_and_statuses_round_trip() -> None:
    e = Engine()
    for t in range(1, 61):
        e.second(t, cost=0.01)
    for t in range(61, 101):
        e.second(t, cost=0.05)
    key = next(k for k in e.store if k.endswith("spend"))
    status = RuleStatus.from_dict(e.store[key])
    assert max(status.history) < 1.5  # usual: $1 per window; the incident ($5) not learnt
    assert RuleStatus.from_dict(status.to_dict()) == status
    assert status.group == GroupKey(tenant="acme")


def test_no_data_resolves_a_firing_alert_once_stale() -> None:
    e = Engine()
    for t in range(1, 16):
        e.second(t, duration=5.0)
    assert e.rules.rule("slow").stale_after == 300
    messages, _ = e.engine.evaluate(T0.timestamp() + 15 + 100)
    assert messages == []  # quiet, but not stale yet
    messages, _ = e.engine.evaluate(T0.timestamp() + 15 + 301)
    assert [m.kind for m in messages] == ["resolve"]


def test_budget_alerts_fire_once_then_resolve_in_a_new_period() -> None:
    budget = Budget(name="acme_day", group_by="tenant", match="acme", period="day",
                    amount_usd=10.0, channels=())
    store: dict[str, Any] = {}
    watch = BudgetWatch(store)
    noon = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    calm = watch.evaluate(evaluate_budget(budget, {"acme": 2.0}, noon), noon.timestamp())
    assert calm == []
    later = noon + timedelta(hours=1)
    hot = watch.evaluate(evaluate_budget(budget, {"acme": 6.0}, later), later.timestamp())
    assert [(m.kind, m.group, m.rule) for m in hot] == [("trigger", {"tenant": "acme"},
                                                          "acme_day")]
    assert "at this rate it is spent at" in hot[0].summary  # projected 6/13 h x 24 h > 8
    store.update(watch.take_changes())
    again = BudgetWatch(store)  # restarted: told already
    assert again.evaluate(evaluate_budget(budget, {"acme": 7.0}, later), later.timestamp()) == []
    tomorrow = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    cleared = again.evaluate(evaluate_budget(budget, {"acme": 0.5}, tomorrow),
                             tomorrow.timestamp())
    assert [m.kind for m in cleared] == ["resolve"]


def test_a_restart_with_empty_panes_does_not_resolve_before_the_data_says_so() -> None:
    e = Engine()
    for t in range(1, 16):
        e.second(t, duration=5.0)
    restarted = Engine(store=e.store)
    restarted.engine.adopt(e.store.values())  # as the worker does after recovery
    for t in range(16, 200):  # quiet after the restart: no data, but not stale yet
        messages, _ = restarted.engine.evaluate(T0.timestamp() + t)
        assert messages == []
    restarted.second(200, n=3, duration=5.0)  # below min_count: still no verdict
    assert restarted.sent == []
    messages, _ = restarted.engine.evaluate(T0.timestamp() + 16 + 301)
    assert [m.kind for m in messages] == ["resolve"]  # stale: the no-data policy applies


def test_renotifications_get_their_own_ids() -> None:
    rules = RULES.replace("    severity: critical\n", "    severity: critical\n    renotify: 5s\n")
    e = Engine()
    e.rules = parse_rules(rules, "test")
    e.engine = AlertEngine(e.rules, pane_s=5, lateness_s=0, store=e.store)
    for t in range(1, 30):
        e.second(t, duration=5.0)
    ids = [m.id for m in e.sent if m.rule == "slow"]
    kinds = [m.kind for m in e.sent if m.rule == "slow"]
    assert kinds[0] == "trigger" and kinds.count("renotify") >= 3
    assert len(set(ids)) == len(ids)


def test_groups_of_revoked_partitions_are_forgotten() -> None:
    e = Engine()
    for t in range(1, 16):
        e.second(t, duration=5.0, route="chat")
        e.second(t, duration=0.5, route="search")
    e.engine.drop(lambda group: group.route == "chat")
    assert {rs.group.route for rs in e.engine.statuses()} <= {"search", "*"}
    assert all(g.route != "chat" for g in e.engine.windows.groups())


def test_requests_without_response_count_when_their_join_times_out() -> None:
    request_only = replace(call(1, 0.0), join_status="request_only", end_time=None,
                           error_type="llmpulse.no_response")
    now = T0.timestamp() + 90  # the join timed out 60 s after the request started
    parts = fold([(request_only, None)], [("model", "route")], 5, now=now)
    assert [pane for _, pane in parts] == [now - now % 5]


def test_a_budget_group_that_stops_spending_resolves_in_the_next_period() -> None:
    budget = Budget(name="per_tenant", group_by="tenant", period="day", amount_usd=1.0)
    store: dict[str, Any] = {}
    watch = BudgetWatch(store)
    noon = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    fired = watch.evaluate(evaluate_budget(budget, {"acme": 2.0}, noon), noon.timestamp())
    assert [m.kind for m in fired] == ["trigger"]
    store.update(watch.take_changes())
    restarted = BudgetWatch(store)
    tomorrow = noon + timedelta(days=1)
    spend: dict[str, float] = {}  # acme was cut off: no spend at all today
    for group in restarted.open_groups("per_tenant", store.values()):
        spend.setdefault(group, 0.0)
    assert spend == {"acme": 0.0}
    cleared = restarted.evaluate(evaluate_budget(budget, spend, tomorrow), tomorrow.timestamp())
    assert [m.kind for m in cleared] == ["resolve"]
