"""viz.figures.layout.width_for_labels: the width at which a token heatmap's key labels stand a given distance apart
(a phone's main heatmap is drawn that wide and scrolls sideways: ui.widgets.show_token_heatmap)."""

from __future__ import annotations

import numpy as np

from viz.figures.heatmaps import head_heatmap
from viz.figures.layout import COLOUR_BAR_PX, width_for_labels


def _heatmap(n: int, top: float = 1.0):
    pattern = np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]
    pattern[0, 0] = top  # the darkest cell: below 1, the colour bar's title grows to three lines
    mask = np.tril(np.ones((n, n), dtype=bool))
    return head_heatmap(pattern, np.zeros((n, n)), mask, [f"t{i}" for i in range(n)])


def _plot(fig, width: int, bar: float) -> float:
    return width - fig.layout.margin.l - fig.layout.margin.r - bar


def test_twenty_keys_get_their_distance_each_beside_the_margins_and_colour_bar() -> None:
    fig = _heatmap(20)
    assert abs(_plot(fig, width_for_labels(fig, 15), COLOUR_BAR_PX) - 20 * 15) <= 1


def test_a_three_line_colour_bar_title_takes_its_longest_line() -> None:
    short, long = _heatmap(20), _heatmap(20, top=0.45)
    assert "<br>" in long.data[0].colorbar.title.text
    assert width_for_labels(long, 15) - width_for_labels(short, 15) > 40  # "(darkest = 0.45," against "weight"


def test_labels_not_keys_count_past_64_and_cells_stay_at_most_square() -> None:
    many = _heatmap(100)  # every k-th key labelled
    labels = len(many.layout.xaxis.tickvals)
    assert 1 < labels < 100
    plot_height = many.layout.height - many.layout.margin.t - many.layout.margin.b
    assert _plot(many, width_for_labels(many, 15), COLOUR_BAR_PX) <= plot_height + 1  # not 100 × 15
    assert abs(_plot(many, width_for_labels(many, 3), COLOUR_BAR_PX) - labels * 3) <= 1


def test_the_charts_kept_apart_on_a_phone_are_the_heatmaps_with_tokens_along_their_top() -> None:
    """ui.widgets.show_chart draws these in show_token_heatmap's box (the head finder's window around its query
    ran 21 keys 9 px apart on a phone); a layer × head grid or a bar chart is drawn as it was."""
    import plotly.graph_objects as go

    from viz.figures.layout import tokens_along_top
    from viz.figures.mechanism import layer_head_grid

    assert tokens_along_top(_heatmap(5))
    assert not tokens_along_top(layer_head_grid(np.zeros((4, 3)), "t", "weight", (0, 0)))
    assert not tokens_along_top(go.Figure(go.Bar(x=[1, 2], y=[3, 4])))
    assert not tokens_along_top(go.Figure())
