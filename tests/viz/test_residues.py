"""The residue view (viz.views.residues): rows are the 20 amino acids, columns the residues in order; each residue's
own amino acid is found by its letter (none for <mask> or X), and the least expected residues come first."""

from __future__ import annotations

import numpy as np

from viz.figures.residues import LOGP_FLOOR, residue_heatmap
from viz.views.experiments import probability_text
from viz.views.export import residues_csv
from viz.views.residues import own_probability, residue_sentence, residue_view, surprising_rows

LETTERS = "ACDEFGHIKLMNPQRSTVWY"


def view_of(tokens: list[str], positions: list[int], seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(positions), 20)) * 3
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    return residue_view(logp, LETTERS, tokens, positions), logp


def test_rows_columns_own_residues_and_the_least_expected() -> None:
    tokens = ["<cls>", "M", "K", "<mask>", "X", "W", "<eos>"]
    view, logp = view_of(tokens, [1, 2, 3, 4, 5])
    assert view.logp.shape == (20, 5) and np.array_equal(view.logp, logp.T)
    assert view.labels == ["M1", "K2", "<mask>3", "X4", "W5"]
    assert view.own.tolist() == [LETTERS.index("M"), LETTERS.index("K"), -1, -1, LETTERS.index("W")]
    own = [own_probability(view, i) for i in (0, 1, 4)]
    assert np.isclose(own[0], np.exp(logp[0, LETTERS.index("M")])) and np.isnan(own_probability(view, 2))
    assert view.surprising == [i for _, i in sorted(zip(own, (0, 1, 4), strict=True))]  # least likely first
    rows = surprising_rows(view)
    assert [r["residue"] for r in rows] == [view.labels[i] for i in view.surprising]
    assert all(r["p(expected)"] >= r["p(own)"] for r in rows)


def test_the_sentence_the_figure_and_the_file_carry_the_same_numbers() -> None:
    tokens = ["<cls>", *"MKTAYIAK", "<eos>"]
    view, logp = view_of(tokens, list(range(1, 9)), seed=1)
    said = residue_sentence(view, "tiny-esm")
    first = view.surprising[0]
    assert f"`{view.labels[first]}`, p = {probability_text(own_probability(view, first))}." in said
    assert "8 residues" in said
    assert "`" not in residue_sentence(view, "tiny-esm", markdown=False)
    fig = residue_heatmap(view)
    z = np.asarray(fig.data[0].z)
    assert z.shape == (20, 8) and np.allclose(z, np.maximum(logp.T, LOGP_FLOOR))
    assert list(fig.data[1].x) == list(range(1, 9))  # every residue here is one of the 20: each ringed
    assert list(fig.data[1].y) == list("MKTAYIAK")
    lines = residues_csv(view).decode().splitlines()
    assert lines[0].startswith("residue,label,logp_A,logp_C") and len(lines) == 9
    assert lines[1].split(",")[:2] == ["1", "M1"] and float(lines[1].split(",")[2]) == logp[0, 0]
