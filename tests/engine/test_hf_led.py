"""LED (Longformer Encoder-Decoder: allenai/led-base-16384 and its summarisers) against `transformers` on a tiny random
checkpoint: BART's post-norm stacks with learned positions from row 0, the encoder's queries each reading the keys
within attention_window / 2 either way (LEDForConditionalGeneration given no global_attention_mask), the decoder
reading all its earlier keys and the whole source, its own position table shorter than the encoder's.

transformers returns the encoder's patterns as bands (query × the window's w + 1 offsets); here they are the full
query × key matrix, zero outside the band. Tolerances (max absolute difference, float32 CPU): patterns 1e-4, logits
and hidden states 1e-3.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import InputError, load_model
from tests.engine.pair_parity import greedy_reference
from tests.tiny_models import _peaked_and_saved
from tests.tiny_models_seq2seq import bart_tokenizer

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
SOURCE = "the quick brown fox jumps over the lazy dog and a fluffy blue creature roamed the verdant forest"
TARGET = "attention is all you need"
WINDOW, DECODER_POSITIONS = 8, 24  # 4 keys either side of each source token; targets of at most 24 tokens


@pytest.fixture(scope="module")
def led(tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache-led")))
    folder = tmp_path_factory.mktemp("tiny-led")
    torch.manual_seed(6)
    cfg = transformers.LEDConfig(
        vocab_size=300, d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=96, decoder_ffn_dim=96, max_encoder_position_embeddings=128,
        max_decoder_position_embeddings=DECODER_POSITIONS, attention_window=WINDOW, pad_token_id=1, bos_token_id=0,
        eos_token_id=2, decoder_start_token_id=2,
    )  # fmt: skip
    hf = _peaked_and_saved(transformers.LEDForConditionalGeneration(cfg), folder, bart_tokenizer(), norms_too=True)
    return hf, load_model(str(folder), device="cpu")


def _full(band: torch.Tensor, n: int) -> torch.Tensor:
    """transformers' band (heads, n, WINDOW + 1: offsets −WINDOW/2 … +WINDOW/2) as the full (heads, n, n) pattern."""
    full, half = torch.zeros(band.shape[0], n, n), WINDOW // 2
    for i in range(n):
        for b in range(WINDOW + 1):
            if 0 <= i - half + b < n:
                full[:, i, i - half + b] = band[:, i, b]
    return full


def test_every_pattern_hidden_state_and_logit_matches_transformers(led):
    hf, ours = led
    pair = ours.trace_pair(SOURCE, TARGET)
    n = pair.encoder.n_tokens
    assert n > 2 * WINDOW  # most source keys lie outside each query's window
    src, tgt = torch.tensor([pair.encoder.token_ids]), torch.tensor([pair.decoder.token_ids])
    with torch.inference_mode():
        out = hf(input_ids=src, decoder_input_ids=tgt, output_attentions=True, output_hidden_states=True)
    for layer in range(2):
        full = _full(out.encoder_attentions[layer][0], n)
        assert (pair.encoder.layer_patterns(layer) - full).abs().max() <= PATTERN_TOL, layer
        assert (pair.decoder.layer_patterns(layer) - out.decoder_attentions[layer][0]).abs().max() <= PATTERN_TOL
        assert (pair.cross.layer_patterns(layer) - out.cross_attentions[layer][0]).abs().max() <= PATTERN_TOL
    for trace, hidden in ((pair.encoder, out.encoder_hidden_states), (pair.decoder, out.decoder_hidden_states)):
        for layer in range(3):
            assert (trace.resid(layer) - hidden[layer][0]).abs().max() <= HIDDEN_TOL, layer
    assert (pair.logits - out.logits[0]).abs().max() <= LOGIT_TOL
    assert pair.encoder.layer_patterns(0).max() > 0.5 and pair.cross.layer_patterns(1).max() > 10 / n
    half = WINDOW // 2
    distance = (torch.arange(n)[:, None] - torch.arange(n)[None, :]).abs()
    assert torch.equal(pair.encoder.mask(1), distance <= half)  # the encoder's window, both ways
    n_t = pair.decoder.n_tokens  # the decoder: every earlier key
    assert pair.decoder.config.window(0) is None and torch.equal(pair.decoder.mask(0), torch.ones(n_t, n_t).tril() > 0)


def test_the_written_target_is_transformers_greedy_one(led):
    hf, ours = led
    assert list(ours.greedy_target(SOURCE, 8).token_ids) == greedy_reference(hf, ours, SOURCE, 8)


def test_targets_stop_at_the_decoders_own_positions(led):
    _, ours = led
    assert (ours.config.n_ctx, ours.config.decoder_n_ctx) == (128, DECODER_POSITIONS)
    long_target = " ".join([TARGET] * 6)
    pair = ours.trace_pair(SOURCE, long_target)
    assert pair.decoder.n_tokens == DECODER_POSITIONS and pair.encoder.n_tokens < 128
    with pytest.raises(InputError, match="fit"):
        ours.greedy_target(SOURCE, DECODER_POSITIONS)
