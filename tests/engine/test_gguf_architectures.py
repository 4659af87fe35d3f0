"""GGUF parity per architecture: tiny random Hugging Face models written as GGUF files in llama.cpp's layout
(tests/gguf_writer.py), loaded by both `transformers` (gguf_file=...) and us.

Tolerances (max absolute difference, float32 CPU): patterns 1e-4; logits and hidden states 1e-3.
Weights are drawn with std 0.3 so that patterns are peaked: a wrong Q/K row order, head mapping or norm
convention moves real weight and the comparison catches it.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import ModelLoadError, load_model
from tests.engine.decoder_parity import assert_matches_reference, reference_run
from tests.gguf_writer import write_gguf
from tests.tiny_models import byte_bpe

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest"
V = 300

LLAMA_LIKE: dict = dict(
    vocab_size=V,
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
    rope_theta=5000.0,
    tie_word_embeddings=False,
)


def make_hf(kind: str):
    """(transformers model, the GGUF architecture llama.cpp writes it as)."""
    t = transformers
    if kind == "llama":
        return t.LlamaForCausalLM(t.LlamaConfig(**LLAMA_LIKE)), "llama"
    if kind == "mistral":  # llama.cpp writes Mistral as 'llama' (gguf-py has no 'mistral' architecture)
        return t.MistralForCausalLM(t.MistralConfig(**LLAMA_LIKE)), "llama"
    if kind == "qwen2":
        return t.Qwen2ForCausalLM(t.Qwen2Config(**LLAMA_LIKE)), "qwen2"
    if kind == "phi3":
        return t.Phi3ForCausalLM(t.Phi3Config(**LLAMA_LIKE, pad_token_id=0)), "phi3"
    if kind == "qwen3":  # head_dim 128: transformers' default, which it uses whatever the file says
        return t.Qwen3ForCausalLM(t.Qwen3Config(**LLAMA_LIKE, head_dim=128)), "qwen3"
    gemma = dict(LLAMA_LIKE, num_attention_heads=2, num_key_value_heads=1, head_dim=256, sliding_window=4)
    gemma["tie_word_embeddings"] = True  # as Gemma's checkpoints: llama.cpp then writes no output tensor
    del gemma["rope_theta"]  # Gemma's own bases
    # head_dim 256 = query_pre_attn_scalar's default, which transformers assumes for GGUF files; a 4-token window
    # is shorter than TEXT, so the sliding-window layers differ from the global ones.
    if kind == "gemma2":  # layers alternate sliding / global; soft-caps 50 (scores) and 30 (logits)
        return t.Gemma2ForCausalLM(t.Gemma2Config(**gemma)), "gemma2"
    if kind == "gemma3":  # five sliding layers, then a global one; q/k norms; RoPE bases 10⁴ local, 10⁶ global
        cfg = t.Gemma3TextConfig(**dict(gemma, num_hidden_layers=6))
        return t.Gemma3ForCausalLM(cfg), "gemma3"
    # transformers' GGUF reader takes neither rope.freq_base nor rope.dimension_count from these two files: their
    # models keep transformers' defaults (base 10000; StableLM rotates a quarter of each head)
    no_rope_keys = {k: v for k, v in LLAMA_LIKE.items() if k != "rope_theta"}
    if kind == "stablelm":  # q/k/v biases; one LayerNorm per sublayer
        return t.StableLmForCausalLM(t.StableLmConfig(**no_rope_keys, use_qkv_bias=True)), "stablelm"
    if kind == "stablelm_parallel":  # no ffn_norm: attention and MLP read attn_norm side by side
        cfg = t.StableLmConfig(**no_rope_keys, use_parallel_residual=True)
        return t.StableLmForCausalLM(cfg), "stablelm"
    if kind == "starcoder2":  # biases everywhere, a plain GELU MLP
        cfg = t.Starcoder2Config(**no_rope_keys, use_bias=True, bos_token_id=0, eos_token_id=0)
        return t.Starcoder2ForCausalLM(cfg), "starcoder2"
    if kind == "bloom":  # ALiBi; 5 heads: the slopes' second sequence too
        return t.BloomForCausalLM(t.BloomConfig(vocab_size=V, hidden_size=80, n_layer=2, n_head=5)), "bloom"
    if kind == "nemotron":  # LayerNorm1P (stored 1 + w), half of each head rotates, squared ReLU
        cfg = t.NemotronConfig(**no_rope_keys, partial_rotary_factor=0.5, pad_token_id=0)
        return t.NemotronForCausalLM(cfg), "nemotron"
    if kind == "falcon":  # Falcon 7B's layout: one norm feeding attention and MLP, one key/value head; an MLP
        # 4 × d_model wide, as Falcon's are (transformers' GGUF reader sizes it so, whatever the file says)
        cfg = t.FalconConfig(vocab_size=V, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, multi_query=True)
        return t.FalconForCausalLM._from_config(cfg, attn_implementation="eager"), "falcon"
    if kind == "gpt2":  # 1024 positions: transformers sizes GPT-2's position table from its default, not the file
        return t.GPT2LMHeadModel(t.GPT2Config(vocab_size=V, n_embd=64, n_layer=2, n_head=4, n_positions=1024)), "gpt2"
    raise ValueError(kind)


def randomize(hf) -> None:
    """std 0.3 matrices and biases; norms moved off their init: a wrong +1 convention (Gemma) or a dropped norm
    or bias shows."""
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if p.dim() == 2 or name.endswith("bias"):
                p.normal_(0.0, 0.3)
            elif "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)


KINDS = ["llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gemma3", "gpt2", "stablelm", "stablelm_parallel",
         "starcoder2", "bloom", "falcon", "nemotron"]


@pytest.fixture(scope="module", params=KINDS)
def pair(request, tmp_path_factory, monkeypatch_module):
    """(kind, the original HF model, transformers reading our GGUF, us reading it)."""
    kind = request.param
    torch.manual_seed(0)
    hf, arch = make_hf(kind)
    randomize(hf)
    folder = tmp_path_factory.mktemp(f"gguf-{kind}")
    # transformers would read a llama file named exactly "mistral" as Mistral, then fail to find gguf-py's
    # (absent) mistral tensor map; any other name reads as Llama, the same maths below the sliding window.
    path = write_gguf(hf, byte_bpe(V), folder / f"{kind}.gguf", arch, name=f"tiny-{kind}")
    reference = transformers.AutoModelForCausalLM.from_pretrained(
        str(folder), gguf_file=path.name, dtype=torch.float32, attn_implementation="eager"
    )
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return kind, hf.eval(), reference.eval(), load_model(str(path), device="cpu")


def test_patterns_logits_and_hidden_states_match_transformers(pair):
    kind, _, hf, ours = pair
    trace = ours.trace(TEXT)
    assert trace.token_ids == byte_bpe(V).encode(TEXT).ids  # the GGUF's tokenizer is the one we wrote
    out = reference_run(hf, trace)
    assert len(out.attentions) == ours.config.n_layers
    assert_matches_reference(kind, ours, trace, out, (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))


def test_the_gguf_round_trip_keeps_the_original_model(pair):
    """transformers' GGUF reading is our reference; it must itself give back the model we wrote."""
    kind, original, hf, ours = pair
    ids = torch.tensor([ours.trace(TEXT).token_ids])
    with torch.inference_mode():
        assert (original(ids).logits - hf(ids).logits).abs().max().item() <= LOGIT_TOL, kind
    if kind != "mistral":
        assert type(hf) is type(original)


