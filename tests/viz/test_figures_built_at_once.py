"""Figures built as plain dicts and one go.Figure call (for speed: Plotly's incremental updates cost 5-6 times as
much) must be the figures the incremental calls built, to the last key: a row of panels (viz.figures.panels) the one
make_subplots and the update methods build, any grid of panels make_subplots' own, a token × token heatmap
(token_matrix_frame's layout) the one update_layout calls built (the second fitting the margins to the tick labels),
the layout's lines and notes (hline, vline, no_heads) the ones add_hline, add_vline and add_annotation add."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from viz.figures.layout import (
    PUSHES_MARGINS,
    hline,
    merged,
    no_heads,
    notes_and_shapes,
    pushing_margins,
    token_axis,
    token_margins,
    token_matrix_frame,
    vline,
)
from viz.figures.panels import panel_row, subplot_grid


def _panels(n_panels: int) -> list[tuple[go.Heatmap, dict, dict]]:
    rng = np.random.default_rng(n_panels)
    return [
        (
            go.Heatmap(z=rng.random((3, 4)), coloraxis="coloraxis", text=[["a"] * 4] * 3),
            dict(title=dict(text=f"key {col}"), tickangle=-60, tickvals=[0, 2], ticktext=["x", "y"]),
            dict(autorange="reversed", title=dict(text="query" if col == 1 else "")),
        )
        for col in range(1, n_panels + 1)
    ]


@pytest.mark.parametrize(("n_panels", "spacing", "font"), [(1, None, None), (2, 0.05, None), (3, 0.07, dict(size=12))])
def test_a_row_is_the_figure_make_subplots_builds(n_panels: int, spacing: float | None, font: dict | None) -> None:
    titles = [f"panel {col}<br>second line" for col in range(1, n_panels + 1)]
    layout = dict(height=400, margin=dict(l=10, t=56), coloraxis=dict(cmin=-1.0, cmax=1.0))
    expected = make_subplots(rows=1, cols=n_panels, subplot_titles=titles, horizontal_spacing=spacing)
    if font is not None:
        expected.update_annotations(font=font)
    for col, (trace, x_axis, y_axis) in enumerate(_panels(n_panels), start=1):
        expected.add_trace(trace, row=1, col=col)
        expected.update_xaxes(x_axis, row=1, col=col)
        expected.update_yaxes(y_axis, row=1, col=col)
    expected.update_layout(layout)
    built = panel_row(_panels(n_panels), titles=titles, spacing=spacing, layout=layout, title_font=font)
    assert built.to_dict() == expected.to_dict()


def test_a_row_without_titles_has_no_annotations() -> None:
    built = panel_row(_panels(2)).to_dict()
    assert "annotations" not in built["layout"]
    assert [(t["xaxis"], t["yaxis"]) for t in built["data"]] == [("x", "y"), ("x2", "y2")]


def test_merged_merges_nested_dicts_and_leaves_both_inputs_alone() -> None:
    base = dict(title=dict(text="a", font=dict(size=10)), range=[0, 1])
    extra = dict(title=dict(font=dict(color="red")), range=[2, 3])
    assert merged(base, extra) == dict(title=dict(text="a", font=dict(size=10, color="red")), range=[2, 3])
    assert base == dict(title=dict(text="a", font=dict(size=10)), range=[0, 1])
    assert extra == dict(title=dict(font=dict(color="red")), range=[2, 3])


def test_each_row_gets_its_own_copy_of_the_cached_grid() -> None:
    """The grid of a shape is made once and kept: a row that changes its titles' font must not change the next's."""
    first = panel_row(_panels(2), titles=["a", "b"], title_font=dict(size=12))
    second = panel_row(_panels(2), titles=["a", "b"])
    assert [note.font.size for note in first.layout.annotations] == [12, 12]
    assert [note.font.size for note in second.layout.annotations] == [16, 16]  # make_subplots' own


@pytest.mark.parametrize("title", [None, "", "Layer 3, head 1"])
def test_a_token_matrix_is_the_figure_the_updates_built(title: str | None) -> None:
    labels = ["a", "longer token", "the", "end"]
    x_axis, y_axis = token_axis(labels, "key"), token_axis(labels, "query")
    trace = dict(type="heatmap", z=np.eye(4), colorscale="Blues")
    expected = go.Figure(go.Heatmap(trace))
    expected.update_layout(
        **(dict(title=dict(text=title)) if title is not None else {}),
        xaxis=x_axis | dict(side="top", tickangle=-45),
        yaxis=y_axis | dict(autorange="reversed"),
        height=460,
        margin=dict(l=10, r=10, t=110 if title else 90, b=10),
        plot_bgcolor="#eeeeee",
        meta=dict(head=1),
    )
    ticks = (expected.layout.xaxis.ticktext or (), expected.layout.yaxis.ticktext or ())
    fitted = token_margins(*ticks, -45, bool(title))
    expected.update_layout(margin=fitted, xaxis_automargin=False, yaxis_automargin=False)
    frame = token_matrix_frame(x_axis, y_axis, 460, title, "#eeeeee", dict(head=1))
    built = go.Figure(data=[go.Heatmap(trace)], layout=frame)
    assert built.to_dict() == expected.to_dict()
    assert built.layout.margin.t > 90 and built.layout.xaxis.automargin is False  # fitted to the labels


@pytest.mark.parametrize("axes", [{}, dict(xaxis=dict(title=dict(text="layer"))), dict(yaxis=dict(automargin=False))])
def test_pushing_margins_is_the_figure_the_axis_updates_built(axes: dict) -> None:
    traces = [dict(type="scatter", x=[0, 1], y=[2, 3]), dict(type="bar", x=[1], y=[1])]
    layout = dict(height=300, annotations=[dict(x=0, y=2, text="L0", showarrow=False)], **axes)
    expected = go.Figure(data=[go.Scatter(traces[0]), go.Bar(traces[1])]).update_layout(layout)
    expected.update_xaxes(PUSHES_MARGINS).update_yaxes(PUSHES_MARGINS)
    built = pushing_margins([go.Scatter(traces[0]), go.Bar(traces[1])], layout)
    assert built.to_dict() == expected.to_dict()
    assert built.layout.xaxis.automargin and built.layout.yaxis.automargin


def _grid_traces(rows: int, cols: int) -> list[go.Scatter]:
    """One line per panel, row by row, naming its panel's axes as make_subplots numbers them."""
    traces = []
    for index in range(1, rows * cols + 1):
        suffix = "" if index == 1 else str(index)
        traces.append(go.Scatter(x=[0, index], y=[1, 2], xaxis=f"x{suffix}", yaxis=f"y{suffix}"))
    return traces


