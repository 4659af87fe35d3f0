"""RoPE scaling ("llama3" of Llama 3.1/3.2, "linear", "yarn", "dynamic") against `transformers`, from safetensors
and (llama3, linear) from GGUF.

Tiny random Llama models whose scaling rule bites within a short text: original_max_position_embeddings 16
and a text of more than 16 tokens. Tolerances (max absolute difference, float32 CPU): patterns 1e-4;
logits and hidden states 1e-3. Weights are drawn with std 0.3 so patterns are peaked and a wrong frequency
moves real weight (test_the_scaling_changes_the_model shows the rule is not a no-op on this text).

GGUF: llama.cpp's converter writes llama3 scaling as the tensor rope_freqs.weight ([d_head/2] divisors of
the frequencies, F32) and linear scaling as metadata llama.rope.scaling.type/.factor. transformers 5 reads
neither for llama GGUF files (it rebuilds rope_scaling from GGUF metadata for gpt-oss only), so the GGUF
tests compare us reading the file against transformers loading the Hugging Face model the file was written
from; test_transformers_drops_the_scaling_from_gguf records that gap, so the comparison stays honest.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attention_core import ModelLoadError, load_model
from tests.gguf_writer import write_gguf
from tests.tiny_models import byte_bpe

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest, and the forest took the blue creature back again"
V = 300
RULES = {
    "llama3": dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                   original_max_position_embeddings=16),
    "linear": dict(rope_type="linear", factor=2.0),
    # original 512 with base 5000 and d_head 16 puts YaRN's ramp over frequencies 0..5 (kept 1, .8, … 0)
    "yarn": dict(rope_type="yarn", factor=4.0, original_max_position_embeddings=512),
    # dynamic NTK changes nothing within max_position_embeddings (128): checked as plain RoPE, and capped there
    "dynamic": dict(rope_type="dynamic", factor=2.0),
}  # fmt: skip
GGUF_RULES = ("llama3", "linear", "yarn")  # dynamic NTK has no GGUF form


def make_hf(rule: dict | None):
    """A tiny Llama (d_head 16, RoPE base 5000) with the rule, weights drawn with std 0.3, eager attention."""
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=V, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, rope_theta=5000.0, tie_word_embeddings=False,
        rope_scaling=dict(rule) if rule else None,
    )  # fmt: skip
    hf = transformers.LlamaForCausalLM(cfg)
    hf.set_attn_implementation("eager")  # the only implementation that returns attention patterns
    with torch.no_grad():
        for p in hf.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.3)
    return hf.eval()


def llama_cpp_rope_freqs(rule: dict, theta: float, d_head: int) -> np.ndarray:
    """What llama.cpp's convert_hf_to_gguf writes for a llama3 rule (its own loop, written out here as the
    file format's definition): per frequency 1 (short wavelengths), factor (long), 1/blend between."""
    factor, low, high = rule["factor"], rule["low_freq_factor"], rule["high_freq_factor"]
    old = rule["original_max_position_embeddings"]
    out = []
    for freq in 1.0 / theta ** (np.arange(0, d_head, 2, dtype=np.float64) / d_head):
        wavelen = 2 * np.pi / freq
        if wavelen < old / high:
            out.append(1.0)
        elif wavelen > old / low:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def write_scaled_gguf(hf, rule: dict, path):
    """hf as llama.cpp writes it: llama3 → the rope_freqs.weight tensor; linear → scaling metadata."""
    import gguf

    real_metadata = gguf.GGUFWriter.add_rope_freq_base

    def with_scaling(writer, base):
        real_metadata(writer, base)
        if rule["rope_type"] == "linear":
            writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            writer.add_rope_scaling_factor(rule["factor"])
        elif rule["rope_type"] == "yarn":  # llama.cpp's converter: type, factor and the original context
            writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
            writer.add_rope_scaling_factor(rule["factor"])
            writer.add_rope_scaling_orig_ctx_len(rule["original_max_position_embeddings"])
        else:
            writer.add_tensor("rope_freqs.weight", llama_cpp_rope_freqs(rule, 5000.0, 16))

    with pytest.MonkeyPatch.context() as mp:  # hook the writer where it writes the RoPE base
        mp.setattr(gguf.GGUFWriter, "add_rope_freq_base", with_scaling)
        return write_gguf(hf, byte_bpe(V), path, "llama", name="tiny-llama31")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture(scope="module", params=[(r, fmt) for r in RULES for fmt in ("safetensors", "gguf")
                                        if fmt == "safetensors" or r in GGUF_RULES],
                ids=lambda p: f"{p[0]}-{p[1]}")
def pair(request, tmp_path_factory, cache_dir):
    """(rule name, format, transformers on the HF folder, us on the folder or on the GGUF written from it)."""
    rule, fmt = request.param
    hf = make_hf(RULES[rule])
    folder = tmp_path_factory.mktemp(f"{rule}-{fmt}")
    hf.save_pretrained(folder, safe_serialization=True)
    byte_bpe(V).save(str(folder / "tokenizer.json"))
    source = folder if fmt == "safetensors" else write_scaled_gguf(hf, RULES[rule], folder / "m.gguf")
    return rule, fmt, hf, load_model(str(source), device="cpu")


