"""The plain reference of :func:`llmpulse.detectors.pii.find`: each check's matches in
turn, each compared with every finding so far (quadratic in the findings).

Not used at run time: the tests check ``find`` against it on random texts, and
``bench/pii_speed.py`` measures ``find`` against it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmpulse.detectors import pii
from llmpulse.detectors.pii import Finding


def find_quadratic(text: str) -> list[Finding]:
    checks: tuple[tuple[pii.PiiKind, Any, Callable[[str], bool]], ...] = (
        ("email", pii._EMAIL, lambda _: True),
        ("iban", pii._IBAN, pii.iban_ok),
        ("card", pii._CARD, pii._card),
        ("ip", pii._IPV4, pii._ip),
        ("ip", pii._IPV6, pii._ip),
        ("phone", pii._PHONE, pii._phone),
    )
    taken: list[Finding] = []
    for kind, pattern, valid in checks:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < f.end and f.start < end for f in taken):
                continue
            if valid(match.group()):
                taken.append(Finding(kind, start, end))
    return sorted(taken, key=lambda f: f.start)
