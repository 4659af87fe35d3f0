"""The contact map's view model and figure (viz/views/contacts.py, viz/figures/contacts.py) on a made-up map whose
likeliest pairs are known."""

from __future__ import annotations

import numpy as np

from viz.figures.contacts import contact_heatmap
from viz.views.contacts import LONG_RANGE, TOP, contact_rows, contact_sentence, contact_view

TOKENS = ["<cls>", *"MKTAYIAKQRQISFVKSHFSRQ", "<eos>"]


def made_up_map() -> np.ndarray:
    """20 residues: 0.1 everywhere, 0.9 between neighbours (too close to count), 0.8 for residues 2 and 15, 0.7 for
    residues 4 and 12."""
    p = np.full((20, 20), 0.1)
    for i in range(19):
        p[i, i + 1] = p[i + 1, i] = 0.9
    p[2, 15] = p[15, 2] = 0.8
    p[4, 12] = p[12, 4] = 0.7
    return p


def test_the_view_lists_the_likeliest_long_range_pairs_first():
    view = contact_view(made_up_map(), TOKENS)
    assert view.labels[:3] == ["M1", "K2", "T3"]  # a residue is its letter and its token's position
    assert view.top[:2] == [(2, 15, 0.8), (4, 12, 0.7)]  # the neighbours' 0.9 is not a long-range contact
    assert len(view.top) == TOP and all(j - i >= LONG_RANGE for i, j, _ in view.top)
    assert abs(view.expected - np.triu(made_up_map(), 1).sum()) < 1e-9
    rows = contact_rows(view)
    assert rows[0] == {"residue": "T3", "with": "K16", "apart": 13, "probability": 0.8}
    said = contact_sentence(view, "esm2")
    assert "20 residues" in said and "`T3` and `K16`, 0.800" in said and f"{view.expected:.1f} contacts" in said
    assert "T3 and K16, 0.800" in contact_sentence(view, "esm2", markdown=False)  # a notebook's plain note


def test_the_heatmap_draws_every_pair_and_frames_the_likeliest():
    view = contact_view(made_up_map(), TOKENS)
    fig = contact_heatmap(view)
    heatmap = fig.data[0]
    assert np.array_equal(np.asarray(heatmap.z), view.probabilities) and (heatmap.zmin, heatmap.zmax) == (0.0, 1.0)
    assert list(fig.layout.yaxis.ticktext) == view.labels and list(heatmap.x) == list(range(1, 21))
    assert "T3 and K16<br>13 apart<br>P(contact) 0.800" == heatmap.text[2][15]
    frames = fig.layout.shapes
    assert len(frames) == TOP and (frames[0].x0, frames[0].y0) == (15.5, 2.5)  # residue 15's column, residue 2's row


def test_a_long_proteins_map_hovers_by_position_without_a_string_per_cell():
    """Past HOVER_TEXT_MAX residues, m² hover strings would weigh tens of MB: the hover reads the positions and z."""
    from viz.figures.contacts import HOVER_TEXT_MAX

    m = HOVER_TEXT_MAX + 1
    tokens = ["<cls>", *("A" * m), "<eos>"]
    fig = contact_heatmap(contact_view(np.full((m, m), 0.2), tokens))
    heatmap = fig.data[0]
    assert heatmap.text is None
    assert heatmap.hovertemplate == "residues %{y} and %{x}<br>P(contact) %{z:.3f}<extra></extra>"


def test_a_residue_the_tokenizer_did_not_know_is_shown_as_text_not_markup():
    """An <unk> residue's label ("<unk>3") would be a tag to Plotly: the axis and the hover write it escaped."""
    tokens = ["<cls>", "M", "K", "<unk>", *("A" * 8), "<eos>"]
    fig = contact_heatmap(contact_view(np.full((11, 11), 0.3), tokens))
    assert fig.layout.yaxis.ticktext[2] == "&lt;unk&gt;3" and fig.data[0].text[2][0].startswith("&lt;unk&gt;3 and M1")
