"""Detoxify-format checkpoints with random weights, built offline for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The Jigsaw "original" classes, in the names Detoxify's checkpoints use.
ORIGINAL_CLASSES = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]


def _split(text: str) -> list[str]:
    return text.split()


SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = _split("""
a about after again all always am an and answer any are around as ask at away back bad be
because been before being best better big bit book both bring build but by call came can
care change check clear code come could day did do does done down each end enough even
ever every example face family feel few find fine first fix for found friend from get give
go good great had happy has have he hello help her here him his home hope how i idea if in
into is it just keep kill kind know last late later learn leave let life like little long
look lot made make man many may me meeting might more morning most much must my need never
new next nice no nobody not now of off often old on once one only open or other our out
over own part people person place please point problem process put question quite rain
read ready really report right run said same say see send service she should show since
small so some something soon start still stop stupid sure take talk team tell than thank
thanks that the their them then there these they thing think this those though time to
today together too try two under until up us use very want was way we weather week well
were what when where which while who why will with without work world would wrong year yes
yet you your idiot moron hate hurt die garbage terrible awful lovely kill killing idiots
##s ##ed ##ing ##ly ##er ##est ##y , . ! ? ' - : ; ( )
""")


def build_tiny_detoxify(tmp: Path, *, hidden: int = 32, layers: int = 2, seed: int = 0,
                        heads: int | None = None, intermediate: int | None = None,
                        ) -> tuple[Path, Path]:
    """A BERT classifier in Detoxify's checkpoint format; returns (ckpt path, HF folder).

    The HF folder holds ``config.json``, ``vocab.txt`` and the fast tokenizer.  The
    checkpoint names ``bert-base-uncased`` as its base model, like Detoxify's own, so
    loading it offline needs the HF folder.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    hf_dir = tmp / "hf-config"
    hf_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(hf_dir)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads or max(2, hidden // 64),
        intermediate_size=intermediate or 4 * hidden,
        max_position_embeddings=512, num_labels=len(ORIGINAL_CLASSES), initializer_range=0.1)
    config.save_pretrained(hf_dir)
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config).eval()
    checkpoint = tmp / f"tiny-detoxify-h{hidden}-l{layers}.ckpt"
    torch.save({
        "config": {
            "arch": {"args": {"model_type": "bert-base-uncased",
                              "model_name": "BertForSequenceClassification",
                              "tokenizer_name": "BertTokenizerFast",
                              "num_classes": len(ORIGINAL_CLASSES)}},
            "dataset": {"args": {"classes": ORIGINAL_CLASSES}},
        },
        "state_dict": model.state_dict(),
    }, checkpoint)
    return checkpoint, hf_dir


def _tokenizer(hf_dir: Path) -> Any:
    """A lower-casing WordPiece tokenizer over :data:`WORDS`, saved into ``hf_dir``."""
    from tokenizers.implementations import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    vocab = list(dict.fromkeys(SPECIAL_TOKENS + WORDS))
    vocab_file = hf_dir / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertWordPieceTokenizer(str(vocab_file), lowercase=True).save(str(hf_dir / "tokenizer.json"))
    # transformers 5 ignores vocab_file= here, so the tokenizer is built from tokenizer.json.
    tokenizer = BertTokenizerFast(tokenizer_file=str(hf_dir / "tokenizer.json"))
    if len(tokenizer) != len(vocab):
        raise RuntimeError(f"tokenizer has {len(tokenizer)} tokens, expected {len(vocab)}")
    tokenizer.save_pretrained(str(hf_dir))
    return tokenizer
