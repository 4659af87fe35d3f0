"""attention_viz: the visualiser as a library. Load a model, trace a text, show the app's views inline in a notebook,
and export them (SVG, PNG, standalone HTML) or the trace's numbers (CSV, NPZ, Parquet) with no server.

    import attention_viz as av
    model = av.load("smollm2-135m")
    trace = model.trace("a fluffy blue creature")
    av.show(trace, "overview")                       # in a notebook
    av.show(trace, "head", layer=3, head=0).save("head.svg")

The figures are the app's own (viz/figures); the engine is attention_core, reached through services as the app does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from attention_viz.export import ExportError, collect, tensor_names, tensors_npz, tensors_parquet
from attention_viz.notebook import NotebookView, show
from attention_viz.views import VIEWS, View, ViewError, build_view, require_whole_numbers, trace_and_generation
from services.interventions import make_intervention
from services.models import InputError

__all__ = [
    "VIEWS",
    "ExportError",
    "NotebookView",
    "View",
    "ViewError",
    "ablate_head",
    "build_view",
    "load",
    "save_tensors",
    "show",
]


def load(name: str = "smollm2-135m", device: str = "cpu", dtype: str = "float32") -> Any:
    """A model (attention_core.Model) shared per process, as the app holds it: `.trace(text)` gives a Trace.
    dtype "bfloat16" or "float16" (half the memory) on device "cuda" only, as in the app. Any local folder or .gguf
    file loads: the app's folder rules ($ATTN_ALLOWED_MODEL_DIRS) guard a served app, not its caller's own files."""
    from services import models

    if not isinstance(name, str) or not name.strip():  # None would fail deep in the registry's path handling
        raise models.UnknownModelError(
            f"a model is named by a string (smollm2-135m, minilm-l6, a local folder or a hub id), not {name!r}"
        )
    return models.load(name, device, dtype=dtype, served=False)


def ablate_head(layer: int, head: int, mode: str = "zero") -> Any:
    """An intervention for `model.trace(text, interventions=[...])`: the head's output zeroed ("zero") or replaced by
    its mean over positions ("mean"), as the app's Experiments page does. Raises the engine's InputError (a
    ValueError) for arguments of the wrong kind; the trace checks the ranges against its model."""
    require_whole_numbers(InputError, "ablate_head: ", layer=layer, head=head)
    if mode not in ("zero", "mean"):
        raise InputError(f"ablate_head: mode must be 'zero' or 'mean', not {mode!r}")
    return make_intervention(mode, int(layer), int(head))


def save_tensors(trace: Any, path: str | Path, tensors: str | Sequence[str] = "pattern,scores,q,k,v,resid") -> dict:
    """Write the trace's tensors (short or dotted names, comma-separated or a list) to .npz or .parquet (the
    suffix, in any case) with a manifest; returns the manifest entries written. A Generation (model.generate's
    result) writes its trace (prompt and continuation), as `show` draws it."""
    trace, _ = trace_and_generation(trace, ExportError)
    suffix = Path(path).suffix.lower()
    if suffix not in (".npz", ".parquet"):
        raise ExportError(f"{path}: tensors are written to .npz or .parquet, not {suffix or 'no suffix'!r}")
    names = tensors.split(",") if isinstance(tensors, str) else list(tensors)
    arrays = collect(trace, tensor_names(trace, names))
    data = tensors_parquet(trace, arrays) if suffix == ".parquet" else tensors_npz(trace, arrays)
    Path(path).write_bytes(data)
    return {name: list(a.shape) for name, a in arrays.items()}
