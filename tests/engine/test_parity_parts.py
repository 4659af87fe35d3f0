"""Parity with transformers for the numbers built from a pass's parts, not just its patterns and logits: each
head's z and the attention output (o_proj's input and output, caught with hooks), what each key sends
‖A[i,j]·v_j·W_O‖ (the value-weighted view), an ablated head (zeroed or averaged at o_proj's input in transformers),
and a generation's probabilities (the softmax of a full transformers pass over the same tokens).

Tolerances (max absolute difference, float32 on CPU; measured 2026-12-02 on TEXT):
  z (o_proj's input)                       1e-4   (measured 4.6e-5)
  attention output (o_proj's output)       1e-3   (2.4e-4; SmolLM2's outputs reach ~20)
  value-weighted norms                     1e-4 × the head's largest norm (measured 1.6e-5 ×)
  logits with a head ablated               1e-3   (3.0e-4; as test_parity.py's LOGIT_TOL)
  generation probabilities                 5e-5   (1.6e-5)
  MiniLM attention output, with b_O        1e-5   (2.9e-6)
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import torch

from attention_core import ablate_head

pytestmark = pytest.mark.parity

TEXT = "The cat sat on the mat because it was tired."
Z_TOL, ATTN_OUT_TOL, VW_REL_TOL, LOGIT_TOL, PROB_TOL, MINILM_TOL = 1e-4, 1e-3, 1e-4, 1e-3, 5e-5, 1e-5


@contextmanager
def o_proj_hooks(hf, d_head: int, ablate: tuple[int, int, str] | None = None):
    """Catch each layer's o_proj input (z, heads side by side) and output; `ablate` = (layer, head, "zero" | "mean")
    changes that head's slice of the input first, as attention_core's ablate_head does to z."""
    caught: dict[str, dict[int, torch.Tensor]] = {"z": {}, "out": {}}

    def before(layer: int):
        def hook(module, args):
            z = args[0].clone()  # (1, n, n_heads · d_head)
            if ablate is not None and ablate[0] == layer:
                part = slice(ablate[1] * d_head, (ablate[1] + 1) * d_head)
                z[..., part] = 0.0 if ablate[2] == "zero" else z[..., part].mean(dim=-2, keepdim=True)
            caught["z"][layer] = z[0]
            return (z,)

        return hook

    handles = []
    for layer, block in enumerate(hf.model.layers):
        o_proj = block.self_attn.o_proj
        handles.append(o_proj.register_forward_pre_hook(before(layer)))
        handles.append(
            o_proj.register_forward_hook(lambda m, a, out, layer=layer: caught["out"].__setitem__(layer, out[0]))
        )
    try:
        yield caught
    finally:
        for h in handles:
            h.remove()


def hf_pass(hf, ids: list[int], d_head: int, ablate=None):
    with o_proj_hooks(hf, d_head, ablate) as caught, torch.inference_mode():
        out = hf(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    return out, caught


def test_z_and_attention_output_match_o_proj(smollm, hf_smollm):
    _, hf = hf_smollm
    trace = smollm.trace(TEXT)
    cfg = smollm.config
    _, caught = hf_pass(hf, trace.token_ids, cfg.d_head)
    n = trace.n_tokens
    for layer in range(cfg.n_layers):
        z_ref = caught["z"][layer].view(n, cfg.n_heads, cfg.d_head).transpose(0, 1)  # (heads, n, d_head)
        assert (trace.z(layer) - z_ref).abs().max().item() <= Z_TOL, layer
        assert (trace.attn_out(layer) - caught["out"][layer]).abs().max().item() <= ATTN_OUT_TOL, layer
        assert torch.allclose(trace.head_out(layer).sum(0), trace.attn_out(layer), atol=1e-4)  # no b_O here


def test_value_weighted_norms_are_transformers_attention_times_its_values(smollm, hf_smollm):
    """‖A[i,j]·v_j·W_O^h‖ from transformers' own patterns, v_proj and o_proj (grouped-query: query head h reads
    key/value head h // group_size)."""
    _, hf = hf_smollm
    trace = smollm.trace(TEXT)
    cfg = smollm.config
    values: dict[int, torch.Tensor] = {}
    handles = [
        block.self_attn.v_proj.register_forward_hook(lambda m, a, out, layer=layer: values.__setitem__(layer, out[0]))
        for layer, block in enumerate(hf.model.layers)
    ]
    try:
        with torch.inference_mode():
            out = hf(torch.tensor([trace.token_ids]), output_attentions=True)
    finally:
        for h in handles:
            h.remove()
    n, d = trace.n_tokens, cfg.d_head
    for layer in (0, 7, cfg.n_layers - 1):
        v = values[layer].view(n, cfg.n_kv_heads, d).transpose(0, 1)  # (kv heads, n, d_head)
        W_O = hf.model.layers[layer].self_attn.o_proj.weight.detach()  # (d_model, n_heads · d_head)
        for head in (0, 4, cfg.n_heads - 1):
            sent = v[cfg.kv_head(head)] @ W_O[:, head * d : (head + 1) * d].T  # (n, d_model): what each key sends
            A = out.attentions[layer][0, head]  # (n_q, n_k)
            want = torch.linalg.vector_norm(A[:, :, None] * sent[None], dim=-1)  # (n_q, n_k)
            diff = (trace.value_weighted(layer, head) - want).abs().max().item()
            assert diff <= VW_REL_TOL * want.max().item(), (layer, head, diff)
            assert want.max().item() > 0.1  # not a head that sends nothing: the relative bound means something


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_an_ablated_head_changes_the_logits_as_in_transformers(smollm, hf_smollm, mode):
    _, hf = hf_smollm
    trace = smollm.trace(TEXT, interventions=[ablate_head(3, 0, mode)])
    ref, _ = hf_pass(hf, trace.token_ids, smollm.config.d_head, ablate=(3, 0, mode))
    plain, _ = hf_pass(hf, trace.token_ids, smollm.config.d_head)
    assert (trace.logits - ref.logits[0]).abs().max().item() <= LOGIT_TOL
    assert (ref.logits[0] - plain.logits[0]).abs().max().item() > 100 * LOGIT_TOL  # the ablation does change them


