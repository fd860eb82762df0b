"""PII detection and redaction: checked candidates, policies, counts."""

from __future__ import annotations

import random

import pytest

from llmpulse.detectors import pii
from llmpulse.detectors.pii import Finding, find, iban_ok, luhn_ok, redact
from llmpulse.detectors.pii_reference import find_quadratic


@pytest.mark.parametrize("text, kind", [
    ("write to jane.doe+billing@example.co.uk today", "email"),
    ("card 4111 1111 1111 1111 exp 12/29", "card"),
    ("card 5555-5555-5555-4444", "card"),
    ("IBAN GB82 WEST 1234 5698 7654 32 please", "iban"),
    ("pay DE89370400440532013000", "iban"),
    ("from 192.168.1.20 at noon", "ip"),
    ("host 2001:db8::1 answered", "ip"),
    ("call +1 (415) 555-0132", "phone"),
    ("ring +44 20 7946 0958", "phone"),
    ("tel 030-1234-5678", "phone"),
])
def test_finds_personal_data(text: str, kind: str) -> None:
    assert [f.kind for f in find(text)] == [kind]


@pytest.mark.parametrize("text", [
    "card 4111 1111 1111 1112 fails Luhn",
    "GB82WEST12345698765433 fails mod-97",
    "version 1.2.3.4.5 and 999.1.1.1",
    "order 12345678 shipped",
    "logged at 2026-11-23 16:00:00 UTC",
    "the ratio 3:2 and time 10:30",
    "an @mention and user@localhost",
])
def test_leaves_lookalikes_alone(text: str) -> None:
    assert find(text) == []


def test_check_digits() -> None:
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")
    assert iban_ok("GB82WEST12345698765432") and not iban_ok("GB82WEST1234569876543")


def test_redact_with_policies_and_counts() -> None:
    text = "Jane (jane@example.com, +1 415 555 0132) paid with 4111111111111111 from 10.0.0.7."
    out, counts = redact(text)
    assert out == "Jane ([EMAIL], [PHONE]) paid with [CARD] from [IP]."
    assert counts == {"email": 1, "phone": 1, "card": 1, "ip": 1}
    kept, _ = redact(text, {"ip": "keep", "email": "hash"}, key=b"k")
    assert "10.0.0.7" in kept and "jane@example.com" not in kept
    hashed = kept.split("(")[1].split(",")[0]
    assert hashed.startswith("[EMAIL:") and len(hashed) == len("[EMAIL:12345678]")
    again, _ = redact("jane@example.com", {"email": "hash"}, key=b"k")
    assert again == hashed  # the same value hashes the same: still joinable
    other_key, _ = redact("jane@example.com", {"email": "hash"}, key=b"other")
    assert other_key != hashed


_find_quadratic = find_quadratic


PIECES = ("a", "Z", "1", "9", "@", ".", " ", "-", "+", "%", "_", ":", "::", "(", ")", "x@y.io",
          "a.b@c.de", "example.com", ".com", "4111 1111 1111 1111", "4111111111111111",
          "+44 20 7946 0958", "10.0.0.7", "192.168.100.200", "2001:db8::1", "fe80::",
          "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "555-0132", "2026-11-23",
          "@x.org", "12", "1.2")


def test_same_findings_as_the_first_implementation_on_random_texts() -> None:
    rng = random.Random(7)
    findings = 0
    for _ in range(3000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 30)))
        expected = _find_quadratic(text)
        assert find(text) == expected, text
        findings += len(expected)
    assert findings > 5000  # the pieces do make findings, and overlapping ones


def test_email_spans_are_the_regex_matches() -> None:
    rng = random.Random(11)
    for _ in range(5000):
        text = "".join(rng.choice("aZ9._%+-@ .@-x") for _ in range(rng.randint(0, 40)))
        assert list(pii._email_spans(text)) == [m.span() for m in pii._EMAIL.finditer(text)]
    assert list(pii._email_spans("a@b.com.x@c.org")) == [(0, 7), (7, 15)]  # resumes mid-run


@pytest.mark.parametrize("text, kind", [
    ("john4111111111111111@example.com", "email"),  # a card number inside an email
    ("from 192.168.100.200 today", "ip"),  # also a dotted phone number: ip comes first
    ("card 4111 1111 1111 1111", "card"),  # also 16 spaced digits: card before phone
])
def test_earlier_kinds_win_overlaps(text: str, kind: str) -> None:
    assert [f.kind for f in find(text)] == [kind]


def test_a_candidate_failing_its_check_blocks_nothing() -> None:
    failing, passing = "030 1234 5678 90", "030 1234 5678 91"  # 13 digits: card candidates
    assert not luhn_ok(failing.replace(" ", "")) and luhn_ok(passing.replace(" ", ""))
    assert [f.kind for f in find(f"call {failing}")] == ["phone"]
    assert [f.kind for f in find(f"call {passing}")] == ["card"]


def test_many_findings_in_one_text_are_all_found_and_redacted() -> None:
    items = ("jane.doe{i}@example.com", "+44 20 7946 {i:04d}", "4111 1111 1111 1111",
             "10.0.{a}.{b}")
    parts = []
    for i in range(20_000):
        for item in items:
            parts.append(item.format(i=i % 10_000, a=i // 256 % 256, b=i % 256))
    text = " and ".join(parts) + "."
    out, counts = redact(text)
    assert counts == {"email": 20_000, "phone": 20_000, "card": 20_000, "ip": 20_000}
    assert out == " and ".join(["[EMAIL]", "[PHONE]", "[CARD]", "[IP]"] * 20_000) + "."


def test_long_runs_of_email_characters_are_scanned_whole() -> None:
    blob = "3f9a" * 75_000  # a 300,000-character hex blob: the regex alone took minutes
    assert find(blob) == [] and find(blob + " mail " + blob) == []
    assert find(f"{blob}@example.com") == [Finding("email", 0, len(blob) + 12)]
    out, counts = redact(f"{blob} x {blob}.{blob}@example.org {blob}")
    assert out == f"{blob} x [EMAIL] {blob}" and counts == {"email": 1}
