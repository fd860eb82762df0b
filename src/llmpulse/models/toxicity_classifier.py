"""Loads the offline toxicity scorers: the MiniLM classifier (trained here, at start-up, on
the corpus shipped in the package) or the lexicon.

Training takes about a second on two CPU cores (the 184 training texts are embedded once,
then a few small Newton solves) and is deterministic, so the weights are not cached on disk:
every start gives the same model, nothing can go stale, and a read-only container needs no
writable cache folder.  Loading all-MiniLM-L6-v2 itself takes longer than the training.
"""

from __future__ import annotations

import logging
from importlib.resources import files
from typing import TYPE_CHECKING

from llmpulse.detectors.toxicity import LexiconToxicityModel, ToxicityModel
from llmpulse.detectors.toxicity_classifier import (
    EmbeddingToxicityModel,
    LabelledText,
    parse_corpus,
    train_model,
)

if TYPE_CHECKING:
    from llmpulse.detectors.groundedness import Embedder

log = logging.getLogger(__name__)
CORPUS = "data/toxicity_corpus.jsonl"


def load_corpus() -> list[LabelledText]:
    """The labelled toxicity corpus shipped with llmpulse."""
    return parse_corpus(files("llmpulse").joinpath(CORPUS).read_text(encoding="utf-8"))


def load_embedding_toxicity(embedder: Embedder | None = None) -> EmbeddingToxicityModel:
    """The classifier on ``embedder`` (default: all-MiniLM-L6-v2; a ConfigError when it is
    not installed), trained on the corpus' training split."""
    if embedder is None:
        from llmpulse.models.embedder import load_embedder

        embedder = load_embedder("minilm")
    model = train_model(embedder, load_corpus())
    log.info("toxicity classifier trained: l2 %.2g, threshold %.3f, cross-validated AUC %.3f",
             model.classifier.l2, model.threshold, model.classifier.cv_auc)
    return model


def load_offline_toxicity(backend: str, embedder: Embedder | None = None) -> ToxicityModel:
    """``embedding``: the MiniLM classifier when llmpulse[models] is installed, else the
    lexicon (with a warning); ``lexicon``: the lexicon."""
    if backend == "lexicon":
        return LexiconToxicityModel()
    from llmpulse.models.embedder import minilm_available

    if embedder is None and not minilm_available():
        log.warning("all-MiniLM-L6-v2 is not installed (pip install 'llmpulse[models]'); "
                    "toxicity falls back to the lexicon (lexicon@1)")
        return LexiconToxicityModel()
    return load_embedding_toxicity(embedder)
