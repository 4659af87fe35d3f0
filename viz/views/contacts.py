"""A protein model's contacts predicted from its attention (services.lens.contacts): the residue × residue map and
the most likely long-range contacts, in numbers. numpy in, numpy and words out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from viz.labels import markdown_code

LONG_RANGE = 6  # residues at least this far apart in the sequence: a contact the chain's own neighbours do not explain
TOP = 10  # the most likely such contacts listed


@dataclass(frozen=True)
class ContactView:
    """P(residues i and j touch) for every pair, with each residue's label and the likeliest long-range pairs."""

    probabilities: np.ndarray  # (m, m), symmetric: residue i is token i + 1 (after <cls>)
    labels: list[str]  # each residue as "letter position" (M1, K2, ...), its position its token's (after <cls>)
    top: list[tuple[int, int, float]]  # (residue i, residue j, probability), i < j, |i − j| ≥ LONG_RANGE, best first
    expected: float  # the sum of every pair's probability over i < j: the contacts the head expects in all


def contact_view(probabilities: np.ndarray, tokens: Sequence[str]) -> ContactView:
    """The view of a [m, m] contact map of the text whose tokens (<cls> first, then the m residues) are `tokens`."""
    p = np.asarray(probabilities, dtype=np.float64)
    m = p.shape[0]
    labels = [f"{tokens[i + 1]}{i + 1}" for i in range(m)]
    i, j = np.triu_indices(m, LONG_RANGE)
    best = np.argsort(-p[i, j], kind="stable")[:TOP]
    top = [(int(i[k]), int(j[k]), float(p[i[k], j[k]])) for k in best]
    return ContactView(probabilities=p, labels=labels, top=top, expected=float(np.triu(p, 1).sum()))


def contact_rows(view: ContactView) -> list[dict[str, object]]:
    """The table of the likeliest long-range contacts: the two residues, how far apart, the probability."""
    return [{"residue": view.labels[i], "with": view.labels[j], "apart": j - i, "probability": p}
            for i, j, p in view.top]  # fmt: skip


def contact_sentence(view: ContactView, model: str, markdown: bool = True) -> str:
    """What the map is and its own numbers: as Markdown (`model` already Markdown-safe; each residue a code span, so
    an "<unk>3" reads as text), or plain text (a notebook's note)."""
    code = markdown_code if markdown else str
    m = len(view.labels)
    said = (f"{model}'s contact head reads every head's pattern over the {m} residues, made symmetric and corrected "
            "for the average product (APC), and weighs them with one logistic regression into the probability that "
            "two residues touch in the folded protein (their Cβ atoms within 8 Å, as it was trained): "
            f"{view.expected:.1f} contacts expected in all.")  # fmt: skip
    if view.top:
        i, j, p = view.top[0]
        said += (f" The likeliest pair at least {LONG_RANGE} residues apart: {code(view.labels[i])} and "
                 f"{code(view.labels[j])}, {p:.3f}.")  # fmt: skip
    return said
