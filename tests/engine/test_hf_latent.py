"""Multi-head latent attention (DeepSeek-V2, DeepSeek-V3, MiniCPM3) against `transformers`, on tiny random models.

Tolerances (max absolute difference, float32 CPU), as for every other architecture: patterns 1e-4, logits and hidden
states 1e-3. The tiny models (tests/tiny_models_latent.py) have values narrower than queries and keys, a query
latent (but V2-Lite's layout without one), DeepSeek's interleaved RoPE (V2, V3) and MiniCPM3's halves, a dense first
layer and then 8 experts in 4 groups with a shared expert, and V3's correction bias drawn at random.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attention_core import experts, load_model
from attention_core import model as fwd
from attention_core.steps import rope_check
from tests.engine.decoder_parity import assert_generation_matches_one_pass, assert_matches_reference, reference_run
from tests.tiny_models_latent import save_tiny_latent

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
ROUTER_TOL = 1e-5  # an expert's weight (up to ~2.5 here, × routed_scaling_factor): float32 rounding
TEXT = "the blue creature took a mole of the forest, and the fox jumps over the lazy dog"
LATENT = ["deepseek_v3", "deepseek_v3_yarn", "deepseek_v2", "minicpm3", "glm4_moe_lite", "deepseek_v32", "youtu",
          "mistral4", "kimi_k25", "glm_moe_dsa", "axk1"]
KINDS = [*LATENT, "glm4_moe", "dots1"]  # GLM-4.5, dots.llm1: DeepSeek-V3's router behind ordinary attention
_LOADED: dict[str, tuple] = {}


def _load(kind: str, tmp_path_factory, monkeypatch) -> tuple:
    """(kind, the transformers model, ours), built once per module for both fixtures below."""
    if kind not in _LOADED:
        folder = tmp_path_factory.mktemp(kind)
        hf = save_tiny_latent(kind, folder)
        monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        _LOADED[kind] = kind, hf, load_model(str(folder), device="cpu")
    return _LOADED[kind]


def _language_model(hf) -> torch.nn.Module:
    """The decoder's layers: Kimi K2.5 keeps them in model.language_model, beside a vision tower the engine does not
    read."""
    return getattr(hf.model, "language_model", hf.model)


@pytest.fixture(scope="module", params=KINDS)
def pair(request, tmp_path_factory, monkeypatch_module):
    return _load(request.param, tmp_path_factory, monkeypatch_module)


@pytest.fixture(scope="module", params=LATENT)
def latent(request, tmp_path_factory, monkeypatch_module):
    return _load(request.param, tmp_path_factory, monkeypatch_module)


def test_patterns_logits_and_hidden_states_match(pair):
    kind, hf, ours = pair
    trace = ours.trace(TEXT)
    assert_matches_reference(kind, ours, trace, reference_run(hf, trace), (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))


def test_heads_have_narrower_values_and_one_shared_rotated_key(latent):
    """q and k: 8 unrotated + 8 rotated dimensions per head; v: 12. The rotated part of the keys is one for all
    heads (W_KR), the rest differs per head."""
    _, _, ours = latent
    trace = ours.trace(TEXT)
    n, cfg = trace.n_tokens, ours.config
    assert (cfg.d_head, cfg.rotary_dim, cfg.d_value, cfg.n_kv_heads) == (16, 8, 12, 4)
    q, k, v = trace["blocks.1.attn.q"], trace["blocks.1.attn.k"], trace["blocks.1.attn.v"]
    assert q.shape == k.shape == (4, n, 16) and v.shape == (4, n, 12)
    assert torch.equal(k[0, :, 8:], k[3, :, 8:]) and not torch.allclose(k[0, :, :8], k[3, :, :8])
    assert trace["blocks.1.attn.z"].shape == (4, n, 12)
    assert ours.W_O(1).shape == (4, 12, 64)


def test_head_outputs_add_up_to_the_attention_output(pair):
    """Every per-head decomposition reads values of d_head_v and W_O's rows per head: their sum is the layer's
    attention output, and each source's contribution sums to it too."""
    _, _, ours = pair
    trace = ours.trace(TEXT)
    layer, query = 2, trace.n_tokens - 1
    heads = trace.contributions(layer, query=query)  # (n_heads, n_k, d_model)
    b_O = ours.weights.get(f"blocks.{layer}.attn.b_O", torch.zeros(ours.config.d_model))
    z = trace["blocks.2.attn.z"]  # (n_heads, n, d_head_v)
    out = fwd.attn_output(z, ours.weights, layer)[query]
    assert (heads.sum((0, 1)) + b_O - out).abs().max() <= HIDDEN_TOL
    sent = trace.value_weighted(layer, 1)  # ‖A[i,j]·v_j·W_O^h‖
    assert (sent[query] - heads[1].norm(dim=-1)).abs().max() <= HIDDEN_TOL


