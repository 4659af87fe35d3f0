"""Issue 19, defect 4: a long text's block means and exact window get a colour scale that shows structure
(per-query or log, named on the colour bar), and tick labels thinned so they never overlap."""

from __future__ import annotations

import numpy as np
import pytest

from tests.app.helpers import decode
from viz.figures.heatmaps import Cells
from viz.figures.long_text import (
    COLOUR_SCALES,
    LOG_DECADES,
    POOLED_X_LABELS,
    POOLED_Y_LABELS,
    WINDOW_X_LABELS,
    WINDOW_Y_LABELS,
    pooled_heatmap,
    scaled_colours,
    window_heatmap,
)


def causal_pattern(n: int, seed: int = 0) -> np.ndarray:
    """A causal pattern whose rows sum to 1, with a strong first-token sink (what makes a linear scale white)."""
    rng = np.random.default_rng(seed)
    w = np.tril(rng.random((n, n)) ** 4)
    w[:, 0] += 20 * w.sum(axis=1)
    return w / w.sum(axis=1, keepdims=True)


def block_means(full: np.ndarray, block: int) -> np.ndarray:
    s = full.shape[0] // block
    return full.reshape(s, block, s, block).mean(axis=(1, 3))


def test_per_row_scale_divides_each_row_by_its_largest_weight() -> None:
    pooled = block_means(causal_pattern(512), 8)
    z, colours = scaled_colours(pooled, "row")
    np.testing.assert_allclose(z, pooled / pooled.max(axis=1, keepdims=True))
    np.testing.assert_allclose(z.max(axis=1), 1.0)  # every query row reaches the darkest colour
    assert (colours["zmin"], colours["zmax"]) == (0.0, 1.0)
    assert "per row" in colours["colorbar"]["title"]["text"]


def test_log_scale_is_log10_of_the_weights_over_four_decades() -> None:
    pooled = block_means(causal_pattern(512), 8)
    z, colours = scaled_colours(pooled, "log")
    positive = pooled > 0
    np.testing.assert_allclose(z[positive], np.log10(pooled[positive]))
    assert np.all(np.isnan(z[~positive]))  # masked blocks (weight 0) are left blank, not the lightest colour
    assert colours["zmax"] == pytest.approx(np.log10(pooled.max()))
    assert colours["zmin"] == pytest.approx(colours["zmax"] - LOG_DECADES)
    assert "log scale" in colours["colorbar"]["title"]["text"]
    assert colours["colorbar"]["ticktext"][-2:] == ["0.01", "0.1"]  # ticks name weights, not exponents


def test_linear_scale_keeps_the_weights() -> None:
    pooled = block_means(causal_pattern(256), 4)
    z, colours = scaled_colours(pooled, "linear")
    np.testing.assert_array_equal(z, pooled)
    assert colours["zmax"] == pytest.approx(pooled.max()) and "linear" in colours["colorbar"]["title"]["text"]


@pytest.mark.parametrize("scale", list(COLOUR_SCALES))
def test_the_colour_bar_names_the_scale_and_hover_keeps_the_real_weights(scale: str) -> None:
    full = causal_pattern(1024)
    pooled = block_means(full, 8)
    labels = [f"t{i}" for i in range(1024)]
    fig = pooled_heatmap(pooled, 8, 1024, labels, "cols", (896, 1024, 896, 1024), scale=scale)
    title = fig.data[0].colorbar.title.text
    assert {"linear": "linear", "row": "per row", "log": "log scale"}[scale] in title
    np.testing.assert_allclose(decode(fig.data[0].customdata), pooled.T, atol=1e-7)  # hover: the mean weights
    assert "mean weight %{customdata" in fig.data[0].hovertemplate
    window = full[896:, 896:]
    cells = Cells(labels[896:], labels[896:], 896, 896)
    wfig = window_heatmap(window, np.log(window + 1e-9), cells, "rows", scale=scale)
    assert wfig.data[0].colorbar.title.text.startswith("weight")
    np.testing.assert_allclose(decode(wfig.data[0].customdata)[..., 0], window, atol=1e-7)  # hover: the weights
    if scale == "row":
        z = decode(wfig.data[0].z)
        np.testing.assert_allclose(np.nanmax(z, axis=1), 1.0)


def test_regression_block_means_of_a_long_text_are_not_white_on_the_per_row_scale() -> None:
    """On main the block-mean chart's only scale topped out at the largest block mean (0.14 in the issue): most
    rows' largest block was a few percent of the top, nearly white. Per row, every row reaches the darkest colour."""
    pooled = block_means(causal_pattern(1024), 8)
    labels = [f"t{i}" for i in range(1024)]
    fig = pooled_heatmap(pooled, 8, 1024, labels, scale="row")
    z = decode(fig.data[0].z)
    np.testing.assert_allclose(np.nanmax(z, axis=1), 1.0)
    linear = pooled / pooled.max()
    assert np.median(np.sort(linear, axis=1)[:, -2]) < 0.2  # linear: a row's second-darkest block is pale


def test_tick_labels_are_bounded_for_4096_tokens() -> None:
    n, block = 4096, 32
    pooled = np.full((n // block, n // block), 1.0 / n)
    labels = [f"token{i}" for i in range(n)]
    for orient in ("rows", "cols"):
        fig = pooled_heatmap(pooled, block, n, labels, orient, (3840, 4096, 3840, 4096), scale="log")
        assert 2 <= len(fig.layout.xaxis.tickvals) <= POOLED_X_LABELS
        assert 2 <= len(fig.layout.yaxis.tickvals) <= POOLED_Y_LABELS
        window = np.full((256, 256), 1.0 / n)
        cells = Cells(labels[3840:], labels[3840:], 3840, 3840)
        wfig = window_heatmap(window, window, cells, orient, scale="log")
        assert len(wfig.layout.xaxis.tickvals) <= WINDOW_X_LABELS and len(wfig.layout.yaxis.tickvals) <= WINDOW_Y_LABELS
        assert len(wfig.layout.xaxis.tickvals) == len(wfig.layout.xaxis.ticktext)
