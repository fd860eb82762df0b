"""Toxicity of responses: a model gives per-label probabilities, this turns them into signals.

Pure; no I/O.  :class:`LexiconToxicityModel` is the offline fallback: weighted terms and
phrase patterns per label over normalised tokens (case, leetspeak, repeated and spaced
letters, masked letters), with negation, quotation and targeting ("you idiot" counts more
than "idiot"), squashed to 0..1 with a logistic function.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from llmpulse.detectors import _toxicity_lexicon as lexicon
from llmpulse.detectors._base import make_signal
from llmpulse.records import InferenceRecord
from llmpulse.signals import Signal

TOXICITY_LABELS: tuple[str, ...] = (
    "toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack",
    "sexual_explicit",
)
#: Characters of response text given to the model; longer texts are cut.
MAX_CHARS = 4000


class ToxicityModel(Protocol):
    """Scores texts: one dict of label -> probability (0..1) per text, in order."""

    @property
    def scorer(self) -> str: ...

    @property
    def labels(self) -> tuple[str, ...]: ...

    @property
    def threshold(self) -> float:
        """The toxicity score from which a text is labelled toxic, unless configured."""
        ...

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]: ...


# --- lexicon ---------------------------------------------------------------------------------
# The terms, patterns and word lists are in _toxicity_lexicon; this part compiles and applies
# them.

def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_BIAS = {"toxicity": -4.0, "severe_toxicity": -6.5}
_DEFAULT_BIAS = -4.0
_SECOND = _words(lexicon.SECOND)
_THIRD = _words(lexicon.THIRD)
_COPULA = _words(lexicon.COPULA)
_NEGATORS = _words(lexicon.NEGATORS)
_FILLERS = _words(lexicon.FILLERS)
_HAILS = _words(lexicon.HAILS)
_MENTIONS = _words(lexicon.MENTIONS)
_NAMES = _words(lexicon.NAMES)
_LEET = str.maketrans("013457@$!8", "oieastasib")
_TOKEN = re.compile(r"(?:[a-z0-9@$*]|!(?=[a-z0-9]))+(?:'[a-z]+)?", re.IGNORECASE)
_QUOTE = re.compile(r'"[^"]*"|(?<!\w)\'[^\'\n]+\'(?!\w)')
_RUN = re.compile(r"(.)\1{2,}")
_EDGE = frozenset(",.!?;:()\n")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


@dataclass(frozen=True, slots=True)
class _Rule:
    weights: tuple[tuple[str, float], ...]
    aimed_bonus: float = 0.0


def _rule(spec: str) -> _Rule:
    weights, bonus = [], 0.0
    for part in spec.split():
        if part.startswith("~"):
            bonus = float(part[1:])
        else:
            label, value = part.split("=")
            weights.append((label, float(value)))
    return _Rule(tuple(weights), bonus)


def _term_rules(table: str) -> dict[str, _Rule]:
    rules: dict[str, _Rule] = {}
    for block in re.split(r"\n(?=\S)", table.strip()):
        spec, words = block.split(":", 1)
        rules.update(dict.fromkeys(words.split(), _rule(spec)))
    return rules


_TERMS: Mapping[str, _Rule] = _term_rules(lexicon.TERM_TABLE)
_PATTERNS: tuple[tuple[re.Pattern[str], _Rule, bool], ...] = tuple(
    (re.compile(source), _rule(spec), not _NEGATORS & set(re.findall(r"[a-z']+", source)))
    for spec, source in lexicon.PATTERN_TABLE
)
_LONGEST = max(map(len, _TERMS))
_KNOWN = frozenset(_TERMS) | frozenset(
    word for _, source in lexicon.PATTERN_TABLE for word in re.findall(r"[a-z']{2,}", source))


class _Token(NamedTuple):
    word: str  # with leetspeak, repeated letters and masks undone
    term: str  # the lexicon entry the word spells, or ""
    quoted: bool
    edge_before: bool
    edge_after: bool
    titled: bool


def _variants(word: str) -> Iterator[str]:
    yield word
    if not word.isalpha() and any(ch.isalpha() for ch in word):
        yield word.translate(_LEET)
        yield word.replace("1", "l").translate(_LEET)
    for form in (word, word.translate(_LEET)):
        if _RUN.search(form):
            squeezed = _RUN.sub(r"\1\1", form)
            yield squeezed
            yield re.sub(r"(.)\1+", r"\1", squeezed)


def _term_of(form: str) -> str:
    if form in _TERMS:
        return form
    return form[:-1] if form.endswith("s") and form[:-1] in _TERMS else ""


def _spell(raw: str) -> tuple[str, str]:
    """The word ``raw`` spells and its lexicon term ("" when it has none)."""
    word = (raw[:-2] if raw.endswith("'s") else raw).strip("*")
    if word.isalpha() and not _RUN.search(word):  # the common case: a plain word
        return word, _term_of(word)
    if "*" in word and any(ch.isalpha() for ch in word):
        masked = re.compile(re.sub(r"\\\*+", "[a-z]{1,3}", re.escape(word)) + "$")
        term = next((t for t in _TERMS if masked.match(t)), "")
        return term or word, term
    forms = list(dict.fromkeys(_variants(word)))
    for form in forms:
        if term := _term_of(form):
            return form, term
    known = next((form for form in forms if form in _KNOWN), None)
    return known or next((form for form in forms if form.isalpha()), word), ""


def _join_spelled(tokens: list[_Token]) -> list[_Token]:
    """Join runs of single letters that spell a lexicon word ("f u c k", "i.d.i.o.t")."""
    lengths = [len(token.word) for token in tokens]
    if (1, 1, 1) not in zip(lengths, lengths[1:], lengths[2:], strict=False):
        return tokens
    out: list[_Token] = []
    i = 0
    while i < len(tokens):
        end = i
        while end < min(len(tokens), i + _LONGEST) and len(tokens[end].word) == 1:
            end += 1
        best = next((j for j in range(end, i + 2, -1)
                     if "".join(t.word for t in tokens[i:j]) in _TERMS), None)
        if best is None:
            out.append(tokens[i])
            i += 1
            continue
        word = "".join(t.word for t in tokens[i:best])
        out.append(_Token(word, word, tokens[i].quoted, tokens[i].edge_before,
                          tokens[best - 1].edge_after, False))
        i = best
    return out


def _tokens(text: str) -> list[_Token]:
    text = text.translate(_QUOTES)
    quoted = [m.span() for m in _QUOTE.finditer(text)]
    matches = list(_TOKEN.finditer(text))
    tokens = []
    for k, m in enumerate(matches):
        before = text[matches[k - 1].end():m.start()] if k else "."
        after = text[m.end():matches[k + 1].start()] if k + 1 < len(matches) else "."
        raw = m.group()
        word, term = _spell(raw.lower())
        tokens.append(_Token(
            word, term, quoted=bool(quoted) and any(a < m.start() < b for a, b in quoted),
            edge_before=before != " " and not _EDGE.isdisjoint(before),
            edge_after=after != " " and not _EDGE.isdisjoint(after),
            titled=raw[:1].isupper() and raw[1:].replace("'s", "").islower()))
    return _join_spelled(tokens)


def _skippable(token: _Token) -> bool:
    return bool(token.term) or token.word in _FILLERS


def _aim(tokens: Sequence[_Token], i: int) -> float:
    """How clearly the word at ``i`` is aimed at a person: 1 at "you", 0.8 at others, else 0."""
    j = i - 1
    while j >= 0 and i - j <= 6 and (_skippable(tokens[j])
                                     or (j > 0 and _skippable(tokens[j - 1]))):
        j -= 1
    subject, owner = (tokens[j].word if j >= 0 else ""), ""
    if subject in _COPULA:
        copula = subject
        k = j - 2 if j > 0 and tokens[j - 1].word in ("so", "really", "not", "such") else j - 1
        subject = tokens[k].word if k >= 0 else ""
        owner = tokens[k - 1].word if k > 0 else ""
        if copula in ("be", "being") and subject in ("", "stop", "quit", "don't", "dont", "just"):
            subject = "you"
    following = " ".join(t.word for t in tokens[i + 1:i + 3])
    if subject in _SECOND or following in ("like you", "like u"):
        return 1.0
    hailed = tokens[i].edge_before or (i > 0 and tokens[i - 1].word in _HAILS)
    if owner in _SECOND or subject in _THIRD or subject == "what" or (
            hailed and tokens[i].edge_after):
        return 0.8
    return 0.0


def _damping(tokens: Sequence[_Token], first: int, last: int) -> float:
    """Weight kept by words negated, quoted, mentioned or used as names ("Dick's")."""
    token = tokens[first]
    if first == last and token.titled and token.term in _NAMES:
        return 0.0
    window = {t.word for t in tokens[max(0, first - 3):last + 1]}
    return ((0.4 if token.quoted else 1.0) * (0.25 if window & _NEGATORS else 1.0)
            * (0.5 if window & _MENTIONS else 1.0))


def _evidence(tokens: Sequence[_Token]) -> dict[str, float]:
    evidence = dict.fromkeys(TOXICITY_LABELS, 0.0)
    seen: set[str] = set()
    for i, token in enumerate(tokens):
        rule = _TERMS.get(token.term)
        if rule is None or token.term in seen:
            continue
        seen.add(token.term)
        factor = _damping(tokens, i, i)
        for label, weight in rule.weights:
            evidence[label] += weight * factor
        if rule.aimed_bonus:
            bonus = rule.aimed_bonus * _aim(tokens, i) * factor
            evidence["insult"] += bonus
            evidence["toxicity"] += bonus
    joined = " ".join(t.word for t in tokens)
    starts = [0]
    for token in tokens[:-1]:
        starts.append(starts[-1] + len(token.word) + 1)
    for pattern, rule, negatable in _PATTERNS:
        match = pattern.search(joined)
        if match is None:
            continue
        first = bisect.bisect_right(starts, match.start()) - 1
        last = bisect.bisect_right(starts, match.end() - 1) - 1
        factor = _damping(tokens, first, last) if negatable else 1.0
        for label, weight in rule.weights:
            evidence[label] += weight * factor
    return evidence


def _squash(evidence: Mapping[str, float]) -> dict[str, float]:
    kinds = [evidence[k] for k in ("obscene", "threat", "insult", "identity_attack",
                                   "sexual_explicit")]
    combined = dict(evidence)
    combined["severe_toxicity"] += 0.4 * (sum(kinds) - max(kinds))
    return {label: 1.0 / (1.0 + math.exp(-(_BIAS.get(label, _DEFAULT_BIAS) + combined[label])))
            for label in TOXICITY_LABELS}


class LexiconToxicityModel:
    """Offline fallback: weighted words and phrases per label; needs no model files."""

    @property
    def scorer(self) -> str:
        return "lexicon@1"

    @property
    def labels(self) -> tuple[str, ...]:
        return TOXICITY_LABELS

    @property
    def threshold(self) -> float:
        return 0.5

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return [_squash(_evidence(_tokens(text))) for text in texts]


# --- signals ---------------------------------------------------------------------------------

def response_text(record: InferenceRecord) -> str:
    """The output messages' content, one per line ("" when the call has none)."""
    return "\n".join(m.content for m in record.output_messages if m.content)


