"""The injection classifier of the cheap path, trained once per process on the corpus
shipped in the package (``data/injection_corpus.jsonl``).

Training is deterministic and takes about 1.5 s of CPU (n-grams of some 750 texts, their
overlap matrix, a few small Newton solves on one BLAS thread: with more, on a busy machine,
the threads spin and it took 10 s of CPU), so the weights are not cached on disk: every
process gets the same model, nothing can go stale, and a read-only container needs no
writable cache folder.  It happens the first time a process scores a text.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib.resources import files

from threadpoolctl import threadpool_limits

from llmpulse.detectors.injection import assess_rules, reading, rule_features
from llmpulse.detectors.injection_classifier import (
    InjectionClassifier,
    LabelledText,
    parse_corpus,
    train,
)

log = logging.getLogger(__name__)
CORPUS = "data/injection_corpus.jsonl"


def load_corpus() -> list[LabelledText]:
    """The labelled injection corpus shipped with llmpulse."""
    return parse_corpus(files("llmpulse").joinpath(CORPUS).read_text(encoding="utf-8"))


def train_on(corpus: list[LabelledText]) -> InjectionClassifier:
    """The classifier trained on ``corpus``, with the rules' scores as a feature."""
    texts = [row.text for row in corpus]
    with threadpool_limits(limits=1, user_api="blas"):  # small solves: threads only spin
        return train([reading(t) for t in texts], [row.label for row in corpus],
                     [row.category for row in corpus],
                     [rule_features(assess_rules(t)) for t in texts])


@cache
def shipped_classifier() -> InjectionClassifier:
    """The classifier trained on the shipped corpus (once per process)."""
    model = train_on(load_corpus())
    log.info("injection classifier trained on %d texts: l2 %.2g, cross-validated AUC %.3f",
             model.texts, model.l2, model.cv_auc)
    return model
