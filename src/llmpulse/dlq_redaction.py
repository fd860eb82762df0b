"""Dead letters kept without raw personal data (``LLMPULSE_DLQ_PAYLOAD=redacted``).

Pure; no I/O.  A redacted letter holds its reason, where it came from and a copy of
the message with every email, phone number, card number, IP address and IBAN
replaced (the detectors of :mod:`llmpulse.detectors.pii`, with the ``redact``
policy whatever ``LLMPULSE_PII_*`` says): each string of a JSON message, the text of
a message that is not JSON, and nothing of one that is not text.  The letter is no
longer the message, so it cannot be replayed; ``dlq replay`` lists such letters.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmpulse.detectors.pii import redact

#: Header marking a letter whose value is a redacted copy, not the original bytes.
REDACTED_HEADER = "llmpulse.redacted"
#: How deep a JSON copy is walked (the schema's events are far shallower); deeper
#: values are left out.
MAX_DEPTH = 64


def redacted_value(value: bytes | None) -> bytes:
    """The value a redacted dead letter carries (JSON)."""
    raw = value or b""
    copy: Any
    form: str
    try:
        copy, form = _walk(orjson.loads(raw), 0), "json"
    except orjson.JSONDecodeError:
        try:
            copy, form = redact(raw.decode("utf-8"))[0], "text"
        except UnicodeDecodeError:
            copy, form = None, "binary"
    return orjson.dumps({"redacted_copy": copy, "form": form, "original_bytes": len(raw)})


def redacted_detail(detail: str) -> str:
    """A reason's detail with personal data replaced (validation messages quote the
    values they refused)."""
    return redact(detail)[0]


def _walk(node: Any, depth: int) -> Any:
    if isinstance(node, str):
        return redact(node)[0]
    if depth >= MAX_DEPTH:
        return None
    if isinstance(node, dict):
        return {redact(k)[0]: _walk(v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, depth + 1) for v in node]
    return node
