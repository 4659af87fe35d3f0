"""A multilingual translation model's source and target languages (attention_core/languages.py), on a tiny random
M2M100 with NLLB-200's tokenizer layout (tests/tiny_models_seq2seq.py: language tokens eng_Latn, fra_Latn, deu_Latn;
its tokenizer.json marks every text eng_Latn … </s>).

The reference for the ids is transformers' own NllbTokenizerFast over the same tokenizer.json with src_lang and
tgt_lang set; for the numbers, transformers' model on those ids (patterns 1e-4, logits 1e-3) and its greedy
`generate` with forced_bos_token_id, token for token.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import load_model
from attention_core.errors import InputError
from tests.engine.pair_parity import assert_patterns_match, pair_and_reference
from tests.tiny_models_seq2seq import NLLB_LANGUAGES, save_tiny_seq2seq

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL = 1e-4, 1e-3
SOURCE = "the quick brown fox jumps over the lazy dog"
TARGET = "a fluffy blue creature roamed the verdant forest"


@pytest.fixture(scope="module")
def nllb(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache-nllb")))
    folder = tmp_path_factory.mktemp("tiny-nllb")
    hf = save_tiny_seq2seq("m2m_100", folder)
    reference = transformers.NllbTokenizerFast(
        tokenizer_file=str(folder / "tokenizer.json"), src_lang="deu_Latn", tgt_lang="fra_Latn"
    )
    yield hf, load_model(str(folder), device="cpu"), reference
    mp.undo()


def test_the_model_lists_its_language_tokens_and_the_one_its_tokenizer_marks_texts_with(nllb):
    _, ours, _ = nllb
    assert ours.languages == NLLB_LANGUAGES
    assert ours.default_language == "eng_Latn"
    assert ours.trace_pair(SOURCE, TARGET).encoder.tokens[0] == "eng_Latn"


def test_chosen_languages_give_transformers_tokenizer_ids_and_its_numbers(nllb):
    hf, ours, reference = nllb
    pair = ours.trace_pair(SOURCE, TARGET, source_language="deu_Latn", target_language="fra_Latn")
    assert pair.encoder.token_ids == reference(SOURCE).input_ids
    start = ours.config.decoder_start_token_id
    assert pair.decoder.token_ids == [start, *reference(text_target=TARGET).input_ids]
    assert pair.encoder.tokens[0] == "deu_Latn" and pair.decoder.tokens[1] == "fra_Latn"
    src, tgt = torch.tensor([pair.encoder.token_ids]), torch.tensor([pair.decoder.token_ids])
    with torch.inference_mode():
        ref = hf(input_ids=src, decoder_input_ids=tgt, output_attentions=True, output_hidden_states=True)
    assert_patterns_match(ours, pair, ref, PATTERN_TOL)
    assert (pair.logits - ref.logits[0]).abs().max() <= LOGIT_TOL
    _, default = pair_and_reference(hf, ours, SOURCE, TARGET)  # eng_Latn both: other numbers
    assert (pair.logits - default.logits[0]).abs().max() > 10 * LOGIT_TOL


def test_the_written_target_starts_with_the_target_language_as_transformers_forces_it(nllb):
    hf, ours, reference = nllb
    written = ours.greedy_target(SOURCE, 10, source_language="deu_Latn", target_language="fra_Latn")
    fra = reference.convert_tokens_to_ids("fra_Latn")
    with torch.inference_mode():
        out = hf.generate(
            input_ids=torch.tensor([reference(SOURCE).input_ids]), do_sample=False, num_beams=1, max_new_tokens=10,
            min_length=0, forced_bos_token_id=fra, forced_eos_token_id=None, decoder_start_token_id=2,
        )  # fmt: skip
    assert written.token_ids[0] == fra
    assert list(written.token_ids) == out[0, 1:].tolist()
    default = ours.greedy_target(SOURCE, 10)  # no language forced: the model picks its first token itself
    assert default.token_ids != written.token_ids


def test_an_unknown_language_or_a_model_without_languages_is_a_clear_message(nllb, tmp_path, monkeypatch):
    _, ours, _ = nllb
    with pytest.raises(InputError, match="'spa_Latn' is not a language .* such as eng_Latn, fra_Latn, deu_Latn"):
        ours.trace_pair(SOURCE, TARGET, target_language="spa_Latn")
    with pytest.raises(InputError, match="is not a language"):
        ours.greedy_target(SOURCE, 4, source_language="</s>")  # a special token, but not a language
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_seq2seq("mbart", tmp_path / "mbart")  # <s> … </s>: no language token first
    mbart = load_model(str(tmp_path / "mbart"), device="cpu")
    assert mbart.languages == () and mbart.default_language is None
    with pytest.raises(InputError, match="it has none"):
        mbart.trace_pair(SOURCE, TARGET, source_language="eng_Latn")
