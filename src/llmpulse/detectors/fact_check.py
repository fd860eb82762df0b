"""Checks one claim against its context: amounts, dates, names, polarity and added details.

Pure; no I/O, no clock.  Each failed check is a :class:`Problem` with a reason a person can
read ("'78 percent' — context says 87%") and a factor that multiplies the claim's score.
Amounts are compared with the rounding tolerance of their wording
(:mod:`llmpulse.detectors.quantities`), polarity clause by clause
(:mod:`llmpulse.detectors.polarity`).  Added details are content words the context does not
contain; an honest paraphrase has its own words too ("seldom" for "rare"), so each costs
little and three at most are counted.  A claim that copies a context sentence nearly word
for word is also read as an edit of it (:mod:`llmpulse.detectors.edits`): the content words
it substitutes or inserts are the changed fact.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from llmpulse.detectors._synonyms import synonyms_of
from llmpulse.detectors.claims import Clause
from llmpulse.detectors.edits import Edit, copy_edits, role_swaps, tokens
from llmpulse.detectors.polarity import polarity_clauses, polarity_conflicts
from llmpulse.detectors.quantities import Quantity, extract_quantities, is_unit, same_amount
from llmpulse.detectors.scope import context_clauses, scope_conflicts
from llmpulse.detectors.text_facts import (
    ContextEvidence,
    content_words,
    extract_facts,
    split_sentences,
    stem,
)

__all__ = ["CheckRules", "ContextFacts", "Problem", "check_claim", "novel_words"]



def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_MONTHS = _words("january february march april may june july august september october "
                    "november december")
_WEEKDAYS = _words("monday tuesday wednesday thursday friday saturday sunday weekday "
                      "weekdays weekend weekends")
#: Specifics a paraphrase has no reason to add: a colour, an organ, a substance, a metal.
_SPECIFIC = _words("""
red green blue amber yellow orange purple violet white black grey gray pink brown silver gold
liver kidney kidneys heart lungs lung brain stomach skin bones blood eyes
vinegar alcohol wine water milk coffee tea juice sugar salt bleach oil
steel iron copper aluminium aluminum plastic glass wood
""")
#: Words that widen a claim to everything; the context must say as much.
_UNIVERSAL = _words("all any every everyone everything always entirely completely fully "
                    "alike whatever anywhere anytime")
#: Words that turn a claim around when the context has none of them: "dropped without a
#: trace", "yours immediately", "elements he had already isolated".
_LOADED = _words("never without already immediately instantly unlimited indefinitely forever "
                 "instead")
#: Words a faithful paraphrase adds freely: hedges, glue verbs, number and unit words.
_GENERIC = _words("""
about around roughly approximately nearly almost some close just well also only likely
get gets got getting give gives given giving make makes made making take takes took taken
need needs needed use uses used using keep keeps kept let lets go goes going went put puts
want way ways thing things people person someone anyone everyone you your yours one ones
able must can may might will would should could shall still instead rather either whether
first second third once twice single whole full total overall per each every many much
zero one two three four five six seven seven eight nine ten eleven twelve thirteen fourteen
fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty
ninety hundred thousand million billion trillion half halves quarter quarters fifth fifths
tenth tenths thirds dozen couple minus percent kilo kilos km kg mm cm ml gb tb mb ms
metre metres meter meters kilometre kilometres gram grams hour hours minute minutes second
seconds day days week weeks month months year years decade decades dollar dollars euro euros
time times say says said mean means meaning show shows shown find found see note tell told
lot lots sure yes okay often plus along
""")


@dataclass(frozen=True, slots=True)
class CheckRules:
    """How much each failed check costs a claim (its score is multiplied by the factor)."""

    amount_factor: float = 0.12
    date_factor: float = 0.15
    name_factor: float = 0.2
    polarity_factor: float = 0.15
    added_factor: float = 0.9  # per added word, at most ``max_added`` of them
    max_added: int = 3
    specific_factor: float = 0.3  # an added colour, organ, substance, or "all", "always"
    #: A changed quantifier ("all" for "some"), modality ("must" for "may"), a dropped
    #: condition, or two participants swapped around a verb.
    scope_factor: float = 0.2
    #: A claim that copies a context sentence but substitutes or inserts a content word, or
    #: drops a negation from inside it (:mod:`llmpulse.detectors.edits`).
    edit_factor: float = 0.1


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str  # amount, date, name, polarity, quantifier, modality, condition, role, edit, added
    reason: str
    factor: float


@dataclass(frozen=True, slots=True)
class ContextFacts:
    """What the claims of one answer are checked against."""

    quantities: tuple[Quantity, ...]
    evidence: ContextEvidence
    words: frozenset[str]  # lower-case tokens
    text: str
    sentences: tuple[str, ...] = ()
    clauses: tuple[Clause, ...] = ()  # for the scope checks
    polarity_clauses: tuple[Clause, ...] = ()  # for the polarity check
    sentence_tokens: tuple[list[str], ...] = ()  # for the edit check, one per sentence
    #: The context's tokens with set phrases read as one word ("at no charge" -> "free").
    read_words: frozenset[str] = frozenset()

    @classmethod
    def of(cls, contexts: Sequence[str]) -> ContextFacts:
        text = "\n".join(contexts)
        sentences = tuple(s for doc in contexts for s in split_sentences(doc))
        tokenised = tuple(tokens(s) for s in sentences)
        return cls(tuple(q for doc in contexts for q in extract_quantities(doc)),
                   ContextEvidence.of(text), frozenset(re.findall(r"[a-z]+", text.lower())), text,
                   sentences, context_clauses(sentences), polarity_clauses(sentences),
                   tokenised, frozenset(w for words in tokenised for w in words))


def _quote(text: str) -> str:
    return f"'{text}'"


def _amount_problems(claim: str, facts: ContextFacts, support: Sequence[str],
                     rules: CheckRules) -> list[Problem]:
    problems = []
    nearby = [q for text in support for q in extract_quantities(text)]
    for quantity in extract_quantities(claim):
        if any(same_amount(quantity, known) for known in facts.quantities):
            continue
        if _rate_unit(quantity, facts):
            continue
        kind = "date" if quantity.is_year else "amount"
        alike = [q for q in (*nearby, *facts.quantities)
                 if q.dimension == quantity.dimension and q.text != quantity.text]
        if alike:
            reason = f"{_quote(quantity.text)} \u2014 context says {alike[0].text}"
        else:
            reason = f"{_quote(quantity.text)} is not in the context"
        factor = rules.date_factor if kind == "date" else rules.amount_factor
        problems.append(Problem(kind, reason, factor))
    return problems


#: Unit word -> the adjectives that say "per unit" ("daily" for "a day").
_RATE_ADJECTIVES = {"day": ("daily",), "week": ("weekly",), "month": ("monthly",),
                    "year": ("yearly", "annual", "annually"), "hour": ("hourly",)}


def _rate_unit(quantity: Quantity, facts: ContextFacts) -> bool:
    """An implicit "a day", "a year" (a rate's unit, not an amount) whose unit the context
    names too ("daily", "per year", "10-year")."""
    words = quantity.text.lower().split()
    if quantity.raw != 1 or len(words) != 2 or words[0] not in ("a", "an"):
        return False
    unit = words[1].removesuffix("s")
    return unit in facts.words or any(a in facts.words for a in _RATE_ADJECTIVES.get(unit, ()))


_PAIR = re.compile(r"(?<![\w.])\d+/\d+(?![\w.])")


def _reading_problems(claim: str, facts: ContextFacts, rules: CheckRules) -> list[Problem]:
    """Paired readings such as 130/80 must occur as written."""
    return [Problem("amount", f"{_quote(m.group(0))} is not in the context", rules.amount_factor)
            for m in _PAIR.finditer(claim) if m.group(0) not in facts.text]


def _date_problems(claim: str, facts: ContextFacts, rules: CheckRules) -> list[Problem]:
    words = re.findall(r"[A-Za-z]+", claim)
    problems = []
    for word in dict.fromkeys(w for w in words if w.lower() in _MONTHS | _WEEKDAYS):
        lowered = word.lower()
        if lowered == "may" and word == "may":
            continue  # the verb
        if lowered not in facts.words and lowered.rstrip("s") not in facts.words:
            problems.append(Problem("date", f"{_quote(word)} is not in the context",
                                    rules.date_factor))
    return problems


def _known_name(fact: str, evidence: ContextEvidence) -> bool:
    if evidence.supports(fact):
        return True
    parts = [p for p in re.split(r"[\s-]+", fact) if p]
    if parts and all(evidence.supports(p) for p in parts):
        return True
    quarter = re.fullmatch(r"q([1-4])", fact)
    if quarter:
        ordinal = ("first", "second", "third", "fourth")[int(quarter.group(1)) - 1]
        return ordinal in evidence.words and "quarter" in evidence.words
    return False


#: Capitalised words and acronyms that name no particular thing a paraphrase could get
#: wrong: the Earth and the Sun, a TV, a GP, an ID.
_EVERYDAY_NAMES = _words("earth sun moon tv tvs pc pcs gp gps id ids ram atm pin")
#: Temperature scales, spelled out where the context writes the symbol ("37 °C").
_SCALES = _words("celsius fahrenheit")


def _everyday(fact: str, facts: ContextFacts) -> bool:
    lowered = fact.lower()
    if lowered in _EVERYDAY_NAMES:
        return True
    return lowered in _SCALES and ("\u00b0" in facts.text or "degrees" in facts.words)


def _name_problems(claim: str, facts: ContextFacts, rules: CheckRules) -> list[Problem]:
    problems = []
    for fact in sorted(extract_facts(claim)):
        if fact[:1].isdigit() or len(fact) < 2 or fact in _MONTHS or fact in _WEEKDAYS:
            continue
        if _everyday(fact, facts):
            continue
        if not _known_name(fact, facts.evidence):
            missing = [p for p in re.split(r"[\s-]+", fact)
                       if p and not facts.evidence.supports(p)] or [fact]
            shown = " ".join(missing).title() if fact.islower() else fact
            problems.append(Problem("name", f"{_quote(shown)} is not in the context",
                                    rules.name_factor))
    return problems


def novel_words(claim: str, facts: ContextFacts) -> list[str]:
    """The claim's content words whose stem the context lacks (numbers, units, hedges and
    glue words aside)."""
    found = []
    for word in content_words(claim):
        lowered = word.lower()
        if (not lowered.isalpha() or len(lowered) < 3 or lowered in _GENERIC
                or is_unit(lowered) or lowered in _MONTHS or lowered in _WEEKDAYS
                or stem(lowered) in facts.evidence.stems or lowered in facts.words
                or _said_otherwise(lowered, facts)):
            continue
        found.append(lowered)
    return list(dict.fromkeys(found))


def _said_otherwise(word: str, facts: ContextFacts) -> bool:
    """Whether the context uses a common synonym of ``word`` or a set phrase that means it
    ("request" for "ask", "at no charge" for "free")."""
    if word in facts.read_words:
        return True
    return any(other in facts.words or stem(other) in facts.evidence.stems
               for other in synonyms_of(word) if other != word)


def _widening(claim: str, facts: ContextFacts) -> list[str]:
    """"all", "any", "always" ... in a claim whose context has no such word; "every month"
    (a rate) and "never ... any" (a negation) do not widen."""
    if facts.words & (_UNIVERSAL | {"each"}):
        return []
    words = re.findall(r"[a-z]+", re.sub(r"\ball the way\b|\beveryone else\b", " ",
                                         claim.lower()))
    found = []
    for index, word in enumerate(words):
        if word not in _UNIVERSAL:
            continue
        following = words[index + 1] if index + 1 < len(words) else ""
        if is_unit(following) or following.isdigit():
            continue
        if word == "any" and {"no", "not", "never", "without", "nothing"} & set(words[:index]):
            continue
        found.append(word)
    return found


def _added_problems(claim: str, facts: ContextFacts, rules: CheckRules, known: set[str]
                    ) -> list[Problem]:
    added = [w for w in novel_words(claim, facts) if w not in known]
    widening = [w for w in _widening(claim, facts) if w not in known]
    specific = [w for w in added if w in _SPECIFIC or w in _LOADED]
    if widening:
        specific = [*dict.fromkeys([*widening, *specific])]
    problems = [Problem("added", f"adds {_quote(w)}, which the context does not mention",
                        rules.specific_factor) for w in specific]
    added = [w for w in added if w not in specific]
    if not added:
        return problems
    shown = ", ".join(_quote(w) for w in added[:rules.max_added])
    factor = rules.added_factor ** min(len(added), rules.max_added)
    return [*problems, Problem("added", f"adds {shown}, which the context does not mention",
                               factor)]


def check_claim(claim: str, support: Sequence[str], facts: ContextFacts, *,
                rules: CheckRules | None = None) -> list[Problem]:
    """Everything about ``claim`` the context does not back; ``support`` is the context
    text that matches the claim best (polarity is judged against it)."""
    rules = rules or CheckRules()
    problems = _amount_problems(claim, facts, support, rules)
    problems += _reading_problems(claim, facts, rules)
    problems += _date_problems(claim, facts, rules)
    names = _name_problems(claim, facts, rules)
    problems += names
    named = {w.lower() for p in names for w in re.findall(r"[A-Za-z]+", p.reason)}
    for conflict in polarity_conflicts(claim, support, facts.polarity_clauses or None):
        named.update((conflict.claim_word, conflict.context_word))
        if conflict.claim_word and conflict.context_word:
            reason = (f"{_quote(conflict.claim_word)} \u2014 context says "
                      f"{_quote(conflict.context_word)}")
        else:
            reason = (f"{_quote(conflict.claim)} contradicts the context: "
                      f"{_quote(conflict.context)}")
        problems.append(Problem("polarity", reason, rules.polarity_factor))
    for scope in scope_conflicts(claim, facts.sentences, facts.clauses):
        named.update(scope.claim_word.split())
        if scope.claim_word:
            reason = (f"{_quote(scope.claim_word)} \u2014 context says "
                      f"{_quote(scope.context_word)}")
        else:
            reason = f"states as fact what the context hedges ({_quote(scope.context_word)})"
        problems.append(Problem(scope.kind, reason, rules.scope_factor))
    problems += _edit_problems(claim, facts, rules, named)
    problems += _added_problems(claim, facts, rules, named)
    return problems


def _edit_reason(edit: Edit) -> str:
    if edit.kind == "dropped":
        return f"leaves out {_quote(' '.join(edit.words))} (context: {_quote(edit.context_text)})"
    if edit.kind == "swapped":
        return (f"{_quote(edit.claim_text)} \u2014 context has them the other way round: "
                f"{_quote(edit.context_text)}")
    if edit.kind == "substituted":
        return f"{_quote(edit.claim_text)} \u2014 context says {_quote(edit.context_text)}"
    return f"adds {_quote(edit.claim_text)} to what the context says"


def _edit_problems(claim: str, facts: ContextFacts, rules: CheckRules, named: set[str]
                   ) -> list[Problem]:
    """Words a near-copy of a context sentence substitutes or inserts (those another check
    already named aside); ``named`` gains them, so that they are not counted again as
    added words."""
    problems = []
    known = facts.sentence_tokens if len(facts.sentence_tokens) == len(facts.sentences) else None
    edits = copy_edits(claim, facts.sentences, tokenised=known) or []
    for edit in [*edits, *role_swaps(claim, facts.sentences)]:
        fresh = [w for w in edit.words if w not in named]
        named.update(edit.words)
        if fresh:
            problems.append(Problem("edit", _edit_reason(edit), rules.edit_factor))
    return problems
