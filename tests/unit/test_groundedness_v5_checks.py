"""Scorer @5's checks: common synonyms and set phrases, swapped participants, hyphenated
amounts, everyday capitalised words."""

from __future__ import annotations

import pytest

from llmpulse.detectors._synonyms import PHRASES, SYNONYMS, synonyms_of
from llmpulse.detectors.edits import copy_edits, role_swaps, tokens
from llmpulse.detectors.fact_check import ContextFacts, check_claim, novel_words
from llmpulse.detectors.quantities import extract_quantities, same_amount
from llmpulse.detectors.swaps import clause_tokens


def problems(claim: str, context: str) -> list[str]:
    return [f"{p.kind}: {p.reason}" for p in check_claim(claim, [context],
                                                         ContextFacts.of([context]))]


# --- synonyms and set phrases ----------------------------------------------------------------


def test_synonym_groups_leave_out_the_words_the_checks_look_for() -> None:
    looked_for = {"all", "some", "most", "none", "must", "should", "will", "higher", "lower",
                  "more", "less", "not", "never", "only", "unless", "always"}
    assert not looked_for & set(SYNONYMS)
    assert {"request"} <= synonyms_of("ask") and "ask" in synonyms_of("ask")
    assert all(len(phrase) >= 2 for phrase, _ in PHRASES)


def test_set_phrases_are_read_as_one_word() -> None:
    assert tokens("Parking is free of charge") == tokens("Parking is at no charge") \
        == ["parking", "is", "free"]
    assert tokens("You can ask for a copy") == ["you", "can", "request", "a", "copy"]
    assert tokens("More than 10 people") == ["over", "10", "people"]


@pytest.mark.parametrize(("claim", "context"), [
    ("Members can ask for a printed statement at the front desk.",
     "Members can request a printed statement at the front desk."),
    ("Delegates may park in the north car park free of charge.",
     "Delegates may park in the north car park at no charge."),
    ("The warehouse usually ships parcels within one working day of payment.",
     "The warehouse normally ships parcels within one working day of payment."),
    ("The museum shop is operated by volunteers from the local history society.",
     "The museum shop is run by volunteers from the local history society."),
    ("Most lenders in the scheme offer a fixed rate for the first two years.",
     "Most banks in the scheme offer a fixed rate for the first two years."),
])
def test_a_near_copy_with_a_common_synonym_passes(claim: str, context: str) -> None:
    assert copy_edits(claim, [context]) == []
    assert not [p for p in problems(claim, context) if p.startswith(("edit", "added"))]


def test_an_antonym_is_still_a_change() -> None:
    [edit] = copy_edits("The museum shop is run by volunteers and is closed on Mondays.",
                        ["The museum shop is run by volunteers and is open on Mondays."]) or []
    assert edit.kind == "substituted" and edit.words == ("closed",)


def test_a_word_the_context_says_with_a_synonym_is_not_added() -> None:
    context = "Customers can request a refund within thirty days."
    facts = ContextFacts.of([context])
    assert "ask" not in novel_words("You may ask for your money back within a month.", facts)
    assert "glitter" in novel_words("You may ask for glitter within a month.", facts)


# --- swapped participants --------------------------------------------------------------------


@pytest.mark.parametrize(("claim", "context", "named"), [
    ("In the quarter-final, Dunmore Athletic beat Selby Town 2-0 away.",
     "In the quarter-final, Selby Town beat Dunmore Athletic 2-0 away.",
     "'dunmore \u2026 beat \u2026 selby' \u2014 context has them the other way round: "
     "'selby \u2026 beat \u2026 dunmore'"),
    ("The nurse trains the new ward assistants every spring.",
     "The new ward assistants train the nurse every spring.", "nurse"),
])
def test_a_swap_of_participants_fails(claim: str, context: str, named: str) -> None:
    found = [p for p in problems(claim, context) if p.startswith("edit")]
    assert found and named in found[0]


