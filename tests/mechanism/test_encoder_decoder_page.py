"""The cross-attention page draws a real encoder-decoder's cross-attention when one is loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")


def test_cross_attention_page_shows_real_cross_attention(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from attention_core import load_model
    from tests.tiny_models import save_tiny_marian

    folder = tmp_path / "models" / "tiny-marian"
    folder.mkdir(parents=True)
    save_tiny_marian(folder)
    from viz import engine

    monkeypatch.setattr(engine, "_models", {})  # a private model table: the tiny model must not outlive this test
    monkeypatch.setenv("ATTN_ALLOWED_MODEL_DIRS", str(tmp_path / "models"))
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    page = Path(__file__).resolve().parents[2] / "pages" / "mechanism" / "cross_attention.py"
    at = AppTest.from_file(str(page), default_timeout=120)
    at.session_state["model"] = str(folder)
    at.run()
    assert not at.exception, at.exception
    assert any("real cross-attention" in c.value for c in at.caption)
    charts = [c for c in at.get("plotly_chart") if "mech_cross_encdec_block" in str(c.proto.id)]
    assert charts, "the encoder-decoder block was not drawn"
    from tests.app.helpers import decode, figure_spec

    z = decode(figure_spec(charts[0])["data"][0]["z"]).astype(float)
    model = load_model(str(folder), device="cpu")
    pair = model.trace_pair("The cat sleeps on the mat.", "Le chat dort sur le tapis.", max_tokens=128)
    layer, head = at.selectbox(key="mech_cross_encdec_head").value
    expected = pair.cross.pattern(layer, head).numpy()
    assert z.shape == expected.shape == (pair.decoder.n_tokens, pair.encoder.n_tokens)
    assert np.allclose(z, expected, atol=1e-6)
    assert np.allclose(z.sum(axis=1), 1.0, atol=1e-5)  # rows sum to 1 over the source alone
