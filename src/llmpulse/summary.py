"""Read-back queries for the end of a demo run (and for tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from llmpulse.sinks.clickhouse import ClickHouseStore


@dataclass(frozen=True)
class ModelSummary:
    provider: str
    model: str
    calls: int
    errors: int
    p50_s: float | None
    p95_s: float | None
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    unpriced: int


def model_summaries(store: ClickHouseStore, since: datetime) -> list[ModelSummary]:
    rows = store.query(
        """
        SELECT provider, request_model, count(), sum(is_error),
               quantileExactIf(0.5)(duration_s, duration_s IS NOT NULL),
               quantileExactIf(0.95)(duration_s, duration_s IS NOT NULL),
               sum(ifNull(input_tokens, 0)), sum(ifNull(output_tokens, 0)),
               sumIf(cost_usd, cost_usd IS NOT NULL), countIf(cost_source = 'unknown')
        FROM inference_events FINAL
        WHERE ingested_at >= {since:DateTime64(3)}
        GROUP BY provider, request_model
        ORDER BY count() DESC
        """,
        {"since": since},
    )
    return [
        ModelSummary(p, m, int(n), int(e), _num(p50), _num(p95), int(ti), int(to),
                     None if unpriced == n else float(cost), int(unpriced))
        for p, m, n, e, p50, p95, ti, to, cost, unpriced in rows
    ]


def _num(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if number != number else number


def table_counts(store: ClickHouseStore, since: datetime) -> dict[str, int]:
    params = {"since": since}
    counts = {}
    for table in ("inference_events", "signals", "feedback"):
        rows = store.query(
            f"SELECT count() FROM {table} FINAL WHERE ingested_at >= {{since:DateTime64(3)}}",
            params)
        counts[table] = int(rows[0][0])
    return counts


def format_summary(models: list[ModelSummary]) -> str:
    header = (f"{'provider/model':<34}{'calls':>7}{'errors':>7}{'p50 s':>8}{'p95 s':>8}"
              f"{'tokens in':>11}{'tokens out':>11}{'cost $':>10}")
    lines = [header, "-" * len(header)]
    for s in models:
        if s.cost_usd is None or (s.unpriced and not s.cost_usd):
            cost = "unknown"
        else:
            cost = f"{s.cost_usd:.4f}" + ("*" if s.unpriced else "")
        p50 = "-" if s.p50_s is None else f"{s.p50_s:.2f}"
        p95 = "-" if s.p95_s is None else f"{s.p95_s:.2f}"
        lines.append(f"{s.provider + '/' + s.model:<34.34}{s.calls:>7}{s.errors:>7}{p50:>8}"
                     f"{p95:>8}{s.tokens_in:>11}{s.tokens_out:>11}{cost:>10}")
    return "\n".join(lines)


def alert_log(store: ClickHouseStore, since: datetime) -> list[tuple[datetime, str, str, str]]:
    """(time, kind, severity, summary) of every notification since ``since``."""
    rows = store.query(
        "SELECT time, kind, severity, summary FROM alert_notifications FINAL "
        "WHERE time >= {since:DateTime64(3)} ORDER BY time, kind DESC", {"since": since})
    seen: set[tuple[object, ...]] = set()
    out = []
    for time, kind, severity, summary in rows:  # one line per notification, not per channel
        if (time, kind, summary) not in seen:
            seen.add((time, kind, summary))
            out.append((time, str(kind), str(severity), str(summary)))
    return out


def format_alerts(alerts: list[tuple[datetime, str, str, str]], started: datetime) -> str:
    if not alerts:
        return "\nAlerts: none fired"
    lines = ["\nAlerts (from llm.alerts, stored in alert_notifications):"]
    for time, kind, severity, summary in alerts:
        at = time if time.tzinfo else time.replace(tzinfo=UTC)  # stored in UTC
        offset = (at - started).total_seconds()
        lines.append(f"  +{offset:5.1f}s  {kind:<8} {severity:<8} {summary}")
    return "\n".join(lines)


def quality_line(store: ClickHouseStore, since: datetime) -> str:
    """Scored calls, toxic answers, mean groundedness and personal data found since ``since``."""
    rows = store.query(
        """
        SELECT countIf(name = 'toxicity'), countIf(name = 'toxicity' AND label = 'toxic'),
               countIf(name = 'groundedness'), avgIf(value, name = 'groundedness'),
               sumIf(value, name = 'pii.redacted'), anyIf(detector, name = 'toxicity'),
               anyIf(detector, name = 'groundedness')
        FROM signals FINAL
        WHERE ingested_at >= {since:DateTime64(3)}
          AND name IN ('toxicity', 'groundedness', 'pii.redacted')
        """, {"since": since})
    scored, toxic, rag, grounded, pii, tox_by, ground_by = rows[0]
    mean = f"{float(grounded):.2f}" if rag else "-"
    return (f"quality: {scored} answers scored for toxicity ({toxic} toxic, {tox_by or '-'}), "
            f"{rag} RAG answers for groundedness (mean {mean}, {ground_by or '-'}); "
            f"{int(pii)} personal data items redacted before storage")


def retrain_lines(store: ClickHouseStore, since: datetime) -> str:
    """The retraining triggers published since ``since`` (``llm.retrain``)."""
    rows = store.query(
        "SELECT status, reason, length(evidence), id FROM retrain_triggers FINAL "
        "WHERE created_at >= {since:DateTime64(3)} ORDER BY created_at", {"since": since})
    if not rows:
        return "retraining triggers: none"
    lines = ["retraining triggers (llm.retrain; `llmpulse retrain show ID` for the dataset "
             "query):"]
    for status, reason, evidence, rid in rows:
        lines.append(f"  {status:<10} {reason} ({evidence} example ids)\n             id {rid}")
    return "\n".join(lines)


def release_lines(store: ClickHouseStore, since: datetime) -> str:
    """The canary verdicts published since ``since`` (``llm.releases``)."""
    rows = store.query(
        "SELECT canary, verdict, expired, selector, candidate, baseline, reason, id "
        "FROM release_verdicts FINAL WHERE created_at >= {since:DateTime64(3)} "
        "ORDER BY created_at", {"since": since})
    if not rows:
        return "canary verdicts: none"
    lines = ["canary verdicts (llm.releases; `llmpulse releases list` shows them again):"]
    for canary, verdict, expired, by, candidate, baseline, reason, vid in rows:
        ended = " (expired)" if expired else ""
        lines.append(f"  {verdict:<10} canary {canary}: {by} {candidate} vs {baseline}"
                     f"{ended}: {reason}\n             id {vid}")
    return "\n".join(lines)
