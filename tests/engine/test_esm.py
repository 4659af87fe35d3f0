"""ESM, Meta's protein language models (ESM-2: RoPE; ESM-1b: learned positions, normalised embeddings), against
transformers' EsmModel on tiny random checkpoints saved as transformers saves them (tests/tiny_models_later.py), and
its tokenizer against transformers' EsmTokenizer built from the same vocab.txt; and ESM C (EvolutionaryScale's:
a Llama reading both ways with LayerNorms, q and k normalised over all heads, sublayer outputs scaled) against
transformers' EsmcModel.

Tolerances (max absolute difference, float32 CPU): patterns 1e-4; hidden states 1e-4 (ESM scales q by 1/√d_head
before rotating it, the engine the scores after: the same numbers up to rounding), times the largest magnitude where
that is over 1 (ESM C's residual, its sublayers' outputs tripled, grows to a few hundred in the tiny model).
"""

from __future__ import annotations

import json
import random

import pytest
import torch

from attention_core import ModelLoadError, load_model
from attention_core.contacts import contact_probabilities
from attention_core.loading.esm_tokenizer import esm_tokenizer
from tests.engine import decoder_parity
from tests.tiny_models_later import ESM_VOCAB, save_tiny_esm, save_tiny_esmc

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, HIDDEN_TOL = 1e-4, 1e-4
PROTEIN = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
MASKED = "MKTAY<mask>AKQRQ<mask>SFVKSH"


@pytest.fixture(scope="module", params=["esm2", "esm1b", "esm2-no-head"])
def esm(request, tmp_path_factory):
    """(transformers' EsmModel, ours) of a tiny ESM-2 (EsmForMaskedLM's tensors under esm.), ESM-1b, or an
    EsmModel saved without a head."""
    folder = tmp_path_factory.mktemp(request.param)
    hf = save_tiny_esm(folder, rotary=request.param != "esm1b", head=request.param != "esm2-no-head")
    mp = pytest.MonkeyPatch()
    mp.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    try:
        yield getattr(hf, "esm", hf), load_model(str(folder), device="cpu")
    finally:
        mp.undo()


@pytest.mark.parametrize("text", [PROTEIN, MASKED])
def test_esm_matches_transformers(esm, text):
    """Every layer's pattern and the residual entering it, and the last hidden state (after emb_layer_norm_after);
    with <mask> tokens, whose embeddings token dropout zeroes while scaling the others by 0.88 / (1 − their share)."""
    hf, ours = esm
    trace = ours.trace(text)
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    assert trace.tokens[0] == "<cls>" and trace.tokens[-1] == "<eos>" and trace.tokens[1:4] == ["M", "K", "T"]
    assert ours.trace("MK T\nab").tokens == ["<cls>", "M", "K", "T", "<unk>", "<eos>"]  # as its sidebar note says
    assert any("spaces and line breaks are skipped" in note for note in ours.config.conversion_notes)
    for layer in range(ours.config.n_layers):
        ref = out.attentions[layer][0]
        assert (trace.layer_patterns(layer) - ref).abs().max() <= PATTERN_TOL, layer
        assert (trace.resid(layer) - out.hidden_states[layer][0]).abs().max() <= HIDDEN_TOL, layer
        assert ref[:, -1].max() > 3.0 / trace.n_tokens, "random weights too small to make a peaked pattern"
    from attention_core import blocks

    last = blocks.normalize(trace.resid(ours.config.n_layers), ours.weights, "ln_final", ours.config)
    assert (last - out.last_hidden_state[0]).abs().max() <= HIDDEN_TOL
    if "<mask>" in text:
        masked = [i for i, token in enumerate(trace.tokens) if token == "<mask>"]
        assert len(masked) == 2 and torch.equal(trace.resid(0)[masked[0]], out.hidden_states[0][0][masked[0]])


@pytest.mark.parametrize("text", [PROTEIN, "MKT<eos>AYIAK<mask>RQISF"])
def test_contacts_from_attention_match_transformers(esm, text):
    """The contact head over every head's pattern (symmetrised, APC-corrected, one logistic regression), as
    EsmModel.predict_contacts computes it; a typed <eos> zeroed in every pattern first."""
    hf, ours = esm
    trace = ours.trace(text)
    ids = torch.tensor([trace.token_ids])
    with torch.inference_mode():
        theirs = hf.predict_contacts(ids, torch.ones_like(ids))[0]
    ours_map = contact_probabilities(trace)
    assert ours_map.shape == (trace.n_tokens - 2,) * 2 and theirs.std() > 0.01
    assert (ours_map - theirs).abs().max() <= PATTERN_TOL
    assert ours.parameter_counts()["contact head"] == ours.config.n_layers * ours.config.n_heads + 1


def test_the_tokenizer_splits_as_esms_own(tmp_path):
    """Every letter a token, specials split out wherever they stand, any other run between whitespace one <unk>;
    framed as <cls> … <eos>. Checked on fixed texts and on 200 random ones from letters, specials, lowercase, digits
    and spaces."""
    save_tiny_esm(tmp_path)
    theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    ours = esm_tokenizer(tmp_path, json.loads((tmp_path / "tokenizer_config.json").read_text()))
    pieces = [*ESM_VOCAB[4:29], "<mask>", "<cls>", "<eos>", "<unk>", "<pad>", "<null_1>", "m", "k", "1", " ", "  ",
              "\t", "é", "<", ">", "mask"]  # fmt: skip
    rng = random.Random(0)
    texts = [PROTEIN, MASKED, "mkt AY", "A1B2", "hello world", "MKT<cls>A", "", "   ", "ÄMK", "M.K-A<null_1>"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 30))) for _ in range(200)]
    for text in texts:
        assert ours.encode(text).ids == theirs(text)["input_ids"], text
    assert ours.id_to_token(ours.encode(PROTEIN).ids[1]) == "M"


