"""Erasure: every stored trace of a request, a user (hash) or a tenant removed.

Where a subject's data is stored (the migrations, table by table):

============================  =========================================================
inference_events              the calls (bodies included): ``request_id``, ``user_hash``,
                              ``tenant``; deleted last, the other steps select by it
signals                       per-call signals and scores: ``request_id`` (``tenant``)
feedback                      ``request_id`` of the call, ``user_hash`` of who gave it
windows                       aggregates per group, no request ids: ``tenant``
alert_state                   per group: ``tenant``
alert_notifications           per alert (``dedup_key`` of a tenant's alert state); the
                              message's evidence names request ids: redacted
retrain_triggers              per group: ``tenant``; ``evidence`` (request ids) and the
                              payload naming them: redacted
training_pairs                a view over feedback and inference_events
drift_baselines, schema_*     no subject data
============================  =========================================================

``erasures`` (what later writes must drop, see :mod:`llmpulse.governance.guard`) and
``audit_log`` keep the subject's id on purpose.  ``erasures`` also records the request ids
of the subject's calls, so their feedback, signals and scores that come later are dropped
though they name no user or tenant: a user's (at most :data:`MAX_USER_REQUEST_IDS`, read
by every worker) as erased request ids, a tenant's (any number, copied within the store
by one ``INSERT ... SELECT``) as ``tenant_call`` rows, looked up per written batch.

Rows are deleted with ``ALTER TABLE ... DELETE`` and redacted with ``ALTER TABLE ...
UPDATE``, ``mutations_sync = 2``: done when the statement returns.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from llmpulse.governance.guard import REFRESH_S, TENANT_CALL

if TYPE_CHECKING:
    from llmpulse.sinks.clickhouse import ClickHouseStore

Kind = Literal["request_id", "user_hash", "tenant"]
#: What replaces an erased request id where a row is kept (alert messages, triggers).
ERASED = "[erased]"
#: Seconds between recording an erasure and deleting: every worker's guard has read it.
SETTLE_S = REFRESH_S + 1.0
#: Request ids of an erased user recorded for workers to drop (their late feedback).
MAX_USER_REQUEST_IDS = 100_000
#: Ids per redacting statement (one regular expression of alternatives).
REDACT_CHUNK = 100
_SYNC = " SETTINGS mutations_sync = 2"
_EVIDENCE_IDS = r"extractAll(message, '\"request_id\":\"([^\"]*)\"')"


@dataclass(frozen=True)
class Subject:
    kind: Kind
    value: str

    def __str__(self) -> str:
        return f"{self.kind}={self.value}"


def in_calls(column: str, subject: Subject) -> str:
    """SQL: ``column`` (a request id) is one of the subject's calls."""
    if subject.kind == "request_id":
        return f"{column} = {{subject:String}}"
    return (f"{column} IN (SELECT request_id FROM inference_events "
            f"WHERE {subject.kind} = {{subject:String}})")


@dataclass(frozen=True)
class Step:
    """Delete the rows of ``table`` matching ``where``; ``key``: the columns it uses."""

    table: str
    key: str
    where: str


def plan(subject: Subject) -> list[Step]:
    """The deletions, in order: inference_events last (the others select by it)."""
    kind = subject.kind
    steps = [Step("signals", "request_id" + (", tenant" if kind == "tenant" else ""),
                  in_calls("request_id", subject)
                  + (" OR tenant = {subject:String}" if kind == "tenant" else ""))]
    if kind == "user_hash":
        steps.append(Step("feedback", "request_id, user_hash",
                          in_calls("request_id", subject) + " OR user_hash = {subject:String}"))
    else:
        steps.append(Step("feedback", "request_id", in_calls("request_id", subject)))
    if kind == "tenant":
        steps += [
            Step("alert_notifications", "dedup_key",
                 "dedup_key IN (SELECT dedup_key FROM alert_state "
                 "WHERE tenant = {subject:String})"),
            Step("alert_state", "tenant", "tenant = {subject:String}"),
            Step("windows", "tenant", "tenant = {subject:String}"),
            Step("retrain_triggers", "tenant", "tenant = {subject:String}"),
        ]
    steps.append(Step("inference_events", kind, f"{kind} = {{subject:String}}"))
    return steps


def id_pattern(ids: Sequence[str]) -> str:
    """A regular expression (RE2) matching any of ``ids`` literally."""
    return "|".join(re.escape(i) for i in ids)


def patterns(ids: Sequence[str]) -> dict[str, str]:
    """The parameters of a redaction: ``quoted`` matches an id as a JSON string (the
    quotes kept by the replacement), ``word`` one standing alone in text; never a part of
    a longer id."""
    alternatives = id_pattern(ids)
    return {"quoted": f'"(?:{alternatives})"', "word": rf"\b(?:{alternatives})\b"}


@dataclass(frozen=True)
class Redaction:
    """Erased request ids named in rows that are kept: replaced by :data:`ERASED`."""

    table: str
    key: str
    #: The request ids this table names (``r``), of the subject's calls.
    referenced: str
    #: Rows naming one of ``{ids:Array(String)}``.
    naming: str
    #: ``column = expression`` assignments (parameters: :func:`patterns`).
    assignments: str


