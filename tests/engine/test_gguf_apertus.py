"""Apertus as llama.cpp writes it ('apertus'): a llama file with rows kept, q/k norms, an ungated MLP with xIELU whose
per-layer numbers are metadata (xielu.alpha_p / alpha_n: the raw parameters; xielu.beta / eps), Llama 3's RoPE
scaling as rope_freqs. transformers does not read such a file, so the reference is the transformers model written
(tests/tiny_models_recent.py's tiny Apertus, its xIELU scalars drawn), and the config must be the one read from that
model's own folder. Tolerances (max absolute, float32 CPU): patterns 1e-4, logits and hidden states 1e-3.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from attention_core import ModelLoadError, load_model
from tests.engine.test_rope_scaling import llama_cpp_rope_freqs
from tests.gguf_writer import _tokenizer, finish, rope_decoder_shape
from tests.tiny_models import byte_bpe, save_tiny

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest and the sea"


def _write(hf, path, beta=None):
    """As llama.cpp's converter writes Apertus; `beta` replaces the per-layer betas (a hostile file)."""
    import gguf

    cfg = hf.config
    w = gguf.GGUFWriter(str(path), "apertus")
    w.add_name("tiny-apertus")
    rope_decoder_shape(w, cfg, cfg.intermediate_size)
    rope = cfg.rope_parameters
    acts = [layer.mlp.act_fn for layer in hf.model.layers]
    w.add_xielu_alpha_p([a.alpha_p.item() for a in acts])  # the raw parameters, as the converter writes them
    w.add_xielu_alpha_n([a.alpha_n.item() for a in acts])
    w.add_xielu_beta(beta or [float(a.beta) for a in acts])
    w.add_xielu_eps([float(a.eps) for a in acts])
    _tokenizer(w, byte_bpe(300))
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.APERTUS, cfg.num_hidden_layers)
    tensors = {"rope_freqs.weight": llama_cpp_rope_freqs(rope, rope["rope_theta"], cfg.head_dim)}
    for hf_name, tensor in hf.state_dict().items():
        base, suffix = hf_name.rsplit(".", 1)
        if ".act_fn" in base:
            continue  # xIELU's scalars: metadata above
        tensors[f"{names.get_name(base)}.{suffix}"] = np.ascontiguousarray(tensor.float().numpy(), dtype=np.float32)
    return finish(w, path, tensors)


def test_an_apertus_file_matches_the_model_written(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "hf"
    hf = save_tiny("apertus", folder).eval()
    with torch.no_grad():  # a different xIELU in each layer, so that a mix-up would show
        for i, layer in enumerate(hf.model.layers):
            layer.mlp.act_fn.alpha_p.fill_(0.3 + 0.5 * i)
            layer.mlp.act_fn.alpha_n.fill_(-0.4 + 0.7 * i)
    hf.save_pretrained(folder)
    assert hf.config.rope_parameters["rope_type"] == "llama3"
    ours = load_model(str(_write(hf, tmp_path / "apertus.gguf")), device="cpu")
    from_folder = load_model(str(folder), device="cpu")
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    for layer in range(hf.config.num_hidden_layers):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item() <= PATTERN_TOL, layer
        assert (trace.resid(layer) - out.hidden_states[layer][0]).abs().max().item() <= HIDDEN_TOL, layer
    assert (trace.logits - out.logits[0]).abs().max().item() <= LOGIT_TOL
    for key in ("alpha_p", "alpha_n"):
        values = [float(ours.weights[f"blocks.{i}.mlp.act.{key}"]) for i in range(2)]
        assert values[0] != values[1] and values == [float(from_folder.weights[f"blocks.{i}.mlp.act.{key}"])
                                                     for i in range(2)]  # fmt: skip
    differs = {f.name for f in dataclasses.fields(ours.config)
               if getattr(ours.config, f.name) != getattr(from_folder.config, f.name)}  # fmt: skip
    # rope_scaling: its words (the file holds divisors, not llama3's factors); the numbers, stored as float32: equal
    # to float32's precision
    assert differs <= {"name", "display_name", "rope_scaling", "norm_eps", "xielu", "rope_freq_divisors"}, differs
    for field in ("norm_eps", "xielu", "rope_freq_divisors"):
        assert getattr(ours.config, field) == pytest.approx(getattr(from_folder.config, field), rel=1e-6), field


def test_betas_that_differ_between_layers_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = save_tiny("apertus", tmp_path / "hf")
    with pytest.raises(ModelLoadError, match=r"xielu.beta differs between layers"):
        load_model(str(_write(hf, tmp_path / "apertus.gguf", beta=[0.5, 0.25])), device="cpu")


def test_xielu_metadata_of_the_wrong_length_is_refused_by_name(tmp_path, monkeypatch):
    import gguf

    from tests.gguf_writer import rewrite_gguf

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    path = _write(save_tiny("apertus", tmp_path / "hf"), tmp_path / "apertus.gguf")
    short = {"xielu.alpha_p": ([0.5], gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.FLOAT32)}  # 1 value, 2 layers
    with pytest.raises(ModelLoadError, match=r"xielu.alpha_p must be a number or a list of 2 numbers"):
        load_model(str(rewrite_gguf(path, tmp_path / "short.gguf", short)), device="cpu")
    one = {"xielu.alpha_p": (0.5, gguf.GGUFValueType.FLOAT32)}  # one number for every layer, as llama.cpp reads it
    ours = load_model(str(rewrite_gguf(path, tmp_path / "one.gguf", one)), device="cpu")
    assert float(ours.weights["blocks.0.mlp.act.alpha_p"]) == float(ours.weights["blocks.1.mlp.act.alpha_p"])
