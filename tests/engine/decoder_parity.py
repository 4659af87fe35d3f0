"""A decoder's trace beside transformers' run of the same ids, and a generation beside one pass over its whole text:
what the decoder parity tests share (each holds its own tolerances)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from attention_core import blocks
from attention_core import model as fwd


def reference_run(hf, trace):
    """transformers' output on the trace's ids, with every attention pattern and hidden state."""
    with torch.inference_mode():
        return hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)


def assert_matches_reference(name: str, ours, trace, out, tols: tuple[float, float, float], peaked: bool = True,
                             final: bool = True) -> None:  # fmt: skip
    """Every layer's pattern, the residual entering it, (`final`: the last hidden state, after the final norm) and the
    logits within `tols` (patterns, hidden states, logits) of transformers' `out`; `peaked`: the reference patterns
    peaked enough that a wrong head, position or mask mapping would move real weight. A hybrid's patterns are those
    of its attention layers, which transformers returns alone, in order."""
    pattern_tol, hidden_tol, logit_tol = tols
    n_layers = ours.config.n_layers
    assert len(out.attentions) == len(ours.config.attention_layers), name
    for layer, ref in zip(ours.config.attention_layers, out.attentions, strict=True):
        diff = (trace.layer_patterns(layer) - ref[0]).abs().max().item()
        assert diff <= pattern_tol, f"{name} layer {layer} pattern differs by {diff}"
        if peaked:
            assert ref[0][:, -1].max() > 3.0 / trace.n_tokens, "random weights too small to make a peaked pattern"
    for layer in range(n_layers):
        diff = (trace.resid(layer) - out.hidden_states[layer][0]).abs().max().item()
        assert diff <= hidden_tol, f"{name} hidden state {layer} differs by {diff}"
    if final:  # transformers' last hidden state is after the final norm
        last = blocks.normalize(trace.resid(n_layers), ours.weights, "ln_final", ours.config)
        assert (last - out.hidden_states[n_layers][0]).abs().max().item() <= hidden_tol, name
    assert (trace.logits - out.logits[0]).abs().max().item() <= logit_tol, name


def assert_generation_matches_one_pass(ours, gen, tol: float) -> None:
    """The key/value cache's q, k, v and residuals: those of one forward pass over the prompt and continuation."""
    full = fwd.run(torch.tensor(gen.trace.token_ids), ours.context.pass_weights, ours.config, causal=True)
    captured = gen.trace.captured
    for layer in range(ours.config.n_layers):
        for mine, theirs in ((captured.q, full.q), (captured.k, full.k), (captured.v, full.v)):
            if theirs[layer] is None:  # a hybrid's convolution layer: nothing of attention on either side
                assert mine[layer] is None, layer
                continue
            assert (mine[layer] - theirs[layer]).abs().max() <= tol, layer
        assert (gen.trace.resid(layer + 1) - full.resid_pre[layer + 1]).abs().max() <= tol, layer


def layer_output(hf, module, ids: list[int]) -> torch.Tensor:
    """What transformers' `module` (one of `hf`'s layers' mixers) returns on these ids: its first output's first row."""
    seen = {}
    hook = module.register_forward_hook(lambda mod, args, out: seen.setdefault("out", out))
    try:
        with torch.inference_mode():
            hf(torch.tensor([ids]))
    finally:
        hook.remove()
    out = seen["out"]
    return (out[0] if isinstance(out, tuple) else out)[0]


def assert_generates_as_transformers(hf, ours, prompt: str, tol: float, new: int = 8) -> None:
    """Greedy generation: transformers' `generate` tokens, one pass's numbers, from scratch and from the prompt's own
    trace (a hybrid's carried state rebuilt from its residuals)."""
    gen = ours.generate(prompt, max_new_tokens=new)
    with torch.inference_mode():
        theirs = hf.generate(torch.tensor([ours.trace(prompt).token_ids]), max_new_tokens=new, do_sample=False)
    assert gen.trace.token_ids == theirs[0].tolist()
    assert_generation_matches_one_pass(ours, gen, tol)
    reused = ours.generate(prompt, max_new_tokens=new, prompt_trace=ours.trace(prompt))
    assert reused.trace.token_ids == gen.trace.token_ids
    assert_generation_matches_one_pass(ours, reused, tol)


