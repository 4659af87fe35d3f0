"""Views inline in a notebook: `show(trace, "head", layer=3, head=0)` returns an object that Jupyter (Lab or
Notebook), VS Code and Colab display as plain text/html: the app's figures with plotly.js embedded (offline, no
requirejs), hover and, in the layer and overview views, clicking a head draws it large. Each output has its own ids,
so several views in one notebook stay independent (docs/notebook.md says why text/html).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attention_viz.base import view_title
from attention_viz.export import view_bytes
from attention_viz.html import fragment
from attention_viz.layer_views import is_generation
from attention_viz.pair_views import is_pair
from attention_viz.views import View, build_view
from viz.figures.layout import Orientation


class NotebookView:
    """A view ready to display; `.save(path)` writes it as .html, .svg or .png (from the suffix)."""

    def __init__(self, view: View, title: str):
        self.view = view
        self.title = title

    @property
    def figures(self) -> list:
        """The go.Figure objects (the app's own builders) shown, top to bottom."""
        return self.view.figures

    def _repr_html_(self) -> str:
        return fragment(self.view)

    def save(self, path: str | Path, width: int = 900) -> Path:
        """Write the view: .html (standalone, interactive, offline), .svg (vector) or .png (every figure, stacked)."""
        out = Path(path)
        out.write_bytes(view_bytes(self.view, out.suffix.lstrip(".").lower(), self.title, width=width))
        return out

    def __repr__(self) -> str:
        return f"<attention_viz view {self.view.name!r}: {self.title}>"


def show(trace: Any, view: str = "head", layer: int = 0, head: int = 0, orient: Orientation = "rows") -> NotebookView:
    """One of attention_viz.VIEWS for `trace`, displayed when it is a cell's last value (or via IPython's display)."""
    built = build_view(trace, view, layer, head, orient)
    # A Generation names its model through its trace, a PairTrace through its encoder's.
    traced = trace.trace if is_generation(trace) else trace.encoder if is_pair(trace) else trace
    title = view_title(traced.model_name, view, layer, head)
    return NotebookView(built, title)
