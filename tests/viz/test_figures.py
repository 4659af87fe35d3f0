"""The pattern pages' figure builders with synthetic arrays (no model): orientation, hover, masks, clicks."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from tests.app.helpers import decode
from tests.viz.synthetic import TOKS, softmax, synthetic
from viz import labels
from viz.figures import heatmaps, layout, long_text, overview
from viz.figures.atlas import example_figure
from viz.figures.lens import lens_grid_figure, lens_track_figure, step_attention_figure, step_heads_figure
from viz.figures.mechanism import layer_head_grid
from viz.figures.shifts import closest_sense_figure, named_head_sources
from viz.figures.vectors import vector_strips
from viz.views.atlas import ExampleRow
from viz.views.generation import StepAttention
from viz.views.lens import LensTrack, lens_grid


def test_head_heatmap_keeps_repeated_tokens_apart_and_orients() -> None:
    scores, mask, pattern = synthetic()
    ticks = labels.plotly_tokens(TOKS)
    rows = heatmaps.head_heatmap(pattern, scores, mask, ticks, "rows")
    assert rows.layout.xaxis.tickvals == (0, 1, 2, 3, 4)  # integer positions: both "the" survive
    assert rows.layout.xaxis.ticktext[4] == "␣&lt;b&gt;dog&lt;/b&gt;"
    np.testing.assert_array_equal(decode(rows.to_plotly_json()["data"][0]["z"]), pattern)
    assert rows.layout.yaxis.title.text == "query"
    cols = heatmaps.head_heatmap(pattern, scores, mask, ticks, "cols")
    np.testing.assert_array_equal(decode(cols.to_plotly_json()["data"][0]["z"]), pattern.T)
    assert cols.layout.xaxis.title.text == "query"
    # Hover of drawn cell (y=0, x=3) in "cols" is query 3 looking at key 0.
    assert cols.data[0].text[0][3].startswith("query 3: ␣the<br>key 0: the")


def test_head_heatmap_hover_has_weight_and_raw_score() -> None:
    scores, mask, pattern = synthetic()
    fig = heatmaps.head_heatmap(pattern, scores, mask, labels.plotly_tokens(TOKS), score_label="scaled score")
    hover = fig.data[0].text[1][3]  # query 1, key 3: masked
    assert (
        "weight 0<" in hover
        and f"scaled score {scores[1, 3]:.4g}" in hover
        and "raw" not in hover
        and "masked" in hover
    )


def test_score_hover_names_the_score_it_is_given_and_no_formula_by_default() -> None:
    """Not every model's score is q·k/√d_head (T5 adds a position bias, Gemma 2 soft-caps): a caller that does
    not name it gets the plain word "score", never "scaled score"."""
    scores, mask, pattern = synthetic()
    ticks = labels.plotly_tokens(TOKS)
    cells = heatmaps.Cells(ticks, ticks)
    for label, want in ((None, "<br>score "), ("q·k + position bias", "<br>q·k + position bias ")):
        named = {} if label is None else {"score_label": label}
        head = heatmaps.head_heatmap(pattern, scores, mask, ticks, **named).data[0].text[2][0]
        seen = heatmaps.scores_heatmap(scores, mask, ticks, **named).data[0].text[2][0]
        window = long_text.window_heatmap(pattern, scores, cells, **named).data[0].hovertemplate
        for hover in (head, seen, window.replace("%{customdata[1]", " ")):
            assert want in hover and "scaled score" not in hover, hover


def test_scores_heatmap_masks_with_blank_cells_labelled_minus_infinity() -> None:
    scores, mask, _ = synthetic()
    fig = heatmaps.scores_heatmap(scores, mask, labels.plotly_tokens(TOKS))
    z = decode(fig.to_plotly_json()["data"][0]["z"])
    assert np.isnan(z[~mask]).all() and np.isfinite(z[mask]).all()
    overlay = fig.data[1]
    assert len(overlay.x) == int((~mask).sum())
    assert all("−∞ (masked)" in h for h in overlay.hovertext)


def test_head_sources_draw_a_masked_source_grey_and_say_so_on_hover() -> None:
    """Embedding shifts' per-head picture: a source the mask hides from the query is not drawn as a weak one."""
    values = np.array([[0.5, 0.2, 0.0], [0.1, 0.4, 0.0]])
    fig = named_head_sources(values, ["0: a", "1: b", "2: c"], "per head", allowed=np.array([True, True, False]))
    z = decode(fig.to_plotly_json()["data"][0]["z"])
    assert np.isnan(z[:, 2]).all() and np.isfinite(z[:, :2]).all()
    assert fig.layout.plot_bgcolor == layout.MASKED_GREY
    hover = fig.data[0].text
    assert all("masked" in row[2] for row in hover) and not any("masked" in row[0] for row in hover)
    assert "0.5" in hover[0][0]


