"""Texts/s of the PII redactor: the current ``find`` against the first, quadratic one, same run.

    python bench/pii_speed.py                 # writes bench/results/pii_speed.json
    python bench/pii_speed.py --repeats 1     # a quick look

Both run through the redactor the worker uses (``Redactor.text``, default policy
``redact``); the baseline swaps ``pii.find`` for ``_find_quadratic`` below, a copy of
the first implementation, which checked each candidate against every finding so far
and scanned emails with ``_EMAIL.finditer`` (quadratic in the length of a run of
letters and digits).  Every output of the two is compared, so the speed-up is only
reported for identical redactions.  Cases:

- ``realistic``: ``--texts`` texts of 200-600 characters of chat prose, each with 0, 1
  or 2 personal data items (emails, phone numbers, cards, IPs, IBANs);
- ``large``: one text of about ``--large-chars`` characters with an item every ~45
  characters (thousands of findings);
- ``blob``: prose around a ``--blob-chars`` hex blob (a hash, a key, an encoded file):
  the old email scan was quadratic in the blob's length.  No personal data, but the
  card pattern has no word boundary, so runs of 13-19 digits inside the blob that
  pass Luhn are redacted as cards (by both implementations).

Each case is timed ``--repeats`` times per implementation, taking turns; the fastest
pass counts.

Then the worst cases for the current implementation alone (the quadratic one would
take minutes to hours on them), through the same redactor: texts of ``--worst-chars``
characters (the schema's limit for one text) built to maximise its work, each timed
against the characters/s of the ``realistic`` case in the same run.  A ratio not far
below 1 means the cost stays linear in the length: there is no length cap, so this
bounds the time for one text.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from llmpulse.detectors import pii
from llmpulse.detectors.pii import Finding
from llmpulse.detectors.pii_reference import find_quadratic
from llmpulse.redaction import Redactor

OUT = Path(__file__).resolve().parent / "results" / "pii_speed.json"
SENTENCES = (
    "Thanks for reaching out, I checked your account and the refund was sent this morning.",
    "To restart the service, stop the worker first and then run the deploy script again.",
    "The report shows that revenue grew by 8 percent while costs stayed flat in Q3.",
    "Could you send me the slides from yesterday's meeting before noon?",
    "The function returns an empty list when the input has no valid rows.",
    "Version 2.4.1 fixed the timeout; the ticket number is 48213377.",
    "Our support hours are 9 to 5 on weekdays, except public holidays.",
    "The migration ran at 2026-11-23 16:00:00 UTC and took 42 minutes.",
    "Here is a short summary of the article in three bullet points.",
    "The ratio is 3:2 and the meeting moved to 10:30 tomorrow.",
)
ITEMS = (
    "jane.doe@example.com", "ops+alerts@mail.example.org", "+1 (415) 555-0132",
    "+44 20 7946 0958", "4111 1111 1111 1111", "5555-5555-5555-4444", "10.0.0.7",
    "2001:db8::1", "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000",
)
FindFn = Callable[[str], list[Finding]]


_find_quadratic = find_quadratic


def prose(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    length = 0
    while length < chars:
        sentence = rng.choice(SENTENCES)
        words.append(sentence)
        length += len(sentence) + 1
    return " ".join(words)[:chars].rsplit(" ", 1)[0]


def realistic_texts(count: int, rng: random.Random) -> list[str]:
    """Texts of 200-600 characters with 0-2 items, each after a word boundary."""
    texts = []
    for _ in range(count):
        words = prose(rng, rng.randint(200, 600)).split(" ")
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            words.insert(rng.randrange(len(words) + 1), rng.choice(ITEMS))
        texts.append(" ".join(words))
    return texts


def large_text(chars: int, rng: random.Random) -> str:
    parts: list[str] = []
    length = 0
    while length < chars:
        part = f"{prose(rng, rng.randint(20, 40))} {rng.choice(ITEMS)}"
        parts.append(part)
        length += len(part) + 2
    return ", ".join(parts) + "."


def blob_text(chars: int, rng: random.Random) -> str:
    blob = "".join(rng.choice("0123456789abcdef") for _ in range(chars))
    return f"{prose(rng, 300)} The attachment hash is {blob} and {prose(rng, 300)}"


def redact_all(texts: list[str], find: FindFn) -> tuple[list[str], Counter[tuple[str, str]]]:
    """The texts through the worker's redactor, with ``find`` as the detector."""
    with mock.patch.object(pii, "find", find):  # redact() looks find up at each call
        redactor, counts = Redactor({}), Counter[tuple[str, str]]()
        return [redactor.text("prompt", text, counts) for text in texts], counts


