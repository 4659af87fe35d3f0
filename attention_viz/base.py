"""What a view is (the notebook's `show`, the CLI's `export`): figures top to bottom, and for clickable views the
head heatmap of each selectable head. Its own module so the view builders (views.py, layer_views.py) share it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go

CLICKABLE = ("layer", "overview")
WHOLE_TRACE = ("lens", "contributions")  # views of the whole pass: no layer or head of their own
ONE_LAYER = ("shifts",)


def view_title(model_name: str, name: str, layer: int, head: int) -> str:
    """ "smollm2-135m · head · layer 3, head 0": names only the layer and head the view is of."""
    if name in WHOLE_TRACE:
        return f"{model_name} · {name}"
    return f"{model_name} · {name} · layer {layer}" + ("" if name in ONE_LAYER else f", head {head}")


class ViewError(ValueError):
    """A view asked with arguments the trace cannot satisfy (layer out of range, unknown view, long text)."""


@dataclass
class View:
    """What one `show`/`export` draws: figures top to bottom, and for clickable views the selectable heads."""

    name: str
    figures: list[go.Figure]
    layer: int
    head: int
    heads: dict[str, dict[str, Any]] = field(default_factory=dict)  # "layer,head" → {"data": [...], "title": str}
    note: str = ""  # said under the figures (e.g. why clicking a head cannot redraw it here)

    @property
    def clickable(self) -> bool:
        return self.name in CLICKABLE