def test_generation_matches_transformers_generate(pair):
    """12 greedy tokens with the engine's key/value cache (values narrower than keys): the same tokens as
    transformers' generate, and the cache's q, k and residuals those of one pass over the whole text."""
    kind, hf, ours = pair
    gen = ours.generate("the blue creature took a mole", max_new_tokens=12)
    ids = torch.tensor([gen.prompt_ids])
    with torch.inference_mode():
        theirs = hf.generate(ids, max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0)
    new = gen.new_token_ids  # the engine stops at the end-of-text token, which transformers is told not to
    assert new == theirs[0, ids.shape[1] :].tolist()[: len(new)], kind
    assert len(new) == 12 or new[-1] == ours.config.eos_token_id, kind
    assert_generation_matches_one_pass(ours, gen, HIDDEN_TOL)


def test_parameter_counts_match(pair):
    """Every parameter, and V3's correction biases (buffers in transformers, read as weights here); V3.2's indexer,
    which these texts do not need (they are shorter than its index_topk), is not read."""
    _, hf, ours = pair
    read = [_language_model(hf), hf.lm_head]  # Kimi K2.5's vision tower and projector are not read
    buffers = sum(b.numel() for m in read for name, b in m.named_buffers() if name.endswith("e_score_correction_bias"))
    indexer = sum(p.numel() for m in read for name, p in m.named_parameters() if ".indexer." in name)
    total = sum(p.numel() for m in read for p in m.parameters())
    assert ours.parameter_counts()["total"] == total + buffers - indexer


def test_routers_choose_the_experts_transformers_chooses(pair):
    """On 256 random tokens, each MoE layer's router picks the same experts with the same weights as transformers'
    (V3: sigmoid scores, the correction bias in the choice only, groups rated by their best two; V2: softmax, groups
    rated by their best one)."""
    kind, hf, ours = pair
    if not ours.config.n_experts:  # MiniCPM3, Youtu are dense: every layer a feed-forward network, nothing to route
        assert kind in ("minicpm3", "youtu")
        assert not any(".router." in name or ".experts." in name for name in ours.weights)
        return
    torch.manual_seed(0)
    x = torch.randn(256, ours.config.d_model)
    for layer in range(1, ours.config.n_layers):
        with torch.inference_mode():
            _, their_weights, their_chosen = _language_model(hf).layers[layer].mlp.gate(x)
        weights, chosen = experts.route(x, ours.weights, f"blocks.{layer}.mlp.", ours.config)
        assert torch.equal(chosen.sort(-1).values, their_chosen.sort(-1).values), f"{kind} layer {layer}"
        order, their_order = chosen.argsort(-1), their_chosen.argsort(-1)
        ours_sorted, theirs_sorted = weights.gather(1, order), their_weights.gather(1, their_order)
        assert (ours_sorted - theirs_sorted).abs().max() <= ROUTER_TOL


def test_declared_features(latent):
    kind, _, ours = latent
    said = " ".join(ours.config.features())
    assert "multi-head latent attention: keys and values from one shared latent of 16 numbers per token" in said
    assert "RoPE on the last 8 of 16 dimensions per head, the key's shared by every head" in said
    assert ("queries from the residual" in said) == (kind == "deepseek_v2")
    assert ("neighbouring pairs" in said) == (kind != "minicpm3")
    v3_router = kind.startswith("deepseek_v3") or kind in ("glm4_moe_lite", "kimi_k25", "axk1")  # deepseek_v32 too
    if kind == "glm_moe_dsa":  # V3's router in one group, as GLM-5's config has it
        assert "(sigmoid router)" in said and "groups" not in said
        v3_router = False
    if kind == "mistral4":  # Llama 4's query scale past YaRN's original 32 tokens: capped there, and said
        assert ours.config.n_ctx == 32 and "Llama 4's attention temperature" in ours.config.conversion_notes[0]
    assert ("(sigmoid router), chosen within the best 2 of 4 groups" in said) == v3_router


