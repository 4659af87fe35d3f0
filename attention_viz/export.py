"""Files from a trace with no server: a view as SVG, PNG or standalone HTML; one head's pattern as CSV or NPZ (the
app's own download writers, viz/views/export.py); a trace's chosen tensors as NPZ or Parquet with a manifest.

PNG is the SVG of attention_viz/svg.py rendered by headless Chromium (Debian's /usr/bin/chromium, or $CHROMIUM):
no browser download, and the PNG shows exactly what the SVG holds.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from attention_viz.errors import ExportError
from attention_viz.html import document
from attention_viz.svg import view_svg
from attention_viz.views import View
from viz.views.export import pattern_csv, pattern_npz
from viz.views.patterns import head_view

FORMATS = ("svg", "png", "html", "csv", "npz")
# Short names for `attention-viz trace --tensors`: each stands for that tensor of every layer (of every attention
# layer, for attention's own tensors in a hybrid; attention_core/dotted_names.py documents the dotted names and
# shapes). A full dotted name (blocks.3.attn.pattern, logits) is taken as it is.
SHORT_TENSORS = {
    "pattern": "attn.pattern",
    "scores": "attn.scores",
    "masked_scores": "attn.masked_scores",
    "mask": "attn.mask",
    "q": "attn.q",
    "k": "attn.k",
    "v": "attn.v",
    "z": "attn.z",
    "head_out": "attn.head_out",
    "attn_out": "attn_out",
    "resid": "resid_pre",
    "resid_pre": "resid_pre",
    "resid_mid": "resid_mid",
    "resid_post": "resid_post",
}
DEFAULT_TENSORS = ("pattern", "scores", "q", "k", "v", "resid")
# What `collect` holds at most (checked after each tensor, and the file is built beside them: ~2× at peak); more would
# swap or kill a laptop's Python.
MAX_TENSOR_BYTES = 4 * 2**30
WIDTHS = (200, 6000)  # an SVG narrower than its labels is unreadable; wider, Chromium's PNG takes minutes


def chromium_path() -> str | None:
    """$CHROMIUM, else Debian's chromium or a chromium / google-chrome on the PATH."""
    candidates = [os.environ.get("CHROMIUM", ""), "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"]
    for c in candidates:
        found = shutil.which(c) if c else None
        if found:
            return found
    return None


def _svg_size(svg: str) -> tuple[int, int]:
    m = re.search(r'width="(\d+)" height="(\d+)"', svg)
    return (int(m.group(1)), int(m.group(2))) if m else (900, 600)


def svg_to_png(svg: str, scale: float = 2.0, timeout: float = 60) -> bytes:
    """Render SVG text to PNG in headless Chromium (scale 2: sharp on paper and on high-density screens)."""
    browser = chromium_path()
    if browser is None:
        raise ExportError(
            "PNG needs Chromium and none was found: install it (Debian: apt-get install chromium), set $CHROMIUM, "
            "or export --format svg"
        )
    w, h = _svg_size(svg)
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "figure.svg", Path(tmp) / "figure.png"
        src.write_text(svg, encoding="utf-8")
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--disable-background-networking",
            f"--user-data-dir={tmp}/profile",
            f"--force-device-scale-factor={scale}",
            f"--window-size={w},{h}",
            f"--screenshot={out}",
            src.as_uri(),
        ]
        stderr = _run_browser(cmd, timeout)
        if not out.exists():
            tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            raise ExportError(f"Chromium did not write the PNG ({browser}): {tail[0]}")
        return out.read_bytes()


def _run_browser(cmd: list[str], timeout: float) -> bytes:
    """Run the browser and return its stderr; past `timeout` seconds stop it and every helper process it started
    (its own session: Chromium's zygote and GPU processes would live on, holding its pipes) and raise ExportError."""
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True) as proc:
        try:
            return proc.communicate(timeout=timeout)[1]
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise ExportError(
                f"Chromium took over {timeout:g} s to draw the PNG; try --format svg or a smaller --width"
            ) from None


