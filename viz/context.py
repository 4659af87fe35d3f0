"""What the shell (app.py) hands every page for one run: settled, validated view state + the trace."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from viz.figures.layout import Orientation
from viz.views.trace import TraceLike

EXAMPLES_FILE = Path(__file__).resolve().parent.parent / "assets" / "examples.json"


@dataclass(frozen=True)
class AppContext:
    model_name: str
    model_label: str
    device: str
    n_layers: int
    n_heads: int
    d_head: int
    model_causal: bool  # the model's own masking (decoder: True, encoder: False)
    causal: bool  # the masking this view asked for
    layer: int
    head: int
    orient: Orientation
    trace: TraceLike | None  # None when there is nothing to show; `message` says why
    message: str | None = None
    # What identifies the trace for caches of things derived from it (pooled views, figures):
    # (model, device, text, causal, token cap). The forward pass is deterministic, so equal keys mean
    # equal traces even after the trace itself was evicted and recomputed.
    trace_key: tuple | None = None
    token_cap: int | None = None
    model_request: str = ""  # the name viz.engine.load took (an embedded name, a hub id or a local folder)


@dataclass(frozen=True)
class Example:
    label: str
    text: str


def load_examples(path: Path = EXAMPLES_FILE) -> list[Example]:
    """The one-click example texts (3Blue1Brown's chapter 6 sentences)."""
    return [Example(e["label"], e["text"]) for e in json.loads(path.read_text(encoding="utf-8"))]
