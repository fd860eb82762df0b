"""Row layouts of the ClickHouse tables (kept next to the migrations' columns)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from llmpulse.detectors.cost import Cost
from llmpulse.detectors.latency import duration_s, tpot_s
from llmpulse.detectors.usage import is_error
from llmpulse.join import RANK
from llmpulse.records import InferenceRecord
from llmpulse.schema import FeedbackEvent

INFERENCE_COLUMNS = (
    "request_id", "call_time", "join_status", "version", "provider", "request_model",
    "response_model", "model", "operation", "tenant", "route", "environment", "start_time",
    "end_time", "duration_s", "ttft_s", "tpot_s", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_creation_tokens", "reasoning_tokens", "finish_reasons",
    "error_type", "is_error", "cost_usd", "cost_source", "price_version", "response_id",
    "conversation_id", "server_address", "prompt_template_id", "prompt_template_version",
    "model_version", "user_hash", "system_instructions", "input_messages", "output_messages",
    "context_documents", "ingested_at",
)
SIGNAL_COLUMNS = ("time", "version", "name", "value", "label", "request_id", "provider",
                  "model", "route", "tenant", "detector", "source", "ingested_at", "explanation")
#: A stored call's keys, in :class:`llmpulse.scoring.tasks.CallRef` field order.
#: ``records.prompt_version_key`` of a stored call, in ClickHouse.
PROMPT_VERSION_SQL = ("multiIf(prompt_template_id = '', if(prompt_template_version = '', 'none', "
                      "prompt_template_version), concat(prompt_template_id, '@', "
                      "if(prompt_template_version = '', 'none', prompt_template_version)))")
CALL_REF_COLUMNS = ("request_id", "toUnixTimestamp64Micro(call_time) / 1e6", "model",
                    "provider", "route", "tenant", "request_model", "response_id",
                    PROMPT_VERSION_SQL)
FEEDBACK_COLUMNS = ("feedback_id", "request_id", "time", "thumbs", "rating", "correction",
                    "flags", "comment", "given_by", "user_hash", "ingested_at", "window_state")


def _json(items: Any) -> str:
    if not items:
        return ""
    return orjson.dumps([item.model_dump(mode="json") for item in items]).decode()


@dataclass(frozen=True, slots=True)
class StoredCall:
    """A record plus what the cheap path computed for it: one inference_events row."""

    record: InferenceRecord
    cost: Cost

    def version(self, now: datetime) -> int:
        """ReplacingMergeTree version: the more complete record wins, then the newer."""
        return RANK[self.record.join_status] * 10**13 + int(now.timestamp() * 1000)

    def call_time(self, now: datetime) -> datetime:
        """The time the row is partitioned and its bodies expire by."""
        return self.record.start_time or self.record.end_time or now

    def has_bodies(self) -> bool:
        r = self.record
        return bool(r.system_instructions or r.input_messages or r.output_messages
                    or r.context_documents)

    def row(self, now: datetime) -> list[Any]:
        r = self.record
        call_time = self.call_time(now)
        version = self.version(now)
        return [
            r.request_id, call_time, r.join_status, version, r.provider, r.request_model,
            r.response_model or "", r.model, r.operation, r.tenant, r.route, r.environment,
            r.start_time, r.end_time, duration_s(r), r.time_to_first_chunk, tpot_s(r),
            r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_creation_tokens,
            r.reasoning_tokens, list(r.finish_reasons), r.error_type or "", int(is_error(r)),
            self.cost.usd, self.cost.source, self.cost.price_version, r.response_id or "",
            r.conversation_id or "", r.server_address or "", r.prompt_template_id or "",
            r.prompt_template_version or "", r.model_version or "", r.user_hash or "",
            r.system_instructions or "", _json(r.input_messages), _json(r.output_messages),
            _json(r.context_documents), now,
        ]


def feedback_of(row: dict[str, Any]) -> FeedbackEvent:
    """A stored feedback row back as the event it was stored from."""
    when: datetime = row["time"]
    return FeedbackEvent(
        request_id=row["request_id"], feedback_id=row["feedback_id"],
        time=when if when.tzinfo else when.replace(tzinfo=UTC),
        thumbs=row["thumbs"] or None, rating=row["rating"],
        correction=row["correction"] or None, flags=tuple(row["flags"]),
        comment=row["comment"] or None, given_by=row["given_by"],
        user_hash=row["user_hash"] or None)