def test_scores_heatmap_without_mask_has_no_overlay() -> None:
    scores, _, _ = synthetic()
    fig = heatmaps.scores_heatmap(scores, np.ones_like(scores, dtype=bool), labels.plotly_tokens(TOKS))
    assert len(fig.data) == 1


def test_mask_comparison_difference_panel_is_masked_minus_unmasked() -> None:
    scores, mask, masked = synthetic()
    unmasked = softmax(scores)
    fig = heatmaps.mask_comparison(masked, unmasked, labels.plotly_tokens(TOKS))
    data = fig.to_plotly_json()["data"]
    np.testing.assert_allclose(decode(data[2]["z"]), masked - unmasked)


def test_small_multiples_and_overview_click_targets_carry_layer_and_head() -> None:
    patterns = np.stack([synthetic(seed=h)[2] for h in range(4)])
    fig = overview.layer_small_multiples(patterns, selected_head=2, layer=7)
    (targets,) = [t for t in fig.data if t.type == "scatter"]
    assert [tuple(c) for c in targets.customdata] == [(7, h) for h in range(4)]
    assert len(fig.layout.shapes) == 1  # the selected head's frame
    assert [a.text for a in fig.layout.annotations] == ["head 0", "head 1", "<b>head 2</b>", "head 3"]
    # The mosaic holds each head's pattern unchanged, at the cell the click target's centre points into.
    grid = decode(fig.to_plotly_json()["data"][0]["z"])
    n = patterns.shape[1]
    for h in range(4):
        x0, y0 = (round(v - (n - 1) / 2) for v in (targets.x[h], targets.y[h]))
        np.testing.assert_array_equal(grid[y0 : y0 + n, x0 : x0 + n], patterns[h].astype(np.float32))
    frame = fig.layout.shapes[0]
    assert (frame.x0 + 0.5, frame.y0 + 0.5) == (round(targets.x[2] - (n - 1) / 2), round(targets.y[2] - (n - 1) / 2))
    pooled = np.random.default_rng(1).random((3, 4, 5, 5))
    over = overview.overview_mosaic(pooled, selected=(2, 1))
    custom = np.asarray(over.data[1].customdata)
    assert custom.shape == (12, 2) and {tuple(c) for c in custom} == {(lay, h) for lay in range(3) for h in range(4)}
    z = decode(over.to_plotly_json()["data"][0]["z"])
    s, gap = 5, 1
    np.testing.assert_array_equal(
        z[1 * (s + gap) : 1 * (s + gap) + s, 2 * (s + gap) : 2 * (s + gap) + s], pooled[2, 1].astype(np.float32)
    )


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ({"points": [{"customdata": [3, 4]}]}, (3, 4)),
        ({"points": [{"customdata": {"0": 5, "1": 1}}]}, (5, 1)),
        ({"points": [{"x": 1}]}, None),
        ({"points": []}, None),
        (None, None),
    ],
)
def test_selected_point(selection: object, expected: object) -> None:
    assert layout.selected_point(selection) == expected


def test_image_config_formats() -> None:
    assert layout.image_config("f", "svg")["toImageButtonOptions"]["format"] == "svg"
    assert layout.image_config("f")["toImageButtonOptions"]["format"] == "png"


def test_token_axis_thins_ticks_and_can_go_without_labels() -> None:
    axis = layout.token_axis([f"t{i}" for i in range(130)], "key", start=10)
    assert axis["tickvals"][:3] == [10, 13, 16] and axis["range"] == [9.5, 139.5]  # every 3rd of 130 labels
    bare = layout.token_axis(None, "dim", n=7)
    assert "tickvals" not in bare and bare["range"] == [-0.5, 6.5]


