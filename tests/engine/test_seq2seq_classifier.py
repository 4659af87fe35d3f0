"""An encoder-decoder's sequence classifier, BART's (facebook/bart-large-mnli's layout: loading/classifier_head.py
`attach_seq2seq_classifier`, attention_core/seq2seq_classify.py): the encoder reads the text (an NLI premise and
hypothesis as a pair, <s> A </s></s> B </s>), the decoder the same ids shifted right after its start token, and a
dense → tanh → out_proj head the decoder's residual at the last </s>. Held to transformers'
BartForSequenceClassification on a tiny random model saved locally: its logits, the same head read from the decoder's
earlier hidden states (the layer-by-layer verdict), and its logits with an encoder head zeroed (the Experiments page's
intervention; transformers' head zeroed by its columns of out_proj).

Tolerance (max absolute difference, float32 CPU): logits 1e-3, as in test_classifier_head.py; weights drawn with std
0.3, so a head read from the wrong position, stack or shift moves them by far more.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import InputError, ablate_head, load_model
from attention_core.classify import class_logits_by_layer, has_classifier
from tests.tiny_models_seq2seq import NLI_LABELS, save_tiny_bart_classifier

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

LOGIT_TOL = 1e-3
PREMISE, HYPOTHESIS = "the blue creature roamed the forest", "a creature was in the forest"


@pytest.fixture
def nli(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = save_tiny_bart_classifier(tmp_path / "nli")
    return hf, load_model(str(tmp_path / "nli"), device="cpu")


def _hf_logits(hf, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """transformers' logits, and its head read from each decoder block's output at the last </s>, through the
    decoder's final norm where it has one (mBART's; transformers applies it to the last block's output alone)."""
    norm = getattr(hf.model.decoder, "layer_norm", None) or (lambda h: h)
    with torch.inference_mode():
        out = hf(torch.tensor([ids]), output_hidden_states=True)
        eos = max(i for i, t in enumerate(ids) if t == hf.config.eos_token_id)
        states = [norm(h) for h in out.decoder_hidden_states[1:-1]] + [out.decoder_hidden_states[-1]]
        early = torch.stack([hf.classification_head(h[0, eos]) for h in states])
    return out.logits[0], early


def test_the_verdict_on_a_pair_is_transformers_after_every_decoder_block(nli) -> None:
    hf, ours = nli
    trace = ours.trace(PREMISE, second_text=HYPOTHESIS)
    assert has_classifier(trace) and ours.config.class_labels == NLI_LABELS and not ours.config.has_lm_head
    ids = trace.token_ids
    assert ids[0] == 0 and ids[-1] == 2 and ids.count(2) == 3  # <s> premise </s></s> hypothesis </s>
    logits, early = _hf_logits(hf, ids)
    assert logits.std() > 0.3, "random weights too small to tell a head read wrongly"
    by_layer = class_logits_by_layer(trace)
    assert by_layer.shape == (hf.config.decoder_layers, 3)
    assert (by_layer[-1] - logits).abs().max().item() <= LOGIT_TOL
    assert (by_layer - early).abs().max().item() <= LOGIT_TOL
    one = ours.trace(PREMISE)  # one text: <s> premise </s>
    assert (class_logits_by_layer(one)[-1] - _hf_logits(hf, one.token_ids)[0]).abs().max().item() <= LOGIT_TOL


def test_a_zeroed_encoder_head_reaches_the_verdict_through_the_decoder(nli) -> None:
    hf, ours = nli
    layer, head, d_head = 1, 2, hf.config.d_model // hf.config.encoder_attention_heads
    trace = ours.trace(PREMISE, second_text=HYPOTHESIS, interventions=[ablate_head(layer, head)])
    with torch.no_grad():  # the head's output zeroed before W_O: its columns of out_proj
        hf.model.encoder.layers[layer].self_attn.out_proj.weight[:, head * d_head : (head + 1) * d_head] = 0
    logits, _ = _hf_logits(hf, trace.token_ids)
    clean = class_logits_by_layer(ours.trace(PREMISE, second_text=HYPOTHESIS))[-1]
    assert (clean - logits).abs().max().item() > 10 * LOGIT_TOL  # the head matters: the comparison can fail
    assert (class_logits_by_layer(trace)[-1] - logits).abs().max().item() <= LOGIT_TOL


def test_it_writes_no_target(nli) -> None:
    """It has no language-model head: no target written, no next-token logits, no lens."""
    _, ours = nli
    trace = ours.trace(PREMISE, second_text=HYPOTHESIS)
    assert trace.next_token_logits() is None and trace.logits is None
    with pytest.raises(InputError, match="a classifier: it writes no target"):
        ours.greedy_target(PREMISE)


