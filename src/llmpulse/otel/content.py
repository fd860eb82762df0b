"""Message content of a GenAI span: the ``gen_ai.input.messages``,
``gen_ai.output.messages`` and ``gen_ai.system_instructions`` attributes (JSON per the
semantic conventions), or the older per-message span events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from llmpulse.otel.attributes import Attributes

ROLES = ("system", "user", "assistant", "tool")
#: Older span events, one per message, and the role each stands for.
MESSAGE_EVENTS = {"gen_ai.system.message": "system", "gen_ai.user.message": "user",
                  "gen_ai.assistant.message": "assistant", "gen_ai.tool.message": "tool",
                  "gen_ai.choice": "assistant"}


class ContentError(ValueError):
    """Content attributes that are not what the semantic conventions describe."""


def parsed(value: Any, name: str) -> Any:
    """A JSON string (as the conventions send structured attributes) parsed; other values
    (an SDK that sent a structure) as they are."""
    if isinstance(value, str | bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            if name == "gen_ai.system_instructions" and isinstance(value, str):
                return value  # plain text is clear enough
            raise ContentError(f"{name} is not JSON") from None
    return value


def messages(value: Any, name: str) -> list[dict[str, str]]:
    """``[{role, parts: [...]}]`` (or ``[{role, content}]``) as llmpulse messages."""
    items = parsed(value, name)
    if not isinstance(items, list):
        raise ContentError(f"{name} must be a JSON array of messages")
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise ContentError(f"{name}: a message must be an object")
        role = str(item.get("role", "")).lower()
        if role not in ROLES:
            raise ContentError(f"{name}: role {role!r} is not one of {', '.join(ROLES)}")
        out.append({"role": role, "content": _text(item)})
    return out


def instructions(value: Any) -> str:
    """``gen_ai.system_instructions``: parts (JSON) or plain text."""
    items = parsed(value, "gen_ai.system_instructions")
    if isinstance(items, str):
        return items
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise ContentError("gen_ai.system_instructions must be a JSON array of parts")
    return _parts_text(items)


def _text(message: dict[str, Any]) -> str:
    if "parts" in message:
        parts = message["parts"]
        if not isinstance(parts, list):
            raise ContentError("a message's parts must be an array")
        return _parts_text(parts)
    content = message.get("content", "")
    return content if isinstance(content, str) else orjson.dumps(content).decode()


def _parts_text(parts: Sequence[Any]) -> str:
    """Text parts joined by newlines; other parts (tool calls, their results, media) as
    compact JSON so nothing is silently lost."""
    texts = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type", "text") == "text":
            texts.append(str(part.get("content", "")))
        else:
            texts.append(orjson.dumps(part).decode())
    return "\n".join(texts)


def from_events(events: Sequence[tuple[str, Attributes]]) -> tuple[
        list[dict[str, str]], list[dict[str, str]], list[str]]:
    """(input messages, output messages, finish reasons) from the older span events:
    ``gen_ai.<role>.message`` with a ``content`` attribute, ``gen_ai.choice`` with a
    ``message`` (JSON ``{role, content}``) and ``finish_reason``."""
    inputs: list[dict[str, str]] = []
    outputs: list[dict[str, str]] = []
    reasons: list[str] = []
    for name, attrs in events:
        role = MESSAGE_EVENTS.get(name)
        if role is None:
            continue
        if name == "gen_ai.choice":
            message = parsed(attrs.get("message", "{}"), "gen_ai.choice message")
            if not isinstance(message, dict):
                raise ContentError("gen_ai.choice: message must be a JSON object")
            outputs.append({"role": "assistant", "content": _text(message)})
            if attrs.get("finish_reason"):
                reasons.append(str(attrs["finish_reason"]))
            continue
        content = attrs.get("content", "")
        inputs.append({"role": role, "content": content if isinstance(content, str)
                       else orjson.dumps(content).decode()})
    return inputs, outputs, reasons
