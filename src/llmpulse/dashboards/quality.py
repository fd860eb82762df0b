"""Quality, feedback and drift (Prometheus): window gauges, feedback, drift, retraining, scorer.

The window gauges carry model, route, tenant and prompt_version; a dimension a
window does not group on is ``"*"``.  Per-model panels read the model-overall
windows, per-prompt-version panels the model x prompt-version windows.  The
toxicity and groundedness gauges are per scorer version as well (label
``scorer``): their panels show one series per version, never a blend.
"""

from __future__ import annotations

from llmpulse.dashboards.model import (
    JSON,
    PROMETHEUS,
    Grid,
    Look,
    alarm,
    dashboard,
    datasource_variable,
    falling,
    prom_target,
    query_variable,
    rising,
    stat,
    timeseries,
)

UID = "llmpulse-quality"
RATE = "$__rate_interval"
PER_MODEL = 'model=~"$model", route="*", tenant="*", prompt_version="*"'
PER_VERSION = ('model=~"$model", route="*", tenant="*", prompt_version!="*", '
               'prompt_version=~"$prompt_version"')

TOXICITY = Look("percentunit", rising(0.01, 0.05), minimum=0, maximum=1)
GROUNDEDNESS = Look("percentunit", falling(0.6, 0.8), minimum=0, maximum=1)
THUMBS_DOWN = Look("percentunit", rising(0.2, 0.35), minimum=0, maximum=1)
RATING = Look("none", falling(3, 4), minimum=1, maximum=5, decimals=2)
INJECTION = Look("percentunit", rising(0.02, 0.05), minimum=0, maximum=1)
PER_SECOND = Look("ops", minimum=0)

#: (title, gauge, look) of each quality window gauge.
GAUGES = (
    ("Toxic answers", "llmpulse_window_toxicity_rate", TOXICITY),
    ("Groundedness (mean)", "llmpulse_window_groundedness", GROUNDEDNESS),
    ("Thumbs down", "llmpulse_window_thumbs_down_ratio", THUMBS_DOWN),
    ("Rating (mean, 1-5)", "llmpulse_window_rating", RATING),
    ("Prompt injection attempts", "llmpulse_window_injection_rate", INJECTION),
)
#: The gauges with a ``scorer`` label (one series per scorer version).
PER_SCORER = frozenset({"llmpulse_window_toxicity_rate", "llmpulse_window_groundedness"})


def _by(gauge: str, *labels: str) -> tuple[str, str]:
    """(the ``by`` labels, the legend) of a gauge's panel: plus the scorer version where
    the gauge has one."""
    if gauge in PER_SCORER:
        labels = (*labels, "scorer")
    return ", ".join(labels), " ".join("{{" + label + "}}" for label in labels)


def _per_model(grid: Grid) -> None:
    grid.row("Quality per model (last closed 1-minute window)")
    for title, gauge, look in GAUGES:
        by, legend = _by(gauge, "model")
        grid.add(timeseries(f"{title} by model", [prom_target(
            f"max by ({by}) ({gauge}{{{PER_MODEL}}})", legend)], look,
            show_thresholds=True), 6, 8)
    grid.add(timeseries("Evaluations/s by label", [prom_target(
        "sum by (name, label) (rate(llmpulse_quality_evaluations_total"
        f'{{gen_ai_request_model=~"$model"}}[{RATE}]))', "{{name}}: {{label}}")],
        PER_SECOND, "Scored answers, by evaluation and verdict."), 9, 8)
    grid.add(timeseries("Quality score p50", [prom_target(
        "histogram_quantile(0.5, sum by (le, name) (rate(llmpulse_quality_score_bucket"
        f'{{gen_ai_request_model=~"$model"}}[{RATE}])))', "{{name}}")],
        Look("percentunit", minimum=0, maximum=1)), 9, 8)


def _per_version(grid: Grid) -> None:
    grid.row("Per prompt version")
    for title, gauge, look in GAUGES:
        by, legend = _by(gauge, "model", "prompt_version")
        grid.add(timeseries(f"{title} by prompt version", [prom_target(
            f"max by ({by}) ({gauge}{{{PER_VERSION}}})", legend)], look,
            show_thresholds=True), 6, 8)


