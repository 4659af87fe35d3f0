"""The contribution graph (attention_core/flow.py): its parts add up to the model's own residuals in every norm
placement, its importances are the proximity measure, and the graph is traced from the chosen token.

Tolerances: parts against the model's residuals 1e-4 absolute (float32 sums of up to n + 2 vectors; the
residuals are of order 1-100), per-source parts against Trace.contributions 1e-5, hand-made importances 1e-6.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from attention_core import flow
from attention_core.api import load_model
from attention_core.interventions import Intervention
from tests.texts import FLUFFY
from tests.tiny_models import save_tiny, save_tiny_gpt2

TEXT = "the cat sat on the mat because it was tired, and then it slept"


def _close(a: torch.Tensor, b: torch.Tensor, atol: float) -> None:
    assert torch.allclose(a, b, atol=atol, rtol=1e-5), float((a - b).abs().max())


def _check_parts_add_up(trace, rows: list[int]) -> None:
    cfg = trace.config
    for layer in range(trace.n_layers):
        total = flow.attention_parts(trace, layer, rows).sum(1)  # (m, d_model)
        mid = trace.resid_mid(layer)[rows]
        if cfg.norm_position == "post":  # BERT normalises after the add
            w = trace.context.weights
            p = f"blocks.{layer}.ln_attn"
            total = F.layer_norm(total, (cfg.d_model,), w[p + ".w"].float(), w[p + ".b"].float(), cfg.norm_eps)
        _close(total, mid, 1e-4)
        mid_part, mlp_part = flow.mlp_parts(trace, layer, rows)
        _close(mid_part, mid, 1e-4)  # resid_mid at the rows alone: the same maths, another kernel
        if cfg.norm_position != "post":
            _close(mid_part + mlp_part, trace.resid(layer + 1)[rows], 1e-4)


@pytest.mark.parametrize("kind", ["gemma2", "olmo2", "neox", "phi"])  # phi: one norm, read by both sublayers
def test_parts_add_up_in_every_norm_placement(kind: str, tmp_path) -> None:
    save_tiny(kind, tmp_path / kind)
    trace = load_model(str(tmp_path / kind)).trace(TEXT)
    _check_parts_add_up(trace, [0, 3, trace.n_tokens - 1])


def test_parts_add_up_with_biases(tmp_path) -> None:
    save_tiny_gpt2(tmp_path / "gpt2")
    trace = load_model(str(tmp_path / "gpt2")).trace(TEXT)
    assert trace.output_bias(0) is not None  # GPT-2 has b_O: the bias part is not empty
    _check_parts_add_up(trace, [1, trace.n_tokens - 1])


def test_parts_add_up_on_the_real_models(smollm, minilm) -> None:
    for model in (smollm, minilm):
        trace = model.trace(FLUFFY)
        _check_parts_add_up(trace, [0, trace.n_tokens // 2, trace.n_tokens - 1])


def test_a_sources_part_is_its_contribution_summed_over_heads(smollm) -> None:
    trace = smollm.trace(FLUFFY)
    query = trace.n_tokens - 1
    for layer in (0, 7, 29):
        parts = flow.attention_parts(trace, layer, [query])[0]  # (1 + n + 1, d_model)
        _close(parts[1:-1], trace.contributions(layer, query).sum(0), 1e-5)
        _close(parts[0], trace.resid(layer)[query], 0.0)


def test_the_graphs_shares_are_the_importances_of_the_parts(smollm, tmp_path) -> None:
    """The graph computes each attention step's importances without joining the parts into one tensor, and a
    causal model's step without the keys after its last row: the same numbers (1e-6)."""
    save_tiny("gemma2", tmp_path / "gemma2")
    for trace in (smollm.trace(FLUFFY), load_model(str(tmp_path / "gemma2")).trace(TEXT)):
        rows = [2, 5]
        want = flow.importances(flow.attention_parts(trace, 3 % trace.n_layers, rows))  # (2, 1 + n + 1)
        got = flow._attention_pieces(trace, 3 % trace.n_layers, rows).shares(slice(None))  # keys 0..5 only
        _close(got[:, :-1], want[:, : got.shape[1] - 1], 1e-6)
        _close(got[:, -1], want[:, -1], 1e-6)
        assert float(want[:, got.shape[1] - 1 : -1].abs().max()) == 0.0  # the left-out keys had no share


def test_importances_are_the_proximity_shares() -> None:
    parts = torch.tensor([[2.0, 0.0], [0.0, 1.0], [-0.5, 0.0]])  # sum (1.5, 1): ‖y‖₁ = 2.5
    # ‖y − c‖₁: 0.5 + 1 = 1.5 → 1.0; 1.5 + 0 = 1.5 → 1.0; 2 + 1 = 3 → max(0, −0.5) = 0
    _close(flow.importances(parts), torch.tensor([0.5, 0.5, 0.0]), 1e-6)
    assert flow.importances(torch.zeros(3, 4)).tolist() == [0.0, 0.0, 0.0]  # no sum, no shares (no NaN)


def test_the_graph_is_traced_from_the_chosen_token(smollm) -> None:
    trace = smollm.trace(FLUFFY)
    target = trace.n_tokens - 1
    graph = trace.contribution_graph(target, 0.04)
    assert graph.edges and all(e.importance >= 0.04 for e in graph.edges)
    top = [e for e in graph.edges if e.layer == trace.n_layers - 1 and e.kind.endswith("mlp")]
    assert top and {e.target for e in top} == {target}
    # Every edge ends at a node some edge above it leaves from (or at the chosen token's final residual).
    leaves = {(2 * e.layer + 2 if e.kind.endswith("mlp") else 2 * e.layer + 1, e.target) for e in graph.edges}
    starts = {(2 * e.layer + 1 if e.kind.endswith("mlp") else 2 * e.layer, e.source) for e in graph.edges}
    starts.add((2 * trace.n_layers, target))
    assert leaves <= starts
    assert all(e.source <= e.target for e in graph.edges)  # causal: nothing comes from a later token
    assert any(e.kind == "attention" and e.source != e.target for e in graph.edges)
    # A stricter threshold keeps a subset of the same parts (their importances may differ in the last bits:
    # the rows are split into other chunks).
    stricter = trace.contribution_graph(target, 0.2)
    assert _ends(stricter) < _ends(graph)


def _ends(graph) -> set[tuple]:
    return {(e.layer, e.kind, e.source, e.target) for e in graph.edges}


def test_an_ablated_layer_sends_nothing(smollm) -> None:
    ablated = smollm.trace(FLUFFY, interventions=(Intervention("zero_layer", 28),))
    graph = ablated.contribution_graph(ablated.n_tokens - 1, 0.01)
    assert not [e for e in graph.edges if e.layer == 28 and e.kind == "attention"]
    assert [e for e in graph.edges if e.layer == 28 and e.kind == "residual_attn"]


def test_a_threshold_no_part_reaches_ends_the_graph(smollm) -> None:
    """At threshold 1 a sum keeps a part only if it is the whole sum: the graph stops where none is."""
    trace = smollm.trace(FLUFFY)
    graph = trace.contribution_graph(trace.n_tokens - 1, 1.0)
    assert all(e.importance >= 1.0 for e in graph.edges)


def test_bad_requests_are_refused(smollm) -> None:
    trace = smollm.trace("the cat sat")
    with pytest.raises(IndexError, match="out of range"):
        trace.contribution_graph(trace.n_tokens)
    with pytest.raises(ValueError, match="threshold"):
        trace.contribution_graph(0, 0.0)
