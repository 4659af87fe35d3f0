"""An M2M100 folder (sentencepiece.bpe.model + vocab.json, no tokenizer.json: facebook/m2m100_418M's layout) splits
text as transformers' M2M100Tokenizer does: the same ids, with the language tokens after fairseq's dictionary and the
text framed as __src__ text </s>. Tolerance: none, ids are integers.

Typed language codes ("__fr__" in the text) are the one difference: transformers 5's M2M100Tokenizer no longer
registers its language tokens as special tokens (it passes them as additional_special_tokens, which v5 reads no more),
so it spells a typed code out as text; here, as in transformers 4's M2M100Tokenizer and in NLLB's tokenizers, a typed
code is its language token. The test says so instead of comparing those texts.

The dictionary here lists the SentencePiece model's pieces in a shuffled order (fairseq's are in their training
counts' order), so an id read from the SentencePiece file instead of vocab.json shows.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from attention_core.errors import ModelLoadError
from attention_core.languages import language_tokens, with_language
from attention_core.loading.sentencepiece_model import NORMAL, read_sentencepiece
from attention_core.loading.slow_tokenizer import tokenizer_from_slow_files
from attention_core.tokenizer import TextTokenizer
from tests.engine.test_slow_tokenizer import HOSTILE, SPM_HOSTILE
from tests.slow_tokenizer_folders import XLM_R, spm_folder, with_settings
from tests.texts import TEXTS

pytestmark = pytest.mark.parity
transformers = pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")

SPM = "sentencepiece.bpe.model"


def m2m100_folder(folder: Path, model_type: str, settings: dict | None = None, drop: int = 0) -> Path:
    """A SentencePiece model trained on the test corpus and fairseq's dictionary of it (<s> <pad> </s> <unk>, then
    its pieces shuffled; `drop` of them left out) as vocab.json."""
    spm_folder(folder, SPM, XLM_R, model_type)
    pieces = [p.text for p in read_sentencepiece(folder / SPM).pieces if p.kind == NORMAL]
    random.Random(0).shuffle(pieces)
    vocab = ["<s>", "<pad>", "</s>", "<unk>", *pieces[drop:]]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}), encoding="utf-8")
    return with_settings(folder, {"tokenizer_class": "M2M100Tokenizer", **(settings or {})})


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
@pytest.mark.parametrize("settings", [{}, {"src_lang": "fr"}, {"language_codes": "wmt21", "src_lang": "de"}])
def test_an_m2m100_folder_splits_text_as_transformers_does(tmp_path, model_type, settings) -> None:
    folder = m2m100_folder(tmp_path, model_type, settings)
    ours = tokenizer_from_slow_files(folder, "m2m_100")
    reference = transformers.M2M100Tokenizer(str(folder / "vocab.json"), str(folder / SPM), **settings)
    for text in TEXTS + HOSTILE + SPM_HOSTILE:
        expected = reference(text)["input_ids"]
        got = ours.encode(text)
        assert got.ids == expected, (text, got.tokens, reference.convert_ids_to_tokens(expected))
    languages = reference.lang_token_to_id  # {"__en__": id, ...}: after the dictionary, in fairseq's order
    typed = ours.encode("typed __en__ and __xx__").ids  # a known language's code is its token; any other is text
    assert languages["__en__"] in typed and typed.count(ours.token_to_id("<unk>")) >= 2
    assert {t: ours.token_to_id(t) for t in languages} == languages
    assert ours.get_vocab(with_added_tokens=False) == reference.encoder  # vocab.json's ids, not the spm file's
    assert ours.get_vocab_size(with_added_tokens=True) == len(reference.encoder) + len(languages)


def test_its_languages_are_read_and_swapped_as_transformers_sets_src_lang(tmp_path) -> None:
    folder = m2m100_folder(tmp_path, "bpe")
    tokenizer = TextTokenizer(tokenizer_from_slow_files(folder, "m2m_100"))
    codes = language_tokens(tokenizer)
    assert len(codes) == 100 and codes[:3] == ("__af__", "__am__", "__ar__") and "</s>" not in codes
    reference = transformers.M2M100Tokenizer(str(folder / "vocab.json"), str(folder / SPM), src_lang="ja")
    text = TEXTS[0]
    assert with_language(tokenizer.encode(text, 64), tokenizer, "__ja__", codes).ids == reference(text)["input_ids"]


def test_a_dictionary_without_some_pieces_is_refused_by_name(tmp_path) -> None:
    folder = m2m100_folder(tmp_path, "bpe", drop=3)
    with pytest.raises(ModelLoadError, match="lacks 3 of the pieces its sentencepiece.bpe.model writes"):
        tokenizer_from_slow_files(folder, "m2m_100")


def test_an_m2m100_checkpoint_without_tokenizer_json_translates_as_transformers_does(tmp_path, monkeypatch) -> None:
    """facebook/m2m100_418M's layout end to end: the ids of both texts in the chosen languages, and the written target
    token for token what transformers' generate writes with the target language forced first."""
    import torch

    from attention_core import load_model
    from tests.tiny_models_seq2seq import SHAPE

    (tmp_path / "m2m100").mkdir()
    folder = m2m100_folder(tmp_path / "m2m100", "bpe")
    reference = transformers.M2M100Tokenizer(
        str(folder / "vocab.json"), str(folder / SPM), src_lang="de", tgt_lang="fr"
    )
    torch.manual_seed(5)
    config = transformers.M2M100Config(
        **{**SHAPE, "vocab_size": len(reference.encoder) + 100}, activation_function="relu", scale_embedding=True,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
    )  # fmt: skip
    hf = transformers.M2M100ForConditionalGeneration(config).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if p.dim() >= 2 and "embed_positions" not in name:
                p.normal_(0.0, 0.3)
    hf.save_pretrained(folder, safe_serialization=True)
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(folder), device="cpu")
    assert ours.default_language == "__en__" and len(ours.languages) == 100
    source, target = TEXTS[0], TEXTS[1]
    pair = ours.trace_pair(source, target, source_language="__de__", target_language="__fr__")
    assert pair.encoder.token_ids == reference(source).input_ids
    assert pair.decoder.token_ids == [2, *reference(text_target=target).input_ids]
    written = ours.greedy_target(source, 8, source_language="__de__", target_language="__fr__")
    with torch.inference_mode():
        out = hf.generate(
            input_ids=torch.tensor([reference(source).input_ids]), do_sample=False, num_beams=1, max_new_tokens=8,
            min_length=0, forced_bos_token_id=reference.get_lang_id("fr"), forced_eos_token_id=None,
        )  # fmt: skip
    assert list(written.token_ids) == out[0, 1:].tolist() and written.token_ids[0] == reference.get_lang_id("fr")