def test_a_long_texts_window_has_no_marker_per_masked_cell_but_hovers_on_them() -> None:
    """A 128 × 128 window of a causal head has 8,128 masked cells: as SVG markers they were slow to draw and too
    small to read; the heatmap hovers on its grey gaps instead, with the −∞ text."""
    n = 128
    scores = np.random.default_rng(0).standard_normal((n, n))
    mask = np.tril(np.ones((n, n), dtype=bool))
    toks = [f"t{i}" for i in range(n)]
    fig = heatmaps.scores_heatmap(scores, mask, toks, cells=heatmaps.Cells(toks, toks, 872, 872))
    assert len(fig.data) == 1 and fig.data[0].hoverongaps
    assert "−∞ (masked)" in fig.data[0].text[0][5] and "key 877" in fig.data[0].text[0][5]


def test_a_query_key_window_in_half_a_column_thins_its_rotated_labels_but_keeps_every_cell_and_jump() -> None:
    """48 positions of a long text in half a column: at most 12 x labels (at −45° more overlap), every other row
    labelled (48 labels ~10 px apart ran together), hover on each cell's true positions, the picked cell framed
    first and a dashed line at the jump."""
    from viz.figures.mechanism import QK_MAX_X_LABELS, matrix_heatmap, query_key_heatmap

    positions = [*range(0, 24), *range(276, 300)]  # a window made of two runs of tokens
    names = [f"{p}: t{p}" for p in positions]
    matrix = np.random.default_rng(0).random((48, 48))
    fig = query_key_heatmap(matrix, "A", names, "rows", "weight", highlight=(30, 5), positions=positions)
    assert len(fig.layout.xaxis.ticktext) <= QK_MAX_X_LABELS < 48
    assert fig.layout.yaxis.tickvals == tuple(range(0, 48, 2))
    np.testing.assert_array_equal(decode(fig.to_plotly_json()["data"][0]["z"]), matrix.astype(np.float32))
    assert decode(fig.to_plotly_json()["data"][0]["customdata"])[24, 23].tolist() == [276, 23]
    frame, *jumps = fig.layout.shapes
    assert (frame.x0, frame.y0, frame.line.color) == (4.5, 29.5, layout.SELECTED_RED)
    assert [(s.y0, s.line.dash) for s in jumps if s.yref == "y"] == [(23.5, "dash")]
    assert [(s.x0, s.line.dash) for s in jumps if s.xref == "x"] == [(23.5, "dash")]
    # A matrix of its own (not query × key) keeps the wider label budget.
    wide = matrix_heatmap(matrix, "E", names, names, "dimension", "token")
    assert len(wide.layout.xaxis.ticktext) == 48
    stacked = matrix_heatmap(np.zeros((18, 4)), "W_O", row_bands=6, band_highlight=1)
    lines = [s for s in stacked.layout.shapes if s.type == "line"]
    assert [s.y0 for s in lines] == [5.5, 11.5] and stacked.layout.shapes[-1].y0 == 5.5


def _cell_axes_drawing_lines(fig) -> list[str]:
    """The axes of gapped heatmaps that draw a grid or zero line: Plotly draws those under the cells, so
    they show through the gaps as rows of dots (the atlas grid had one down head 0 and across layer 0)."""
    found = []
    for trace in fig.data:
        if trace.type != "heatmap" or not (trace.xgap or trace.ygap):
            continue
        for ref in (trace.xaxis or "x", trace.yaxis or "y"):  # "x2": a subplot's axis, layout.xaxis2
            name = ref[0] + "axis" + ref[1:]
            axis = fig.layout[name]
            if axis.showgrid is not False or axis.zeroline is not False:
                found.append(f"{name}: showgrid={axis.showgrid}, zeroline={axis.zeroline}")
    return found


