"""Cost of the duplicate-key check in ``ingest.decode`` on a typical event.

    python bench/decode_speed.py              # ~10 s
    python bench/decode_speed.py --number 5000

Times, on one inference event of about 1.3 KB (system, user and assistant messages,
timestamps with colons, a URL): ``orjson.loads`` alone, the duplicate-key check alone
(its fast path), the whole ``decode``, and the slow path an event with a repeated key
takes (a duplicate-aware stdlib parse that names the key).  The fastest of
``--repeats`` passes counts; microseconds per event.
"""

from __future__ import annotations

import argparse
import contextlib
import timeit
from collections.abc import Callable
from typing import Any

import orjson

from llmpulse.errors import InvalidEvent
from llmpulse.ingest import _check_unique_keys, decode


def typical_event() -> dict[str, Any]:
    system = "You are a helpful support assistant for ACME. Answer briefly. " * 3
    question = "How long do refunds take? I ordered on 2026-11-01 at 10:30 and paid by card. "
    answer = "Refunds take five business days: see https://acme.example/refunds for details. "
    return {
        "event_type": "inference", "request_id": "bench-1",
        "start_time": "2026-11-01T12:00:00+00:00", "end_time": "2026-11-01T12:00:02+00:00",
        "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 101,
        "gen_ai.response.time_to_first_chunk": 0.5, "gen_ai.response.finish_reasons": ["stop"],
        "tenant": "acme", "route": "chat", "prompt_template_id": "support",
        "prompt_template_version": "v12", "server.address": "api.openai.com",
        "gen_ai.conversation.id": "conv-42", "gen_ai.response.id": "chatcmpl-abc",
        "gen_ai.input.messages": [{"role": "system", "content": system},
                                  {"role": "user", "content": question * 3}],
        "gen_ai.output.messages": [{"role": "assistant", "content": answer * 3}],
    }


def _rejecting(raw: bytes) -> Callable[[], None]:
    def run() -> None:
        with contextlib.suppress(InvalidEvent):
            decode("inference", raw, b"bench-1")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    raw = orjson.dumps(typical_event())
    data = orjson.loads(raw)
    duplicated = raw[:-1] + b',"route":"other"}'
    cases: dict[str, Callable[[], object]] = {
        "orjson.loads": lambda: orjson.loads(raw),
        "unique-key check (fast path)": lambda: _check_unique_keys(raw, data),
        "decode": lambda: decode("inference", raw, b"bench-1"),
        "decode, duplicate key (slow path)": _rejecting(duplicated),
    }
    print(f"event: {len(raw)} bytes")
    for name, run in cases.items():
        best = min(timeit.repeat(run, number=args.number, repeat=args.repeats)) / args.number
        print(f"{name:36s} {best * 1e6:7.2f} us")


if __name__ == "__main__":
    main()
