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

Cost: every text is scanned whole, in time linear in its length plus at most
O(n log n) in its number n of candidates.  There is deliberately no cap on the
scanned length: text past a cap would either reach storage unscanned (personal
data leaking) or have to be dropped (data loss), and neither is needed, because
no step grows faster than that.  Each pattern does a bounded amount of work per
position, except the email one, whose unbounded local part made
``finditer`` quadratic on a long run of letters and digits (a hex or base32
blob: 40,000 characters took over a second).  :func:`_email_spans` finds the
same matches from the ``@`` signs instead.  The schema caps one text at
1,000,000 characters; ``bench/pii_speed.py`` times such worst cases.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import string
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
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

#: Characters of an email's local part: the class ``[A-Za-z0-9._%+-]`` of ``_EMAIL``.
_LOCAL_CHARS = string.ascii_letters + string.digits + "._%+-"
_AT_AFTER_LOCAL = re.compile(r"(?<=[A-Za-z0-9._%+-])@")
_EMAIL_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
#: The email pattern; :func:`_email_spans` gives its ``finditer`` spans in linear time.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@" + _EMAIL_DOMAIN.pattern)
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


Spans = Callable[[str], Iterator[tuple[int, int]]]


def _email_spans(text: str) -> Iterator[tuple[int, int]]:
    """The spans of ``_EMAIL.finditer(text)``, in time linear in ``len(text)``.

    The regex engine tries every start position and, from each, runs the local part
    to the end of its run of ``_LOCAL_CHARS`` before failing, so a long run without
    an ``@`` costs its length squared.  Here each ``@`` that follows a local-part
    character is looked at once.  As ``@`` is not a local-part character, a match
    through it starts where the run of local-part characters before it starts (or
    where the search resumed, after the previous match; ``rstrip`` stops at an
    earlier ``@`` by itself), and ends where the domain pattern, anchored after the
    ``@``, ends.  The domain has no ``@`` either, so no run is read twice.
    """
    resume = 0  # where finditer would search on from: the end of the last match
    after_at = 0  # just past the previous @ looked at: no local part reaches back over it
    for sign in _AT_AFTER_LOCAL.finditer(text):
        at = sign.start()
        low = max(resume, after_at)
        start = low + len(text[low:at].rstrip(_LOCAL_CHARS))
        after_at = at + 1
        if start < at and (domain := _EMAIL_DOMAIN.match(text, after_at)):
            yield start, domain.end()
            resume = domain.end()


def _regex_spans(pattern: re.Pattern[str]) -> Spans:
    def spans(text: str) -> Iterator[tuple[int, int]]:
        return (match.span() for match in pattern.finditer(text))
    return spans


_CHECKS: tuple[tuple[PiiKind, Spans, Callable[[str], bool]], ...] = (
    ("email", _email_spans, lambda _: True),
    ("iban", _regex_spans(_IBAN), iban_ok),
    ("card", _regex_spans(_CARD), _card),
    ("ip", _regex_spans(_IPV4), _ip),
    ("ip", _regex_spans(_IPV6), _ip),
    ("phone", _regex_spans(_PHONE), _phone),
)


def find(text: str) -> list[Finding]:
    """Non-overlapping findings in text order; earlier kinds in ``_CHECKS`` win overlaps.

    The checks run in order.  A candidate that overlaps a finding of an earlier check
    is dropped whole (not trimmed, and not validated); one that fails its validation
    blocks nothing.  The findings so far are kept sorted by start and, as they do not
    overlap, by end too; a check's candidates come in text order, so one pointer
    sweeping the sorted findings answers every overlap question, and each check's
    new findings are merged in after it (two sorted runs: a linear merge).
    """
    taken: list[tuple[int, int, PiiKind]] = []  # sorted by start, disjoint
    for kind, spans, valid in _CHECKS:
        found: list[tuple[int, int, PiiKind]] = []
        i, count = 0, len(taken)
        for start, end in spans(text):
            while i < count and taken[i][1] <= start:
                i += 1  # ends before this candidate, and so before every later one
            if i < count and taken[i][0] < end:
                continue  # the first finding ending after the start begins before the end
            if valid(text[start:end]):
                found.append((start, end, kind))
        if found:
            taken = sorted(taken + found) if taken else found
    return [Finding(kind, start, end) for start, end, kind in taken]


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