@pytest.mark.parametrize(
    ("rows", "cols", "options"),
    [
        (1, 2, dict(column_widths=[0.64, 0.36], horizontal_spacing=0.05, shared_yaxes=True, subplot_titles=("a", "b"))),
        (2, 1, dict(row_heights=[0.7, 0.3], vertical_spacing=0.08, shared_xaxes=True, subplot_titles=["a", "b"])),
        (4, 1, dict(vertical_spacing=0.045)),
        (2, 2, {}),
    ],
)
def test_a_grid_is_the_figure_make_subplots_builds(rows: int, cols: int, options: dict) -> None:
    expected = make_subplots(rows=rows, cols=cols, **options)
    for index, trace in enumerate(_grid_traces(rows, cols)):
        expected.add_trace(trace, row=index // cols + 1, col=index % cols + 1)
    expected.update_yaxes(title=dict(text="y"), row=1, col=1)
    layout = merged(subplot_grid(rows, cols, **options), dict(yaxis=dict(title=dict(text="y"))))
    built = go.Figure(data=_grid_traces(rows, cols), layout=layout)
    assert built.to_dict() == expected.to_dict()


def test_each_grid_is_its_own_copy() -> None:
    first = subplot_grid(1, 2, subplot_titles=("a", "b"))
    first["annotations"][0]["text"] = "changed"
    first["xaxis"]["title"] = dict(text="changed")
    second = subplot_grid(1, 2, subplot_titles=("a", "b"))
    assert second["annotations"][0]["text"] == "a" and "title" not in second["xaxis"]


def test_lines_and_notes_are_the_ones_the_add_methods_add() -> None:
    values = np.ones((4, 3))
    values[[1, 3]] = np.nan
    line = dict(color="crimson", width=2, dash="dot")
    expected = go.Figure(go.Heatmap(z=values))
    expected.add_hline(y=1.5, line=line)
    expected.add_vline(x=0.5, line=line)
    for layer in (1, 3):
        expected.add_annotation(x=1.0, y=layer, text="no heads", showarrow=False, font=dict(color="#888888", size=11))
    layout = notes_and_shapes(no_heads(values), [hline(1.5, line), vline(0.5, line)])
    built = go.Figure(data=[go.Heatmap(z=values)], layout=layout)
    assert built.to_dict() == expected.to_dict()
    assert notes_and_shapes(no_heads(np.ones((2, 2))), []) == {}  # a figure without any has neither key