REDACTIONS: tuple[Redaction, ...] = (
    Redaction(
        "retrain_triggers", "evidence",
        "SELECT DISTINCT arrayJoin(evidence) AS r FROM retrain_triggers WHERE {in_calls}",
        "hasAny(evidence, {ids:Array(String)})",
        f"evidence = arrayMap(x -> if(has({{ids:Array(String)}}, x), '{ERASED}', x), evidence), "
        f"payload = replaceRegexpAll(payload, {{quoted:String}}, '\"{ERASED}\"'), "
        f"reason = replaceRegexpAll(reason, {{word:String}}, '{ERASED}')"),
    Redaction(
        "alert_notifications", "message evidence",
        f"SELECT DISTINCT arrayJoin({_EVIDENCE_IDS}) AS r FROM alert_notifications "
        "WHERE {in_calls}",
        f"hasAny({_EVIDENCE_IDS}, {{ids:Array(String)}})",
        f"message = replaceRegexpAll(message, {{quoted:String}}, '\"{ERASED}\"'), "
        f"summary = replaceRegexpAll(summary, {{word:String}}, '{ERASED}')"),
)


@dataclass
class Report:
    """Rows deleted (dry run: that would be) per table, rows redacted, and the request ids
    recorded in ``erasures`` for later feedback and signals of them to be dropped."""

    subject: Subject
    dry_run: bool
    deleted: dict[str, int] = field(default_factory=dict)
    redacted: dict[str, int] = field(default_factory=dict)
    recorded: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"subject": {"kind": self.subject.kind, "value": self.subject.value},
                "dry_run": self.dry_run, "deleted": self.deleted, "redacted": self.redacted,
                "recorded_request_ids": self.recorded}


def _count(store: ClickHouseStore, table: str, where: str, params: dict[str, Any]) -> int:
    return int(store.query(f"SELECT count() FROM {table} WHERE {where}", params)[0][0])


def _referenced(store: ClickHouseStore, redaction: Redaction, subject: Subject) -> list[str]:
    sql = redaction.referenced.replace("{in_calls}", in_calls("r", subject))
    return [str(r[0]) for r in store.query(sql, {"subject": subject.value}) if r[0]]


def tombstones(store: ClickHouseStore, subject: Subject, now: datetime) -> list[list[Any]]:
    """The ``erasures`` rows recording ``subject`` (a user's: with their calls' ids)."""
    rows: list[list[Any]] = [[subject.kind, subject.value, now]]
    if subject.kind == "user_hash":
        ids = store.query("SELECT DISTINCT request_id FROM inference_events "
                          "WHERE user_hash = {subject:String} LIMIT {n:UInt64}",
                          {"subject": subject.value, "n": MAX_USER_REQUEST_IDS})
        rows += [["request_id", str(r[0]), now] for r in ids]
    return rows


_TENANT_CALLS = ("SELECT DISTINCT request_id FROM inference_events "
                 "WHERE tenant = {subject:String}")


def recorded_calls(store: ClickHouseStore, subject: Subject) -> int:
    """How many request ids recording ``subject`` records (or would)."""
    if subject.kind == "request_id":
        return 1
    if subject.kind == "user_hash":
        return min(MAX_USER_REQUEST_IDS, _count(
            store, "(SELECT DISTINCT request_id FROM inference_events "
                   "WHERE user_hash = {subject:String})", "1", {"subject": subject.value}))
    return _count(store, f"({_TENANT_CALLS})", "1", {"subject": subject.value})


def record_tenant_calls(store: ClickHouseStore, subject: Subject) -> None:
    """The request ids of the tenant's stored calls into ``erasures``, within the store."""
    store.client.command(
        "INSERT INTO erasures (kind, value, erased_at) "
        f"SELECT '{TENANT_CALL}', request_id, now64(3, 'UTC') FROM ({_TENANT_CALLS})",
        parameters={"subject": subject.value})


def erase(store: ClickHouseStore, subject: Subject, dry_run: bool = False,
          sleep: Callable[[float], None] = time.sleep, settle_s: float = SETTLE_S) -> Report:
    """Erase ``subject`` (dry run: count only); returns what was (would be) removed.

    The erasure is recorded first; after ``settle_s`` every worker drops the subject's
    rows before writing them, and what is stored then is counted and removed (a tenant's
    calls stored by then recorded first, for their later feedback to be dropped)."""
    report = Report(subject, dry_run)
    if not dry_run:
        rows = tombstones(store, subject, datetime.now(UTC))
        store.client.insert("erasures", rows, column_names=["kind", "value", "erased_at"])
        sleep(settle_s)
        if subject.kind == "tenant":
            report.recorded = recorded_calls(store, subject)
            record_tenant_calls(store, subject)
        else:
            report.recorded = 1 if subject.kind == "request_id" else len(rows) - 1
    else:
        report.recorded = recorded_calls(store, subject)
    params = {"subject": subject.value}
    refs = {r.table: _referenced(store, r, subject) for r in REDACTIONS}
    for r in REDACTIONS:
        report.redacted[r.table] = (_count(store, r.table, r.naming, {"ids": refs[r.table]})
                                    if refs[r.table] else 0)
    steps = plan(subject)
    for step in steps:
        report.deleted[step.table] = _count(store, step.table, step.where, params)
    if dry_run:
        return report
    for r in REDACTIONS:
        ids = refs[r.table]
        for at in range(0, len(ids), REDACT_CHUNK):
            chunk = ids[at:at + REDACT_CHUNK]
            store.client.command(f"ALTER TABLE {r.table} UPDATE {r.assignments} "
                                 f"WHERE {r.naming}{_SYNC}",
                                 parameters={"ids": chunk, **patterns(chunk)})
    for step in steps:
        if report.deleted[step.table]:
            store.client.command(f"ALTER TABLE {step.table} DELETE WHERE {step.where}{_SYNC}",
                                 parameters=params)
    return report
