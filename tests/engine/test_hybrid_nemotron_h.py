"""Nemotron-H (nemotron_h): each layer one sublayer, a Mamba-2 scan (0, 4), attention without any position encoding
(2, 5) or an MLP alone (1, 3: dense ReLU², or a mixture of experts behind DeepSeek-V3's router, with a latent the
experts read), against transformers' NemotronHForCausalLM on tiny random models (tests.tiny_models_hybrid). The
engine keeps each layer's number: a mixer's layer has no MLP (ModelConfig.mlp_layers), an MLP's mixes no tokens
(mixer "none").

Tolerances (max absolute difference, float32 CPU): patterns 1e-4; logits and hidden states 1e-3 (transformers scans
a prompt in chunks, this engine one token at a time: the same sums in another order); a split into parts against
the whole it adds up to, 1e-4.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import ModelLoadError, load_model
from attention_core.loading.hf_adapters_nemotron_h import nemotron_h_config
from tests.engine.decoder_parity import (
    assert_generates_as_transformers,
    assert_matches_reference,
    assert_sweep_skips_layers_without_heads,
    layer_output,
    reference_run,
)
from tests.tiny_models_hybrid import save_tiny_nemotron_h

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL, PARTS_TOL = 1e-4, 1e-3, 1e-3, 1e-4
TEXT = "the blue creature took a mole of the forest, and the fox jumps over the lazy dog"
SSM, MLP_ONLY, ATTENTION = (0, 4), (1, 3), (2, 5)


@pytest.fixture(scope="module", params=["dense", "moe", "latent"])
def pair(request, tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.mktemp("nemotron_h")
    hf = save_tiny_nemotron_h(folder, moe=request.param != "dense", latent=request.param == "latent").eval()
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return hf, load_model(str(folder), device="cpu")


def test_patterns_hidden_states_and_logits_match(pair):
    hf, ours = pair
    cfg = ours.config
    assert cfg.attention_layers == ATTENTION and cfg.mixers == ("ssm", "none", "attention", "none", "ssm", "attention")
    assert cfg.mlp_layers == (False, True, False, True, False, False) and not any(map(cfg.rotates, range(6)))
    trace = ours.trace(TEXT)
    assert_matches_reference("nemotron_h", ours, trace, reference_run(hf, trace), (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))


def test_each_layer_adds_what_its_one_sublayer_returns(pair):
    hf, ours = pair
    trace = ours.trace(TEXT)
    for layer in range(6):  # resid_post − resid_pre is transformers' mixer's output, whichever kind it is
        theirs = layer_output(hf, hf.model.layers[layer].mixer, trace.token_ids)
        assert (trace.resid(layer + 1) - trace.resid(layer) - theirs).abs().max() <= HIDDEN_TOL, layer
    for layer in MLP_ONLY:  # no token mixing: the residual reaches the MLP as it entered
        assert torch.equal(trace.resid_mid(layer), trace.resid(layer))
        assert _names(trace, layer) == [f"blocks.{layer}.{name}" for name in ("resid_pre", "resid_mid", "resid_post")]
    for layer in SSM + ATTENTION:  # no MLP: the block leaves as its mixer left it
        assert torch.equal(trace.resid(layer + 1), trace.resid_mid(layer))
    assert (trace["blocks.0.ssm_out"] - layer_output(hf, hf.model.layers[0].mixer, trace.token_ids)).abs().max() <= (
        HIDDEN_TOL
    )


def _names(trace, layer: int) -> list[str]:
    """The dotted names `trace[...]` answers for `layer`, out of every kind a layer may have."""
    found = []
    for name in ("resid_pre", "resid_mid", "resid_post", "ssm_out", "conv_out", "attn_out", "attn.pattern"):
        try:
            trace[f"blocks.{layer}.{name}"]
        except (KeyError, ValueError):
            continue
        found.append(f"blocks.{layer}.{name}")
    return found


def test_the_contribution_graph_passes_mlp_only_layers_through_whole(pair):
    hf, ours = pair
    trace = ours.trace(TEXT)
    last = trace.n_tokens - 1
    graph = trace.contribution_graph(token=last, threshold=0.01)
    for layer in MLP_ONLY:  # resid_mid is resid_pre: one residual edge a position, all of the sum, and no mixer edge
        mixing = [e for e in graph.edges if e.layer == layer and e.kind not in ("mlp", "residual_mlp")]
        assert mixing and all((e.kind, e.importance, e.source) == ("residual_attn", 1.0, e.target) for e in mixing)
    assert not [e for e in graph.edges if e.kind == "mlp" and e.layer not in MLP_ONLY]  # those layers have no MLP
    assert {e.layer for e in graph.edges if e.kind == "ssm"} <= set(SSM) and any(e.kind == "ssm" for e in graph.edges)
    from attention_core import flow

    sources, parts = flow.mixer_parts(trace, 4, last)  # a scan's split still adds up to its resid_mid
    assert sources.tolist() == list(range(last + 1))
    assert (parts.sum(0) - trace.resid_mid(4)[last]).abs().max() <= PARTS_TOL


def test_generation_matches_transformers_and_one_pass(pair):
    hf, ours = pair
    assert_generates_as_transformers(hf, ours, "the blue creature took a mole of the forest", HIDDEN_TOL)


def test_the_sweep_and_the_parameter_count(pair):
    hf, ours = pair
    assert_sweep_skips_layers_without_heads(ours, TEXT, SSM + MLP_ONLY, 2, 1)  # reruns pass layers 3 and 4
    counts = ours.parameter_counts()
    assert counts["total"] == sum(t.numel() for t in hf.state_dict().values())  # the routers' correction biases too
    scans = ("model.layers.0.mixer", "model.layers.4.mixer")
    assert counts["state space"] == sum(p.numel() for name, p in hf.named_parameters() if name.startswith(scans))
    features = " ".join(ours.config.features())
    assert "2 of 6 layers an MLP alone (layers 1, 3)" in features and "4 of 6 layers a token mixer alone" in features


NVIDIA_CONFIG = dict(  # the keys of NVIDIA's own config.json (Nemotron-H 8B's names, tiny sizes)
    hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16, vocab_size=300, intermediate_size=96,
    hybrid_override_pattern="M-*-ME", mamba_num_heads=4, mamba_head_dim=32, n_groups=2, ssm_state_size=8,
    conv_kernel=4, time_step_min=0.002, layer_norm_epsilon=1e-5, n_routed_experts=4, num_experts_per_tok=2,
)  # fmt: skip


def test_the_pattern_of_nvidias_configs_and_refusals():
    cfg = nemotron_h_config(NVIDIA_CONFIG, "t")
    assert cfg.mixers == ("ssm", "none", "attention", "none", "ssm", "none") and cfg.n_experts == 4
    assert cfg.ssm_shape == (4, 32, 8, 2) and cfg.ssm_dt_limit == (0.002, float("inf"))
    dense = nemotron_h_config({**NVIDIA_CONFIG, "hybrid_override_pattern": "M-*-"}, "t")
    assert dense.n_experts == 0 and dense.mlp_layers == (False, True, False, True)
    with pytest.raises(ModelLoadError, match="no attention layer"):
        nemotron_h_config({**NVIDIA_CONFIG, "hybrid_override_pattern": "M-M-"}, "t")
    with pytest.raises(ModelLoadError, match=r"\['X'\] are not Mamba"):
        nemotron_h_config({**NVIDIA_CONFIG, "hybrid_override_pattern": "M-X*"}, "t")


def test_a_checkpoint_saved_with_nvidias_names_loads_alike(tmp_path, monkeypatch):
    """NVIDIA's checkpoints keep the weights under backbone. and each expert's own up_proj, down_proj."""
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "saved"
    hf = save_tiny_nemotron_h(folder, moe=True)
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    expected = load_model(str(folder), device="cpu").trace(TEXT).logits
    renamed = {}
    for key, tensor in load_file(folder / "model.safetensors").items():
        key = key.replace("model.", "backbone.", 1)
        if key.endswith(("experts.up_proj", "experts.down_proj")):  # stacked (n, out, in) → one tensor an expert
            for e in range(tensor.shape[0]):
                renamed[key.replace("experts.", f"experts.{e}.") + ".weight"] = tensor[e].contiguous()
            continue
        renamed[key] = tensor
    save_file(renamed, folder / "model.safetensors")
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache2"))
    assert hf is not None and (load_model(str(folder), device="cpu").trace(TEXT).logits - expected).abs().max() == 0