def test_patterns_logits_and_hidden_states_match_transformers(pair):
    rule, fmt, hf, ours = pair
    trace = ours.trace(TEXT)
    ids = torch.tensor([trace.token_ids])
    assert ids.shape[1] > 16  # past original_max_position_embeddings: llama3's low frequencies matter
    with torch.inference_mode():
        out = hf(ids, output_attentions=True, output_hidden_states=True)
    for layer in range(ours.config.n_layers):
        diff = (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item()
        assert diff <= PATTERN_TOL, f"{rule}/{fmt} layer {layer} pattern differs by {diff}"
        diff = (trace.resid(layer) - out.hidden_states[layer][0]).abs().max().item()
        assert diff <= HIDDEN_TOL, f"{rule}/{fmt} hidden state {layer} differs by {diff}"
    assert (trace.logits - out.logits[0]).abs().max().item() <= LOGIT_TOL


def test_the_config_declares_the_rule(pair):
    rule, _, _, ours = pair
    cfg = ours.config
    assert any(f.startswith(f"RoPE scaling: {rule}") for f in cfg.features())  # the sidebar says so
    if rule == "dynamic":
        assert cfg.rope_freq_divisors == () and cfg.n_ctx == 128
        return
    assert len(cfg.rope_freq_divisors) == cfg.d_head // 2 and max(cfg.rope_freq_divisors) == RULES[rule]["factor"]
    if rule == "yarn":  # the ramp: the fastest frequency kept, the slow ones stretched, a blend between
        assert cfg.rope_freq_divisors[0] == 1.0 and cfg.rope_freq_divisors[-1] == 4.0
        assert 1.0 < cfg.rope_freq_divisors[2] < 4.0
        assert cfg.rope_attention_factor == pytest.approx(0.1 * np.log(4.0) + 1)


def test_the_scaling_changes_the_model():
    """Without this, the parity above could pass with the rule ignored (dynamic NTK is plain RoPE here)."""
    ids = torch.tensor([byte_bpe(V).encode(TEXT).ids])
    with torch.inference_mode():
        plain = make_hf(None)(ids, output_attentions=True)
        for name, rule in RULES.items():
            scaled = make_hf(rule)(ids, output_attentions=True)
            changed = (scaled.attentions[0] - plain.attentions[0]).abs().max() > 100 * PATTERN_TOL
            assert changed == (name != "dynamic"), name


@pytest.mark.parametrize("params", [
    dict(factor=4.0, original_max_position_embeddings=512),
    dict(factor=8.0, original_max_position_embeddings=64, beta_fast=8, beta_slow=0.5, truncate=False),
    dict(factor=40.0, original_max_position_embeddings=4096, mscale=1.0, mscale_all_dim=0.707),  # DeepSeek's
    dict(factor=2.0, original_max_position_embeddings=1024, attention_factor=1.25),
])  # fmt: skip
def test_yarn_frequencies_and_attention_factor_match_transformers(params):
    """Our divisors and cos/sin factor against transformers' own YaRN initialiser, over its parameters."""
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    from attention_core.loading.rope_scaling import rope_rule

    cfg = transformers.LlamaConfig(hidden_size=64, num_attention_heads=4, max_position_embeddings=128,
                                   rope_parameters={"rope_type": "yarn", "rope_theta": 5000.0, **params})  # fmt: skip
    inv_freq, attention = ROPE_INIT_FUNCTIONS["yarn"](cfg, "cpu")
    rule = rope_rule({"rope_type": "yarn", **params}, 5000.0, 16, 128)
    plain = 1.0 / 5000.0 ** (torch.arange(0, 16, 2).float() / 16)
    ours = plain / torch.tensor(rule.divisors)
    assert torch.allclose(ours, inv_freq, rtol=1e-6), (ours, inv_freq)
    assert rule.attention_factor == pytest.approx(attention, rel=1e-6)


def test_greedy_generation_equals_transformers_generate(pair):
    """Generation with the key/value cache uses the same scaled tables (positions past 16 as well)."""
    _rule, _fmt, hf, ours = pair
    gen = ours.generate(TEXT, max_new_tokens=6)
    ids = torch.tensor([gen.prompt_ids])
    with torch.inference_mode():
        ref = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, do_sample=False,
                          eos_token_id=None, pad_token_id=0)  # fmt: skip
    assert gen.new_token_ids == ref[0, ids.shape[1]:].tolist()


