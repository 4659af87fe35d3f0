"""A hybrid's scan or delta-rule weights for one head (services.lens.implicit_weights): the matrix and what sets it
apart from an attention pattern, in numbers. numpy in, numpy and words out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ImplicitView:
    """One head's weight[t, s] over a window of m tokens (0 where s > t), with its labels and summary numbers."""

    weights: np.ndarray  # (m, m)
    labels: list[str]  # the window's tokens
    layer: int
    head: int
    n_tokens: int  # the whole text's, m or more
    first: int  # the window's first position in the text
    row_sums: np.ndarray  # (m,): an attention pattern's are all 1
    negative_share: float  # of the weights' total size |weight|, the part on negative weights
    reach: float  # tokens back a query reads, averaged over queries, each source weighted by its |weight|

    @property
    def truncated(self) -> bool:
        return self.n_tokens > len(self.labels)


def implicit_view(
    weights: np.ndarray, head: int, labels: Sequence[str], layer: int, n_tokens: int, first: int = 0
) -> ImplicitView:
    """The view of `head` from a layer's [heads, m, m] weights of the tokens first..first + m − 1; labels: the whole
    text's tokens."""
    one = np.asarray(weights[head], dtype=np.float64)  # (m, m)
    m = one.shape[0]
    size = np.abs(one)
    total = float(size.sum())
    back = np.arange(m)[:, None] - np.arange(m)[None, :]  # (t, s): t − s, how far back the source is
    per_row = size.sum(1)
    rows = per_row > 0
    reach = float(np.mean((size * back).sum(1)[rows] / per_row[rows])) if rows.any() else 0.0
    return ImplicitView(
        weights=one, labels=list(labels[first : first + m]), layer=int(layer), head=int(head), n_tokens=int(n_tokens),
        first=int(first),
        row_sums=one.sum(1), negative_share=float(size[one < 0].sum()) / total if total else 0.0, reach=reach,
    )  # fmt: skip


def implicit_sentence(view: ImplicitView) -> str:
    """What this head's weights are and how they differ from a pattern, with its own numbers."""
    low, high = float(view.row_sums.min()), float(view.row_sums.max())
    said = (f"Row sums run from {low:.3g} to {high:.3g} (an attention pattern's are all 1); "
            f"{view.negative_share:.0%} of the weights' total size is on negative weights (a pattern has none); "
            f"weighted by size, a query reads {view.reach:.1f} tokens back on average (0: only itself).")  # fmt: skip
    if view.truncated:
        last = view.first + len(view.labels) - 1
        said += (f" Drawn for tokens {view.first}–{last} of {view.n_tokens}, sources and queries alike: exact, as a "
                 "weight depends only on the tokens from its source to its query.")  # fmt: skip
    return said