def test_the_norms_load_under_either_name(tmp_path):
    """transformers writes an ESM model's LayerNorms as gamma and beta (its legacy names, which it reads for any
    model); the hub's ESM checkpoints have weight and bias: both load, to the same weights."""
    from safetensors.torch import load_file, save_file

    save_tiny_esm(tmp_path / "as-saved")
    state = load_file(str(tmp_path / "as-saved" / "model.safetensors"))
    assert any(key.endswith("LayerNorm.gamma") for key in state)
    renamed = {key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"): t
               for key, t in state.items()}  # fmt: skip
    save_tiny_esm(tmp_path / "hub")
    save_file(renamed, str(tmp_path / "hub" / "model.safetensors"))
    first, second = (load_model(str(tmp_path / name), device="cpu") for name in ("as-saved", "hub"))
    assert first.weights.keys() == second.weights.keys()
    assert all(torch.equal(first.weights[key], second.weights[key]) for key in first.weights)


def test_esmfold_is_refused_by_name(tmp_path):
    save_tiny_esm(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "is_folding_model": True}))
    with pytest.raises(ModelLoadError, match="ESMFold's folding trunk"):
        load_model(str(tmp_path), device="cpu")


@pytest.mark.parametrize("head", [True, False], ids=["masked-lm", "model"])
def test_esm_c_matches_transformers(head, tmp_path, monkeypatch):
    """Patterns, the residual entering each layer and the last hidden state of a 4-layer ESM C (each sublayer's
    output × 3 = 1/√(4/36)), saved with its masked-LM head (esmc.) or without; and Inside one head's q and k, which
    recompute the LayerNorm over all heads from E, equal to transformers' q_norm and k_norm outputs."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = save_tiny_esmc(tmp_path / "esmc", head=head)
    ours = load_model(str(tmp_path / "esmc"), device="cpu")
    trace = ours.trace(PROTEIN + "|" + PROTEIN[:9])  # | : the chain break, one token
    with torch.inference_mode():
        model = getattr(hf, "esmc", hf)
        out = model(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    assert "|" in trace.tokens and trace.tokens[0] == "<cls>"
    assert ours.trace("MK T").tokens == ["<cls>", "M", "K", "<unk>", "T", "<eos>"]  # a space is an <unk>, as it says
    assert any("spaces and line breaks included, becomes an <unk>" in note for note in ours.config.conversion_notes)
    for layer in range(ours.config.n_layers):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max() <= PATTERN_TOL, layer
        ref = out.hidden_states[layer][0]
        assert (trace.resid(layer) - ref).abs().max() <= HIDDEN_TOL * max(1.0, ref.abs().max().item()), layer
        assert out.attentions[layer][0][:, -1].max() > 3.0 / trace.n_tokens
    from attention_core import blocks

    last = blocks.normalize(trace.resid(ours.config.n_layers), ours.weights, "ln_final", ours.config)
    assert (last - out.last_hidden_state[0]).abs().max() <= HIDDEN_TOL
    attention = model.layers[1].self_attn  # its q and k LayerNorms' outputs, over all heads, before RoPE
    normed = {which: decoder_parity.layer_output(model, getattr(attention, f"{which}_norm"), trace.token_ids)
              for which in "qk"}  # fmt: skip
    steps = trace.head_steps(1, 2)
    for which, ours_pre in (("q", steps.q_pre), ("k", steps.k_pre)):
        theirs = normed[which][:, 2 * ours.config.d_head : 3 * ours.config.d_head].numpy()
        assert abs(ours_pre - theirs).max() <= 1e-4, which
    assert steps.norm == "layer" and steps.qk_norm == "full"
    assert contact_probabilities(trace) is None  # ESM C has no contact head


def test_a_contact_head_that_does_not_fit_the_heads_is_refused_by_name(tmp_path):
    from safetensors.torch import load_file, save_file

    save_tiny_esm(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    state["esm.contact_head.regression.weight"] = state["esm.contact_head.regression.weight"][:, :5].contiguous()
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelLoadError, match=r"contact head has 5 weights and 1 biases for 2 × 4 heads"):
        load_model(str(tmp_path), device="cpu")


@pytest.mark.parametrize("saver", ["esm", "esmc"])
def test_protein_encoders_without_their_head_predict_nothing(saver, tmp_path, monkeypatch):
    """ESM and ESM C read both ways: without a head they had logits all the same (W_E's transpose on the final
    residual), and so a logit lens and an experiments page of made-up predictions."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    (save_tiny_esm if saver == "esm" else save_tiny_esmc)(tmp_path / saver, head=False)
    model = load_model(str(tmp_path / saver), device="cpu")
    assert not model.config.has_lm_head and model.trace("MKTAYIAKQR").logits is None