def test_no_axis_line_shows_through_the_gaps_between_cells() -> None:
    rng = np.random.default_rng(0)
    scores, mask, pattern = synthetic()
    ticks = labels.plotly_tokens(TOKS)
    grid = lens_grid(np.array([[[1, 2]], [[2, 1]]]), np.array([[[0.6, 0.3]], [[0.9, 0.05]]]), ["a"], str)
    figures = {
        "layer_head_grid": layer_head_grid(rng.random((6, 4)), "previous token", "share", (0, 0)),
        "vector_strips": vector_strips([("q", rng.normal(size=8)), ("k", rng.normal(size=8))], "q and k"),
        "closest_sense": closest_sense_figure(
            ["a mole", "the mole"], ["animal", "unit"], np.array([[0, 1], [1, -1]]), rng.random((2, 2, 2))
        ),
        "lens_grid": lens_grid_figure(grid),
        "head_sources": named_head_sources(rng.random((2, 3)), ["a", "b", "c"], "t", np.array([True, True, False])),
        "head_heatmap": heatmaps.head_heatmap(pattern, scores, mask, ticks, "rows"),
        "scores_heatmap": heatmaps.scores_heatmap(scores, mask, ticks, "rows"),
        "mask_comparison": heatmaps.mask_comparison(pattern, softmax(scores), ticks, "rows"),
        "atlas_example": example_figure(ExampleRow(list(TOKS), ticks, np.full(len(TOKS), 0.2), 2, "")),
    }
    drawing = {name: lines for name, fig in figures.items() if (lines := _cell_axes_drawing_lines(fig))}
    assert drawing == {}


def test_every_attention_weight_heatmap_uses_the_one_weight_scale() -> None:
    """A learner reads "dark blue = much attention" on every page: the Generate page's step heatmaps drew the same
    weights in Viridis (dark purple = none) and their unseen cells in another grey."""
    rng = np.random.default_rng(0)
    scores, mask, pattern = synthetic()
    ticks = labels.plotly_tokens(TOKS)
    steps = StepAttention(rng.random((2, 4)), ["x", "y"], ["a", "b", "c", "x"], n_prompt=3)
    figures = {
        "head_heatmap": heatmaps.head_heatmap(pattern, scores, mask, ticks, "rows"),
        "head_sources": named_head_sources(rng.random((2, 3)), ["a", "b", "c"], "t", np.array([True, True, False])),
        "step_attention": step_attention_figure(steps, 0, 0),
        "step_heads": step_heads_figure(rng.random((3, 4)), ["a", "b", "c", "x"], 0, "y"),
    }
    blues = go.Figure(go.Heatmap(z=[[0.0]], colorscale=layout.WEIGHT_SCALE)).data[0].colorscale
    scales = {name: fig.data[0].colorscale for name, fig in figures.items()}
    assert {name: scale for name, scale in scales.items() if scale != blues} == {}
    assert step_attention_figure(steps, 0, 0).layout.plot_bgcolor == layout.MASKED_GREY  # the steps not yet seen


def test_lens_track_draws_each_token_in_one_colour_on_both_charts() -> None:
    """Only the probability chart has a legend, so the rank chart must reuse its colours (it took the colorway's
    next three, and its purple line was a different token from the legend's purple)."""
    track = LensTrack(labels=[",", ".", "…"], probs=np.full((4, 3), 0.2), ranks=np.zeros((4, 3), dtype=int))
    fig = lens_track_figure(track, "after 'forest'")
    colours = {}
    for trace in fig.data:
        colours.setdefault(trace.name, set()).update({trace.line.color, trace.marker.color})
    assert len(colours) == 3 and all(len(c) == 1 and None not in c for c in colours.values()), colours
    assert len({c.pop() for c in colours.values()}) == 3  # and the tokens apart


@pytest.mark.parametrize("worst", [0, 1, 40, 30_000])
def test_lens_rank_axis_starts_at_rank_one(worst: int) -> None:
    """The rank chart's log axis was autoranged, and Plotly's padding took it above rank 1 to about 0.5, with a
    minor tick "5" (rank 0.5, which cannot exist) over the "1". Its range is set: rank 1 at the top, the worst
    rank shown at the bottom; the markers at the top edge are drawn whole (not clipped at the axis)."""
    ranks = np.array([[worst, 0], [0, 3], [2, 0]])
    fig = lens_track_figure(LensTrack(labels=["a", "b"], probs=np.full((3, 2), 0.5), ranks=ranks), "after 'x'")
    axis = fig.layout.yaxis2
    assert axis.type == "log" and axis.range is not None
    bottom, top = axis.range  # reversed: the first end is drawn at the bottom
    assert top == 0 and 10**bottom > ranks.max() + 1  # 10**0 = rank 1
    rank_traces = [t for t in fig.data if t.yaxis == "y2"]
    assert len(rank_traces) == 2 and all(t.cliponaxis is False for t in rank_traces)


