"""What travels on ``llm.retrain``: a retraining trigger, built from a policy's alert.

Pure: no I/O, the clock is passed in.  A trigger carries an idempotency key
(``id``: the same incident always gives the same id, so a training pipeline
that sees it twice can tell), the model and prompt versions, why it fired,
the evidence (window, metric value, sample request ids) and a dataset
selector: the time range and filters, plus a ready ClickHouse query that pulls
the negatively rated, poorly grounded and corrected examples of that range.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from clickhouse_connect.driver.binding import format_query_value
from pydantic import BaseModel, ConfigDict, Field

from llmpulse.alerting.message import AlertMessage, Evidence
from llmpulse.alerting.rules import DatasetSpec, Rule
from llmpulse.sinks.rows import PROMPT_VERSION_SQL

Status = Literal["triggered", "pending_approval", "approved", "suppressed"]


class Dataset(BaseModel):
    """The examples to train on: a time range, filters, and the query that reads them."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    filters: dict[str, str]
    max_groundedness: float
    max_rating: int
    query: str


class RetrainTrigger(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    status: Status
    policy: str
    model: str
    route: str
    tenant: str
    prompt_version: str = "*"  # the group's prompt version when the policy groups by it
    prompt_versions: tuple[str, ...] = ()
    reason: str
    metric: str
    operator: str
    value: float | None
    threshold: float | None
    count: int
    window_start: datetime
    window_end: datetime
    since: datetime
    created_at: datetime
    evidence: tuple[Evidence, ...]
    dataset: Dataset
    approved_by: str | None = None
    approved_at: datetime | None = None
    #: Forward webhooks not reached yet, and when the worker tries them again.
    forward_failed: tuple[str, ...] = ()
    forward_attempts: int = 0
    next_forward_at: datetime | None = None

    def to_wire(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()

    @classmethod
    def from_wire(cls, raw: bytes | str) -> RetrainTrigger:
        return cls.model_validate_json(raw)


def trigger_id(alert: AlertMessage) -> str:
    """The idempotency key: one per (policy, group, incident)."""
    return f"retrain:{alert.id}"


def build_trigger(alert: AlertMessage, rule: Rule, status: Status, now: datetime,
                  prompt_versions: tuple[str, ...] = ()) -> RetrainTrigger:
    """The trigger for a policy rule's ``trigger`` alert."""
    assert rule.retrain is not None, f"rule {rule.name} is not a retraining policy"
    group = {d: alert.group.get(d, "*") for d in FILTER_COLUMNS}
    # From one window before the incident began (a window's first pane can start before
    # window_start) to the end of the window that fired.
    start = min(alert.window_start, alert.since) - timedelta(seconds=alert.window_s)
    dataset = dataset_of(rule.retrain.dataset, start, alert.window_end, group,
                         flagged_only=alert.metric not in DRIFT_METRICS)
    return RetrainTrigger(
        id=trigger_id(alert), status=status, policy=rule.name, **group,
        prompt_versions=prompt_versions, reason=alert.summary, metric=alert.metric,
        operator=alert.operator, value=alert.value, threshold=alert.threshold,
        count=alert.count, window_start=alert.window_start, window_end=alert.window_end,
        since=alert.since, created_at=now, evidence=alert.evidence, dataset=dataset)


#: Policies on these metrics retrain on the drifted traffic itself, not its bad answers.
DRIFT_METRICS = frozenset({"drift_rate", "prompt_drift_rate"})
#: Calls longer than this are not looked for before the dataset's range.
MAX_CALL = timedelta(hours=1)
#: Group dimensions and the inference_events columns they filter on.
FILTER_COLUMNS = {"model": "request_model", "route": "route", "tenant": "tenant",
                  "prompt_version": PROMPT_VERSION_SQL}


def dataset_of(spec: DatasetSpec, start: datetime, end: datetime,
               group: dict[str, str], flagged_only: bool = True) -> Dataset:
    filters = {d: v for d, v in group.items() if v != "*"}
    return Dataset(start=start, end=end, filters=filters,
                   max_groundedness=spec.max_groundedness, max_rating=spec.max_rating,
                   query=dataset_query(start, end, filters, spec, flagged_only))


def quote(text: str) -> str:
    """A ClickHouse string literal."""
    return str(format_query_value(text))


def _moment(ts: datetime) -> str:
    return f"toDateTime64({quote(ts.strftime('%Y-%m-%d %H:%M:%S.%f'))}, 6, 'UTC')"


def dataset_query(start: datetime, end: datetime, filters: dict[str, str],
                  spec: DatasetSpec, flagged_only: bool = True) -> str:
    """Calls of the range and group, with their texts, scores and feedback: those scored
    poorly grounded, rated low, thumbed down or corrected (``flagged_only``), else a
    sample of all of them (a drift policy: the new traffic to learn from)."""
    # Windows place a call at its end (its event time); the start bounds the partitions read.
    ended = "ifNull(end_time, call_time)"
    where = [f"call_time >= {_moment(start - MAX_CALL)}", f"call_time < {_moment(end)}",
             f"{ended} >= {_moment(start)}", f"{ended} < {_moment(end)}"]
    where += [f"{FILTER_COLUMNS[d]} = {quote(v)}" for d, v in sorted(filters.items())]
    calls = "SELECT * FROM inference_events FINAL WHERE " + " AND ".join(where)
    ids = "request_id IN (SELECT request_id FROM inference_events WHERE " \
        + " AND ".join(where) + ")"
    condition = (f"WHERE g.groundedness <= {spec.max_groundedness!r} OR f.down = 1 "
                 f"OR f.min_rating <= {spec.max_rating} OR f.best_correction != '' "
                 "ORDER BY e.call_time" if flagged_only else "ORDER BY cityHash64(e.request_id)")
    return (
        "SELECT e.request_id AS request_id, e.end_time AS end_time, "
        "e.request_model AS model, e.route AS route, "
        "e.prompt_template_id AS prompt_template_id, "
        "e.prompt_template_version AS prompt_template_version, "
        "e.input_messages AS prompt, e.output_messages AS answer, "
        "e.context_documents AS context, g.groundedness AS groundedness, "
        "f.down AS thumbed_down, f.last_thumbs AS thumbs, f.min_rating AS rating, "
        "f.best_correction AS correction "
        f"FROM ({calls}) AS e "
        "LEFT JOIN (SELECT request_id, argMax(value, version) AS groundedness FROM signals "
        f"WHERE name = 'groundedness' AND {ids} GROUP BY request_id) AS g "
        "ON g.request_id = e.request_id "
        "LEFT JOIN (SELECT request_id, max(thumbs = 'down') AS down, "
        "argMaxIf(thumbs, time, thumbs != '') AS last_thumbs, min(rating) AS min_rating, "
        "argMax(correction, length(correction)) AS best_correction "
        f"FROM feedback FINAL WHERE {ids} GROUP BY request_id) AS f "
        "ON f.request_id = e.request_id "
        f"{condition} LIMIT {spec.limit} SETTINGS join_use_nulls = 1"
    )
