"""What a protein language model expects at each residue (services.lens.residue_logprobs): log p of each of the 20
amino acids there, under the model's masked-language-model head, and the residues whose own amino acid it finds least
likely. numpy in, numpy and words out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from viz.labels import markdown_code
from viz.views.experiments import probability_text

SURPRISING = 10  # residues listed whose own amino acid the model finds least likely


@dataclass(frozen=True)
class ResidueView:
    """Amino acids (rows) × residues (columns): log p of each amino acid at each residue, and the residue's own."""

    logp: np.ndarray  # (20, m) log p (natural) of amino acid a at residue i, the whole vocabulary's softmax
    letters: list[str]  # the 20 amino acids, the rows
    labels: list[str]  # each residue as "letter position" (M1, K2, ...): its token and its place in the sequence
    own: np.ndarray  # (m,) the row of the residue's own amino acid, −1 where it is none of the 20 (<mask>, X, <unk>)
    surprising: list[int]  # the residues whose own amino acid is least likely, least first (up to SURPRISING)


def residue_view(logp: np.ndarray, letters: str, tokens: Sequence[str], positions: Sequence[int]) -> ResidueView:
    """The view of [m, 20] log-probabilities at the residues at `positions` of a text whose tokens are `tokens`."""
    table = np.asarray(logp, dtype=np.float64).T  # (20, m)
    rows = {letter: i for i, letter in enumerate(letters)}
    labels = [f"{tokens[p]}{k + 1}" for k, p in enumerate(positions)]  # residue k + 1 of the sequence
    own = np.array([rows.get(tokens[p], -1) for p in positions])
    known = np.flatnonzero(own >= 0)
    own_logp = table[own[known], known]
    surprising = [int(known[k]) for k in np.argsort(own_logp, kind="stable")[:SURPRISING]]
    return ResidueView(logp=table, letters=list(letters), labels=labels, own=own, surprising=surprising)


def own_probability(view: ResidueView, residue: int) -> float:
    """p of the residue's own amino acid (nan where it is none of the 20)."""
    row = int(view.own[residue])
    return float(np.exp(view.logp[row, residue])) if row >= 0 else float("nan")


def surprising_rows(view: ResidueView) -> list[dict[str, object]]:
    """The table of the residues whose own amino acid the model finds least likely, with what it expects instead."""
    rows = []
    for i in view.surprising:
        best = int(np.argmax(view.logp[:, i]))
        rows.append({"residue": view.labels[i], "p(own)": own_probability(view, i),
                     "expected": view.letters[best], "p(expected)": float(np.exp(view.logp[best, i]))})  # fmt: skip
    return rows


def residue_sentence(view: ResidueView, model: str, markdown: bool = True) -> str:
    """What the map is, with its own numbers: as Markdown (`model` already Markdown-safe, residues as code spans), or
    plain text (a notebook's note)."""
    code = markdown_code if markdown else str
    known = view.own >= 0
    m = len(view.labels)
    mean = float(np.mean([own_probability(view, i) for i in np.flatnonzero(known)])) if known.any() else float("nan")
    said = (f"{model}'s masked-language-model head at each of the {m} residues: log p of each amino acid there (the "
            "softmax over its whole vocabulary), the residue's own amino acid ringed. With every residue in view the "
            "model mostly expects the one that is there")  # fmt: skip
    said += f" (on average p = {mean:.2f} here)." if known.any() else "."
    if view.surprising:
        i = view.surprising[0]
        p_own = probability_text(own_probability(view, i))
        said += (f" The least expected: {code(view.labels[i])}, p = {p_own}. These are the numbers a mutation's "
                 "wild-type-marginal score reads: log p(mutant) − log p(wild type) at its residue.")  # fmt: skip
    return said
