"""Personal data out of every text field of a call or feedback, before anything is
stored, published or sent to a scorer or judge.  Pure: no I/O, no clock.

Each field family has its own policy (``redact``, ``hash`` or ``keep``, from
``LLMPULSE_PII_*``); what was found is counted per (field, kind) whatever the
policy, so a ``keep`` deployment still sees how much personal data flows.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmpulse.detectors.pii import KINDS, Policy, redact
from llmpulse.records import InferenceRecord
from llmpulse.schema import (
    ContextDocument,
    FeedbackEvent,
    InferenceEvent,
    Message,
    RequestEvent,
    ResponseEvent,
)

if TYPE_CHECKING:
    from llmpulse.config import Settings

FIELDS = ("prompt", "response", "context", "feedback")
Counts = Counter[tuple[str, str]]  # (field, kind) -> findings
CallEvent = RequestEvent | ResponseEvent | InferenceEvent


@dataclass(frozen=True)
class Redactor:
    """Applies one policy per field family; ``key`` keys the ``hash`` policy."""

    policies: Mapping[str, Policy]
    key: bytes = b""

    @classmethod
    def from_settings(cls, settings: Settings) -> Redactor:
        key = settings.pii_hash_key.get_secret_value().encode() if settings.pii_hash_key else b""
        return cls({f: getattr(settings, f"pii_{f}") for f in FIELDS}, key)

    def text(self, field: str, text: str, counts: Counts) -> str:
        action = self.policies.get(field, "redact")
        cleaned, found = redact(text, _RULES[action], self.key)
        for kind, n in found.items():
            counts[(field, kind)] += n
        return cleaned

    def _messages(self, field: str, messages: tuple[Message, ...], counts: Counts
                  ) -> tuple[Message, ...] | None:
        """The messages with their texts cleaned; None when nothing changed (most calls:
        no copy is made then)."""
        cleaned = [self.text(field, m.content, counts) for m in messages]
        if all(c == m.content for c, m in zip(cleaned, messages, strict=True)):
            return None
        return tuple(m if c == m.content else m.model_copy(update={"content": c})
                     for c, m in zip(cleaned, messages, strict=True))

    def record(self, record: InferenceRecord) -> tuple[InferenceRecord, Counts]:
        """The record with its prompt, system, response and context texts cleaned."""
        counts: Counts = Counter()
        update = self._cleaned(record, counts)
        return (dataclasses.replace(record, **update) if update else record), counts  # type: ignore[arg-type]

    def event(self, event: CallEvent) -> tuple[CallEvent, Counts]:
        """A request, response or whole-call event with its texts cleaned: done right
        after decoding, so not even the join table (and its changelog) holds them raw."""
        counts: Counts = Counter()
        update = self._cleaned(event, counts)
        return (event.model_copy(update=update) if update else event), counts

    def _cleaned(self, call: object, counts: Counts) -> dict[str, object]:
        """Cleaned values of the text fields ``call`` (record or event) has and fills."""
        update: dict[str, object] = {}
        system = getattr(call, "system_instructions", None)
        if system:
            cleaned = self.text("prompt", system, counts)
            if cleaned != system:
                update["system_instructions"] = cleaned
        for name, field in (("input_messages", "prompt"), ("output_messages", "response")):
            messages: tuple[Message, ...] = getattr(call, name, ())
            if messages and (changed := self._messages(field, messages, counts)) is not None:
                update[name] = changed
        docs: tuple[ContextDocument, ...] = getattr(call, "context_documents", ())
        if docs:
            texts = [self.text("context", d.content, counts) for d in docs]
            if any(t != d.content for t, d in zip(texts, docs, strict=True)):
                update["context_documents"] = tuple(
                    d if t == d.content else d.model_copy(update={"content": t})
                    for t, d in zip(texts, docs, strict=True))
        return update

    def feedback(self, event: FeedbackEvent) -> tuple[FeedbackEvent, Counts]:
        """The feedback with its correction and comment cleaned."""
        counts: Counts = Counter()
        update = {name: self.text("feedback", value, counts)
                  for name in ("correction", "comment")
                  if (value := getattr(event, name)) is not None}
        return (event.model_copy(update=update) if update else event), counts


#: ``redact``'s policy per kind for each field policy (every kind gets the field's).
_RULES: dict[str, dict[str, Policy]] = {
    action: dict.fromkeys(KINDS, action) for action in ("redact", "hash", "keep")}


def total(counts: Counts) -> dict[str, int]:
    """Findings per kind over all fields."""
    out: Counter[str] = Counter()
    for (_, kind), n in counts.items():
        out[kind] += n
    return dict(out)