@pytest.mark.parametrize(("worst", "ticks"), [(0, [1, 2, 5, 10]), (40, [1, 2, 5, 10, 20, 50]),
                                              (30_000, [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000,
                                                        10_000, 20_000])])  # fmt: skip
def test_lens_rank_axis_labels_each_tick_with_its_whole_rank(worst: int, ticks: list[int]) -> None:
    """Plotly's own log ticks wrote 1…9, 10, then "2", "3", "4" for 20, 30, 40: rank 20 read as rank 2. The ticks
    are 1, 2, 5 of each decade, up to the bottom of the axis, each labelled with its whole rank."""
    ranks = np.array([[worst, 0], [0, 3], [2, 0]])
    fig = lens_track_figure(LensTrack(labels=["a", "b"], probs=np.full((3, 2), 0.5), ranks=ranks), "after 'x'")
    axis = fig.layout.yaxis2
    assert axis.tickmode == "array" and list(axis.tickvals) == ticks
    assert list(axis.ticktext) == [f"{t:,}" for t in ticks]
    assert max(ticks) <= 10 ** axis.range[0]  # every tick inside the drawn range


@pytest.mark.parametrize("n", [30, 100, 256])
def test_token_matrices_write_few_enough_x_labels_to_keep_them_apart(n: int) -> None:
    """At 1024 px a large token heatmap is ~350 px wide and its −45° labels need ~12 px each; the side-by-side
    panels are ~150 px (−60°, ~10 px each). With up to 64 labels, texts of 40-250 words ran theirs together on the
    patterns and masking pages (measured in Chromium with the chart-text test's overlap check)."""
    labels = [f"tok{i}" for i in range(n)]
    scores, mask, pattern = synthetic(n)
    large = [heatmaps.head_heatmap(pattern, scores, mask, labels), heatmaps.scores_heatmap(scores, mask, labels)]
    for fig in large:
        assert len(fig.layout.xaxis.ticktext) <= layout.MATRIX_X_LABELS < 64
    panels = heatmaps.mask_comparison(pattern, pattern, labels)
    for axis in ("xaxis", "xaxis2", "xaxis3"):
        assert len(panels.layout[axis].ticktext) <= layout.PANEL_X_LABELS
    assert len(panels.layout.yaxis.ticktext) == len(range(0, n, layout.tick_step(n)))  # rows keep theirs


@pytest.mark.parametrize("n", [10, 30, 64])
def test_the_lens_grid_writes_tokens_in_cells_only_where_they_fit(n: int) -> None:
    """At 1024 px the grid's plot is ~390 px wide: past 16 positions a cell (~24 px) is narrower than its token, and
    27 positions already ran the cells' tokens together; its −45° position labels need ~12 px each."""
    rng = np.random.default_rng(n)
    ids = rng.integers(0, 50, size=(3, n, 5))
    grid = lens_grid(ids, np.sort(rng.random((3, n, 5)))[..., ::-1], [f"t{i}" for i in range(n)], lambda i: f"w{i}")
    fig = lens_grid_figure(grid)
    assert (fig.data[0].texttemplate is not None) == (n <= 16)
    assert len(fig.layout.xaxis.ticktext) <= layout.MATRIX_X_LABELS


def test_a_difference_of_zero_gets_a_plain_colour_scale() -> None:
    """One token (or a query whose mask changes nothing): every difference is 0, and the scale's ±1e-9 bounds wrote
    "1n", "0.5n", "−1n" on the colour bar."""
    scores, mask, pattern = synthetic(1)
    fig = heatmaps.mask_comparison(pattern, pattern, ["a"])
    assert fig.layout.coloraxis2.cmax >= 0.01 and fig.layout.coloraxis2.cmin == -fig.layout.coloraxis2.cmax