def assert_sweep_skips_layers_without_heads(ours, text: str, without: tuple[int, ...], layer: int, head: int) -> None:
    """The ablation sweep: NaN rows for the layers `without` heads, and (layer, head)'s number what one ablated trace
    gives (its rerun passes through the other layers' own mixers)."""
    from attention_core import ablate_head

    trace = ours.trace(text)
    target = int(trace.logits[-1].argmax())
    sweep = trace.ablation_sweep(target)
    heads = [i for i in range(ours.config.n_layers) if i not in without]
    assert torch.isnan(sweep[list(without)]).all() and not torch.isnan(sweep[heads]).any()
    ablated = ours.trace(text, interventions=[ablate_head(layer, head)])
    expected = torch.log_softmax(ablated.logits[-1], -1)[target] - torch.log_softmax(trace.logits[-1], -1)[target]
    assert abs(sweep[layer, head] - expected) <= 1e-4


def quantised_checkpoint(folder, tmp_path_factory, reference_class, quantization_config):
    """Yields (folder, transformers' model of the quantised `folder` decoded by its `quantization_config` (a
    dequantize=True one: its CPU path), ours), our converted-weight cache in a fresh folder: a module fixture's body."""
    reference = reference_class.from_pretrained(str(folder), quantization_config=quantization_config,
                                                dtype=torch.float32, attn_implementation="eager").eval()  # fmt: skip
    yield from beside_ours(folder, reference, tmp_path_factory)


def beside_ours(folder, reference, tmp_path_factory):
    """Yields (folder, `reference`, ours: `folder` loaded by the engine with its converted-weight cache in a fresh
    folder): the end of a module fixture's body."""
    import pytest

    from attention_core import load_model

    mp = pytest.MonkeyPatch()
    mp.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    try:
        yield folder, reference, load_model(str(folder), device="cpu")
    finally:
        mp.undo()


def assert_decoded_weights_equal(reference, ours) -> None:
    """Each layer's W_Q, W_O, the MLP's gate and output maps: ours the reference model's decoded weights to the bit
    (and decoded: not left at an initialiser's size)."""
    for layer, block in enumerate(reference.model.layers):
        pairs = [("attn.W_Q", block.self_attn.q_proj), ("attn.W_O", block.self_attn.o_proj),
                 ("mlp.W_gate", block.mlp.gate_proj), ("mlp.W_out", block.mlp.down_proj)]  # fmt: skip
        for ours_name, theirs in pairs:
            assert theirs.weight.abs().max() > 0.1, (layer, ours_name)
            assert torch.equal(ours.weights[f"blocks.{layer}.{ours_name}"], theirs.weight.T), (layer, ours_name)


def declare_quantisation(folder: Path, quantization_config: dict) -> None:
    """The folder's config.json saying its checkpoint is quantised as `quantization_config` says."""
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = quantization_config
    (folder / "config.json").write_text(json.dumps(config))


def assert_refused_before_reading(folder: Path, quantization_config: dict, message: str) -> None:
    """A tiny Qwen3 saved in `folder` declaring `quantization_config`, its weights file bytes that are no safetensors:
    loading it is refused with `message`, so before any weight is read."""
    import pytest

    from attention_core import ModelLoadError, load_model
    from tests.tiny_models import save_tiny

    save_tiny("qwen3", folder)
    (folder / "model.safetensors").write_bytes(b"not read")
    declare_quantisation(folder, quantization_config)
    with pytest.raises(ModelLoadError, match=message):
        load_model(str(folder), device="cpu")