def check_width(width: object) -> int:
    """An image width within WIDTHS, as a whole number of pixels; else ExportError (the CLI's --width says the same)."""
    if isinstance(width, bool) or not isinstance(width, int | np.integer) or not WIDTHS[0] <= width <= WIDTHS[1]:
        raise ExportError(f"the width takes {WIDTHS[0]}-{WIDTHS[1]} px (a whole number), not {width!r}")
    return int(width)


def view_bytes(view: View, fmt: str, title: str, width: int = 900) -> bytes:
    """The whole view as SVG or PNG (its figures stacked, attention_viz/svg.py `view_svg`) or as a standalone HTML
    document. `width` is checked for every format, as the CLI checks --width, whatever the file."""
    width = check_width(width)
    if fmt == "html":
        return document(view, title).encode("utf-8")
    svg = view_svg(view.figures, width=width, note=view.note)  # what the HTML says under them, too
    if fmt == "svg":
        return svg.encode("utf-8")
    if fmt == "png":
        return svg_to_png(svg)
    raise ExportError(f"unknown image format {fmt!r}: use svg, png or html")


def write_all(files: Sequence[tuple[Path, bytes]]) -> None:
    """Write every file or none: each to a temporary file in its own folder (so the rename stays on one file system),
    then each renamed into place once all are written, an existing file first moved aside; if any step fails, the
    files already renamed are put back as they were, the temporary files removed, and ExportError names the file
    that could not be written."""
    parts: list[tuple[Path, Path]] = []
    placed: list[tuple[Path, Path | None]] = []  # (target, its old file moved aside, or None where there was none)
    out = None
    try:
        for out, data in files:
            part = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.part"
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666: the umask decides, as for open()
            parts.append((part, out))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        for part, out in parts:
            placed.append((out, _move_aside(out)))
            os.replace(part, out)
    except OSError as exc:
        _put_back(placed)
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        for part, _ in parts:
            part.unlink(missing_ok=True)  # gone already where it was renamed
    for _, old in placed:
        if old is not None:
            old.unlink(missing_ok=True)


def _move_aside(out: Path) -> Path | None:
    """Keep what is at `out` (a file or a link) beside it under another name, so that a later failure can put it
    back; None where there is nothing, or a folder (the rename onto it fails, as it should). A hard link keeps the
    original in place, so the rename that follows still swaps old for new in one step; where the file system has
    no hard links, it is renamed aside."""
    if not os.path.lexists(out) or (out.is_dir() and not out.is_symlink()):
        return None
    old = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.old"
    try:
        os.link(out, old, follow_symlinks=False)
    except OSError:
        os.replace(out, old)
    return old


def _put_back(placed: list[tuple[Path, Path | None]]) -> None:
    """Undo the renames done so far, last first: each target gets its old file or link back, or is removed if it had
    none."""
    for out, old in reversed(placed):
        try:
            if old is not None:
                os.replace(old, out)
            elif os.path.lexists(out) and not (out.is_dir() and not out.is_symlink()):
                out.unlink()
        except OSError:
            pass  # best effort: the error being reported is the one that matters


def pattern_bytes(trace: Any, layer: int, head: int, fmt: str) -> bytes:
    """One head's pattern with the app's own writers: CSV (rows = queries) or NPZ (pattern, scores, mask, tokens)."""
    view = head_view(trace, layer, head)
    if fmt == "csv":
        return pattern_csv(view)
    return pattern_npz(view, trace.model_name)


