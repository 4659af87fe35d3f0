"""The library's view of an encoder-decoder pair (attention_viz/pair_views.py) on a tiny random T5: `show(pair,
"cross")` draws the engine's cross-attention pattern of the asked decoder head, then that head's causal
self-attention, with the app's figures; every other view is of one trace and says to use pair.encoder or pair.decoder.
"""

from __future__ import annotations

import numpy as np
import pytest

from attention_core import load_model
from attention_viz import ViewError, build_view, show
from tests.app.helpers import decode
from tests.tiny_models import save_tiny_t5

SOURCE, TARGET = "the quick brown fox jumps over the lazy dog", "one mole of carbon dioxide"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache-t5-view")))
    folder = tmp_path_factory.mktemp("t5-view")
    save_tiny_t5(folder, "relu")
    yield load_model(str(folder), device="cpu").trace_pair(SOURCE, TARGET)
    mp.undo()


def test_the_cross_view_draws_the_heads_cross_attention_then_its_self_attention(pair, tmp_path) -> None:
    shown = show(pair, "cross", layer=1, head=2)
    cross, own = shown.figures
    np.testing.assert_allclose(decode(cross.to_plotly_json()["data"][0]["z"]), pair.cross.pattern(1, 2).numpy(),
                               atol=1e-6)  # fmt: skip
    z = decode(own.to_plotly_json()["data"][0]["z"]).astype(float)
    np.testing.assert_allclose(np.nan_to_num(z), pair.decoder.pattern(1, 2).numpy(), atol=1e-6)
    assert "decoder layer 1, head 2" in cross.layout.title.text and "(causal)" in own.layout.title.text
    assert "No entry is masked" in shown.view.note
    assert shown.title == f"{pair.encoder.model_name} · cross · layer 1, head 2"
    assert b"Cross-attention, decoder layer 1" in (shown.save(tmp_path / "cross.html")).read_bytes()


@pytest.mark.parametrize(
    ("what", "name", "layer", "said"),
    [
        ("pair", "head", 0, "show(pair.encoder, ...) or show(pair.decoder, ...)"),
        ("pair", "cross", 2, "decoder layer 2, head 0 is out of range"),
        ("pair", "crosss", 0, "unknown view 'crosss'"),
        ("trace", "cross", 0, "the cross view draws what model.trace_pair(source, target) returns"),
    ],
)
def test_a_view_the_value_cannot_draw_says_what_to_do(pair, what, name, layer, said) -> None:
    value = pair if what == "pair" else pair.encoder
    with pytest.raises(ViewError, match=None) as raised:
        build_view(value, name, layer=layer)
    assert said in str(raised.value)
