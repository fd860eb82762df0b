"""One side of a comparison from the store: the calls of one prompt version, model version
or model in a period, their quality scores (``signals``) and their feedback."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from llmpulse.release.signals import Sample
from llmpulse.sinks.rows import PROMPT_VERSION_SQL
from llmpulse.sinks.scorer_versions import Choice, common, versions_in

By = Literal["prompt_version", "model_version", "model"]
BY: tuple[By, ...] = ("prompt_version", "model_version", "model")

#: The column (or expression) a side is chosen by; the model is the one requested.
COLUMN = {"prompt_version": PROMPT_VERSION_SQL, "model_version": "model_version",
           "model": "request_model"}


@dataclass(frozen=True, slots=True)
class Selection:
    """Which stored calls make a side: ``by`` = ``value`` (and of ``model`` unless ``by``
    is the model), called in [start, end), on ``route`` and with the prompt template
    ``template`` if given."""

    by: By
    value: str
    start: datetime
    end: datetime
    model: str | None = None
    route: str | None = None
    template: str | None = None

    def where(self) -> tuple[str, dict[str, Any]]:
        """The WHERE clause over ``inference_events`` and its parameters."""
        clauses = [f"{COLUMN[self.by]} = {{side:String}}",
                   "call_time >= {start:DateTime64(6)}", "call_time < {end:DateTime64(6)}"]
        params: dict[str, Any] = {"side": self.value, "start": self.start, "end": self.end}
        if self.by != "model" and self.model is not None:
            clauses.append("request_model = {model:String}")
            params["model"] = self.model
        if self.route is not None:
            clauses.append("route = {route:String}")
            params["route"] = self.route
        if self.template is not None:
            clauses.append("prompt_template_id = {template:String}")
            params["template"] = self.template
        return " AND ".join(clauses), params

    def describe(self) -> str:
        of = f"{self.model} " if self.by != "model" and self.model else ""
        on = f" on route {self.route}" if self.route else ""
        return f"{of}{self.by} {self.value}{on}"


CALLS_SQL = ("SELECT request_id, is_error, error_type, finish_reasons, duration_s, ttft_s, "
             "tpot_s, input_tokens, output_tokens, cost_usd FROM inference_events FINAL "
             "WHERE {where}")
SCORES_SQL = ("SELECT name, value, label FROM signals FINAL WHERE name IN ('toxicity', "
              "'groundedness') AND {only} AND request_id IN (SELECT request_id FROM "
              "inference_events FINAL WHERE {where})")
FEEDBACK_SQL = ("SELECT thumbs, rating, correction != '' FROM feedback FINAL WHERE request_id "
                "IN (SELECT request_id FROM inference_events FINAL WHERE {where})")


def scorer_choice(store: Any, selections: Sequence[Selection]) -> Choice:
    """Per quality signal, the newest scorer version that scored calls of every side: sides
    are compared on one version's scores (a signal only other versions scored on some side
    is left out of the comparison)."""
    sides = []
    for selection in selections:
        where, params = selection.where()
        sides.append(versions_in(store, "request_id IN (SELECT request_id FROM "
                                 f"inference_events FINAL WHERE {where})", params))
    return common(sides)


def read_side(store: Any, selection: Selection, scorers: Choice | None = None) -> Sample:
    """The side's observations; ``store`` is a
    :class:`~llmpulse.sinks.clickhouse.ClickHouseStore`.  Quality scores are those of the
    versions in ``scorers`` (default: the newest that scored this side)."""
    if scorers is None:
        scorers = scorer_choice(store, [selection])
    only, only_params = scorers.condition()
    where, params = selection.where()
    sample = Sample()
    for (rid, error, error_type, reasons, duration, ttft, tpot, tokens_in, tokens_out,
         cost) in store.query(CALLS_SQL.format(where=where), params):
        sample.add_call(str(rid), error=bool(error), error_type=error_type or None,
                        finish_reasons=reasons, duration=duration, ttft=ttft, tpot=tpot,
                        input_tokens=tokens_in, output_tokens=tokens_out, cost=cost)
    for name, value, label in store.query(SCORES_SQL.format(where=where, only=only),
                                          {**params, **only_params}):
        sample.add_score(str(name), float(value), str(label))
    for thumbs, rating, corrected in store.query(FEEDBACK_SQL.format(where=where), params):
        sample.add_feedback(thumbs or None, rating, bool(corrected))
    return sample