def test_the_context_chart_labels_bytes_in_si_units() -> None:
    """Plotly's default exponent format writes 1e9 as '1B' (billion): beside 'bytes' a learner reads one byte."""
    from viz.figures.mechanism import context_growth

    fig = context_growth([128, 1024], [1e6, 1e9], [2e6, 2e9], "t")
    assert list(fig.layout.yaxis.ticktext) == ["1 MB", "10 MB", "100 MB", "1 GB", "10 GB"]
    # Browser review (MiniLM, 1024 px): Plotly's log ticks between "100kB" and "1MB" were a bare "2" and "5".
    few = context_growth([128, 512], [1.5e5, 9e5], [3e5, 1.8e6], "t")
    assert list(few.layout.yaxis.ticktext) == ["100 kB", "200 kB", "500 kB", "1 MB", "2 MB"]
    assert list(few.layout.yaxis.tickvals) == [1e5, 2e5, 5e5, 1e6, 2e6]


def test_layer_lines_say_their_last_point_is_after_the_last_block() -> None:
    """31 points for 30 blocks: the last is the residual leaving block 29, not one entering a block 30."""
    from viz.figures.shifts import layer_lines

    title = layer_lines({"a": np.ones(31)}, "t", "cosine").layout.xaxis.title.text
    assert "input of layer" in title and "last: output" in title  # short: whole at 390 px (chart-text test)


@pytest.mark.parametrize("n", [13, 16])
def test_the_mask_comparison_labels_every_key_of_a_short_text(n: int) -> None:
    """A 13-token text's three panels named only every other key (at most 12 labels): a reader could not tell which
    column was which token. Up to 16 tokens each panel names every key (layout.PANEL_ALL_LABELS)."""
    labels = [f"tok{i}" for i in range(n)]
    _, _, pattern = synthetic(n)
    panels = heatmaps.mask_comparison(pattern, pattern, labels)
    for axis in ("xaxis", "xaxis2", "xaxis3"):
        assert list(panels.layout[axis].ticktext) == labels
        assert list(panels.layout[axis].tickvals) == list(range(n))


@pytest.mark.parametrize("n", [41, 128, 176])
def test_a_tall_matrix_thins_its_row_labels_and_keeps_its_axis_title_clear_of_them(n: int) -> None:
    """Start here's steps 2 and 8 on 128 tokens wrote a label every 3rd row, ~11 px apart: they ran into each other
    and the "token" axis title into them. Past 40 rows the labels stand ≥ 16 px apart, each at its own row."""
    from viz.figures.mechanism import matrix_heatmap

    names = [f"{i}: ␣creature" for i in range(n)]
    fig = matrix_heatmap(np.zeros((n, 576)), "E", names, None, "dimension", "token")
    y = fig.layout.yaxis
    plot_px = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    assert len(y.ticktext) < n and plot_px / n * (y.tickvals[1] - y.tickvals[0]) >= 16
    assert [names[int(v)] for v in y.tickvals] == list(y.ticktext)  # each label at its own row
    assert y.title.standoff >= 10 and fig.layout.margin.l >= layout.AXIS_TITLE_PX + y.title.standoff


def test_lens_track_names_each_token_in_quotes_and_keeps_the_titles_off_the_top_markers() -> None:
    """The legend listed the default sentence's followed tokens as a bare ",", "." and "...”", hard to tell apart
    from the legend's own spacing; they are quoted as the Experiments chart quotes them. And rank 1 lies on the rank
    chart's top edge, where its markers (drawn unclipped) reached into the title "rank (1 = top)"."""
    track = LensTrack(labels=[",", "."], probs=np.full((3, 2), 0.5), ranks=np.zeros((3, 2), dtype=int))
    fig = lens_track_figure(track, "after 'x'")
    assert [t.name for t in fig.data if t.showlegend is not False] == ["‘,’", "‘.’"]
    titles = [a for a in fig.layout.annotations if a.text in ("probability", "rank (1 = top)")]
    assert len(titles) == 2 and all((a.yshift or 0) >= 8 for a in titles), titles