def test_parameter_counts_match(pair):
    kind, _, hf, ours = pair
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.parameters()), kind


def test_an_unsupported_architecture_is_refused_in_one_sentence(tmp_path, monkeypatch):
    import gguf

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "xverse.gguf"  # (one with a reason of its own, such as mamba's, says it: test_not_yet_supported)
    w = gguf.GGUFWriter(str(path), "xverse")
    w.add_tensor("token_embd.weight", torch.zeros(4, 8).numpy())
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    # one sentence (not the list of every architecture read: docs/models.md has it), the nearest name where one is near
    with pytest.raises(ModelLoadError, match=r"^xverse.gguf: GGUF architecture 'xverse' is not supported; the \d+ "
                                             r"this engine reads are listed in docs/models.md\.$"):  # fmt: skip
        load_model(str(path))


def test_declared_features_come_from_the_file(pair):
    kind, _, _, ours = pair
    cfg = ours.config
    assert cfg.qk_norm == ("head" if kind in ("qwen3", "gemma3") else "none")
    assert ("blocks.0.attn.b_Q" in ours.weights) == (kind in ("qwen2", "gpt2", "stablelm", "starcoder2", "bloom"))
    assert (cfg.position_bias == "alibi") == (kind == "bloom") and ("embed.ln.w" in ours.weights) == (kind == "bloom")
    assert cfg.parallel_blocks == cfg.shared_block_norm == (kind in ("stablelm_parallel", "falcon"))
    if kind == "falcon":  # Falcon 7B: one key/value head, no biases, a plain GELU MLP
        assert cfg.n_kv_heads == 1 and not cfg.attn_bias and not cfg.mlp_bias and cfg.act == "gelu"
    if kind.startswith("stablelm"):
        assert cfg.norm == "layer" and cfg.rotary_dim == 4 and cfg.gated_mlp  # a quarter of 16 dimensions rotate
    if kind == "starcoder2":
        assert cfg.norm == "layer" and cfg.mlp_bias and not cfg.gated_mlp and cfg.sliding_window is None
    if kind.startswith("gemma"):
        assert cfg.norm_position == "sandwich" and cfg.embed_scale == 8.0 and cfg.attn_scale == 256**-0.5
        assert cfg.sliding_window == 4 < ours.trace(TEXT).n_tokens  # the window cuts real keys off
    if kind == "gemma2":
        assert cfg.sliding_layers == (True, False) and (cfg.attn_softcap, cfg.final_softcap) == (50.0, 30.0)
    if kind == "gemma3":
        assert cfg.sliding_layers == (True,) * 5 + (False,) and cfg.attn_softcap is None
        assert (cfg.rope_theta_local, cfg.rope_theta) == (10000.0, 1_000_000.0)


