"""Personal data in text: find and redact emails, phone numbers, card numbers, IP addresses
and IBANs.  Pure; no I/O.

Candidates come from regular expressions and are then checked, so digits that
merely look like a number are left alone: card numbers must pass the Luhn
check (ISO/IEC 7812-1) and have 13-19 digits, IBANs the ISO 13616 mod-97 check
with their country's length, IP addresses must parse (``ipaddress``), and
phone numbers need 8-15 digits (the E.164 maximum is 15).

:func:`redact` replaces each finding according to a per-kind policy:
``redact`` (``[EMAIL]``), ``hash`` (``[EMAIL:1a2b3c4d]``, a keyed SHA-256
prefix, so equal values stay joinable without being readable) or ``keep``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

PiiKind = Literal["email", "card", "iban", "ip", "phone"]
Policy = Literal["redact", "hash", "keep"]
KINDS: tuple[PiiKind, ...] = ("email", "card", "iban", "ip", "phone")

#: IBAN length per country (ISO 13616 registry), for the countries most often seen.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24,
    "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27,
    "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24,
    "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26,
}

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d ().-]{6,18}\d(?![\w])")


@dataclass(frozen=True, slots=True)
class Finding:
    kind: PiiKind
    start: int
    end: int


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    iban = candidate.replace(" ", "")
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    moved = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _card(text: str) -> bool:
    digits = re.sub(r"[ -]", "", text)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _phone(text: str) -> bool:
    """8-15 digits written as a phone number: a leading + or separators (a bare run of
    digits is more often an order or ticket number), and no ISO date inside."""
    digits = re.sub(r"\D", "", text)
    written = text.startswith("+") or bool(re.search(r"[ ().-]", text))
    dated = re.search(r"\d{4}-\d{2}-\d{2}|\d{4}\.\d{2}\.\d{2}", text) is not None
    return 8 <= len(digits) <= 15 and written and not dated


_CHECKS: tuple[tuple[PiiKind, re.Pattern[str], Callable[[str], bool]], ...] = (
    ("email", _EMAIL, lambda _: True),
    ("iban", _IBAN, iban_ok),
    ("card", _CARD, _card),
    ("ip", _IPV4, _ip),
    ("ip", _IPV6, _ip),
    ("phone", _PHONE, _phone),
)


def find(text: str) -> list[Finding]:
    """Non-overlapping findings in text order; earlier kinds in ``_CHECKS`` win overlaps."""
    taken: list[Finding] = []
    for kind, pattern, valid in _CHECKS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < f.end and f.start < end for f in taken):
                continue
            if valid(match.group()):
                taken.append(Finding(kind, start, end))
    return sorted(taken, key=lambda f: f.start)


def redact(text: str, policy: Mapping[str, Policy] | None = None, key: bytes = b""
           ) -> tuple[str, Counter[str]]:
    """``text`` with its findings replaced per ``policy`` (default: redact all), and
    the number of findings of each kind."""
    rules = policy or {}
    counts: Counter[str] = Counter()
    out: list[str] = []
    last = 0
    for f in find(text):
        counts[f.kind] += 1
        action = rules.get(f.kind, "redact")
        if action == "keep":
            continue
        out.append(text[last:f.start])
        label = f.kind.upper()
        if action == "hash":
            digest = hmac.new(key, text[f.start:f.end].encode(), hashlib.sha256).hexdigest()
            out.append(f"[{label}:{digest[:8]}]")
        else:
            out.append(f"[{label}]")
        last = f.end
    out.append(text[last:])
    return "".join(out), counts