def test_log_axes_label_every_tick_with_its_whole_value() -> None:
    """Browser review, Parameters at 1024 px: the timing chart's log axis wrote its minor ticks bare ("2, 1, 9, 8,
    7 … 3, 2" for 0.2 s … 0.9 s and 2 s), so 0.2 s read as 2 s, and the context chart's x axis read "2 5 2 5"; and
    the first point's label was cut to ".61 s" (0.161 s, written left of the leftmost point). Ticks are 1, 2, 5 of
    each decade, each written whole, and the point labels are drawn unclipped, the first one to its right."""
    from viz.figures.mechanism import context_growth, timing_figure

    fig = timing_figure([64, 256, 1024], [0.1609, 0.4575, 2.1246], "t")
    assert list(fig.layout.yaxis.ticktext) == ["0.1", "0.2", "0.5", "1", "2", "5"]
    assert list(fig.layout.xaxis.ticktext) == ["50", "100", "200", "500", "1,000", "2,000"]
    assert fig.data[0].cliponaxis is False and fig.data[0].textposition[0].endswith("right")
    growth = context_growth([512, 2048, 8192, 32768], [1e8, 2e9, 3e10, 5e11], [2e8, 4e9, 6e10, 1e12], "t")
    assert list(growth.layout.xaxis.ticktext)[:4] == ["500", "1,000", "2,000", "5,000"]
    many = context_growth([16, 128, 1024, 8192], [1e5] * 4, [2e5] * 4, "t")  # over many decades: the decades
    assert list(many.layout.xaxis.ticktext) == ["10", "100", "1,000", "10,000"]


def test_the_step_heads_title_quotes_the_token_written() -> None:
    """Browser review: the title ended "…at the step that wrote ," (a bare comma, read as punctuation of the title)."""
    fig = step_heads_figure(np.full((2, 3), 0.3), ["a", "b", "c"], 0, ",")
    assert fig.layout.title.text.endswith("at the step that wrote ‘,’"), fig.layout.title.text


def test_the_step_heads_title_sits_over_its_chart() -> None:
    """Browser review (1024 and 1280 px): a fixed 190 px above the plot, for labels of any length, left ~100 px of
    white between the title and the default sentence's short tokens. The margin is what the title, the axis title and
    the longest label take (automargin still grows it for a longer label); the rows keep their height."""
    short = step_heads_figure(np.full((9, 10), 0.1), ["␣creature", "a", "d"] + ["b"] * 7, 0, ",")
    reach = layout.tick_reach(short.layout.xaxis.ticktext, 45)
    assert short.layout.margin.t <= 30 + layout.AXIS_TITLE_PX + reach + 12 < 130
    assert short.layout.height - short.layout.margin.t - short.layout.margin.b == 60 + 22 * 9
    long = step_heads_figure(np.full((2, 3), 0.1), ["x" * 30, "a", "b"], 0, ",")
    assert long.layout.margin.t > short.layout.margin.t + 100 and long.layout.xaxis.automargin


def test_an_atlas_example_strip_has_no_stray_tick_beside_it() -> None:
    """Browser review: a lone "–" stood left of each example strip, the tick mark of its one unlabelled row."""
    fig = example_figure(ExampleRow(["0: a", "1: b"], ["0: a", "1: b"], np.array([0.4, 0.6]), 1, ""))
    assert fig.layout.yaxis.showticklabels is False and fig.layout.yaxis.ticks == ""


def test_the_generate_charts_label_no_more_tokens_than_fit_apart() -> None:
    """Browser review: a step's every-head chart wrote 23 tokens at 45° in its 339 px plot (1280 px, beside the
    candidates), and "where each step looked" 39 upright tokens in 388 px (1024 px): neighbours ran into each other.
    A turned label needs LINE_PX / sin(angle) of axis; past what fits, every k-th token is labelled (hover: all)."""
    from viz.views.generation import StepAttention

    heads = step_heads_figure(np.full((9, 23), 0.1), [f"t{i}" for i in range(23)], 0, "x")
    assert 8 <= len(heads.layout.xaxis.ticktext) <= layout.labels_fitting(339, 45) == 15
    rng = np.random.default_rng(0)
    n_prompt, n_new = 10, 29
    keys = [f"k{i}" for i in range(n_prompt + n_new)]
    steps = StepAttention(rng.random((n_new, len(keys))), keys[n_prompt:], keys, n_prompt=n_prompt)
    looked = step_attention_figure(steps, 0, 0)
    assert 13 <= len(looked.layout.xaxis.ticktext) <= layout.labels_fitting(388, 90) == 25