def measure(texts: list[str], repeats: int) -> dict[str, Any]:
    ways: dict[str, FindFn] = {"quadratic": _find_quadratic, "current": pii.find}
    seconds = dict.fromkeys(ways, float("inf"))
    outputs = {}
    for _ in range(repeats):
        for name, find in ways.items():
            started = time.perf_counter()
            outputs[name] = redact_all(texts, find)
            seconds[name] = min(seconds[name], time.perf_counter() - started)
    if outputs["current"] != outputs["quadratic"]:
        raise SystemExit("the two implementations redact differently")
    rate = {name: len(texts) / value for name, value in seconds.items()}
    return {
        "texts": len(texts), "mean_chars": sum(map(len, texts)) / len(texts),
        "findings": sum(outputs["current"][1].values()),
        "quadratic_texts_per_s": rate["quadratic"], "current_texts_per_s": rate["current"],
        "quadratic_seconds": seconds["quadratic"], "current_seconds": seconds["current"],
        "current_over_quadratic": rate["current"] / rate["quadratic"],
    }


def worst_texts(chars: int) -> dict[str, str]:
    """Texts of ``chars`` characters that maximise the work of each step."""
    def fill(unit: str) -> str:
        return (unit * (chars // len(unit) + 1))[:chars]
    return {
        "one run of letters, no @": fill("a1b2c3d4"),
        "all @": fill("@"),
        "a@ then a. (no TLD)": ("a@" + fill("a."))[:chars],
        "spaced digits": fill("1 "),
        "dotted digits": fill("1."),
        "dense emails": fill("jane.doe@example.com, "),
        "dense phones": fill("+1 415 555 0132; "),
        "dense cards": fill("4111 1111 1111 1111 "),
    }


def worst_case(text: str, repeats: int, realistic_chars_per_s: float) -> dict[str, Any]:
    seconds, findings = float("inf"), 0
    for _ in range(repeats):
        started = time.perf_counter()
        findings = sum(redact_all([text], pii.find)[1].values())
        seconds = min(seconds, time.perf_counter() - started)
    return {"chars": len(text), "findings": findings, "seconds": seconds,
            "chars_per_s": len(text) / seconds,
            "over_realistic_chars_per_s": len(text) / seconds / realistic_chars_per_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--texts", type=int, default=5000, help="realistic texts")
    parser.add_argument("--large-chars", type=int, default=200_000)
    parser.add_argument("--blob-chars", type=int, default=50_000)
    parser.add_argument("--worst-chars", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    cases = {
        "realistic": realistic_texts(args.texts, rng),
        "large": [large_text(args.large_chars, rng)],
        "blob": [blob_text(args.blob_chars, rng)],
    }
    results = {name: measure(texts, args.repeats) for name, texts in cases.items()}
    print(f"best of {args.repeats}; texts/s through Redactor.text, default policy")
    print(f"{'case':<10}{'texts':>7}{'chars/text':>12}{'findings':>10}"
          f"{'quadratic':>14}{'current':>14}{'x quadratic':>13}")
    for name, r in results.items():
        print(f"{name:<10}{r['texts']:>7}{r['mean_chars']:>12,.0f}{r['findings']:>10,}"
              f"{r['quadratic_texts_per_s']:>14,.2f}{r['current_texts_per_s']:>14,.2f}"
              f"{r['current_over_quadratic']:>13,.2f}")
    base = results["realistic"]["mean_chars"] * results["realistic"]["current_texts_per_s"]
    worst = {name: worst_case(text, args.repeats, base)
             for name, text in worst_texts(args.worst_chars).items()}
    print(f"\nworst cases, current only; realistic text: {base / 1e6:.2f} M chars/s")
    print(f"{'case':<26}{'chars':>11}{'findings':>10}{'seconds':>9}{'M chars/s':>11}"
          f"{'x realistic':>13}")
    for name, w in worst.items():
        print(f"{name:<26}{w['chars']:>11,}{w['findings']:>10,}{w['seconds']:>9.3f}"
              f"{w['chars_per_s'] / 1e6:>11.2f}{w['over_realistic_chars_per_s']:>13.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "bench": "pii_speed", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(), "repeats": args.repeats, "seed": args.seed,
        "results": results, "realistic_chars_per_s": base, "worst_cases": worst},
        indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
