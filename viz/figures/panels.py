"""A row of panels in one figure (the masking page's matrices side by side), built as plain dicts and handed to
go.Figure once.

Plotly's make_subplots, then add_trace(row=, col=), update_xaxes(row=, col=) and update_layout per panel, took
~90 ms for the masking page's three 18 × 18 panels, where go.Figure given the same traces and layout at once took
~19 ms: each incremental call parses its property paths and copies the figure's state again. The grid is still
make_subplots' own (its axis domains and its title annotations), made once per shape and copied;
tests/viz/test_figures_built_at_once.py holds a row built here to the same row built through make_subplots.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.figures.layout import merged


@functools.lru_cache(maxsize=64)
def _grid(rows: int, cols: int, options: tuple[tuple[str, object], ...]) -> dict:
    """make_subplots' layout for a grid of panels (its domains, anchors, shared axes and title annotations)."""
    layout = make_subplots(rows=rows, cols=cols, **{key: _listed(value) for key, value in options})
    grid = layout.to_dict()["layout"]
    grid.pop("template", None)  # go.Figure applies the default template itself
    return grid


def _listed(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def _hashable(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def subplot_grid(rows: int, cols: int, **options: object) -> dict:
    """A fresh copy of make_subplots(rows, cols, **options)'s layout without its template, for a figure built at
    once: its panels' traces name their axes ("x", "y2", …, numbered row by row as make_subplots numbers them).
    The grid is made once per shape and options (lists of numbers or titles in `options` are fine)."""
    key = tuple(sorted((name, _hashable(value)) for name, value in options.items()))
    return copy.deepcopy(_grid(rows, cols, key))


def axis_suffix(index: int) -> str:
    """Plotly's suffix for the axes of panel `index` (from 1, row by row): "" for the first ("x", "yaxis"), then
    "2", "3", … ("x2", "yaxis2")."""
    return "" if index == 1 else str(index)


def panel_row(
    panels: Sequence[tuple[go.BaseTraceType, dict, dict]],
    titles: Sequence[str] = (),
    spacing: float | None = None,
    layout: dict | None = None,
    title_font: dict | None = None,
) -> go.Figure:
    """One figure of `panels` side by side, each (trace, its x axis, its y axis), under `titles` (in `title_font`
    where given), `spacing` apart (make_subplots' horizontal_spacing; None: its default); `layout` merged last."""
    grid = subplot_grid(1, len(panels), subplot_titles=tuple(titles) or None, horizontal_spacing=spacing)
    if title_font is not None:
        grid["annotations"] = [merged(note, dict(font=title_font)) for note in grid.get("annotations", [])]
    data = []
    for index, (trace, x_axis, y_axis) in enumerate(panels, start=1):
        suffix = axis_suffix(index)
        trace.update(xaxis=f"x{suffix}", yaxis=f"y{suffix}")
        grid[f"xaxis{suffix}"] = merged(grid[f"xaxis{suffix}"], x_axis)
        grid[f"yaxis{suffix}"] = merged(grid[f"yaxis{suffix}"], y_axis)
        data.append(trace)
    return go.Figure(data=data, layout=merged(grid, layout or {}))