def test_the_head_ranking_equals_a_trace_with_each_encoder_head_ablated(nli) -> None:
    """The sweep reruns the encoder from each head's layer on (its variants batched) and the decoder over each
    variant's output: each head's Δ log p(label) equals a trace with that head ablated (zero and mean)."""
    from attention_core.classify import class_ablation_sweep, class_scores

    _, ours = nli
    trace = ours.trace(PREMISE, second_text=HYPOTHESIS)
    label = int(class_logits_by_layer(trace)[-1].argmax())

    def log_p(t) -> float:
        return float(class_scores(class_logits_by_layer(t)[-1], "softmax").log()[label])

    clean = log_p(trace)
    for mode in ("zero", "mean"):
        sweep = class_ablation_sweep(trace, label, mode)
        assert sweep.shape == (ours.config.n_layers, ours.config.n_heads)
        for layer, head in ((0, 1), (1, 3)):
            ablated = ours.trace(PREMISE, second_text=HYPOTHESIS, interventions=[ablate_head(layer, head, mode)])
            assert abs(float(sweep[layer, head]) - (log_p(ablated) - clean)) <= 1e-4, (mode, layer, head)
    assert sweep.abs().max() > 1e-3  # the heads matter to the verdict: the comparison can fail


@pytest.mark.parametrize("kind", ["mbart", "plbart"])
def test_mbarts_and_plbarts_decoders_read_the_language_code_first(kind, tmp_path, monkeypatch) -> None:
    """MBartForSequenceClassification and PLBartForSequenceClassification: the text ends </s> and a language code,
    and their decoder reads the ids with that last token moved to the front (their shift_tokens_right), not after a
    start token as BART's; the head reads the last </s>. The verdict after every decoder block, and the pass it reads
    as a PairTrace, are transformers'."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = save_tiny_bart_classifier(tmp_path / kind, kind=kind)
    ours = load_model(str(tmp_path / kind), device="cpu")
    trace = ours.trace(PREMISE)
    ids = trace.token_ids
    assert ids[-2] == 2 and ids[-1] > 3 and ours.config.class_labels == NLI_LABELS  # … </s> language
    logits, early = _hf_logits(hf, ids)
    by_layer = class_logits_by_layer(trace)
    assert (by_layer[-1] - logits).abs().max().item() <= LOGIT_TOL
    assert (by_layer - early).abs().max().item() <= LOGIT_TOL
    pair = ours.trace_classifier_pass(PREMISE)
    assert pair.decoder.token_ids == [ids[-1], *ids[:-1]]
    with torch.inference_mode():
        out = hf(torch.tensor([ids]), output_attentions=True)
    for layer, ref in enumerate(out.decoder_attentions):
        assert (pair.decoder.layer_patterns(layer) - ref[0]).abs().max().item() <= 1e-4


def test_a_config_without_a_decoder_start_shifts_as_transformers_does(tmp_path, monkeypatch) -> None:
    """A BART config.json naming no decoder_start_token_id: transformers' BartConfig defaults it to 2 (</s>), which
    BartForSequenceClassification's shift reads; the verdict must be the same as with it named."""
    import json

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = save_tiny_bart_classifier(tmp_path / "nli")
    config = json.loads((tmp_path / "nli" / "config.json").read_text())
    assert config.pop("decoder_start_token_id") == 2
    (tmp_path / "nli" / "config.json").write_text(json.dumps(config))
    trace = load_model(str(tmp_path / "nli"), device="cpu").trace(PREMISE, second_text=HYPOTHESIS)
    logits, _ = _hf_logits(hf, trace.token_ids)
    assert (class_logits_by_layer(trace)[-1] - logits).abs().max().item() <= LOGIT_TOL


def test_the_pass_its_verdict_reads_as_a_pair_trace_is_transformers(nli) -> None:
    """Model.trace_classifier_pass: the encoder over the text pair, the decoder over the same ids shifted right, as a
    PairTrace (what the Cross-attention page draws): its decoder's self- and cross-attention patterns are
    transformers' (1e-4, as every pattern), and its decoder's residual at the last </s> is the one the verdict reads."""
    hf, ours = nli
    pair = ours.trace_classifier_pass(PREMISE, second_text=HYPOTHESIS)
    ids = pair.encoder.token_ids
    assert pair.decoder.token_ids == [hf.config.decoder_start_token_id, *ids[:-1]]  # shift_tokens_right
    with torch.inference_mode():
        out = hf(torch.tensor([ids]), output_attentions=True)
    for layer in range(hf.config.decoder_layers):
        for head in range(hf.config.decoder_attention_heads):
            cross = (pair.cross.pattern(layer, head) - out.cross_attentions[layer][0, head]).abs().max().item()
            own = (pair.decoder.pattern(layer, head) - out.decoder_attentions[layer][0, head]).abs().max().item()
            assert cross <= 1e-4 and own <= 1e-4, (layer, head, cross, own)
    kept = ours.trace(PREMISE, second_text=HYPOTHESIS).captured.decoder_eos
    assert torch.allclose(pair.decoder.captured.resid_pre[-1][len(ids) - 1], kept[-1], atol=1e-5)


def test_a_translation_model_has_no_classifier_pass(tmp_path, monkeypatch) -> None:
    from tests.tiny_models_seq2seq import save_tiny_seq2seq

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_seq2seq("bart", tmp_path / "bart")
    with pytest.raises(InputError, match="is not a sequence classifier built on an encoder-decoder"):
        load_model(str(tmp_path / "bart"), device="cpu").trace_classifier_pass(PREMISE)
