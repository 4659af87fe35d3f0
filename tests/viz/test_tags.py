"""The tagger's view (viz.views.tags): each token's top label after each block, drawn as the lens grid, where each
settles, the model's own labels as rows, the words, and the CSV."""

from __future__ import annotations

import csv
import io

import numpy as np

from viz.figures.lens import lens_grid_figure
from viz.views.export import tags_csv
from viz.views.tags import first_uncommon, tag_grid_view, tag_rows, tag_sentence

LABELS = ["O", "<b>B-PER</b>", "I-PER"]  # a checkpoint's own label may hold markup: shown as text
TOKENS = ["[CLS]", "Ada", "Love", "##lace", "[SEP]"]


def _probs() -> np.ndarray:
    """[3 blocks, 5 tokens, 3 labels]: "Ada" becomes B-PER from block 1, "##lace" I-PER only after the last."""
    p = np.full((3, 5, 3), 0.1)
    p[:, :, 0] = 0.8  # O everywhere ...
    p[1:, 1] = [0.1, 0.8, 0.1]  # ... but Ada from block 1
    p[2, 3] = [0.1, 0.1, 0.8]  # ... and ##lace after the last block
    return p


def test_the_grid_is_the_top_label_after_each_block() -> None:
    grid = tag_grid_view(_probs(), LABELS, TOKENS)
    assert grid.tagged and grid.prob.shape == (3, 5) and np.allclose(grid.prob, 0.8)
    assert grid.cell_text[2][:4] == ["O", "&lt;b&gt;B-PE…", "O", "I-PER"]  # escaped, cut to the cell's width
    assert grid.settles.tolist() == [0, 1, 0, 2, 0] and grid.first_shown.tolist() == [0, 1, 0, 2, 0]
    assert "&lt;b&gt;B-PER&lt;/b&gt;  80.0%" in grid.hover[1][1] and "‘Ada’" in grid.hover[1][1]
    fig = lens_grid_figure(grid)
    assert fig.layout.xaxis.title.text == "position (the token labelled)"


def test_rows_name_each_tokens_own_label_and_where_it_settles() -> None:
    rows = tag_rows(_probs(), LABELS, TOKENS, first=10)
    assert [r["label"] for r in rows] == ["O", "<b>B-PER</b>", "O", "I-PER", "O"]  # the table shows text as text
    assert [r["position"] for r in rows] == [10, 11, 12, 13, 14] and rows[3]["on top from block"] == 2
    assert rows[1]["probability"] == 0.8


def test_the_sentence_names_the_commonest_label_and_the_last_to_settle() -> None:
    said = tag_sentence(_probs(), LABELS, TOKENS, "tiny")
    assert "here 3 of 5 tokens get `O`." in said and "cell" not in said  # no grid on the Experiments page
    assert "the latest to settle, on top only from block 2 (of 0–2) on: `##lace`." in said
    four = _probs()
    four[2, :, :] = [0.1, 0.1, 0.8]  # every token I-PER after the last block
    assert "from block 2 (of 0–2) on: `[CLS]`, `Ada`, `Love` and 2 more." in tag_sentence(four, LABELS, TOKENS, "t")
    settled = np.repeat(_probs()[-1:], 3, axis=0)
    assert "already on top after block 0" in tag_sentence(settled, LABELS, TOKENS, "tiny")
    assert first_uncommon(_probs()) == 1 and first_uncommon(np.full((1, 4, 2), 0.5)) == 0


def test_the_csv_has_every_labels_probability_at_every_block_and_token() -> None:
    rows = list(csv.reader(io.StringIO(tags_csv(_probs(), LABELS, TOKENS).decode())))
    assert rows[0] == ["after_block", "position", "token", "p_O", "p_<b>B-PER</b>", "p_I-PER"]
    assert len(rows) == 1 + 3 * 5 and rows[1 + 2 * 5 + 3][:3] == ["2", "3", "##lace"]
    assert float(rows[1 + 2 * 5 + 3][5]) == 0.8


def test_electras_discriminator_is_said_as_what_it_spots() -> None:
    probs = np.zeros((2, 3, 2))
    probs[:, :, 0], probs[:, 1] = 0.9, [0.2, 0.8]  # the middle token replaced
    probs[:, :, 1] = 1 - probs[:, :, 0]
    said = tag_sentence(probs, ["original", "replaced"], ["a", "cat", "b"], "tiny", replaced=True)
    assert said.startswith("tiny is ELECTRA's discriminator: trained to spot the tokens a small generator put in")
    assert "here 2 of 3 tokens get `original`" in said and "already on top after block 0" in said
    assert "`" not in tag_sentence(probs, ["original", "replaced"], ["a", "cat", "b"], "tiny", False, replaced=True)