def test_a_swap_the_scope_check_names_is_not_counted_twice() -> None:
    found = problems("The payment service calls the ledger service.",
                     "The ledger service calls the payment service.")
    assert found and {p.split(":")[0] for p in found} == {"role"}


@pytest.mark.parametrize(("claim", "context"), [
    # the passive keeps who did what
    ("Selby Town were beaten by Dunmore Athletic in the quarter-final.",
     "Dunmore Athletic beat Selby Town in the quarter-final."),
    # clauses in another order
    ("The new heater uses less power than the old one but is louder at night.",
     "The new heater is louder at night but uses less power than the old one."),
    # a retelling that adds a verb between the two sides
    ("Gold members get a free delivery slot, while others pay for it.",
     "Delivery slots are free for members of the gold tier."),
])
def test_a_faithful_reordering_is_not_a_swap(claim: str, context: str) -> None:
    assert role_swaps(claim, [context]) == []


def test_clauses_are_cut_at_punctuation_and_linking_words() -> None:
    assert clause_tokens("A calls B; B never calls A, and C waits", tokens) == [
        ["a", "calls", "b"], ["b", "never", "calls", "a"], ["c", "waits"]]


# --- amounts and names -----------------------------------------------------------------------


def test_a_number_hyphenated_to_its_unit_is_an_amount() -> None:
    [pause] = extract_quantities("The client waits with a three-second pause.")
    [said] = extract_quantities("It waits 3 seconds.")
    assert same_amount(said, pause)
    assert not [p for p in problems("The client waits 3 seconds between tries.",
                                    "The client retries with a three-second pause.")
                if p.startswith("amount")]


@pytest.mark.parametrize("claim", [
    "The heater keeps the room at twenty-one degrees Celsius.",
    "Each TV is checked before it leaves the warehouse.",
])
def test_everyday_capitalised_words_are_not_unknown_names(claim: str) -> None:
    context = ("Every television is tested before dispatch. The thermostat holds the room "
               "at 21 \u00b0C.")
    assert not [p for p in problems(claim, context) if p.startswith("name")]


def test_a_real_unknown_name_still_fails() -> None:
    found = problems("The heater was made by Varnholt.", "The heater was made by Osterby.")
    assert any(p.startswith(("name", "edit")) and "Varnholt".lower() in p.lower()
               for p in found)


# --- negations that are not, and negating prefixes --------------------------------------------


def test_a_free_allowance_is_not_read_as_a_prohibition() -> None:
    found = problems("Guests may bring one bicycle on the ferry free of charge.",
                     "Guests may bring one bicycle on the ferry at no charge.")
    assert not [p for p in found if p.startswith("modality")]
    assert [p for p in problems("Guests may not bring a bicycle on the ferry.",
                                "Guests may bring one bicycle on the ferry at no charge.")
            if not p.startswith("added")]


def test_a_negating_prefix_is_a_change_not_an_inflection() -> None:
    [edit] = copy_edits("The upload call is synchronous and returns a receipt at once.",
                        ["The upload call is asynchronous and returns a receipt at once."]) or []
    assert edit.words == ("synchronous",)
    assert copy_edits("The upload call is asynchronous and returns a receipt straight away.",
                      ["The upload call is asynchronous and returns a receipt at once."]) == []


@pytest.mark.parametrize(("claim", "context", "conflict"), [
    ("Several older printers lack support for duplex scanning.",
     "Several older printers do not support duplex scanning.", False),
    ("Several older printers lack support for duplex scanning.",
     "Several older printers support duplex scanning.", True),
    ("Visitors can enter the reading room without a pass.",
     "Visitors need no pass to enter the reading room.", False),
    ("The rash usually clears within a week, even without treatment.",
     "The rash usually clears on its own within a week.", False),
])
def test_lack_and_without_negate(claim: str, context: str, conflict: bool) -> None:
    found = [p for p in problems(claim, context) if p.startswith("polarity")]
    assert bool(found) is conflict
