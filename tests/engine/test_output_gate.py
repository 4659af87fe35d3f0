"""A model that gates each head's output (AFMoE: z × σ(E·W_G) before W_O), on the tiny AFMoE of
tests/tiny_models_later.py: the gate is transformers' number, and every view that splits a head's output by source
(contributions, value-weighted patterns, the contribution graph, Inside one head) multiplies by the query's gate,
so the parts still add up to what the model added, with and without ablations.

Tolerances (max absolute difference, float32 CPU): the gate and z against transformers 1e-5; sums of parts against
the whole 1e-4 (sums over every key of d_model-wide vectors); the float64 steps against the float32 pass 1e-5.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import ablate_head, flow, force_pattern, load_model, temperature
from tests.tiny_models import save_tiny

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

GATE_TOL, SUM_TOL, STEP_TOL = 1e-5, 1e-4, 1e-5
TEXT = "the blue creature took a mole of the forest, and the fox jumps over the lazy dog"
LAYER, HEAD = 1, 2  # a global layer (no RoPE) after a dense one; head 2 reads key/value head 1


@pytest.fixture(scope="module")
def pair(tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.mktemp("afmoe")
    hf = save_tiny("afmoe", folder)
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return hf, load_model(str(folder), device="cpu")


def test_the_gate_and_what_w_o_reads_are_transformers_numbers(pair):
    """The gate σ(E·W_G) per head, and the gated z that o_proj reads, as transformers computes them."""
    hf, ours = pair
    trace = ours.trace(TEXT)
    seen = {}
    attn = hf.model.layers[LAYER].self_attn
    hooks = [attn.o_proj.register_forward_hook(lambda m, args, out: seen.__setitem__("z", args[0][0])),
             attn.gate_proj.register_forward_hook(lambda m, args, out: seen.__setitem__("gate", out[0].sigmoid()))]
    try:
        with torch.inference_mode():
            hf(torch.tensor([trace.token_ids]))
    finally:
        for hook in hooks:
            hook.remove()
    n, H, d = trace.n_tokens, ours.config.n_heads, ours.config.d_head
    gate = trace[f"blocks.{LAYER}.attn.gate"]  # (n_heads, n, d_head)
    assert (gate - seen["gate"].view(n, H, d).transpose(0, 1)).abs().max() <= GATE_TOL
    assert (trace.z(LAYER) - seen["z"].view(n, H, d).transpose(0, 1)).abs().max() <= GATE_TOL
    assert 0.0 < float(gate.min()) and float(gate.max()) < 1.0 and float(gate.std()) > 0.1  # a gate that bites


def test_inside_one_head_multiplies_z_by_the_gate_before_w_o(pair):
    _, ours = pair
    trace = ours.trace(TEXT)
    s = trace.head_steps(LAYER, HEAD)
    assert s.W_G.shape == (ours.config.d_model, ours.config.d_head) and s.gate.shape == s.z.shape
    assert abs(s.gate - trace[f"blocks.{LAYER}.attn.gate"][HEAD].double().numpy()).max() <= STEP_TOL
    assert abs(s.z_out - trace.z(LAYER)[HEAD].double().numpy()).max() <= STEP_TOL
    assert abs(s.delta - trace.head_out(LAYER, HEAD).double().numpy()).max() <= STEP_TOL
    assert abs(s.z - s.z_out).max() > 0.1  # the ungated z is another number: the gate is shown as its own step


@pytest.mark.parametrize(
    "interventions",
    [(), (ablate_head(LAYER, HEAD, "mean"),), (ablate_head(LAYER, 0, "zero"), temperature(LAYER, HEAD, 1.0)),
     (force_pattern(LAYER, HEAD, "previous"),)],
    ids=["clean", "mean", "zero_and_neutral_temperature", "forced"],
)
def test_each_sources_part_carries_the_querys_gate_and_the_parts_add_up(pair, interventions):
    """contributions: a head's parts over every key add up to its output at the query, all heads' and b_O to the
    attention output; value_weighted is each part's norm; the contribution graph's parts add up to resid_mid. A
    mean-ablated head's parts add up to its mean gated z's output, at every query."""
    _, ours = pair
    trace = ours.trace(TEXT, interventions=list(interventions))
    heads, out = trace.head_out(LAYER), trace.attn_out(LAYER)  # (n_heads, n, d_model), (n, d_model)
    sent = trace.value_weighted(LAYER, HEAD)  # (n_q, n_k)
    for query in (3, trace.n_tokens - 1):
        parts = trace.contributions(LAYER, query)  # (n_heads, n_k, d_model)
        assert (parts.sum(1) - heads[:, query]).abs().max() <= SUM_TOL
        assert (parts.sum((0, 1)) - out[query]).abs().max() <= SUM_TOL  # no b_O in this model
        assert (sent[query] - parts[HEAD].norm(dim=-1)).abs().max() <= SUM_TOL
    rows = [2, trace.n_tokens - 1]
    whole = flow.attention_parts(trace, LAYER, rows).sum(1)  # (m, d_model): resid_pre, every source's part, b_O
    assert (whole - trace.resid_mid(LAYER)[rows]).abs().max() <= SUM_TOL


def test_the_gate_changes_what_each_key_sends(pair):
    """Without the query's gate, a key's part would be A[i,j]·‖v_j·W_O‖, the same norm at every query: here it is
    not, which a decomposition that left the gate out would miss."""
    _, ours = pair
    trace = ours.trace(TEXT)
    sent, pattern = trace.value_weighted(LAYER, HEAD), trace.pattern(LAYER, HEAD)
    per_key = sent / pattern.clamp_min(1e-12)  # ‖(g_i ⊙ v_j)·W_O‖ where the weight is not 0
    n = trace.n_tokens
    column = per_key[n // 2 :, 0]  # key 0 as seen from every later query
    assert float(column.max() - column.min()) > 0.05 * float(column.mean())