def _explanation(probs: Mapping[str, float], threshold: float) -> str:
    flagged = sorted(((p, label) for label, p in probs.items() if p >= threshold), reverse=True)
    return ", ".join(f"{label} {p:.2f}" for p, label in flagged)


def _record_signals(record: InferenceRecord, probs: Mapping[str, float], now: datetime,
                    scorer: str, threshold: float) -> list[Signal]:
    value = probs["toxicity"] if "toxicity" in probs else max(probs.values(), default=0.0)
    signals = [make_signal(record, "toxicity", value, now, detector=scorer,
                           label="toxic" if value >= threshold else "ok",
                           explanation=_explanation(probs, threshold))]
    signals.extend(make_signal(record, f"toxicity.{label}", p, now, detector=scorer)
                   for label, p in probs.items() if label != "toxicity")
    return signals


def score_toxicity(records: Sequence[InferenceRecord], now: datetime, model: ToxicityModel,
                   *, threshold: float | None = None, batch_size: int = 32) -> list[Signal]:
    """A ``toxicity`` signal (labelled toxic from ``threshold``, default the model's own)
    and one ``toxicity.<label>`` per other label for every record with response text; texts
    go to the model ``batch_size`` at a time."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    if threshold is None:
        threshold = model.threshold
    scored = [(record, text[:MAX_CHARS]) for record in records
              if (text := response_text(record)).strip()]
    signals: list[Signal] = []
    for start in range(0, len(scored), batch_size):
        batch = scored[start:start + batch_size]
        probs = model.predict([text for _, text in batch])
        for (record, _), record_probs in zip(batch, probs, strict=True):
            signals.extend(_record_signals(record, record_probs, now, model.scorer, threshold))
    return signals
