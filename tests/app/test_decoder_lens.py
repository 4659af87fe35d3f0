"""An encoder-decoder's decoder, layer by layer, on the Cross-attention page: the logit lens over the target, its top
row the decoder's own prediction after each target token (a tiny BART loaded through *Another model*)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.app.helpers import chart, decode
from tests.app.test_architecture_features import APP
from tests.tiny_folders import tiny_folder

pytest.importorskip("transformers")


def test_the_cross_attention_page_shows_the_decoders_lens(private_models) -> None:
    from services.models import load
    from services.traces import get_pair
    from viz.views.cross import DEFAULT_SOURCE, DEFAULT_TARGET

    folder = tiny_folder(private_models, "bart")
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": "cross_attention"})
    at.run()
    at.text_input(key="model_request").set_value(str(folder))
    at = at.button(key="model_load").click().run()
    assert not at.exception and not at.error, [e.value for e in at.exception]
    grid = chart(at, "cross_lens_grid")
    z = np.asarray(decode(grid["data"][0]["z"]), dtype=float)  # [decoder layers, target positions]
    pair = get_pair(load(str(folder), "cpu"), DEFAULT_SOURCE, DEFAULT_TARGET)  # the page's own pair, from the cache
    decoder = pair.decoder
    top = torch.softmax(decoder.logits.double(), -1).max(-1).values.numpy()  # the decoder's own prediction
    assert z.shape == (decoder.n_layers, decoder.n_tokens) and np.allclose(z[-1], top, atol=1e-5)
    assert grid["data"][0]["hovertext"][0][1].startswith("layer 0 · position 1, after")
    assert any("read the source through that block's cross-attention" in c.value for c in at.caption)
