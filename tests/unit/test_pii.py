"""PII detection and redaction: checked candidates, policies, counts."""

from __future__ import annotations

import pytest

from llmpulse.detectors.pii import find, iban_ok, luhn_ok, redact


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
