"""A sequence classifier's verdict (services.lens.class_verdict): each label's score read from the first token's
embedding after every block, the last block's the model's own, and where the verdict settles. numpy in, words out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from viz.labels import markdown_code
from viz.views.lens import settle_layers

SCORE_WORDS = {"softmax": "probability", "sigmoid": "probability, each label on its own", "regression": "score"}


@dataclass(frozen=True)
class ClassView:
    """Blocks (rows) × labels: the classifier's score for each label after each block."""

    scores: np.ndarray  # (n_layers, n_labels); the last row the model's own verdict
    labels: list[str]
    problem: str  # "softmax", "sigmoid" or "regression" (ModelConfig.class_problem)
    top: np.ndarray  # (n_layers,) the highest-scoring label after each block
    settles: int  # the first block from which the top label is the final one's at every block after
    pool: str = "first"  # what its head reads: "first", "mean" or "last" (ModelConfig.class_pool)

    @property
    def verdict(self) -> int:
        """The model's own top label."""
        return int(self.top[-1])


# What a classifier's head reads, by ModelConfig.class_pool (a decoder's: transformers' last token not its pad token)
READS = {"first": "the first token's final embedding (a pooler, then one score per label)",
         "mean": "the mean of every token's final embedding (a pooler, then one score per label)",
         "last": "the last token's final embedding (one score per label; the model predicts no next token)",
         "decoder_eos": "its decoder's final embedding at the text's last </s>, the decoder reading the text shifted "
                        "right after its start token (mBART's and PLBART's: after the text's language code) and the "
                        "encoder's through cross-attention (a pooler, then one score per label; read after each "
                        "decoder block below)"}


def class_view(scores: np.ndarray, labels: Sequence[str], problem: str, pool: str = "first") -> ClassView:
    table = np.asarray(scores, dtype=np.float64)
    top = np.argmax(table, axis=1)
    return ClassView(scores=table, labels=list(labels), problem=problem, top=top,
                     settles=int(settle_layers(top[:, None])[0]), pool=pool)  # fmt: skip


def class_sentence(view: ClassView, model: str, markdown: bool = True, pair: bool = False) -> str:
    """The verdict and where it settles, in Markdown (`model` already Markdown-safe; labels as code: a model's own
    names may hold anything), or plain text (a notebook's note); `pair`: on a text pair (a cross-encoder's, NLI)."""
    code = markdown_code if markdown else str
    label, score = code(view.labels[view.verdict]), view.scores[-1, view.verdict]
    last = view.scores.shape[0] - 1
    kind = SCORE_WORDS.get(view.problem, "score")
    what = "text pair" if pair else "text"
    said = (f"{model} is a sequence classifier: its head reads {READS.get(view.pool, READS['first'])}. Its verdict "
            f"on this {what}: {label}, {kind} {score:.3f}. Read the same way after each block (a logit lens for the "
            "class), ")  # fmt: skip
    if view.settles == 0:
        return said + "every block already gives that label the top score."
    if view.settles == last:
        return said + f"the label comes out on top only after the last block ({last})."
    return said + f"the label is on top from block {view.settles} (of 0–{last}) on."