def test_the_candidates_quote_each_token() -> None:
    """Browser review: punctuation candidates read "1. ," "2. ." "3. …"" beside their ranks, hard to tell apart."""
    from viz.figures.lens import candidates_figure
    from viz.views.generation import Candidates

    fig = candidates_figure(Candidates([",", ".", "␣as"], np.array([0.5, 0.3, 0.1]), 0))
    assert list(fig.data[0].y) == ["1. ‘,’", "2. ‘.’", "3. ‘␣as’"]


@pytest.mark.parametrize("scale", ["log", "row"])
def test_thumbnails_take_the_long_views_colour_scale(scale: str) -> None:
    """Review (long texts): block means are small (a query's weight spread over hundreds of keys), so on a linear
    scale the layer's thumbnails and the overview looked empty beside the log-scaled head chart. They take the
    page's colour scale: log₁₀ over LOG_DECADES below the largest of all thumbnails, or each row ÷ its largest."""
    from viz.figures.long_text import LOG_DECADES

    rng = np.random.default_rng(3)
    patterns = rng.random((4, 6, 6)) ** 4 * 0.01  # small, spread block means
    patterns[1, 2, 3] = 0.5  # one head's outlier sets a linear scale's top
    fig = overview.layer_small_multiples(patterns, selected_head=0, layer=1, scale=scale)
    heat = fig.data[0]
    grid = decode(fig.to_plotly_json()["data"][0]["z"])
    (targets,) = [t for t in fig.data if t.type == "scatter"]
    x0, y0 = (round(v - (6 - 1) / 2) for v in (targets.x[3], targets.y[3]))
    shown = grid[y0 : y0 + 6, x0 : x0 + 6]
    if scale == "log":
        assert heat.zmax == pytest.approx(np.log10(0.5)) and heat.zmin == pytest.approx(np.log10(0.5) - LOG_DECADES)
        np.testing.assert_allclose(shown, np.log10(patterns[3]), rtol=1e-5)
    else:
        assert (heat.zmin, heat.zmax) == (0.0, 1.0)
        np.testing.assert_allclose(shown, patterns[3] / patterns[3].max(axis=1, keepdims=True), rtol=1e-5)
    over = overview.overview_mosaic(patterns[None], selected=(0, 0), scale=scale)
    assert over.data[0].zmax == heat.zmax and over.data[0].zmin == heat.zmin


def test_vector_strips_draw_vectors_of_different_lengths_side_by_side() -> None:
    """Latent attention's values are narrower than its queries and keys (DeepSeek: 128 against 192): each strip keeps
    its own numbers from dimension 0, the shorter ones end in empty cells, and no strip is cut or stretched."""
    q, k, v = np.arange(16.0) - 8, np.arange(16.0) - 7.5, np.linspace(-1, 1, 12)
    fig = vector_strips([("q", q), ("k", k), ("v", v)], "q, k, v", scales=["q, k", "q, k", "v"])
    qk, values = (decode(trace["z"]) for trace in fig.to_plotly_json()["data"])
    np.testing.assert_array_equal(qk[:2], np.stack([q, k]).astype(np.float32))
    np.testing.assert_array_equal(values[2, :12], v.astype(np.float32))
    assert np.isnan(values[2, 12:]).all() and np.isnan(qk[2]).all() and np.isnan(values[:2]).all()
    assert list(fig.layout.xaxis.range) == [-0.5, 15.5]


@pytest.mark.parametrize(("n_heads", "step"), [(4, 1), (9, 1), (12, 2), (32, 4)])
def test_the_layer_head_grid_labels_whole_heads_only(n_heads, step) -> None:
    """Review (a tiny BART's 4 heads on the Cross-attention page at 1280 px): Plotly's own ticks fell every half head
    and the whole-number format wrote them "−1 0 1 1 2 2 3 3 4". Ticks are whole heads from 0, every `step` so that a
    model's many heads still stand upright and apart."""
    fig = layer_head_grid(np.zeros((3, n_heads)), "t", "spread")
    axis = fig.layout.xaxis
    assert (axis.tickmode, axis.tick0, axis.dtick) == ("linear", 0, step)