def test_a_llama_with_attention_biases_matches_the_original(tmp_path, monkeypatch):
    """Llama with attention_bias=True: llama.cpp writes attn_q/k/v.bias (q and k permuted like their rows) and
    attn_output.bias, and loads them; transformers' GGUF reader drops them (no such metadata key), so the
    reference is the original model itself."""
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(**LLAMA_LIKE, attention_bias=True, attn_implementation="eager")
    hf = transformers.LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if p.dim() == 2 or name.endswith("bias"):  # q/k/v/o biases: zeros would hide a wrong mapping
                p.normal_(0.0, 0.3)
    path = write_gguf(hf, byte_bpe(V), tmp_path / "llama-bias.gguf", "llama")
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(path), device="cpu")
    assert {"blocks.0.attn.b_Q", "blocks.0.attn.b_O"} <= set(ours.weights)
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True)
    for layer in range(ours.config.n_layers):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item() <= PATTERN_TOL, layer
    assert (trace.logits - out.logits[0]).abs().max().item() <= LOGIT_TOL
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.parameters())


def _assert_matches(ours, hf, kind: str) -> None:
    """Patterns, hidden states and logits of `ours` on TEXT against the transformers model `hf`."""
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    for layer in range(ours.config.n_layers):
        diff = (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item()
        assert diff <= PATTERN_TOL, f"{kind} layer {layer} pattern differs by {diff}"
        assert (trace.resid(layer) - out.hidden_states[layer][0]).abs().max().item() <= HIDDEN_TOL, layer
    assert (trace.logits - out.logits[0]).abs().max().item() <= LOGIT_TOL, kind


def _written_only(kind: str):
    """A model of a GGUF architecture transformers' reader does not read (its own multipliers or layout)."""
    t = transformers
    if kind == "gemma":
        cfg = dict(LLAMA_LIKE, num_attention_heads=2, num_key_value_heads=1, head_dim=256, tie_word_embeddings=True)
        return t.GemmaForCausalLM(t.GemmaConfig(**cfg, attn_implementation="eager"))
    if kind == "phi2":
        return t.PhiForCausalLM(t.PhiConfig(**dict(LLAMA_LIKE, partial_rotary_factor=0.5, attn_implementation="eager")))
    if kind == "granite":  # embeddings × 3, q·k × 0.2, sublayer outputs × 0.5, logits ÷ 4
        cfg = t.GraniteConfig(**LLAMA_LIKE, embedding_multiplier=3.0, attention_multiplier=0.2, residual_multiplier=0.5,
                              logits_scaling=4.0, attn_implementation="eager")  # fmt: skip
        return t.GraniteForCausalLM(cfg)
    if kind == "minicpm":  # MiniCPM 1, 2, 4 (llama.cpp's minicpm, run by its granite graph), as Granite: embeddings
        # × 12, q·k × 1/√d_head (MiniCPM has no attention multiplier), sublayer outputs × 1.4/√2, logits ÷ 64/16;
        # LongRoPE's short factors within the original context, as MiniCPM4
        longrope = dict(rope_type="longrope", rope_theta=5000.0, original_max_position_embeddings=128,
                        short_factor=[1.0, 1.3, 1.7, 2.2, 2.9, 3.4, 4.0, 5.0], long_factor=[2.0] * 8)  # fmt: skip
        cfg = t.GraniteConfig(**{**LLAMA_LIKE, "rope_parameters": longrope}, embedding_multiplier=12.0,
                              attention_multiplier=16**-0.5, residual_multiplier=1.4 / 2**0.5, logits_scaling=4.0,
                              attn_implementation="eager")  # fmt: skip
        return t.GraniteForCausalLM(cfg)
    if kind == "falcon_new":  # Falcon 40B's layout: two norms, 2 key/value heads (llama.cpp regroups q | k | v)
        cfg = t.FalconConfig(vocab_size=V, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                             ffn_hidden_size=96, new_decoder_architecture=True, num_kv_heads=2)  # fmt: skip
        return t.FalconForCausalLM._from_config(cfg, attn_implementation="eager")
    if kind in ("gptneox", "gptneox_sequential"):  # Pythia: a quarter of each head rotates; parallel blocks or not
        cfg = t.GPTNeoXConfig(**{k: v for k, v in LLAMA_LIKE.items() if k != "num_key_value_heads"}, rotary_pct=0.25,
                              use_parallel_residual=kind == "gptneox")  # fmt: skip
        return t.GPTNeoXForCausalLM._from_config(cfg, attn_implementation="eager")
    if kind == "smollm3":  # every 4th layer without RoPE, as llama.cpp fixes it
        ids = dict(pad_token_id=0, bos_token_id=0, eos_token_id=0)
        cfg = t.SmolLM3Config(**{**LLAMA_LIKE, "num_hidden_layers": 4}, no_rope_layer_interval=4, **ids,
                              attn_implementation="eager")  # fmt: skip
        return t.SmolLM3ForCausalLM(cfg)
    if kind == "qwen3_moe":  # every layer a mixture (llama.cpp's qwen3moe has no dense layer), renormalised (as
        # llama.cpp does for qwen3moe, and Qwen3-MoE's configs say), experts narrower than the dense width
        cfg = t.Qwen3MoeConfig(**LLAMA_LIKE, head_dim=16, num_experts=4, num_experts_per_tok=2,
                               moe_intermediate_size=48, norm_topk_prob=True, attn_implementation="eager")
        return t.Qwen3MoeForCausalLM(cfg)
    if kind == "qwen2_moe":  # every layer a mixture plus a shared expert; not renormalised (as llama.cpp)
        cfg = t.Qwen2MoeConfig(**LLAMA_LIKE, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=48,
                               shared_expert_intermediate_size=64, norm_topk_prob=False, attn_implementation="eager")
        return t.Qwen2MoeForCausalLM(cfg)
    if kind in ("olmo", "olmo_clip"):  # LayerNorms without weights; no attention biases (llama.cpp's olmo graph reads
        # none); olmo_clip: q, k, v clamped to ±2 (attention.clamp_kqv), which bites on these weights
        clip = dict(clip_qkv=2.0) if kind == "olmo_clip" else {}
        return t.OlmoForCausalLM(t.OlmoConfig(**LLAMA_LIKE, **clip, pad_token_id=0, attn_implementation="eager"))
    if kind in ("phi3_longrope", "granitemoe", "mixtral", "cohere2", "olmoe", "glm4", "arcee", "ernie4_5", "olmo3",
                "seed_oss", "exaone4", "exaone4_hybrid", "hunyuan_alpha", "ernie4_5_moe", "minimax_m2", "qwen3_vl",
                "qwen3_vl_moe_sparse", "hunyuan_moe", "exaone_moe_one_group", "jais2",
                "ministral3_mscale", "qwen2_5_vl", "afmoe_every4", "stablelm_qk", "cohere_qk", "mpt"):  # fmt: skip
        from tests.tiny_models import _tiny_hf

        hf = _tiny_hf(kind)
        hf.set_attn_implementation("eager")
        return hf
    if kind == "starcoder":  # StarCoder 1: GPT-2's layout with one key/value head
        cfg = t.GPTBigCodeConfig(vocab_size=V, n_embd=64, n_layer=2, n_head=4, n_positions=128, multi_query=True)
        return t.GPTBigCodeForCausalLM._from_config(cfg, attn_implementation="eager")
    if kind == "olmo2":  # no input norms; a norm on each sublayer's output; q/k norms over the whole projection
        return t.Olmo2ForCausalLM(t.Olmo2Config(**LLAMA_LIKE, pad_token_id=0, attn_implementation="eager"))
    cfg = dict(LLAMA_LIKE, tie_word_embeddings=True, logit_scale=0.5, pad_token_id=0, attn_implementation="eager")
    return t.CohereForCausalLM(t.CohereConfig(**cfg))  # command-r: RoPE in neighbouring pairs, parallel blocks


WRITTEN_ONLY = ["gemma", "phi2", "granite", "command-r", "olmo2", "starcoder", "falcon_new", "gptneox",
                "gptneox_sequential", "phi3_longrope", "qwen3_moe", "granitemoe", "mixtral", "cohere2", "smollm3",
                "qwen2_moe", "olmoe", "glm4", "olmo", "olmo_clip", "arcee", "ernie4_5", "olmo3", "seed_oss", "exaone4",
                "exaone4_hybrid", "hunyuan_alpha", "ernie4_5_moe", "minimax_m2", "qwen3_vl", "qwen3_vl_moe_sparse",
                "hunyuan_moe", "exaone_moe_one_group", "jais2", "ministral3_mscale", "qwen2_5_vl", "afmoe_every4",
                "stablelm_qk", "cohere_qk", "minicpm", "mpt"]
GGUF_ARCH = {"ministral3_mscale": "mistral3", "qwen2_5_vl": "qwen2vl", "afmoe_every4": "afmoe",
             "falcon_new": "falcon", "gptneox_sequential": "gptneox", "phi3_longrope": "phi3", "qwen3_moe": "qwen3moe",
             "qwen2_moe": "qwen2moe", "mixtral": "llama", "olmo3": "olmo2", "olmo_clip": "olmo",
             "exaone4_hybrid": "exaone4", "hunyuan_alpha": "hunyuan-dense", "ernie4_5_moe": "ernie4_5-moe",
             "minimax_m2": "minimax-m2", "qwen3_vl": "qwen3vl", "qwen3_vl_moe_sparse": "qwen3vlmoe",
             "hunyuan_moe": "hunyuan-moe", "exaone_moe_one_group": "exaone-moe", "stablelm_qk": "stablelm",
             "cohere_qk": "command-r"}  # fmt: skip


@pytest.mark.parametrize("kind", WRITTEN_ONLY)
def test_files_transformers_cannot_read_match_the_model_written(kind, tmp_path, monkeypatch):
    """Gemma (1), Phi 2, Granite, Command R and OLMo 2 files (llama.cpp's 'gemma', 'phi2', 'granite', 'command-r'
    and 'olmo2'; Ollama's gemma:2b, phi, granite3.x, command-r and olmo2): transformers' GGUF reader does not read
    them, so the reference is the model the file was written from. Phi 2's one LayerNorm feeds attention and MLP
    side by side, and its unembedding has a bias; Granite's four multipliers come from the file's keys, Command R's
    logit scale too, and its neighbouring-pair RoPE rows are kept as Hugging Face's; OLMo 2 has output norms only."""
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    arch = GGUF_ARCH.get(kind, kind)
    # else it belongs in KINDS, with transformers reading the file (it reads Falcon 7B's layout only, drops LongRoPE
    # from a phi3 file and a mixture's renormalisation and expert width, reads no experts in a llama file, and no
    # q/k norms in a stablelm file: StableLM 2 12B's logits 7.4 off on these weights)
    read_wrongly = ("falcon_new", "phi3_longrope", "qwen3_moe", "qwen2_moe", "mixtral", "stablelm_qk")
    assert kind in read_wrongly or arch not in GGUF_SUPPORTED_ARCHITECTURES
    torch.manual_seed(0)
    hf = _written_only(kind)
    randomize(hf)
    path = write_gguf(hf, byte_bpe(V), tmp_path / f"{kind}.gguf", arch)
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(path), device="cpu")
    _assert_matches(ours, hf.eval(), kind)
    # a router's correction bias is a buffer in transformers, a weight here; a vision tower is in no text file
    buffers = sum(b.numel() for name, b in hf.named_buffers() if name.endswith("e_score_correction_bias"))
    params = sum(p.numel() for name, p in hf.named_parameters() if not name.startswith("model.visual."))
    assert ours.parameter_counts()["total"] == params + buffers
    cfg = ours.config
    if kind == "phi2":
        assert "unembed.b_U" in ours.weights and cfg.shared_block_norm and cfg.rotary_dim == 8
    elif kind == "gemma":
        assert cfg.embed_scale == 8.0 and cfg.attn_scale is None and cfg.tie_embeddings
    elif kind == "granite":
        scales = (cfg.embed_scale, cfg.attn_scale, cfg.residual_scale, cfg.unembed_scale)
        assert scales == pytest.approx((3, 0.2, 0.5, 0.25))  # float32 keys
    elif kind == "mpt":  # ALiBi over 6 heads (llama.cpp's slopes for a head count that is not a power of two are
        # MPT's), LayerNorms without biases, q | k | v fused, the unembedding tied
        assert (cfg.position_bias, cfg.alibi_bias_max, cfg.n_heads, cfg.arch) == ("alibi", 8.0, 6, "mpt")
        assert cfg.tie_embeddings and not cfg.uses_rope and "blocks.0.ln_attn.b" not in ours.weights
    elif kind == "minicpm":  # no attention.scale in the file: 1/√d_head; LongRoPE's short factors, factor 1
        scales = (cfg.embed_scale, cfg.residual_scale, cfg.unembed_scale)
        assert scales == pytest.approx((12, 1.4 / 2**0.5, 0.25)) and cfg.attn_scale is None and cfg.arch == "minicpm"
        assert cfg.rope_freq_divisors == pytest.approx((1.0, 1.3, 1.7, 2.2, 2.9, 3.4, 4.0, 5.0)) and cfg.n_ctx == 128
        assert cfg.rope_attention_factor == 1.0
    elif kind == "smollm3":
        assert cfg.rope_layers == (True, True, True, False)
    elif kind in ("stablelm_qk", "cohere_qk"):  # attn_q_norm [heads, d_head]: a LayerNorm per head
        assert cfg.qk_norm == "head" and ours.weights["blocks.1.attn.q_norm.w"].shape == (cfg.n_heads, cfg.d_head)
    elif kind == "cohere2":  # llama.cpp's rule: three sliding layers with RoPE, then a global one without
        assert cfg.sliding_layers == cfg.rope_layers == (True, True, True, False) and cfg.sliding_window == 8
    elif kind in ("qwen3_moe", "granitemoe", "mixtral", "qwen2_moe", "olmoe"):
        renormalised = kind not in ("qwen2_moe", "olmoe")  # llama.cpp's rule per architecture
        assert (cfg.n_experts, cfg.experts_per_token, cfg.moe_renormalize) == (4, 2, renormalised)
        assert "blocks.1.mlp.experts.3.W_out" in ours.weights
    elif kind == "phi3_longrope":
        assert cfg.rope_freq_divisors == pytest.approx((1.0, 1.3, 1.7, 2.2, 2.9, 3.4, 4.0, 5.0)) and cfg.n_ctx == 64
        assert cfg.rope_attention_factor == pytest.approx(1.0801234, abs=1e-6)
    elif kind.startswith("gptneox"):
        assert cfg.rotary_dim == 4 and cfg.parallel_blocks == (kind == "gptneox") and not cfg.shared_block_norm
    elif kind == "falcon_new":
        assert cfg.n_kv_heads == 2 and cfg.parallel_blocks and not cfg.shared_block_norm
    elif kind == "starcoder":
        assert cfg.n_kv_heads == 1 and cfg.absolute_positions and cfg.arch == "gpt_bigcode"
    elif kind == "arcee":  # rows permuted by llama.cpp's llama converter; a squared-ReLU MLP without a gate
        assert not cfg.gated_mlp and cfg.act == "relu2" and "blocks.0.mlp.W_gate" not in ours.weights
    elif kind == "ernie4_5":  # rows as Hugging Face's, which llama.cpp rotates in neighbouring pairs
        assert cfg.rope_pairs_reordered and cfg.rotary_dim is None
    elif kind.startswith("qwen3_vl"):  # its M-RoPE is plain RoPE for a text: Qwen3's per-head q/k norms
        assert cfg.qk_norm == "head" and cfg.arch == kind.removesuffix("_sparse")
        assert (cfg.n_experts == 4) == ("moe" in kind)
    elif kind == "exaone_moe_one_group":  # 3 sliding layers with RoPE, a full one without; V3's router, ungrouped
        assert cfg.sliding_layers == cfg.rope_layers == (True, True, True, False) and cfg.sliding_window == 8
        assert (cfg.moe_router, cfg.moe_groups, cfg.moe_scale, cfg.norm_position) == ("sigmoid", (1, 1), 2.5, "pre")
    elif kind == "jais2":  # LayerNorms and biases everywhere, a squared-ReLU MLP without a gate
        assert cfg.norm == "layer" and cfg.attn_bias and cfg.mlp_bias and not cfg.gated_mlp and cfg.act == "relu2"
    elif kind == "hunyuan_moe":  # q/k norms after RoPE; a shared MLP beside 4 experts, 2 per token, renormalised
        assert cfg.qk_norm_after_rope and (cfg.n_experts, cfg.experts_per_token, cfg.moe_renormalize) == (4, 2, True)
        assert "blocks.1.mlp.shared.W_out" in ours.weights
    elif kind == "minimax_m2":  # q/k norms over the projection, half of each head rotating; a biased sigmoid router
        assert (cfg.qk_norm, cfg.rotary_dim, cfg.moe_router, cfg.moe_renormalize) == ("full", 8, "sigmoid", True)
        assert "blocks.1.mlp.router.b_choice" in ours.weights
    elif kind == "ernie4_5_moe":  # a dense first layer; a softmax router with its correction bias, renormalised
        assert (cfg.n_experts, cfg.experts_per_token, cfg.moe_router, cfg.moe_renormalize) == (4, 2, "softmax", True)
        assert "blocks.1.mlp.router.b_choice" in ours.weights and "blocks.0.mlp.W_gate" in ours.weights
    elif kind == "olmo3":  # olmo2 with a window: 3 sliding layers with plain RoPE, then a full one with YaRN
        assert cfg.sliding_layers == (True, True, True, False) and cfg.rope_theta_local == 100.0
        assert cfg.rope_divisors(3) and not cfg.rope_divisors(0) and cfg.rope_attention_factor > 1
    elif kind.startswith("exaone4"):  # sublayer-output norms, q/k norms per head; the hybrid's full layer: NoPE
        hybrid = kind == "exaone4_hybrid"
        assert cfg.norm_position == "post_sublayer" and cfg.qk_norm == "head"
        assert cfg.rope_layers == ((True, True, True, False) if hybrid else ()) and (cfg.sliding_window == 8) == hybrid
    elif kind == "hunyuan_alpha":  # q/k norms after RoPE; the base the converter stretched by alpha
        assert cfg.qk_norm_after_rope and cfg.rope_theta == pytest.approx(100.0 * 8.0 ** (16 / 14), rel=1e-6)
    elif kind == "seed_oss":  # biases on q, k, v and the output, rows as Hugging Face's
        assert cfg.attn_bias and "blocks.1.attn.b_O" in ours.weights and not cfg.rope_pairs_reordered
    elif kind in ("olmo", "olmo_clip"):
        assert not cfg.norm_weights and cfg.norm == "layer" and "blocks.0.ln_attn.w" not in ours.weights
        assert cfg.qkv_clip == (2.0 if kind == "olmo_clip" else None)
    elif kind == "glm4":  # llama.cpp rotates its rows as stored, in neighbouring pairs: reordered here
        assert cfg.rope_pairs_reordered and cfg.rotary_dim == 8 and cfg.norm_position == "sandwich" and cfg.attn_bias
    elif kind == "afmoe_every4":  # gated heads, sandwich norms; 3 sliding layers with RoPE, a global one without
        assert cfg.attn_output_gate and cfg.norm_position == "sandwich" and cfg.embed_scale == 8.0
        assert cfg.sliding_layers == cfg.rope_layers == (True, True, True, False) and cfg.sliding_window == 8
        assert (cfg.moe_router, cfg.moe_scale, cfg.moe_renormalize) == ("sigmoid", 2.5, True)
        assert "blocks.1.mlp.router.b_choice" in ours.weights and "blocks.0.mlp.W_gate" in ours.weights
    elif kind == "qwen2_5_vl":  # Qwen 2's q/k/v biases, rows kept; the vision tower is in no text file
        assert cfg.arch == "qwen2_vl" and cfg.attn_bias and not cfg.rope_pairs_reordered and cfg.d_head == 16
    elif kind == "ministral3_mscale":  # rows permuted; YaRN with cos and sin unscaled; capped below the query scale
        assert cfg.arch == "ministral3" and cfg.n_ctx == 32 and cfg.rope_attention_factor == pytest.approx(1.0)
        assert "texts up to 32 tokens, past which Ministral 3 also scales its queries" in cfg.rope_scaling
    elif kind == "olmo2":
        assert cfg.norm_position == "post_sublayer" and cfg.qk_norm == "full"
        assert "blocks.0.ln_attn.w" not in ours.weights  # no input norm
    else:
        assert cfg.shared_block_norm and cfg.norm == "layer" and cfg.unembed_scale == 0.5 and cfg.tie_embeddings


