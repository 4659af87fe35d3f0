"""Shared helpers for the app tests: open a page on a text, decode Plotly specs that Streamlit sends to the browser."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


def open_page(page: str, text: str, model: str = "smollm2-135m", timeout: float = 180) -> Any:
    """An AppTest on `page` ("app_pages/head_finder.py") with `model` and `text` from the URL, checked to run clean
    (the timeout is generous: the machine's 2 cores are shared)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout)
    at.query_params.update({"model": model, "text": text})
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def decode(value: Any) -> np.ndarray:
    """Plotly ≥6 ships numpy arrays as {"dtype", "bdata" (base64), "shape"}; lists stay lists."""
    if isinstance(value, dict) and "bdata" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if shape:
            arr = arr.reshape([int(s) for s in str(shape).split(",")])
        return arr
    return np.asarray(value, dtype=float)


def figure_spec(element: Any) -> dict:
    """The Plotly figure dict of an AppTest plotly_chart element."""
    return json.loads(element.proto.spec)


def chart(at: Any, key_prefix: str) -> dict:
    """The figure of the first plotly chart whose widget key starts with `key_prefix`."""
    for element in at.get("plotly_chart"):
        if _key(element).startswith(key_prefix):
            return figure_spec(element)
    raise AssertionError(f"no plotly chart with key {key_prefix!r}; have {[_key(e) for e in at.get('plotly_chart')]}")


def _key(element: Any) -> str:
    return str(getattr(element, "key", "") or "")


def count_forward_passes(monkeypatch: Any) -> list[str]:
    """The texts of the forward passes the trace service runs from now on (the list fills as they run)."""
    from services import traces

    runs: list[str] = []
    real = traces._run

    def counting(model, text, *args, **kwargs):
        runs.append(text)
        return real(model, text, *args, **kwargs)

    monkeypatch.setattr(traces, "_run", counting)
    return runs


def keyed(at: Any, kind: str, prefix: str) -> Any:
    """The widget of `kind` ('selectbox', 'multiselect', ...) whose key starts with `prefix` (token pickers add a
    digest of the tokens to their key: ui.widgets.token_picker)."""
    found = [w for w in at.get(kind) if str(getattr(w, "key", "") or "").startswith(prefix)]
    assert len(found) == 1, f"{len(found)} {kind} widgets with a key starting {prefix!r}"
    return found[0]
