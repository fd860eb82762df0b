"""Claim-level groundedness: quantities, polarity, fact checks, and the labelled hard set."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from llmpulse.detectors.claims import clauses_of, split_claims
from llmpulse.detectors.fact_check import ContextFacts, Problem, check_claim
from llmpulse.detectors.groundedness import (
    LABEL_THRESHOLD,
    SCORER_VERSION,
    Embedder,
    EmbeddingGroundedness,
    explain,
    score_groundedness,
)
from llmpulse.detectors.polarity import polarity_conflicts
from llmpulse.detectors.quantities import extract_quantities, same_amount
from llmpulse.evaluation import roc_auc
from llmpulse.models.embedder import HashingEmbedder
from tests.unit.test_groundedness import NOW, record

HARD = Path(__file__).resolve().parents[1] / "data" / "groundedness_hard.jsonl"
HELDOUT2 = HARD.with_name("groundedness_heldout2.jsonl")
HELDOUT3 = HARD.with_name("groundedness_heldout3.jsonl")
HELDOUT4 = HARD.with_name("groundedness_heldout4.jsonl")
#: all-MiniLM-L6-v2 measures 0.866 subtle and 1.0 blatant on the ``heldout`` split, and 0.860
#: subtle and 0.998 blatant on ``heldout2`` (tests/data/groundedness_heldout2.jsonl), with
#: scorer @4; both were development data for @4 (BENCHMARKS.md, "Groundedness: edit
#: checks"); the floors leave a small margin and catch regressions.
SUBTLE_HELDOUT_FLOOR = 0.80
BLATANT_HELDOUT_FLOOR = 0.97
SUBTLE_HELDOUT2_FLOOR = 0.80
#: @4 scored 0.869 subtle and 1.0 blatant on ``heldout3`` (scored once; 0.882 after two
#: tokenising fixes found on it; the goal of 0.90 is not met).
SUBTLE_HELDOUT3_FLOOR = 0.85
#: @5 scored 0.892 subtle and 1.0 blatant on ``heldout4`` with all-MiniLM-L6-v2 (0.826 and
#: 0.971 with hashing-1024), scored once after @5 was built on the other sets.
SUBTLE_HELDOUT4_FLOOR = 0.86


def amounts_agree(claim: str, context: str) -> bool:
    [said] = extract_quantities(claim)
    return any(same_amount(said, known) for known in extract_quantities(context))


@pytest.mark.parametrize(("claim", "context", "agree"), [
    ("nearly 5.9 km", "5,895 metres", True),
    ("nearly 8.9 km", "5,895 metres", False),
    ("nineteen in twenty", "94 %", True),
    ("nineteen in twenty", "87 %", False),
    ("half a terabyte", "500 GB", True),
    ("forty-nine dollars", "$49", True),
    ("forty-nine dollars", "€49", False),
    ("78 percent", "87%", False),
    ("about 87 percent", "87%", True),
    ("1.2 g", "1,200 mg", True),
    ("2.4 g", "1,200 mg", False),
    ("a quarter of an hour", "15 minutes", True),
    ("two weeks", "14 days", True),
    ("half a billion dollars", "$500 million", True),
    ("0.15 points", "15 basis points", True),
    ("a fifth", "20%", True),
    ("about 8,850 m", "8,849 metres", True),
    ("roughly 300,000 km", "299,792 km", True),
    ("1964", "1954", False),
    ("1954", "1954", True),
])
def test_amounts_allow_honest_rounding_only(claim: str, context: str, agree: bool) -> None:
    assert amounts_agree(claim, context) is agree


def test_ranges_share_their_unit_and_rates_drop_their_denominator() -> None:
    found = extract_quantities("Take 200-400 mg every four to six hours, $49 per month.")
    assert [(q.dimension, q.value) for q in found] == [
        ("mass", 0.2), ("mass", 0.4), ("time", 4 * 3600), ("time", 6 * 3600), ("usd", 49)]


@pytest.mark.parametrize(("claim", "support", "words"), [
    ("Allergic reactions to amoxicillin commonly happen.",
     "Allergic reactions to amoxicillin are rare. Mild diarrhoea is common.",
     ("commonly", "rare")),
    ("Migration 0042 removes the legacy_sessions table reversibly.",
     "The 0042 migration drops the legacy_sessions table irreversibly.",
     ("reversibly", "irreversibly")),
    ("At higher altitude the boiling point of water is higher.",
     "At higher altitude the boiling point of water is lower.", ("higher", "lower")),
    ("Begin the tablets two days after you reach the risk area.",
     "Start the tablets 2 days before entering the risk area.", ("after", "before")),
    ("Isotretinoin is allowed in pregnancy.", "Isotretinoin is forbidden in pregnancy.",
     ("allowed", "forbidden")),
    ("The vitamin C supplements cut the number of colds.",
     "Vitamin C supplements did not reduce the number of colds.", ("cut", "reduce")),
])
def test_antonyms_conflict(claim: str, support: str, words: tuple[str, str]) -> None:
    [conflict] = polarity_conflicts(claim, [support])
    assert (conflict.claim_word, conflict.context_word) == words


@pytest.mark.parametrize(("claim", "support"), [
    ("Allergic reactions to amoxicillin seldom happen.",
     "Allergic reactions to amoxicillin are rare."),
    ("The warranty excludes damage from being submerged in water.",
     "Damage from water immersion is not covered."),
    ("Take no more than 3 tablets a day.", "Do not exceed 3 tablets in 24 hours."),
    ("Releases before 4.2.0 are unaffected.", "Versions before 4.2.0 are not affected."),
    ("Gift cards do not expire.", "Gift cards never expire."),
])
def test_paraphrases_keep_their_polarity(claim: str, support: str) -> None:
    assert polarity_conflicts(claim, [support]) == []


def test_negation_against_the_matching_clause() -> None:
    [conflict] = polarity_conflicts("Any member can export the workspace.",
                                    ["Members cannot start an export of the workspace."])
    assert conflict.claim_word == conflict.context_word == ""


def problems(claim: str, context: str) -> list[Problem]:
    return check_claim(claim, [context], ContextFacts.of([context]))


def test_fact_checks_name_what_failed() -> None:
    context = ("The Starter plan costs $49 per month and includes 500 GB of SSD storage. "
               "Custom domains are sold separately for $12 a year.")
    assert problems("The Starter plan is forty-nine dollars a month with half a terabyte of "
                    "SSD storage.", context) == []
    [extra] = problems("The Starter plan costs $49 a month, plus a free custom domain.", context)
    assert extra.kind == "polarity" and extra.reason == "'free' \u2014 context says 'sold'"
    # a near-copy: the edit check also names the substituted noun ("people" is not a synonym
    # it knows of "participants")
    [amount, noun] = problems("The vaccine prevented infection in 78 percent of people.",
                              "The vaccine prevented infection in 87% of participants.")
    assert amount.kind == "amount" and amount.reason == "'78 percent' \u2014 context says 87 %"
    assert noun.kind == "edit" and noun.reason == "'people' \u2014 context says 'participants'"
    [name] = problems("The war ended with the Treaty of Utrecht in 1648.",
                      "The Peace of Westphalia was signed in 1648 and ended the war.")
    assert name.kind == "name" and "Utrecht" in name.reason
    [date] = problems("It reached end of life in October 2025.",
                      "It reached end of life in October 2024.")
    assert date.kind == "date" and date.reason == "'2025' \u2014 context says 2024"
    [colour] = problems("Hold the button until the light flashes green.",
                        "Hold the button until the light flashes blue.")
    # a near-copy of its context sentence: the substituted word is the changed fact
    assert colour.kind == "edit" and colour.reason == "'green' \u2014 context says 'blue'"
    [colour] = problems("Hold it until it flashes green.", "Press and hold the button; the "
                        "light will flash blue once it has paired.")
    assert colour.kind == "added" and "'green'" in colour.reason


def test_claims_and_clauses() -> None:
    assert [c.text for c in split_claims("Sure! The fee is $5. I hope this helps.")] == [
        "The fee is $5."]
    assert [c.text for c in clauses_of("It is free, but domains cost $12 and expire.")] == [
        "It is free", "domains cost $12", "expire"]


def test_answer_scores_its_weakest_claim_and_explains() -> None:
    context = ["The vaccine prevented symptomatic infection in 87% of participants. "
               "Side effects were mostly mild and lasted one to two days."]
    backend = EmbeddingGroundedness(HashingEmbedder())
    good, bad = backend.score_many([
        ("It prevented symptomatic infection in about 87 percent of participants. Side "
         "effects were mostly mild and lasted a day or two.", context),
        ("It prevented symptomatic infection in about 87 percent of participants. Side "
         "effects were mostly mild and lasted four days.", context)])
    assert good.score >= LABEL_THRESHOLD and good.unsupported == []
    assert bad.score == min(s.score for s in bad.sentences) < LABEL_THRESHOLD
    assert explain(bad) == ("Side effects were mostly mild and lasted four days. "
                            "['four days' \u2014 context says one]")
    assert backend.scorer == f"embedding:hashing-1024@{SCORER_VERSION}" and SCORER_VERSION == 5
    [signal, _] = score_groundedness(
        [record("r1", "Side effects lasted four days.", context)], NOW, backend)
    assert signal.label == "ungrounded" and "context says" in signal.explanation


# --- the labelled hard set ------------------------------------------------------------------


def hard_cases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in HARD.read_text(encoding="utf-8").splitlines() if line]


def test_hard_set_is_well_formed() -> None:
    cases = hard_cases()
    assert len(cases) >= 200 and len({c["id"] for c in cases}) == len(cases)
    for case in cases:
        assert set(case) == {"id", "domain", "kind", "split", "context", "grounded",
                             "hallucinated"}
        assert case["kind"] in ("subtle", "blatant") and case["split"] in ("tune", "heldout")
        assert case["grounded"] != case["hallucinated"] and case["context"]
    assert {c["domain"] for c in cases} == {"support", "medicine", "finance", "law", "software",
                                            "geography", "science"}
    heldout = sum(c["split"] == "heldout" for c in cases)
    assert heldout >= 0.4 * len(cases)
    # a context and its answers sit in one split only
    splits: dict[str, set[str]] = {}
    for case in cases:
        splits.setdefault(" ".join(case["context"]), set()).add(case["split"])
    assert all(len(s) == 1 for s in splits.values())


def heldout2_cases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in HELDOUT2.read_text(encoding="utf-8").splitlines()
            if line]


def test_second_heldout_set_is_well_formed() -> None:
    cases = heldout2_cases()
    subtle = [c for c in cases if c["kind"] == "subtle"]
    assert len(subtle) >= 100 and len(cases) - len(subtle) >= 20
    assert len({c["id"] for c in cases}) == len(cases)
    assert not {c["id"] for c in cases} & {c["id"] for c in hard_cases()}
    changes = {"number", "date", "name", "antonym", "negation", "comparative", "quantifier",
               "role", "condition", "modality", "timeframe", "specific"}
    for case in cases:
        assert set(case) == {"id", "domain", "kind", "change", "split", "context", "grounded",
                             "hallucinated"}
        assert case["split"] == "heldout2" and case["grounded"] != case["hallucinated"]
        assert case["change"] in (changes if case["kind"] == "subtle" else {"blatant"})
    assert {c["change"] for c in subtle} == changes


def test_third_heldout_set_is_well_formed() -> None:
    cases = heldout3_cases()
    subtle = [c for c in cases if c["kind"] == "subtle"]
    assert len(subtle) >= 110 and len(cases) - len(subtle) >= 20
    assert len({c["id"] for c in cases}) == len(cases)
    assert len({c["domain"] for c in cases}) >= 8
    changes = {"number", "date", "name", "antonym", "negation", "comparative", "quantifier",
               "role", "condition", "modality", "timeframe", "specific"}
    for case in cases:
        assert set(case) == {"id", "domain", "kind", "change", "grounded_style", "split",
                             "context", "grounded", "hallucinated"}
        assert case["split"] == "heldout3" and case["grounded"] != case["hallucinated"]
        assert case["change"] in (changes if case["kind"] == "subtle" else {"blatant"})
        assert case["grounded_style"] in ("near-copy", "paraphrase")
    assert {c["change"] for c in subtle} == changes
    assert sum(c["grounded_style"] == "near-copy" for c in subtle) >= 25
    earlier = {" ".join(c["context"]) for c in hard_cases() + heldout2_cases()}
    assert not {" ".join(c["context"]) for c in cases} & earlier


def heldout3_cases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in HELDOUT3.read_text(encoding="utf-8").splitlines()
            if line]


def test_fourth_heldout_set_is_well_formed() -> None:
    cases = heldout4_cases()
    subtle = [c for c in cases if c["kind"] == "subtle"]
    assert len(subtle) >= 120 and len(cases) - len(subtle) >= 20
    assert len({c["id"] for c in cases}) == len(cases)
    assert len({c["domain"] for c in cases}) >= 10
    changes = {"number", "date", "name", "antonym", "negation", "comparative", "quantifier",
               "role", "condition", "modality", "timeframe", "specific"}
    for case in cases:
        assert set(case) == {"id", "domain", "kind", "change", "grounded_style", "split",
                             "context", "grounded", "hallucinated"}
        assert case["split"] == "heldout4" and case["grounded"] != case["hallucinated"]
        assert case["change"] in (changes if case["kind"] == "subtle" else {"blatant"})
        assert case["grounded_style"] in ("near-copy", "paraphrase")
    assert all(sum(c["change"] == change for c in subtle) >= 10 for change in changes)
    assert sum(c["grounded_style"] == "near-copy" for c in subtle) >= 40
    earlier = hard_cases() + heldout2_cases() + heldout3_cases()
    assert not {c["id"] for c in cases} & {c["id"] for c in earlier}
    assert not {" ".join(c["context"]) for c in cases} & {" ".join(c["context"]) for c in earlier}


def heldout4_cases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in HELDOUT4.read_text(encoding="utf-8").splitlines()
            if line]


def auc_by_kind(embedder: Embedder, split: str) -> dict[str, float]:
    cases = [c for c in hard_cases() + heldout2_cases() + heldout3_cases() + heldout4_cases()
             if c["split"] == split]
    backend = EmbeddingGroundedness(embedder)
    scores: Sequence[float] = [r.score for r in backend.score_many(
        [(c[key], c["context"]) for key in ("grounded", "hallucinated") for c in cases])]
    good, bad = scores[: len(cases)], scores[len(cases):]
    result = {}
    for kind in ("subtle", "blatant"):
        rows = [i for i, c in enumerate(cases) if c["kind"] == kind]
        result[kind] = roc_auc([good[i] for i in rows], [bad[i] for i in rows])
    return result


def test_heldout_auc_with_minilm(minilm: Embedder) -> None:
    auc = auc_by_kind(minilm, "heldout")
    print(f"held-out ROC-AUC with all-MiniLM-L6-v2: {auc}")
    assert auc["subtle"] >= SUBTLE_HELDOUT_FLOOR
    assert auc["blatant"] >= BLATANT_HELDOUT_FLOOR


def test_heldout_auc_with_hashing() -> None:
    auc = auc_by_kind(HashingEmbedder(), "heldout")
    print(f"held-out ROC-AUC with hashing-1024: {auc}")
    assert auc["subtle"] >= 0.75 and auc["blatant"] >= 0.9


def test_second_heldout_auc_with_minilm(minilm: Embedder) -> None:
    auc = auc_by_kind(minilm, "heldout2")
    print(f"held-out 2 ROC-AUC with all-MiniLM-L6-v2: {auc}")
    assert auc["subtle"] >= SUBTLE_HELDOUT2_FLOOR
    assert auc["blatant"] >= BLATANT_HELDOUT_FLOOR


def test_second_heldout_auc_with_hashing() -> None:
    auc = auc_by_kind(HashingEmbedder(), "heldout2")
    print(f"held-out 2 ROC-AUC with hashing-1024: {auc}")
    assert auc["subtle"] >= 0.75 and auc["blatant"] >= 0.9


def test_third_heldout_auc_with_minilm(minilm: Embedder) -> None:
    auc = auc_by_kind(minilm, "heldout3")
    print(f"held-out 3 ROC-AUC with all-MiniLM-L6-v2: {auc}")
    assert auc["subtle"] >= SUBTLE_HELDOUT3_FLOOR
    assert auc["blatant"] >= BLATANT_HELDOUT_FLOOR


def test_third_heldout_auc_with_hashing() -> None:
    auc = auc_by_kind(HashingEmbedder(), "heldout3")
    print(f"held-out 3 ROC-AUC with hashing-1024: {auc}")
    assert auc["subtle"] >= 0.80 and auc["blatant"] >= 0.95


def test_fourth_heldout_auc_with_minilm(minilm: Embedder) -> None:
    auc = auc_by_kind(minilm, "heldout4")
    print(f"held-out 4 ROC-AUC with all-MiniLM-L6-v2: {auc}")
    assert auc["subtle"] >= SUBTLE_HELDOUT4_FLOOR
    assert auc["blatant"] >= BLATANT_HELDOUT_FLOOR


def test_fourth_heldout_auc_with_hashing() -> None:
    auc = auc_by_kind(HashingEmbedder(), "heldout4")
    print(f"held-out 4 ROC-AUC with hashing-1024: {auc}")
    assert auc["subtle"] >= 0.79 and auc["blatant"] >= 0.95