def test_inside_one_head_reads_q_k_and_v_from_the_latents(latent):
    """Inside one head's steps for latent attention: Q = c_Q·W_UQ[h] (E·W_Q[h] without a query latent), K's unrotated
    part c_KV·W_UK[h] and its rotated part E·W_KR, V = c_KV·W_UV[h]; rotated, they are the pass's own q and k, and
    every later step (pattern, z, Δe) is the engine's."""
    kind, _, ours = latent
    trace = ours.trace(TEXT)
    layer, head = 2, 3
    s = trace.head_steps(layer, head)
    q_in = s.E if s.q_input is None else s.q_input
    assert (s.q_input is None) == (kind == "deepseek_v2") and s.kv_input.shape == (trace.n_tokens, 16)
    assert s.W_Q.shape == (64 if kind == "deepseek_v2" else 24, 16) and s.W_K.shape == (16, 8)
    assert s.W_V.shape == (16, 12) and s.W_KR.shape == (64, 8) and s.W_O.shape == (12, 64)
    assert abs(s.q_pre - q_in @ s.W_Q).max() <= 1e-5
    assert abs(s.k_pre - np.concatenate([s.kv_input @ s.W_K, s.E @ s.W_KR], axis=1)).max() <= 1e-5
    assert abs(s.v - s.kv_input @ s.W_V).max() <= 1e-5
    assert abs(s.k_pre[:, :8] - s.k[:, :8]).max() <= 1e-5  # the unrotated part does not turn
    assert rope_check(s, ours.config, ours.weights) <= 1e-5 < abs(s.q_pre[:, 8:] - s.q[:, 8:]).max()
    assert abs(s.pattern - trace.pattern(layer, head).numpy()).max() <= PATTERN_TOL
    assert abs(s.delta - trace.head_out(layer, head).numpy()).max() <= HIDDEN_TOL


def test_ablation_sweep_pooled_patterns_and_interventions_agree_with_the_trace(pair):
    """The batched sweep reruns every later layer's latent projections and experts for 4 variants at once: each head's
    Δ log p equals a trace with that head ablated (zero and mean); pooled patterns at one token per block are the
    exact patterns."""
    from attention_core import ablate_head

    _, _, ours = pair
    trace = ours.trace(TEXT)
    target = int(trace.logits[-1].argmax())
    clean = torch.log_softmax(trace.logits[-1], -1)[target]
    for mode in ("zero", "mean"):
        sweep = trace.ablation_sweep(target, mode=mode)
        for layer, head in ((0, 1), (1, 3), (2, 0)):
            ablated = ours.trace(TEXT, interventions=[ablate_head(layer, head, mode)])
            expected = torch.log_softmax(ablated.logits[-1], -1)[target] - clean
            assert abs(sweep[layer, head] - expected) <= 1e-4, (mode, layer, head)
    pooled = trace.pooled_patterns(size=trace.n_tokens)
    assert (pooled[1] - trace.layer_patterns(1)).abs().max() <= 1e-6


def test_glm4_moe_is_glm_attention_with_deepseeks_router(pair):
    """GLM-4.5: ordinary grouped-query heads rotating their first half, with q/k norms and biases; V3's router."""
    kind, _, ours = pair
    said = " ".join(ours.config.features())
    assert ("multi-head latent attention" in said) == (kind not in ("glm4_moe", "dots1"))
    if kind == "dots1":
        assert "RMSNorm on queries and keys per head" in said and not ours.config.attn_bias
        assert "(sigmoid router), chosen within the best 2 of 4 groups" in said
    if kind == "glm4_moe":
        assert "RoPE on 8 of 16 dimensions per head" in said and "RMSNorm on queries and keys per head" in said
        assert "(sigmoid router), chosen within the best 2 of 4 groups" in said and ours.config.attn_bias