def test_a_generations_probabilities_are_transformers_softmax(smollm, hf_smollm):
    """Each step's top-k probabilities (temperature 1, as the Generate page labels them) against the softmax of one
    transformers pass over the prompt and the tokens the engine chose; greedy picks transformers' argmax."""
    _, hf = hf_smollm
    gen = smollm.generate("Paris is the capital of", 4, top_k=10)
    prompt = len(gen.prompt_ids)  # new token s was chosen at query prompt + s − 1
    ids = gen.prompt_ids + gen.new_token_ids
    with torch.inference_mode():
        logits = hf(torch.tensor([ids])).logits[0]
    for step, token in enumerate(gen.new_token_ids):
        probs = torch.softmax(logits[prompt - 1 + step].double(), -1)
        assert token == int(probs.argmax())
        assert (gen.top_probs[step].double() - probs[gen.top_ids[step]]).abs().max().item() <= PROB_TOL
        assert torch.equal(gen.top_ids[step], probs.topk(10).indices)


def test_minilm_attention_output_with_its_bias_matches_transformers(minilm, hf_minilm):
    tok, hf = hf_minilm
    trace = minilm.trace(TEXT)
    caught: dict[int, torch.Tensor] = {}
    handles = [
        layer.attention.output.dense.register_forward_hook(lambda m, a, out, i=i: caught.__setitem__(i, out[0]))
        for i, layer in enumerate(hf.encoder.layer)
    ]
    try:
        with torch.inference_mode():
            hf(torch.tensor([trace.token_ids]))
    finally:
        for h in handles:
            h.remove()
    for layer in range(minilm.config.n_layers):
        assert (trace.attn_out(layer) - caught[layer]).abs().max().item() <= MINILM_TOL, layer
        with_bias = trace.head_out(layer).sum(0) + trace.output_bias(layer)
        assert torch.allclose(with_bias, trace.attn_out(layer), atol=MINILM_TOL)