def _tiny_bert(tmp_path):
    """A tiny BERT (4 heads, 2 layers, segments) written as llama.cpp's 'bert': (the model, its tokenizer, the file)."""
    from tests.tiny_models import wordpiece

    torch.manual_seed(0)
    tokenizer = wordpiece(V)  # fewer than V tokens from the tiny corpus: the embedding has one row per token
    cfg = transformers.BertConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=96, max_position_embeddings=130, attn_implementation="eager",
    )  # fmt: skip
    hf = transformers.BertModel(cfg, add_pooling_layer=False)
    randomize(hf)
    return hf.eval(), tokenizer, write_gguf(hf, tokenizer, tmp_path / "bert.gguf", "bert")


def test_a_bert_file_matches_the_model_written_and_its_wordpiece(tmp_path, monkeypatch):
    """llama.cpp's 'bert' (Ollama's all-minilm, mxbai-embed-large): transformers does not read it, so the reference
    is the model written. Its vocabulary comes back from llama.cpp's '▁' spelling to BERT's '##' one, and the text
    is framed [CLS] … [SEP]: the same ids as the original tokenizer."""
    hf, tokenizer, path = _tiny_bert(tmp_path)
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(path), device="cpu")
    trace = ours.trace(TEXT)
    assert trace.token_ids == tokenizer.encode(TEXT).ids and len(trace.token_ids) > 5
    accented = "The Blue CRÉATURE took a môle"  # lowercased and its accents stripped, as the uncased original does
    assert ours.trace(accented).token_ids == tokenizer.encode(accented).ids
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    for layer in range(2):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item() <= PATTERN_TOL, layer
        assert (trace.resid(layer + 1) - out.hidden_states[layer + 1][0]).abs().max().item() <= HIDDEN_TOL, layer
    assert not ours.config.causal and ours.config.n_token_types == 2 and trace.logits is None
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.parameters())
    # A text pair (a reranker's query and passage) as BERT frames it: [CLS] A [SEP] B [SEP], B in segment 1.
    pair = ours.trace(TEXT, second_text="took a mole")
    expected = tokenizer.encode(TEXT, "took a mole")
    assert pair.token_ids == expected.ids and list(pair.segments.ids) == expected.type_ids
    with torch.inference_mode():
        out = hf(torch.tensor([pair.token_ids]), token_type_ids=torch.tensor([expected.type_ids]),
                 output_hidden_states=True)  # fmt: skip
    assert (pair.resid(2) - out.hidden_states[2][0]).abs().max().item() <= HIDDEN_TOL


