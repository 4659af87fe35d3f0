"""The logit lens of an encoder-decoder's decoder (the Cross-attention page's grid): after each decoder block, the
residual through the decoder's own final norm (mBART's; BART has none) and its unembedding with final_logits_bias, as
transformers' hidden states read through the same parts. Tolerance (max absolute difference, float32 CPU): 1e-3."""

from __future__ import annotations

import pytest
import torch

from attention_core import load_model
from tests.tiny_models_seq2seq import save_tiny_seq2seq

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

LOGIT_TOL = 1e-3


@pytest.mark.parametrize("kind", ["bart", "mbart"])
def test_each_decoder_blocks_lens_is_transformers_hidden_state_through_the_head(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = save_tiny_seq2seq(kind, tmp_path / kind)
    pair = load_model(str(tmp_path / kind), device="cpu").trace_pair("the blue creature", "la créature bleue")
    decoder = pair.decoder
    with torch.inference_mode():
        out = hf(input_ids=torch.tensor([pair.encoder.token_ids]), decoder_input_ids=torch.tensor([decoder.token_ids]),
                 output_hidden_states=True)  # fmt: skip
        final_norm = getattr(hf.model.decoder, "layer_norm", None)  # mBART's closing norm; BART has none
        for layer in range(decoder.n_layers):
            hidden = out.decoder_hidden_states[layer + 1][0]
            if final_norm is not None and layer < decoder.n_layers - 1:  # the last hidden state is normalised already
                hidden = final_norm(hidden)
            expected = hf.lm_head(hidden) + hf.final_logits_bias[0]
            diff = (decoder.lens_logits(layer) - expected).abs().max().item()
            assert diff <= LOGIT_TOL, (kind, layer, diff)
    assert (decoder.lens_logits(decoder.n_layers - 1) - out.logits[0]).abs().max().item() <= LOGIT_TOL