def test_deepseek_v32_is_capped_where_its_indexer_starts_to_drop_keys(tmp_path, monkeypatch):
    """Up to index_topk tokens V3.2's indexer keeps every key (V3's attention, which the parity tests above hold);
    past it transformers' queries see only index_topk keys each, which the engine does not run: the config caps
    texts there and says why."""
    import json

    folder = tmp_path / "v32"
    hf = save_tiny_latent("deepseek_v32", folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "index_topk": 8}))
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(folder), device="cpu")
    assert ours.config.n_ctx == ours.max_tokens == 8 and "indexer" in ours.config.conversion_notes[0]
    trace = ours.trace(TEXT)
    assert trace.truncated and trace.n_tokens == 8
    hf.config.index_topk = 8
    for layer in hf.model.layers:
        layer.self_attn.indexer.index_topk = 8
    with torch.inference_mode():
        cut = hf(torch.tensor([trace.token_ids]), output_attentions=True).attentions
        longer = hf(torch.tensor([ours.tokenizer.encode(TEXT, 20).ids]), output_attentions=True).attentions
    assert all((trace.layer_patterns(i) - cut[i][0]).abs().max() <= PATTERN_TOL for i in range(3))
    assert ((longer[0][0, :, -1] > 0).sum(-1) == 8).all()  # past the cap: 8 keys of 20, the rest dropped


def test_a_mistral4_config_that_routes_within_groups_is_refused():
    """Mistral 4 rates its groups of experts by their best two softmax scores, which the engine's grouped softmax
    router (DeepSeek-V2's, rated by the best one) does not: such a config is refused clearly, not run wrongly."""
    from attention_core.errors import ModelLoadError
    from attention_core.loading.hf_adapters_latent import mistral4_config

    hf = dict(model_type="mistral4", vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=4, q_lora_rank=24, kv_lora_rank=16, qk_nope_head_dim=8,
              qk_rope_head_dim=8, v_head_dim=12, n_routed_experts=8, num_experts_per_tok=2, max_position_embeddings=128)
    assert mistral4_config({**hf, "n_group": 1, "topk_group": 1}, "x").n_experts == 8
    with pytest.raises(ModelLoadError, match="route within groups"):
        mistral4_config({**hf, "n_group": 4, "topk_group": 2}, "x")


def test_kimi_k25_reads_moonshots_key_names_as_well_as_transformers(tmp_path, monkeypatch):
    """Moonshot's files name the layers language_model.model.layers.N; transformers' save_pretrained writes
    language_model.model.blocks.N. The same weights under either name give the same trace."""
    import shutil

    from safetensors.torch import load_file, save_file

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_latent("kimi_k25", tmp_path / "saved")
    shutil.copytree(tmp_path / "saved", tmp_path / "moonshot")
    (file,) = (tmp_path / "moonshot").glob("*.safetensors")
    state = load_file(file)
    assert any(k.startswith("language_model.model.blocks.") for k in state)  # as transformers 5 writes it
    old, new = "language_model.model.blocks.", "language_model.model.layers."
    renamed = {k.replace(old, new, 1): v for k, v in state.items()}
    save_file(renamed, str(file), metadata={"format": "pt"})
    saved, moonshot = (load_model(str(tmp_path / name), device="cpu").trace(TEXT) for name in ("saved", "moonshot"))
    assert torch.equal(saved.logits, moonshot.logits) and saved.n_tokens > 12


def test_a_checkpoint_whose_tensors_do_not_fit_its_config_is_refused_by_name(tmp_path, monkeypatch):
    """A folder whose config.json says values 16 wide where kv_b_proj holds 12 (an edited or mismatched config): a
    reader's reshape trips on it; the load is refused with the folder's name and the reason, not a traceback."""
    import json

    from attention_core import ModelLoadError

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_latent("minicpm3", tmp_path / "edited")
    config = json.loads((tmp_path / "edited" / "config.json").read_text())
    config["v_head_dim"] = 16
    (tmp_path / "edited" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"edited: its tensors do not fit its config\.json: shape"):
        load_model(str(tmp_path / "edited"), device="cpu")
