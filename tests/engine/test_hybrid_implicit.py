"""The implicit weights of a hybrid's scan and delta rule (attention_core/implicit.py): each layer's weight[t, s] per
head, drawn by the patterns page as a pattern-like matrix. Held to the per-query `source_weights` the contribution
graph already splits by (and through them to transformers' own outputs: test_hybrid_granite4.py,
test_hybrid_qwen3_5.py), and to the layer's own recurrence: Σ_s weight[t, s] · x_s (+ D x_t) is the scan's y_t, the
delta rule's o_t. Tiny random models (tests.tiny_models_hybrid).

A window of queries and sources is exact on its own (a weight depends only on the tokens from its source to its
query): its matrix is the whole text's block. Tolerance: 1e-4 (float32; the matrix's cumulative sums against the
one-token-at-a-time recurrence).
"""

from __future__ import annotations

import pytest
import torch

from attention_core import blocks, delta_net, load_model, mamba
from attention_core.implicit import implicit_weights, weighted_layers
from tests.tiny_models_hybrid import save_tiny_lfm2, save_tiny_nemotron_h, save_tiny_qwen3_5

pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

TOL = 1e-4
TEXT = "the blue creature took a mole of the forest, and the fox jumps over the lazy dog"


def _loaded(tmp_path_factory, monkeypatch_module, save):
    folder = tmp_path_factory.mktemp("implicit")
    save(folder)
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return load_model(str(folder), device="cpu")


@pytest.fixture(scope="module", params=["scan", "delta"])
def hybrid(request, tmp_path_factory, monkeypatch_module):
    save = save_tiny_nemotron_h if request.param == "scan" else save_tiny_qwen3_5
    return request.param, _loaded(tmp_path_factory, monkeypatch_module, save)


def test_each_row_is_that_querys_source_weights_and_they_rebuild_the_output(hybrid):
    kind, ours = hybrid
    trace = ours.trace(TEXT)
    layer = weighted_layers(trace)[0]
    assert weighted_layers(trace) == ((0, 4) if kind == "scan" else (0, 2))
    weights = implicit_weights(trace, layer)  # (heads, n, n)
    x_in = blocks.attention_input(trace.captured.resid_pre[layer], ours.weights, layer, ours.config)
    module = mamba if kind == "scan" else delta_net
    d = module.inputs(x_in, ours.weights, layer, ours.config)
    out = module.recur(d)[0]  # the scan's y without D's term, or the delta rule's o: (heads, n, width)
    sent = d.x if kind == "scan" else d.v  # what each source sends, per head
    assert weights.shape == (sent.shape[0], trace.n_tokens, trace.n_tokens)
    assert torch.equal(weights.triu(1), torch.zeros_like(weights))  # no later token is read
    assert (weights @ sent - out).abs().max() <= TOL  # Σ_s weight[t, s] · x_s for every query at once
    for query in (0, 6, trace.n_tokens - 1):
        assert (weights[:, query, : query + 1] - module.source_weights(d, query)).abs().max() <= TOL, query
    for start, stop in ((0, 5), (4, 11), (9, trace.n_tokens)):  # a window is exact: its own block of the whole
        assert (implicit_weights(trace, layer, start, stop) - weights[:, start:stop, start:stop]).abs().max() <= TOL
    with pytest.raises(IndexError, match="window \\[3, 3\\) is not inside"):
        implicit_weights(trace, layer, 3, 3)


def test_layers_without_such_weights_are_refused_by_name(hybrid, tmp_path_factory, monkeypatch_module):
    kind, ours = hybrid
    trace = ours.trace(TEXT)
    attention = trace.attention_layers[0]
    with pytest.raises(ValueError, match=f"layer {attention} of .* runs attention: it has no weight per head"):
        implicit_weights(trace, attention)
    if kind == "scan":  # Nemotron-H's MLP-only layer 1, and LFM2's convolution
        with pytest.raises(ValueError, match=r"runs an MLP alone \(mixing no tokens\)"):
            implicit_weights(trace, 1)
        lfm2 = _loaded(tmp_path_factory, monkeypatch_module, save_tiny_lfm2).trace(TEXT)
        assert weighted_layers(lfm2) == ()
        with pytest.raises(ValueError, match="runs a short convolution"):
            implicit_weights(lfm2, 0)


@pytest.mark.parametrize("chunk", [1, 7, 64, 500])
def test_the_chunked_scan_the_pass_runs_is_the_token_by_token_recurrence(chunk) -> None:
    """mamba.scan (the pass's, chunk tokens a step through the weight matrix and the carried state) against
    mamba.recur (one token at a time), from a nonzero state, over a length no chunk size divides."""
    torch.manual_seed(0)
    H, n, P, N = 3, 150, 4, 5
    dt = torch.rand(H, n) * 0.5
    d = mamba.SsmInputs(torch.randn(H, n, P), torch.randn(H, n, N), torch.randn(H, n, N), dt,
                        dt * -torch.rand(H, 1) * 2, torch.randn(n, H * P))  # fmt: skip
    h0 = torch.randn(H, P, N)
    want_y, want_h = mamba.recur(d, h0)
    got_y, got_h = mamba.scan(d, h0, chunk=chunk)
    assert (got_y - want_y).abs().max() <= TOL * want_y.abs().max() and (got_h - want_h).abs().max() <= TOL