def tensor_names(trace: Any, wanted: Sequence[str]) -> list[str]:
    """Short names (pattern, q, resid, ...) expanded to every layer's dotted name; dotted names kept as they are."""
    names: list[str] = []
    for w in wanted:
        if not isinstance(w, str):  # [3] would fail on .strip()
            raise ExportError(f"tensor names are text (pattern, q, blocks.3.attn.pattern, ...), not {w!r}")
    for w in (s.strip() for s in wanted):
        if not w:
            continue
        if w in SHORT_TENSORS:
            attention_only = SHORT_TENSORS[w].startswith("attn")  # a hybrid's other layers have none
            layers = trace.attention_layers if attention_only else range(trace.n_layers)
            names += [f"blocks.{layer}.{SHORT_TENSORS[w]}" for layer in layers]
        elif w == "logits" or w.startswith("blocks."):
            names.append(w)
        else:
            raise ExportError(f"unknown tensor {w!r}: use {', '.join(SHORT_TENSORS)}, logits or a dotted name")
    if not names:
        raise ExportError("no tensors asked: give --tensors pattern,scores,... or dotted names")
    return list(dict.fromkeys(names))  # in order, once each


def collect(trace: Any, names: Sequence[str], max_bytes: int = MAX_TENSOR_BYTES) -> dict[str, np.ndarray]:
    """The named tensors as numpy arrays (float32 as the trace holds them; the mask as bool). Stops with ExportError
    once they pass `max_bytes` in memory: a trace stores q, k and v, and every pattern and score asked is computed
    here, n² per head (at 4,096 tokens SmolLM2's patterns alone are 18 GB)."""
    arrays: dict[str, np.ndarray] = {}
    held = 0
    for i, name in enumerate(names):
        try:
            arrays[name] = np.asarray(trace[name])
        except (KeyError, IndexError) as exc:
            raise ExportError(f"the trace has no tensor {name!r} ({exc})") from None
        held += arrays[name].nbytes
        if held > max_bytes:
            raise ExportError(
                f"the tensors asked pass {max_bytes / 2**30:.3g} GiB in memory at {name} ({i + 1} of {len(names)}): "
                "ask for fewer (--tensors, or dotted names of single layers) or trace a shorter text"
            )
    return arrays


def manifest(trace: Any, arrays: dict[str, np.ndarray]) -> dict:
    """What a tensor file holds: each name with shape and dtype, and the trace it came from."""
    return {
        "model": trace.model_name,
        "text": trace.text,
        "tokens": list(trace.tokens),
        "token_ids": [int(i) for i in trace.token_ids],
        "causal": bool(trace.causal),
        "truncated": bool(trace.truncated),  # the text was cut to the model's limit: tokens are what was traced
        "n_input_tokens": int(trace.n_input_tokens),
        # A text pair's (the text is then both, joined by a line break): each token's segment, the second's first token
        "segments": None if trace.segments is None else [int(s) for s in trace.segments.ids],
        "second_text_token": None if trace.segments is None else int(trace.segments.second_token),
        "interventions": [iv.describe() for iv in trace.interventions],
        "tensors": [{"name": k, "shape": list(v.shape), "dtype": str(v.dtype)} for k, v in arrays.items()],
    }


def tensors_npz(trace: Any, arrays: dict[str, np.ndarray]) -> bytes:
    """One array per dotted name, plus `manifest` (JSON text); np.load(..., allow_pickle=False) reads it."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays, manifest=np.array(json.dumps(manifest(trace, arrays))))
    return buf.getvalue()


def tensors_parquet(trace: Any, arrays: dict[str, np.ndarray]) -> bytes:
    """One row per tensor: name, shape, dtype and the values flattened (row-major); the manifest in the schema's
    metadata under b"attention_viz.manifest". pyarrow comes with the `atlas` extra (Ray Data)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ExportError("Parquet needs pyarrow: pip install 'attention-viz[atlas]' or pyarrow; or use .npz") from None
    table = pa.table(
        {
            "name": list(arrays),
            "shape": [list(a.shape) for a in arrays.values()],
            "dtype": [str(a.dtype) for a in arrays.values()],
            "values": [a.astype(np.float32).ravel() for a in arrays.values()],
        }
    )
    table = table.replace_schema_metadata({b"attention_viz.manifest": json.dumps(manifest(trace, arrays)).encode()})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()