def _feedback(grid: Grid) -> None:
    grid.row("Feedback")
    grid.add(timeseries("Feedback events/s by kind", [prom_target(
        f"sum by (kind) (rate(llmpulse_feedback_events_total[{RATE}]))", "{{kind}}")],
        PER_SECOND), 12, 8)
    grid.add(timeseries("Feedback not joined/s", [prom_target(
        f"sum by (reason) (rate(llmpulse_feedback_unjoined_total[{RATE}]))", "{{reason}}")],
        Look("ops", rising(0.01, 0.1), minimum=0),
        "Stored but out of the windows: unknown request id, or past the horizon."), 12, 8)


def _drift(grid: Grid) -> None:
    grid.row("Drift and retraining")
    grid.add(stat("Models drifting", [prom_target(
        'sum(llmpulse_drift_detected{model=~"$model", route="*"})', "models",
        instant=True)], Look("none", alarm(1), minimum=0)), 4, 8)
    grid.add(stat("Routes drifting", [prom_target(
        'sum(llmpulse_drift_detected{model=~"$model", route!="*"})', "routes",
        instant=True)], Look("none", alarm(1), minimum=0),
        "Routes checked on their own (the busiest of each model) that drifted."), 4, 8)
    grid.add(timeseries("Drift severity by feature", [prom_target(
        'max by (model, route, feature) (llmpulse_drift_score{model=~"$model"})',
        "{{model}} {{route}} {{feature}}")], Look("none", rising(0.8, 1), minimum=0),
        "The weakest test's score over its threshold; >= 1 means drifted. "
        "Route * is the model overall.", show_thresholds=True), 8, 8)
    grid.add(timeseries("Retraining triggers per hour", [prom_target(
        "sum by (policy, outcome) (increase(llmpulse_retrain_triggers_total[1h]))",
        "{{policy}}: {{outcome}}")], Look("short", minimum=0)), 8, 8)


def _scorer(grid: Grid) -> None:
    grid.row("Scorer")
    grid.add(timeseries("Scorer tasks/s by outcome", [prom_target(
        f"sum by (outcome) (rate(llmpulse_scorer_tasks_total[{RATE}]))", "{{outcome}}")],
        PER_SECOND, "shed = dropped as older than LLMPULSE_SCORE_MAX_AGE_S."), 6, 8)
    grid.add(timeseries("Scorer backlog (oldest task age)", [prom_target(
        "max(llmpulse_scorer_task_age_seconds)", "age")],
        Look("s", rising(10, 20), minimum=0), show_thresholds=True), 6, 8)
    grid.add(timeseries("Scorer batch p95 by detector", [prom_target(
        "histogram_quantile(0.95, sum by (le, detector) "
        f"(rate(llmpulse_scorer_batch_seconds_bucket[{RATE}])))", "{{detector}}")],
        Look("s", minimum=0)), 6, 8)
    grid.add(timeseries("Sent to / skipped by the scorer", [
        prom_target(f"sum by (reason) (rate(llmpulse_scoring_sent_total[{RATE}]))",
                    "sent: {{reason}}", "A"),
        prom_target(f"sum by (reason) (rate(llmpulse_scoring_skipped_total[{RATE}]))",
                    "skipped: {{reason}}", "B")], PER_SECOND), 6, 8)


def build() -> JSON:
    grid = Grid()
    _per_model(grid)
    _per_version(grid)
    _feedback(grid)
    _drift(grid)
    _scorer(grid)
    variables = [
        datasource_variable(PROMETHEUS, "Prometheus"),
        query_variable("model", "Model", PROMETHEUS,
                       'label_values(llmpulse_window_calls{model!="*"}, model)'),
        query_variable("prompt_version", "Prompt version", PROMETHEUS,
                       "label_values(llmpulse_window_thumbs_down_ratio"
                       '{model=~"$model", prompt_version!="*"}, prompt_version)'),
    ]
    return dashboard(UID, "llmpulse / Quality, feedback and drift",
                     "Toxicity, groundedness, user feedback per model and prompt version; "
                     "drift checks, retraining triggers and the scorer.", variables, grid)
