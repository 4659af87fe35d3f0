"""Logit-lens and generation view models (issue 16): pure numpy, checked on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from viz.views.generation import candidates, generation_cut_sentence, step_attention, step_heads
from viz.views.lens import chosen_tokens, first_key_shares, lens_grid, settle_caption, settle_layers


def test_settle_layers_is_the_start_of_the_final_run():
    top1 = np.array([[5, 1, 2], [7, 1, 3], [5, 1, 3], [5, 4, 3]])  # 4 layers, 3 positions
    assert settle_layers(top1).tolist() == [2, 3, 1]


def test_lens_grid_cells_hover_and_escaping():
    ids = np.array([[[1, 2]], [[2, 1]]])  # 2 layers, 1 position, k = 2
    probs = np.array([[[0.6, 0.3]], [[0.9, 0.05]]])
    names = {1: "<br>", 2: " averyveryverylongtoken"}
    grid = lens_grid(ids, probs, ["<b>"], names.__getitem__)
    assert grid.cell_text[0][0] == "&lt;br&gt;"  # Plotly would read <br> as a line break
    assert grid.cell_text[1][0] == "␣averyv…"  # cut to CELL_CHARS
    assert grid.prob.tolist() == [[0.6], [0.9]]
    assert "&lt;b&gt;" in grid.hover[0][0] and "60.0%" in grid.hover[0][0] and "30.0%" in grid.hover[0][0]
    assert grid.settles.tolist() == [1]


def test_chosen_tokens_adds_the_actual_next_token():
    ids = np.zeros((2, 3, 5), dtype=int)
    ids[-1, 0] = [10, 11, 12, 13, 14]
    assert chosen_tokens(ids, 0, [0, 42, 7]) == [10, 11, 12, 42]
    assert chosen_tokens(ids, 0, [0, 11, 7]) == [10, 11, 12]
    assert chosen_tokens(ids, 2, [0, 11, 7]) == [0, 0, 0]  # the last position has no next token in the text


def test_candidates_marks_the_written_token():
    c = candidates(np.array([4, 9]), np.array([0.7, 0.2]), 9, lambda i: f" t{i}")
    assert c.labels == ["␣t4", "␣t9"] and c.chosen == 1
    assert candidates(np.array([4, 9]), np.array([0.7, 0.2]), 3, str).chosen == -1


def test_the_settling_caption_says_where_the_answer_first_shows_and_where_it_stays():
    # Column 0's final top-1 (5) shows after block 0, is lost at block 1 and stays from block 2: the caption said
    # only "first shows it, and keeps it to the end, after block 2", which reads as if nothing showed it before.
    # Blocks count from 0: "after block 13 of 29" read as 29 blocks (SmolLM2 has 30), so the range is written out.
    def grid_of(*top1: np.ndarray):  # one column per top-1 sequence, k = 1
        ids = np.stack(top1, axis=1)[:, :, None]  # (n_layers, n, 1)
        return lens_grid(ids, np.ones(ids.shape), ["t"] * ids.shape[1], str)

    grid = grid_of(np.array([5, 7, 5, 5]), np.array([1, 1, 1, 1]))
    assert settle_caption(grid, 0, "‘,’", "the last position") == (
        "At the last position the final answer is ‘,’: the lens first shows it after block 0 (of 0–3) and keeps it "
        "from block 2 on."
    )
    assert settle_caption(grid, 1, "‘x’", "the last position") == (
        "At the last position the final answer is ‘x’: the lens shows it after every block."
    )
    assert settle_caption(grid_of(np.array([7, 5, 5, 5])), 0, "‘,’", "position 4") == (
        "At position 4 the final answer is ‘,’: the lens first shows it after block 1 (of 0–3) and keeps it to the end."
    )
    late = np.array([7, 7, 7, 5])
    assert settle_caption(grid_of(late), 0, "‘,’", "position 4") == (
        "At position 4 the final answer is ‘,’: the lens shows it only after the last block (3)."
    )


class _StepTrace:
    tokens = ["a", " b", " c", " d", " e"]
    offsets = [(0, 1), (1, 3), (3, 5), (5, 7), (7, 9)]
    text = "a b c d e"
    n_tokens = 5

    def pattern(self, layer, head):  # a trace's rows are not what the steps read (a mean-ablated run's last pass)
        raise AssertionError("the step views read the generation's step_patterns")

    layer_patterns = pattern


class _Generation:
    trace, n_prompt = _StepTrace(), 3  # 3 prompt tokens, 2 generated

    def step_patterns(self, layer):  # [n_heads, n_new, n - 1]
        return np.arange(2 * 2 * 4, dtype=np.float32).reshape(2, 2, 4) + 100 * layer


def test_step_views_read_each_step_s_own_weights():
    view = step_attention(_Generation(), 1, 1)
    assert view.weights.tolist() == [[108, 109, 110, 111], [112, 113, 114, 115]]
    assert view.rows == ["␣d", "␣e"] and view.keys == ["a", "␣b", "␣c", "␣d"] and view.n_prompt == 3
    assert step_heads(_Generation(), 1, 0).tolist() == [[4, 5, 6, 7], [12, 13, 14, 15]]  # the 4 keys step 1 saw
    assert step_heads(_Generation(), 0, 0).shape == (2, 3)


def test_a_cut_generation_says_what_was_read():
    # SmolLM2's context is 8,192, but the engine's longest pass is 4,096: that, less the new tokens, cut this one.
    assert generation_cut_sentence(4066, 4084, 30, 4096, 4096) == (
        "The text is 4,084 tokens; the model read its first 4,066 (the longest pass (4,096 tokens) less room for the "
        "30 new tokens) and continues from there: the rest of the text is left out."
    )
    assert "(the token cap in the sidebar)" in generation_cut_sentence(1000, 1744, 30, 1000, 4096)  # no room taken
    assert "asked for, or the longest pass less room for the new tokens" in generation_cut_sentence(1000, 1744, None)


def test_first_key_shares_leave_out_the_query_that_sees_only_the_first_key():
    pattern = np.eye(3)  # query 0 on key 0 (it can see nothing else), the others on themselves
    sent = np.ones((3, 3))
    assert first_key_shares(pattern, sent) == (0.0, pytest.approx(1 / 3))
    assert np.isnan(first_key_shares(np.ones((1, 1)), np.ones((1, 1)))[0])


def test_lens_grid_cells_hold_fewer_characters_as_positions_grow():
    """Browser review at 1024 px: with the default sentence's 10 positions a cell is ~39 px wide, and 8-character
    labels ("␣dismant", "(…0x9C)") ran over their neighbours. The cut follows the number of positions shown."""
    from viz.views.lens import cell_chars

    assert [cell_chars(n) for n in (1, 8, 10, 16)] == [8, 8, 6, 4]
    ids = np.ones((1, 10, 1), dtype=int)
    grid = lens_grid(ids, np.full((1, 10, 1), 0.5), ["t"] * 10, {1: " dismantle"}.__getitem__)
    assert set(grid.cell_text[0]) == {"␣dism…"}


def test_the_grid_s_introduction_says_where_to_read_a_cell_s_token():
    """Review (51 tokens): the cells of a wide grid carry no text, but the introduction still said each cell is the
    token; it now sends the reader to the hover. The figure and the sentence ask the same property."""
    from viz.figures.lens import lens_grid_figure
    from viz.views.lens import TEXT_IN_CELLS_MAX, grid_introduction

    def grid(n: int):
        return lens_grid(np.ones((2, n, 5), dtype=int), np.full((2, n, 5), 0.2), ["t"] * n, {1: "x"}.__getitem__)

    narrow, wide = grid(TEXT_IN_CELLS_MAX), grid(TEXT_IN_CELLS_MAX + 1)
    assert narrow.names_cells and not wide.names_cells
    assert lens_grid_figure(narrow).data[0].text is not None and lens_grid_figure(wide).data[0].text is None
    assert "written in the cell" in grid_introduction(narrow, 5) and "top 5" in grid_introduction(narrow, 5)
    said = grid_introduction(wide, 5)
    assert "written in the cell" not in said and "hover a cell" in said and f"{TEXT_IN_CELLS_MAX + 1} positions" in said


def test_a_cell_of_punctuation_alone_is_written_large_and_bold():
    """Review (1280 px): at the cells' 10 px a comma, a full stop or a dash was a speck, lost on a dark cell (the
    logit lens of the default sentence is mostly ","). Such cells are written at MARK_PX and bold; words, byte
    pieces and named characters stay at 10 px, so they still fit their cells."""
    from viz.figures.lens import MARK_PX, lens_grid_figure

    names = [",", ".", " (", "...", "<", " the", "\n", " ", "ant"]
    ids = np.arange(len(names)).reshape(1, -1, 1)  # 1 layer, one position per name, k = 1
    grid = lens_grid(ids, np.full(ids.shape, 0.5), ["t"] * len(names), names.__getitem__)
    text = lens_grid_figure(grid).data[0].text[0]
    large = f'<span style="font-size:{MARK_PX}px"><b>'
    for cell, shown in zip(text[:5], [",", ".", "␣(", "...", "&lt;"], strict=True):
        assert cell == f"{large}{shown}</b></span>", cell
    assert list(text[5:]) == ["␣the", "\\n", "␣", "ant"], "words, a named character and a lone space as they were"
    assert MARK_PX > lens_grid_figure(grid).data[0].textfont.size


def test_the_introduction_names_a_prediction_head_where_the_model_has_one():
    """The ModernBERT decoder reads its logits through a prediction head (dense, GELU, LayerNorm) between the final
    norm and the unembedding: the logit lens sends each layer through it too, and the introduction says so."""
    from viz.views.lens import grid_introduction

    grid = lens_grid(np.ones((2, 3, 5), dtype=int), np.full((2, 3, 5), 0.2), ["t"] * 3, {1: "x"}.__getitem__)
    plain, headed = grid_introduction(grid, 5), grid_introduction(grid, 5, prediction_head=True)
    assert "final normalisation and unembedding" in plain and "prediction head" not in plain
    assert "final normalisation, prediction head and unembedding" in headed


def test_a_masked_language_models_grid_guesses_the_token_at_each_position():
    """A masked-language model's logits at a position guess the token there: the hover says "at", not "after", the
    followed tokens add the token the text has at the position (not the next one, and never the mask itself), and
    the page follows the first mask first."""
    from viz.views.lens import focus_position, grid_introduction

    ids = np.zeros((2, 3, 5), dtype=int)
    ids[-1, 1] = [10, 11, 12, 13, 14]
    grid = lens_grid(ids, np.full((2, 3, 5), 0.2), ["[CLS]", "<b>", "[SEP]"], lambda i: f"t{i}", fills_in=True)
    assert grid.hover[1][1].startswith("layer 1 · position 1, at &lt;b&gt;<br>top 5 tokens for this position")
    from viz.figures.lens import lens_grid_figure

    assert lens_grid_figure(grid).layout.xaxis.title.text == "position (the token guessed)"
    said = grid_introduction(grid, 5, prediction_head=True, mask="[MASK]")
    assert "most likely token for that position" in said and "Type `[MASK]` in the text to hide a token" in said
    assert "next token" not in said and "Type" not in grid_introduction(grid, 5)  # no mask token to type
    assert "trained to fill in masked tokens" in grid_introduction(grid, 5)  # the grid says what it guesses
    assert chosen_tokens(ids, 1, [2, 42, 3], mask_id=4) == [10, 11, 12, 42]  # the token there, not the next (3)
    assert chosen_tokens(ids, 1, [2, 4, 3], mask_id=4) == [10, 11, 12]  # the text hides it: nothing to add
    assert chosen_tokens(ids, 1, [2, 11, 3], mask_id=4) == [10, 11, 12]
    tokens = ["[CLS]", "a", "[MASK]", "b", "[MASK]", "[SEP]"]
    assert focus_position(tokens, 0, 6, "[MASK]") == 2 and focus_position(tokens, 3, 6, "[MASK]") == 4
    assert focus_position(tokens, 0, 6, None) == 5 and focus_position(["a", "b"], 0, 2, "[MASK]") == 1
    plain = ["[CLS]", "a", "b", "[SEP]"]  # no mask: the text's last token, not the [SEP] after it, if shown
    assert focus_position(plain, 0, 4, "[MASK]", last_word=2) == 2 and focus_position(plain, 3, 4, "[MASK]", 2) == 3


def test_hiding_a_word_behind_the_mask():
    """The sidebar's one click for a masked-language model: the text's last word (a protein's middle residue) behind
    the model's mask token; nothing to do where there is no word or the mask is already there."""
    from viz.views.common import hide_a_word

    assert hide_a_word("a fluffy blue creature roamed the verdant forest.", "[MASK]") == (
        "a fluffy blue creature roamed the verdant [MASK].")  # fmt: skip
    assert hide_a_word("MKTAYIAKQR", "<mask>", protein=True) == "MKTAY<mask>AKQR"
    assert hide_a_word("the [MASK] sat", "[MASK]") is None and hide_a_word("...", "[MASK]") is None
    assert hide_a_word("", "<mask>", protein=True) is None