def test_transformers_drops_the_scaling_from_gguf(tmp_path):
    """Why the GGUF tests compare against the HF folder: transformers reads a llama GGUF's RoPE as plain."""
    hf = make_hf(RULES["llama3"])
    path = write_scaled_gguf(hf, RULES["llama3"], tmp_path / "m.gguf")
    ref = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file=path.name, dtype=torch.float32)
    kind = (ref.config.rope_parameters or {}).get("rope_type", "default")
    assert kind == "default", "transformers now reads llama3 scaling from GGUF: compare against it directly"


@pytest.mark.parametrize("rule", [dict(rope_type="proportional", factor=4.0), dict(type="ntk-by-parts", factor=2.0)])
def test_other_rules_are_refused_by_name(rule, tmp_path, cache_dir):
    import json

    hf = make_hf(None)
    hf.save_pretrained(tmp_path, safe_serialization=True)
    byte_bpe(V).save(str(tmp_path / "tokenizer.json"))
    config = json.loads((tmp_path / "config.json").read_text())
    config["rope_parameters"] = {**rule, "rope_theta": 5000.0}
    (tmp_path / "config.json").write_text(json.dumps(config))
    kind = rule.get("rope_type") or rule["type"]
    refused = rf"RoPE scaling '{kind}' is not supported yet; supported: linear, llama3, yarn"
    with pytest.raises(ModelLoadError, match=refused):
        load_model(str(tmp_path), device="cpu")


def test_gemma3_scales_its_global_layers_only(tmp_path, cache_dir):
    """Gemma 3 ≥ 4B: linear factor 8 on the global layers; the sliding ones keep their own unscaled base."""
    torch.manual_seed(0)
    cfg = transformers.Gemma3TextConfig(
        vocab_size=V, hidden_size=64, intermediate_size=96, num_hidden_layers=6, num_attention_heads=2,
        num_key_value_heads=1, head_dim=32, sliding_window=4, max_position_embeddings=128,
        rope_parameters={"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
                         "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}},
    )  # fmt: skip
    hf = transformers.Gemma3ForCausalLM(cfg)
    hf.set_attn_implementation("eager")
    with torch.no_grad():
        for p in hf.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.3)
    hf.save_pretrained(tmp_path, safe_serialization=True)
    byte_bpe(V).save(str(tmp_path / "tokenizer.json"))
    ours = load_model(str(tmp_path), device="cpu")
    assert ours.config.rope_divisors(0) == () and ours.config.rope_divisors(5) == (8.0,) * 16
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        out = hf.eval()(torch.tensor([trace.token_ids]), output_attentions=True)
    for layer in range(6):
        diff = (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item()
        assert diff <= PATTERN_TOL, f"gemma3 layer {layer} pattern differs by {diff}"
    assert (trace.logits - out.logits[0]).abs().max().item() <= LOGIT_TOL


def test_the_step_by_step_head_rotates_with_the_scaled_tables(pair):
    """steps.rope_check rebuilds the layer's tables: RoPE(q before rotation) must give the captured q."""
    rule, fmt, _, ours = pair
    trace = ours.trace(TEXT)
    assert trace.rope_check(trace.head_steps(1, 0)) < 1e-4, f"{rule}/{fmt}"


def test_gguf_yarn_with_an_extrapolation_factor_is_refused_by_name(tmp_path, cache_dir):
    """llama.cpp scales YaRN's ramp by rope.scaling.yarn_ext_factor; Hugging Face's YaRN has no such factor."""
    import gguf

    def with_yarn(writer, base):
        real(writer, base)
        writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        writer.add_rope_scaling_factor(4.0)
        writer.add_rope_scaling_yarn_ext_factor(0.5)

    real = gguf.GGUFWriter.add_rope_freq_base
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gguf.GGUFWriter, "add_rope_freq_base", with_yarn)
        path = write_gguf(make_hf(None), byte_bpe(V), tmp_path / "yarn.gguf", "llama")
    with pytest.raises(ModelLoadError, match=r"YaRN with rope.scaling.yarn_ext_factor 0.5 \(not 1\) is not supported"):
        load_model(str(path), device="cpu")


def test_a_gguf_yarn_attention_factor_follows_llama_cpps_keys():
    """Without yarn_log_multiplier: 0.1 ln factor + 1, times rope.scaling.attn_factor; with it, over the same with
    the multiplier (llama.cpp's llama_context, as transformers' mscale / mscale_all_dim)."""
    from attention_core.loading.rope_scaling import gguf_rule

    plain = dict(original=512)
    assert gguf_rule("yarn", 4.0, 16, 5000.0, plain).attention_factor == pytest.approx(1 + 0.1 * np.log(4))
    doubled = gguf_rule("yarn", 4.0, 16, 5000.0, {**plain, "attn_factor": 2.0}).attention_factor
    assert doubled == pytest.approx(2 * (1 + 0.1 * np.log(4)))
    ratio = gguf_rule("yarn", 40.0, 16, 5000.0, {**plain, "log_mul": 0.707}).attention_factor
    assert ratio == pytest.approx((1 + 0.1 * np.log(40)) / (1 + 0.1 * 0.707 * np.log(40)))
