"""Scope checks: quantifiers, modality, conditions and swapped roles."""

from __future__ import annotations

import pytest

from llmpulse.detectors.fact_check import ContextFacts, check_claim
from llmpulse.detectors.scope import ScopeConflict, scope_conflicts
from llmpulse.detectors.text_facts import split_sentences


def conflicts(claim: str, context: str) -> list[ScopeConflict]:
    return scope_conflicts(claim, split_sentences(context))


@pytest.mark.parametrize(("claim", "context", "expected"), [
    ("All customers in the pilot saw lower bills.",
     "Some customers in the pilot saw lower bills.", ("quantifier", "all", "some")),
    ("Most patients in the study needed a second dose.",
     "A minority of patients in the study needed a second dose.",
     ("quantifier", "most", "minority")),
    ("The colony has several queens.", "The colony has only one queen.",
     ("quantifier", "several", "only")),
    ("Contractors must wear a badge on site.", "Contractors may wear a badge on site.",
     ("modality", "must", "may")),
    ("Visitors can bring food into the gallery.",
     "Visitors cannot bring food into the gallery.", ("modality", "can", "cannot")),
    ("The board will cut the dividend.", "The board could cut the dividend.",
     ("modality", "will", "could")),
    ("The drug prevents migraines.", "The drug might prevent migraines.",
     ("modality", "", "might")),
    ("The landlord pays for repairs in every case, whatever the lease says.",
     "The landlord pays for repairs unless the lease says otherwise.",
     ("condition", "every", "unless")),
    ("The tenant sued the landlord over the deposit.",
     "The landlord sued the tenant over the deposit.", ("role", "tenant \u2026 landlord",
                                                        "landlord \u2026 tenant")),
])
def test_scope_changes_are_found(claim: str, context: str,
                                 expected: tuple[str, str, str]) -> None:
    found = conflicts(claim, context)
    assert [(c.kind, c.claim_word, c.context_word) for c in found][:1] == [expected]


@pytest.mark.parametrize(("claim", "context"), [
    ("A few customers in the pilot saw lower bills.",
     "Some customers in the pilot saw lower bills."),
    ("Every pod gets at most two CPU cores.", "Each pod is limited to 2 CPU cores."),
    ("Contractors are required to wear a badge on site.",
     "Contractors must wear a badge on site."),
    ("The landlord was sued by the tenant over the deposit.",
     "The tenant sued the landlord over the deposit."),
    ("Over the deposit, the tenant took the landlord to court.",
     "The tenant sued the landlord over the deposit."),
    ("The invoice is due every month.", "The invoice is due monthly, unless paid yearly."),
    ("Nothing can be cooled all the way to absolute zero.",
     "No system can be cooled to exactly absolute zero."),
])
def test_paraphrases_keep_their_scope(claim: str, context: str) -> None:
    assert conflicts(claim, context) == []


def test_scope_problems_cost_the_claim() -> None:
    context = "Some employees may work remotely two days a week."
    [problem] = check_claim("All employees may work remotely two days a week.", [context],
                            ContextFacts.of([context]))
    assert problem.kind == "quantifier" and problem.reason == "'all' \u2014 context says 'some'"
    assert problem.factor < 0.5
