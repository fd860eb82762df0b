"""Edit check for near-copies: what a claim that copies a context sentence changed in it."""

from __future__ import annotations

import pytest

from llmpulse.detectors.claims import without_attribution
from llmpulse.detectors.edits import copy_edits, tokens
from llmpulse.detectors.fact_check import ContextFacts, check_claim
from llmpulse.detectors.groundedness import LABEL_THRESHOLD, EmbeddingGroundedness, explain
from llmpulse.models.embedder import HashingEmbedder

CONTEXT = ("The bond fund has shown stable returns over the past decade, with few losing years. "
           "Fees are charged quarterly.")


def edit_reasons(claim: str, context: str = CONTEXT) -> list[str]:
    return [p.reason for p in check_claim(claim, [context], ContextFacts.of([context]))
            if p.kind == "edit"]


def test_tokens_spell_out_contractions_and_abbreviations() -> None:
    assert tokens("Can't wait 5 ms, 2.5% off") == ["cannot", "wait", "5", "milliseconds",
                                                   "2.5", "percent", "off"]


@pytest.mark.parametrize(("claim", "context", "named"), [
    # an antonym substituted into a copied sentence
    ("The bond fund has shown volatile returns over the past decade, with few losing years.",
     CONTEXT, "'volatile' \u2014 context says 'stable'"),
    # a comparative turned around
    ("Seminar groups are larger than lecture classes, so each student gets more feedback.",
     "Seminar groups are smaller than lecture classes, so each student gets more feedback.",
     "'larger' \u2014 context says 'smaller'"),
    # a time frame changed
    ("Access keys are rotated every 90 days, and old keys stop working a year later.",
     "Access keys are rotated every 90 days, and old keys stop working a week later.",
     "'year' \u2014 context says 'week'"),
    # a clause added
    ("The contract can be terminated by either party with sixty days' written notice sent "
     "by registered mail.",
     "The contract can be terminated by either party with sixty days' written notice.",
     "adds 'sent by registered mail' to what the context says"),
    # a negation left out of the middle of the sentence
    ("Liquids in containers larger than 100 ml are allowed in hand luggage.",
     "Liquids in containers larger than 100 ml are not allowed in hand luggage.",
     "leaves out 'not'"),
])
def test_a_changed_copy_fails_and_names_the_change(claim: str, context: str, named: str
                                                   ) -> None:
    reasons = [p.reason for p in check_claim(claim, [context], ContextFacts.of([context]))]
    assert any(named in reason for reason in reasons), reasons


def test_a_changed_number_is_left_to_the_amount_check() -> None:
    context = "The client retries a failed upload three times, waiting two seconds between."
    claim = "The client retries a failed upload five times, waiting two seconds between."
    assert copy_edits(claim, [context]) == []
    reasons = [p.reason for p in check_claim(claim, [context], ContextFacts.of([context]))]
    assert reasons == ["'five times' \u2014 context says three times"]


@pytest.mark.parametrize("claim", [
    # verbatim
    "The bond fund has shown stable returns over the past decade, with few losing years.",
    # a clause dropped
    "The bond fund has shown stable returns over the past decade.",
    # an article and an inflection changed
    "A bond fund has shown stable return over the past decade, with few losing years.",
])
def test_faithful_copies_pass(claim: str) -> None:
    assert copy_edits(claim, [CONTEXT]) == []
    assert edit_reasons(claim) == []


def test_reordered_clauses_and_synonyms_pass() -> None:
    context = "The new parser is slower on small files but uses less memory than the old one."
    moved = "The new parser uses less memory than the old one but is slower on small files."
    assert not copy_edits(moved, [context])  # read as a paraphrase, or as a faithful copy
    fronted = "Over the past decade, the bond fund has shown stable returns with few losing years."
    assert not copy_edits(fronted, [CONTEXT]) and edit_reasons(fronted) == []
    context = "Customers can request a paper invoice from the billing page, which is free."
    assert copy_edits("Customers may request a paper invoice from the billing page.",
                      [context]) == []


def test_a_paraphrase_is_not_judged_by_the_edit_check() -> None:
    paraphrase = "Over the last ten years the fund's returns held steady, rarely losing money."
    assert copy_edits(paraphrase, [CONTEXT]) is None
    assert edit_reasons(paraphrase) == []


def test_a_clause_from_another_context_sentence_is_not_an_insertion() -> None:
    claim = ("The bond fund has shown stable returns over the past decade, and its fees are "
             "charged quarterly.")
    assert edit_reasons(claim) == []


def test_the_scorer_ranks_a_faithful_copy_above_a_changed_one() -> None:
    backend = EmbeddingGroundedness(HashingEmbedder())
    good, bad = backend.score_many([
        ("The bond fund has shown stable returns over the past decade.", [CONTEXT]),
        ("The bond fund has shown volatile returns over the past decade.", [CONTEXT])])
    assert good.score >= LABEL_THRESHOLD > bad.score
    assert "'volatile' \u2014 context says 'stable'" in explain(bad)


@pytest.mark.parametrize(("sentence", "claim"), [
    ("According to the documentation: Fees are charged quarterly.", "Fees are charged quarterly."),
    ("Per the docs, fees are charged quarterly.", "fees are charged quarterly."),
    ("The fee policy states that fees are charged quarterly.", "fees are charged quarterly."),
    ("Based on the context, fees are charged quarterly.", "fees are charged quarterly."),
    # not an attribution: a qualifier of the claim stays
    ("In the 2025 policy, fees are charged quarterly.", None),
    ("Per page, the limit is 50 items.", None),
    ("According to Smith, fees are charged quarterly.", None),
])
def test_an_opening_attribution_is_not_part_of_the_claim(sentence: str,
                                                         claim: str | None) -> None:
    assert without_attribution(sentence) == (claim or sentence)


def test_an_attributed_copy_is_grounded() -> None:
    """Answers that name their source ("According to the documentation: ...") before a
    sentence copied from it are grounded, and a changed one is still caught."""
    backend = EmbeddingGroundedness(HashingEmbedder())
    good, bad = backend.score_many([
        ("According to the documentation: The bond fund has shown stable returns over the "
         "past decade.", [CONTEXT]),
        ("According to the documentation: The bond fund has shown volatile returns over the "
         "past decade.", [CONTEXT])])
    assert good.score >= LABEL_THRESHOLD > bad.score
    assert "according" not in explain(bad).lower()
