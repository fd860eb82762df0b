"""Two hours of realistic stored rows for the report, written with llmpulse's own writers:
calls (three models, two tenants, two prompt versions, a latency spike, errors), quality
scores, feedback, drift checks, an alert that fires and resolves, a retraining trigger.
Some stored texts are hostile HTML, to show the page escapes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from llmpulse.alerting.message import AlertMessage, Evidence
from llmpulse.detectors.cost import Cost
from llmpulse.drift.outcome import StatOutcome
from llmpulse.drift.results import DriftReport, FeatureDrift
from llmpulse.records import InferenceRecord
from llmpulse.retrain.trigger import Dataset, RetrainTrigger
from llmpulse.schema import FeedbackEvent, Message
from llmpulse.signals import Signal
from llmpulse.sinks import alert_store, retrain_store
from llmpulse.sinks.clickhouse import ClickHouseStore
from llmpulse.sinks.rows import StoredCall
from llmpulse.streams.drift import DriftCheck, drift_signals

HOSTILE_PROMPT = "<script>alert('prompt')</script> summarise my invoice"
HOSTILE_TENANT = "<img src=x onerror=alert(1)>"
MODELS = (("openai", "gpt-4o", 0.8, 0.004), ("anthropic", "claude-sonnet-4-5", 1.2, 0.006),
          ("vllm", "acme-llama-3-70b-ft", 0.6, None))
HOURS = 2


@dataclass(frozen=True)
class Filled:
    start: datetime
    end: datetime
    calls: int
    slowest: str  # request id of the slowest call


def fill(store: ClickHouseStore, start: datetime, seed: int = 3) -> Filled:
    rng = np.random.default_rng(seed)
    now = start + timedelta(hours=HOURS)
    calls, signals, feedback = [], [], []
    slowest = ("", 0.0)
    for i in range(900):
        provider, model, median, usd = MODELS[i % 3]
        begin = start + timedelta(seconds=float(rng.uniform(0, HOURS * 3600 - 60)))
        minute = (begin - start).total_seconds() / 60
        duration = float(rng.lognormal(np.log(median), 0.4))
        if model == "claude-sonnet-4-5" and 40 <= minute < 55:
            duration *= 5  # the latency incident
        error = "timeout" if rng.random() < 0.03 else None
        version = "v2" if minute >= 60 and rng.random() < 0.5 else "v1"
        tenant = ("acme", "globex", HOSTILE_TENANT)[i % 7 % 3] if i % 7 else "acme"
        rid = f"rpt-{i:04d}"
        record = InferenceRecord(
            request_id=rid, join_status="inference", provider=provider, request_model=model,
            response_model=model, operation="chat", start_time=begin,
            end_time=begin + timedelta(seconds=duration), tenant=tenant,
            route="rag" if i % 2 else "chat", input_tokens=int(rng.integers(200, 3000)),
            output_tokens=int(rng.integers(20, 600)), error_type=error,
            prompt_template_id="answer", prompt_template_version=version,
            input_messages=(Message(role="system", content="be brief"),
                            Message(role="user", content=HOSTILE_PROMPT if i % 50 == 0
                                    else f"question {i} about the quarterly report")))
        cost = Cost(None if usd is None else usd * (1 + rng.random()),
                    "unknown" if usd is None else "genai-prices", "test")
        calls.append(StoredCall(record, cost))
        if duration > slowest[1]:
            slowest = (rid, duration)
        end = begin + timedelta(seconds=duration)
        keys = {"request_id": rid, "time": end, "model": model, "provider": provider,
                "route": record.route, "tenant": tenant, "detector": "test"}
        if i % 2 == 0:
            toxic = float(rng.beta(1, 30 if version == "v1" else 8))
            signals.append(Signal(name="toxicity", value=toxic,
                                  label="toxic" if toxic >= 0.5 else "ok", **keys))
        if record.route == "rag":
            grounded = float(rng.beta(8 if version == "v1" else 4, 2))
            signals.append(Signal(name="groundedness", value=grounded,
                                  explanation="unsupported: <b>the refund is 200%</b>", **keys))
        if i % 4 == 0:
            down = rng.random() < (0.15 if version == "v1" else 0.35)
            feedback.append(FeedbackEvent(
                request_id=rid, feedback_id=f"fb-{rid}", time=end + timedelta(seconds=30),
                thumbs="down" if down else "up",
                rating=int(rng.integers(1, 3)) if down else int(rng.integers(4, 6))))
    store.insert_calls(calls, now)
    store.insert_signals(signals, {}, now)
    store.insert_feedback(feedback, now)
    _drift(store, start, now)
    _alert(store, start)
    _retrain(store, start)
    return Filled(start, now, len(calls), slowest[0])


def _drift(store: ClickHouseStore, start: datetime, now: datetime) -> None:
    for k in range(1, 2 * HOURS + 1):  # every 30 minutes; the last hour's prompts drift
        end = start + timedelta(minutes=30 * k)
        score = 0.02 if k <= 2 else 0.2
        report = DriftReport(
            status="drift" if score > 0.1 else "no_drift", reason="", n_ref=300, n_cur=300,
            features=(FeatureDrift("prompt_length", "numeric", "tested", 300, 300, (
                StatOutcome("wasserstein", "distance", score, 0.1, score >= 0.1),)),))
        check = DriftCheck("gpt-4o", end - timedelta(minutes=30), end, report,
                           reference="the first 300 calls")
        store.insert_signals(drift_signals(check), {}, now)


def _alert(store: ClickHouseStore, start: datetime) -> None:
    common = {"dedup_key": "p95-latency|claude-sonnet-4-5", "rule": "p95 latency",
              "severity": "critical", "metric": "duration_p95", "operator": ">",
              "threshold": 3.0, "group": {"model": "claude-sonnet-4-5"}, "window_s": 300,
              "evidence": (Evidence(request_id="rpt-0001", value=6.0),)}
    fired = start + timedelta(minutes=43)
    for kind, state, at, value in (("trigger", "firing", fired, 6.1),
                                   ("resolve", "resolved", fired + timedelta(minutes=14), 1.3)):
        message = AlertMessage(
            id=f"p95:{kind}", kind=kind, state=state, time=at, value=value, since=fired,
            summary=f"p95 latency of claude-sonnet-4-5 {value}s > 3s <b>(bold?)</b>",
            window_start=at - timedelta(minutes=5), window_end=at, **common)
        alert_store.write_notifications(store, message, [], at)


def _retrain(store: ClickHouseStore, start: datetime) -> None:
    at = start + timedelta(minutes=95)
    window = (at - timedelta(minutes=30), at)
    trigger = RetrainTrigger(
        id="retrain-1", status="pending_approval", policy="thumbs-down retraining",
        model="gpt-4o", route="*", tenant="*", prompt_version="answer@v2",
        reason="thumbs down 0.35 > 0.3 on answer@v2", metric="thumbs_down_ratio",
        operator=">", value=0.35, threshold=0.3, count=40, window_start=window[0],
        window_end=window[1], since=window[0], created_at=at, evidence=(),
        dataset=Dataset.model_validate({"from": window[0], "to": window[1], "filters": {},
                                        "max_groundedness": 0.5, "max_rating": 2,
                                        "query": "SELECT 1"}))
    retrain_store.write(store, trigger, 1)


def main(argv: list[str]) -> None:
    """``python -m tests.harness.report_rows STORE_DIR START``: fill a fresh embedded store
    (a process of its own: chdb opens one store per process)."""
    from llmpulse.config import load_settings

    path, start = argv
    store = ClickHouseStore.open(load_settings({"LLMPULSE_CLICKHOUSE_URL": f"chdb://{path}"}))
    try:
        filled = fill(store, datetime.fromisoformat(start))
    finally:
        store.close()
    print(filled.calls, filled.slowest)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
