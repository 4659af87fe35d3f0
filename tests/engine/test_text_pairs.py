"""Text pairs (`Model.trace(text, second_text=...)`): an encoder reads two texts as its tokenizer's pair template lays
them out, each token in its segment, as transformers' `tokenizer(a, b)` and the model's `token_type_ids` do.

Tolerances (max absolute difference, float32 CPU), as in test_parity.py and test_classifier_head.py:
  MiniLM patterns and hidden states   1e-4
  tiny classifiers' logits            1e-3
Token ids and segments are compared exactly.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import InputError, ablate_head, load_model
from attention_core.classify import class_logits_by_layer
from attention_core.tokenizer import PAIR_JOIN
from tests.engine.encoder_parity import assert_patterns_and_hidden_states
from tests.tiny_masked_lms import save_tiny_classifier

transformers = pytest.importorskip("transformers")

PATTERN_TOL = 1e-4
HIDDEN_TOL = 1e-4
LOGIT_TOL = 1e-3
QUERY = "How many people live in Berlin?"
PASSAGE = "Berlin has a population of 3.5 million people, the most of any city in Germany."
# Pairs of unequal and equal lengths, and characters that the normaliser changes (accents) or splits (digits).
PAIRS = [(QUERY, PASSAGE), ("one two three four", "five six seven eight"), ("Héllo wörld!", "Ünïcode 3.5 ok?")]


@pytest.mark.parity
@pytest.mark.parametrize(("first", "second"), PAIRS, ids=range(len(PAIRS)))
def test_pair_tokens_and_segments_are_transformers_at_every_cap(first, second, minilm, hf_minilm):
    tok, _ = hf_minilm
    full = len(tok(first, second).input_ids)
    for cap in range(4, full + 2):  # cut to nothing of the shorter text, then every length up to no cut at all
        expected = tok(first, second, truncation=True, max_length=cap)
        enc = minilm.tokenizer.encode_two_texts(first, second, cap)
        assert enc.ids == expected.input_ids, cap
        assert list(enc.segments.ids) == expected.token_type_ids, cap
        assert enc.truncated == (cap < full) and enc.n_input_tokens == full


@pytest.mark.parity
def test_a_pairs_offsets_index_the_joined_text_and_split_back(minilm):
    first, second = PAIRS[2]
    trace = minilm.trace(first, second_text=second)
    assert trace.text == first + PAIR_JOIN + second
    pieces = [trace.text[a:b] for a, b in trace.offsets]
    assert pieces == ["", "Héllo", "wörld", "!", "", "Ünïcode", "3", ".", "5", "ok", "?", ""]
    seg = trace.segments
    assert seg.second_token == 5 and trace.tokens[seg.second_token] == "unicode"
    assert seg.texts(trace.text) == (first, second)


@pytest.mark.parity
def test_minilm_on_a_pair_matches_transformers_with_its_token_types(minilm, hf_minilm):
    tok, hf = hf_minilm
    trace = minilm.trace(QUERY, second_text=PASSAGE)
    enc = tok(QUERY, PASSAGE, return_tensors="pt")
    assert trace.token_ids == enc.input_ids[0].tolist()
    assert 1 in trace.segments.ids, "the second text must be in segment 1, or this test tells nothing"
    with torch.inference_mode():
        out = hf(**enc, output_attentions=True, output_hidden_states=True)
        one_segment = hf(enc.input_ids, output_hidden_states=True)  # what the pass gave before: all in segment 0
    assert_patterns_and_hidden_states(trace, out, minilm.config.n_layers, PATTERN_TOL, HIDDEN_TOL)
    moved = (one_segment.hidden_states[-1][0] - out.hidden_states[-1][0]).abs().max().item()
    assert moved > 100 * HIDDEN_TOL, "the segments must move the hidden states, or this test tells nothing"


@pytest.mark.parity
def test_an_intervention_on_a_pair_keeps_its_segments(minilm):
    plain = minilm.trace(QUERY, second_text=PASSAGE)
    ablated = minilm.trace(QUERY, second_text=PASSAGE, interventions=[ablate_head(1, 2)])
    assert ablated.segments == plain.segments
    assert torch.allclose(ablated.resid(1), plain.resid(1), atol=1e-6)  # layers before the ablation unchanged
    assert not torch.allclose(ablated.resid(2), plain.resid(2), atol=1e-4)


@pytest.mark.parity
@pytest.mark.parametrize(
    ("kind", "reads_segments"), [("bert", True), ("roberta", True), ("albert", True), ("electra", True),
                                 ("deberta_v2", False), ("distilbert", False)],
)  # fmt: skip
def test_a_cross_encoders_logits_on_a_pair_are_transformers(kind, reads_segments, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = save_tiny_classifier(kind, tmp_path / kind)
    ours = load_model(str(tmp_path / kind), device="cpu")
    trace = ours.trace("the blue creature took a mole", second_text="of the forest it was")
    assert ours.reads_two_texts
    ids = torch.tensor([trace.token_ids])
    types = torch.tensor([trace.segments.ids])
    with torch.inference_mode():
        expected = hf(ids, token_type_ids=types).logits[0] if reads_segments else hf(ids).logits[0]
        alone = hf(ids).logits[0]  # every token in segment 0
    diff = (class_logits_by_layer(trace)[-1] - expected).abs().max().item()
    assert diff <= LOGIT_TOL, f"{kind}: logits differ by {diff}"
    if reads_segments:
        assert (alone - expected).abs().max().item() > 10 * LOGIT_TOL, "segments must matter to tell anything"


def test_a_model_with_one_segment_row_puts_every_token_in_segment_0(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    import transformers as tf

    from tests.tiny_models import _peaked_and_saved
    from tests.tiny_tokenizers import wordpiece

    torch.manual_seed(0)
    cfg = tf.RobertaConfig(vocab_size=96, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=48, max_position_embeddings=80, type_vocab_size=1)  # fmt: skip
    hf = _peaked_and_saved(tf.RobertaModel(cfg, add_pooling_layer=False), tmp_path / "r", wordpiece(96))
    ours = load_model(str(tmp_path / "r"), device="cpu")
    trace = ours.trace("the blue creature", second_text="took a mole")
    assert set(trace.segments.ids) == {0}
    with torch.inference_mode():
        expected = hf(torch.tensor([trace.token_ids]), output_hidden_states=True).hidden_states[-1][0]
    assert (trace.resid(ours.config.n_layers) - expected).abs().max().item() <= HIDDEN_TOL


def test_pairs_refused_with_a_clear_message(smollm, minilm):
    assert not smollm.reads_two_texts and minilm.reads_two_texts
    with pytest.raises(InputError, match="reads one text: a text pair is for an encoder"):
        smollm.trace("Is it raining?", second_text="The sky is clear.")
    with pytest.raises(InputError, match="The second text is empty"):
        minilm.trace("Is it raining?", second_text="  \n")
    with pytest.raises(InputError, match="The first text is empty"):
        minilm.trace("", second_text="The sky is clear.")
    with pytest.raises(InputError, match="needs a token cap of at least 4"):
        minilm.trace("Is it raining?", second_text="The sky is clear.", max_tokens=3)
    with pytest.raises(InputError, match="The token cap must be between"):
        minilm.trace("Is it raining?", second_text="The sky is clear.", max_tokens=0)
