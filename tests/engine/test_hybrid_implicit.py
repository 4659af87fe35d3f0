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
# a chunked scan or delta rule against its loop, relative to the largest output: both are ~1.5e-7 from the float64
# loop here, and taking the sums of log decays in float32 would put the chunked one 2e-5 away (which a tiny Qwen3.5's
# later layers grow past the parity tests' 1e-3)
SCAN_TOL = 1e-6
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
@pytest.mark.parametrize("decay", ["slow", "fast"])
def test_the_chunked_scan_the_pass_runs_is_the_token_by_token_recurrence(chunk, decay) -> None:
    """mamba.scan (the pass's, chunk tokens a step through the weight matrix and the carried state) against
    mamba.recur (one token at a time), from a nonzero state, over a length no chunk size divides; with some tokens
    whose Δ·A is −70 among slow ones (the sums of Δ·A grow large, and the decays between the slow tokens after them,
    differences of such sums, must stay exact)."""
    torch.manual_seed(0)
    H, n, P, N = 3, 150, 4, 5
    dt = torch.rand(H, n) * 0.5
    log_decay = dt * -torch.rand(H, 1) * 2
    if decay == "fast":
        log_decay[torch.rand(H, n) < 0.2] = -70.0
    d = mamba.SsmInputs(torch.randn(H, n, P), torch.randn(H, n, N), torch.randn(H, n, N), dt, log_decay,
                        torch.randn(n, H * P))  # fmt: skip
    h0 = torch.randn(H, P, N)
    want_y, want_h = mamba.recur(d, h0)
    got_y, got_h = mamba.scan(d, h0, chunk=chunk)
    assert (got_y - want_y).abs().max() <= SCAN_TOL * want_y.abs().max() and (got_h - want_h).abs().max() <= TOL


@pytest.mark.parametrize("chunk", [1, 7, 64, 500])
@pytest.mark.parametrize("decay", ["per_head", "fast", "underflowing", "per_channel"])
def test_the_chunked_delta_rule_the_pass_runs_is_the_token_by_token_recurrence(chunk, decay) -> None:
    """delta_net.scan (the pass's and generation's, chunk tokens a step through one triangular solve) against
    delta_net.recur, from a nonzero state, over a length no chunk size divides: with α one number a head (Qwen3.5),
    with some α as small as 1e-30 among slow ones (the tiny Qwen3.5's reach 1e-31: the log sums grow large, and the
    ratios between the slow tokens after them, differences of such sums, must stay exact), with some α underflowing
    to 0 (a state wiped at once), and with α per key channel (Kimi), where the loop runs."""
    torch.manual_seed(0)
    n_v, n, d_k, d_v = 3, 150, 8, 5
    q, k = (torch.nn.functional.normalize(torch.randn(n_v, n, d_k), dim=-1) for _ in range(2))
    alpha = torch.exp(-torch.rand(n_v, n, d_k if decay == "per_channel" else 1) * 0.7)
    if decay == "fast":  # some tokens all but wipe the state: log γ's sums grow large between slow ones
        alpha[torch.rand(n_v, n) < 0.2] = 1e-30
    if decay == "underflowing":
        alpha[:, 40::37] = 0.0
    d = delta_net.DeltaInputs(q * d_k**-0.5, k, torch.randn(n_v, n, d_v), torch.rand(n_v, n), alpha, None)
    S0 = torch.randn(n_v, d_k, d_v)
    want_o, want_S = delta_net.recur(d, S0)
    got_o, got_S = delta_net.scan(d, S0, chunk=chunk)
    assert (got_o - want_o).abs().max() <= SCAN_TOL * want_o.abs().max() and (got_S - want_S).abs().max() <= TOL