def test_an_older_bert_files_cls_key_and_bracketed_tokens_read_alike(tmp_path, monkeypatch):
    """llama.cpp's first BERT converter named [CLS] by tokenizer.ggml.cls_token_id (no BOS) and kept every
    bracketed token, special or not, without its '▁': the same tokenizer comes back."""
    import gguf

    from tests.gguf_writer import rewrite_gguf

    _, tokenizer, path = _tiny_bert(tmp_path)
    cls, n = tokenizer.token_to_id("[CLS]"), tokenizer.get_vocab_size()
    fields = {
        "tokenizer.ggml.cls_token_id": (cls, gguf.GGUFValueType.UINT32),
        "tokenizer.ggml.token_type": ([1] * n, gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.INT32),
    }
    older = rewrite_gguf(path, tmp_path / "older.gguf", fields, drop=("tokenizer.ggml.bos_token_id",))
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    text = TEXT + " ☃"  # no such piece: [UNK], which the older vocabulary spells without a '▁' too
    ids = load_model(str(older), device="cpu").trace(text).token_ids
    assert ids == tokenizer.encode(text).ids and tokenizer.token_to_id("[UNK]") in ids


def test_an_olmoe_file_that_clamps_q_k_and_v_is_refused(tmp_path, monkeypatch):
    """transformers' OLMoE clamps q, k and v after its q/k norms; where llama.cpp's olmoe graph would clamp them is
    not known here, so a file with attention.clamp_kqv is refused by name rather than read one way or the other."""
    import gguf

    from tests.gguf_writer import rewrite_gguf
    from tests.tiny_models import _tiny_hf

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    path = write_gguf(_tiny_hf("olmoe"), byte_bpe(V), tmp_path / "olmoe.gguf", "olmoe")
    clamp = {"olmoe.attention.clamp_kqv": (8.0, gguf.GGUFValueType.FLOAT32)}
    clamped = rewrite_gguf(path, tmp_path / "clamped.gguf", clamp)
    with pytest.raises(ModelLoadError, match="OLMoE files that clamp q, k and v"):
        load_model(str(clamped), device="cpu")
    assert load_model(str(path), device="cpu").config.qkv_clip is None


def test_mpt_files_it_cannot_run_are_refused_by_name(tmp_path, monkeypatch):
    """An MPT file whose q, k and v are clamped (attention.clamp_kqv), or without ALiBi (max_alibi_bias 0: MPT's
    learned position table): refused, as from a Hugging Face folder, with what it has."""
    import gguf

    from tests.gguf_writer import rewrite_gguf

    torch.manual_seed(0)
    hf = _written_only("mpt")
    written = write_gguf(hf, byte_bpe(V), tmp_path / "mpt.gguf", "mpt")
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    cases = {"clamp_kqv": {"mpt.attention.clamp_kqv": (6.0, gguf.GGUFValueType.FLOAT32)},
             "max_alibi_bias 0": {"mpt.attention.max_alibi_bias": (0.0, gguf.GGUFValueType.FLOAT32)}}  # fmt: skip
    for i, (said, fields) in enumerate(cases.items()):
        path = rewrite_gguf(written, tmp_path / f"bad{i}.gguf", fields)
        with pytest.raises(ModelLoadError, match=f"MPT files .*{said}.* are not supported yet"):
            load_model(str(path), device="cpu")
