"""A folder with only a slow tokenizer's files (vocab.txt; vocab.json + merges.txt; a SentencePiece model: spm.model,
spiece.model, sentencepiece.bpe.model, tokenizer.model) splits text exactly as transformers' tokenizer class for that
folder does: the same ids, the same character offsets, the same decoded text and the same vocabulary, added and
special tokens included. Tolerance: none, ids are integers.
The SentencePiece file itself is read by the engine (attention_core/loading/sentencepiece_model.py), checked here
against sentencepiece's own reader.

The folders are tests/slow_tokenizer_folders.py's; the real 30,522-token vocab.txt of all-MiniLM is checked against
its own tokenizer.json in tests/engine/test_loading.py, and what cannot be read in test_slow_tokenizer_errors.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attention_core.loading.sentencepiece_model import read_sentencepiece
from attention_core.loading.slow_tokenizer import tokenizer_from_slow_files
from tests.slow_tokenizer_folders import (
    DEBERTA_V3,
    LLAMA,
    T5,
    WORDPIECE_SIZE,
    XLM_R,
    added,
    byte_bpe_folder,
    spm_folder,
    with_settings,
    wordpiece_folder,
)
from tests.texts import TEXTS

pytestmark = pytest.mark.parity

# Typed special and added tokens, spaces around them, control and zero-width characters, mixed case.
HOSTILE = [
    "<s> typed </s> and <mask> here", "x<mask>y", "a <mask>b", "[CLS] [SEP] [MASK] [UNK] typed", "<|endoftext|> gpt",
    "x\u0000y\u200bz", "UPPER lower MiXeD", "tab\t\tend  ", "a fluffy creature here", "fluffy creaturely",
    "[NEW] token newword", "<extra1> and <extra2>",
]  # fmt: skip


ROBERTA_DECODER = {
    "tokenizer_class": "RobertaTokenizer",
    "added_tokens_decoder": {"300": added("<s>"), "301": added("<pad>"), "302": added("</s>"),
                             "303": added("<unk>"), "304": added("<mask>", lstrip=True),
                             "305": added("fluffy creature", special=False)},
    "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>", "pad_token": "<pad>",
    "cls_token": "<s>", "mask_token": "<mask>",
}  # fmt: skip
LEGACY_BERT = {
    "special_tokens_map.json": {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                                "mask_token": "[MASK]", "additional_special_tokens": ["<extra1>"]},
    "added_tokens.json": {"[NEW]": WORDPIECE_SIZE, "newword": WORDPIECE_SIZE + 1, "<extra1>": WORDPIECE_SIZE + 2},
}  # fmt: skip
MASK_AS_DICT = {"__type": "AddedToken", "content": "<mask>", "lstrip": True, "rstrip": False, "normalized": False,
                "single_word": False}  # fmt: skip

# (writer, tokenizer_config.json or None for none, other files, config.json's model_type)
CASES = {
    "bert": (wordpiece_folder, {"tokenizer_class": "BertTokenizer"}, {}, None),
    "bert_cased_accents": (wordpiece_folder, {"tokenizer_class": "BertTokenizer", "do_lower_case": False,
                                              "strip_accents": True, "tokenize_chinese_chars": False}, {}, None),
    "distilbert": (wordpiece_folder, {"tokenizer_class": "DistilBertTokenizerFast"}, {}, None),
    "mpnet": (wordpiece_folder, {"tokenizer_class": "MPNetTokenizer"}, {}, None),
    "bert_extra_special": (wordpiece_folder, {"tokenizer_class": "BertTokenizer",
                                              "additional_special_tokens": ["<extra1>", "<extra2>"]}, {}, None),
    "bert_legacy_files": (wordpiece_folder, {"tokenizer_class": "BertTokenizer"}, LEGACY_BERT, None),
    "gpt2": (byte_bpe_folder, {"tokenizer_class": "GPT2Tokenizer"}, {}, None),
    "gpt2_bos_eos": (byte_bpe_folder, {"tokenizer_class": "GPT2Tokenizer", "add_bos_token": True,
                                       "add_eos_token": True}, {}, None),
    "roberta": (byte_bpe_folder, {"tokenizer_class": "RobertaTokenizer"}, {}, None),
    "roberta_prefix_space": (byte_bpe_folder, {"tokenizer_class": "RobertaTokenizer", "add_prefix_space": True}, {},
                             None),
    "roberta_added_tokens": (byte_bpe_folder, ROBERTA_DECODER, {}, None),
    "roberta_mask_as_dict": (byte_bpe_folder, {"tokenizer_class": "RobertaTokenizer", "mask_token": MASK_AS_DICT},
                             {}, None),
    "bart": (byte_bpe_folder, {"tokenizer_class": "BartTokenizer"}, {}, None),
    "deberta": (byte_bpe_folder, {"tokenizer_class": "DebertaTokenizer"}, {}, None),
    "by_model_type_bert": (wordpiece_folder, None, {}, "bert"),
    "by_model_type_mpnet": (wordpiece_folder, None, {}, "mpnet"),
    "by_model_type_roberta": (byte_bpe_folder, None, {}, "roberta"),
    "by_model_type_deberta": (byte_bpe_folder, {"do_lower_case": False, "vocab_type": "gpt2"}, {}, "deberta"),
    "by_model_type_gpt2": (byte_bpe_folder, None, {}, "gpt2"),
    "codegen": (byte_bpe_folder, {"tokenizer_class": "CodeGenTokenizer"}, {}, None),
    "by_model_type_codegen": (byte_bpe_folder, None, {}, "codegen"),
    "by_model_type_opt": (byte_bpe_folder, {"add_bos_token": True}, {}, "opt"),  # OPT: GPT-2's class, a BOS first
    "by_model_type_distilbert": (wordpiece_folder, None, {}, "distilbert"),
    "by_model_type_electra": (wordpiece_folder, None, {}, "electra"),
    "by_model_type_bart": (byte_bpe_folder, None, {}, "bart"),
}


def _flags(tokenizer) -> dict[int, tuple]:
    return {
        i: (t.content, t.special, t.normalized, t.lstrip, t.rstrip, t.single_word)
        for i, t in tokenizer.get_added_tokens_decoder().items()
    }


def _folder(tmp_path: Path, case: str) -> tuple[Path, str | None]:
    write, settings, files, model_type = CASES[case]
    folder = write(tmp_path, settings)
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content), encoding="utf-8")
    if model_type is not None:
        (folder / "config.json").write_text(json.dumps({"model_type": model_type}), encoding="utf-8")
    return folder, model_type


@pytest.mark.parametrize("case", sorted(CASES))
def test_slow_files_split_text_as_transformers_does(tmp_path, case):
    from transformers import AutoTokenizer

    folder, model_type = _folder(tmp_path, case)
    ours = tokenizer_from_slow_files(folder, model_type)
    reference = AutoTokenizer.from_pretrained(str(folder))
    assert ours.get_vocab(with_added_tokens=True) == reference.get_vocab()
    assert _flags(ours) == _flags(reference.backend_tokenizer)  # lstrip etc.: not always visible in ids or offsets
    for text in TEXTS + HOSTILE:
        expected = reference(text, return_offsets_mapping=True)
        got = ours.encode(text)
        assert got.ids == list(expected["input_ids"]), text
        assert [tuple(o) for o in got.offsets] == [tuple(o) for o in expected["offset_mapping"]], text
        assert ours.decode(got.ids, skip_special_tokens=False) == reference.decode(expected["input_ids"]), text
    _pairs_split_as_transformers_does(ours, reference)


def _pairs_split_as_transformers_does(ours, reference) -> None:
    """A text pair (Model.trace's second_text) framed by the tokenizer's pair template as transformers' class frames
    it: BERT's [CLS] A [SEP] B [SEP], RoBERTa's <s> A </s></s> B </s>, T5's A </s> B </s>, with its type ids."""
    for first, second in zip(TEXTS, TEXTS[1:], strict=False):
        expected, got = reference(first, second), ours.encode(first, second)
        assert got.ids == list(expected["input_ids"]), (first, second)
        if "token_type_ids" in expected:
            assert got.type_ids == list(expected["token_type_ids"]), (first, second)


SPM_CASES = {
    "deberta_v3": ("spm.model", DEBERTA_V3, {"tokenizer_class": "DebertaV2Tokenizer"}, None),
    "deberta_v3_mask_piece_lowercase_punct": (
        "spm.model", {**DEBERTA_V3, "user_defined_symbols": ["[MASK]"]},
        {"tokenizer_class": "DebertaV2Tokenizer", "do_lower_case": True, "split_by_punct": True}, None,
    ),
    "deberta_v2_without_prefix_space": (
        "spm.model", DEBERTA_V3, {"tokenizer_class": "DebertaV2Tokenizer", "add_prefix_space": False}, None,
    ),
    "deberta_v3_by_model_type": ("spm.model", DEBERTA_V3, {"do_lower_case": False, "vocab_type": "spm"},
                                 "deberta-v2"),
    "t5": ("spiece.model", T5, {"tokenizer_class": "T5Tokenizer"}, None),
    "t5_five_sentinels": ("spiece.model", T5, {"tokenizer_class": "T5Tokenizer", "extra_ids": 5}, None),
    "t5_sentinels_listed": (
        "spiece.model", T5,
        {"tokenizer_class": "T5Tokenizer", "additional_special_tokens": [f"<extra_id_{i}>" for i in range(100)]}, None,
    ),
    "t5_by_model_type": ("spiece.model", T5, None, "t5"),
    "mt5_by_model_type": ("spiece.model", T5, None, "mt5"),
    "xlm_roberta": ("sentencepiece.bpe.model", XLM_R, {"tokenizer_class": "XLMRobertaTokenizer"}, None),
    "xlm_roberta_by_model_type": ("sentencepiece.bpe.model", XLM_R, None, "xlm-roberta"),
    "llama": ("tokenizer.model", LLAMA, {"tokenizer_class": "LlamaTokenizer", "add_bos_token": True}, None),
    "llama_legacy_no_bos": ("tokenizer.model", LLAMA, {"tokenizer_class": "LlamaTokenizerFast", "legacy": True}, None),
    "llama_without_prefix_space": (
        "tokenizer.model", LLAMA, {"tokenizer_class": "LlamaTokenizer", "add_prefix_space": False}, None,
    ),
    "xlm_roberta_without_prefix_space": (
        "sentencepiece.bpe.model", XLM_R, {"tokenizer_class": "XLMRobertaTokenizer", "add_prefix_space": False}, None,
    ),
}  # fmt: skip
SPM_HOSTILE = [
    "<s> </s> <pad> <unk> <extra_id_0> x <extra_id_99>",
    "ﬁ ligature ① Ｆｕｌｌwidth",
    "  many   spaces\t\ttabs\n\nnl  ",
]


@pytest.mark.parametrize("case", sorted(SPM_CASES))
def test_sentencepiece_models_split_text_as_transformers_does(tmp_path, case):
    from transformers import AutoTokenizer

    name, trainer, settings, model_type = SPM_CASES[case]
    folder = with_settings(spm_folder(tmp_path, name, trainer), settings)
    if model_type is not None:
        (folder / "config.json").write_text(json.dumps({"model_type": model_type}), encoding="utf-8")
    ours = tokenizer_from_slow_files(folder, model_type)
    reference = AutoTokenizer.from_pretrained(str(folder))
    assert ours.get_vocab(with_added_tokens=True) == reference.get_vocab()
    assert _flags(ours) == _flags(reference.backend_tokenizer)
    for text in TEXTS + HOSTILE + SPM_HOSTILE:
        expected = reference(text, return_offsets_mapping=True)
        got = ours.encode(text)
        assert got.ids == list(expected["input_ids"]), text
        assert [tuple(o) for o in got.offsets] == [tuple(o) for o in expected["offset_mapping"]], text
        assert ours.decode(got.ids, skip_special_tokens=False) == reference.decode(expected["input_ids"]), text
    _pairs_split_as_transformers_does(ours, reference)


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_the_sentencepiece_file_reads_as_sentencepiece_reads_it(tmp_path, model_type):
    from sentencepiece import sentencepiece_model_pb2

    trainer = {**DEBERTA_V3, "user_defined_symbols": ["[MASK]"]}
    path = spm_folder(tmp_path, "spm.model", trainer, model_type) / "spm.model"
    expected = sentencepiece_model_pb2.ModelProto.FromString(path.read_bytes())
    got = read_sentencepiece(path)
    assert [(p.text, p.score, p.kind) for p in got.pieces] == [(p.piece, p.score, p.type) for p in expected.pieces]
    assert {p.kind for p in got.pieces} == {1, 2, 3, 4}  # normal, unknown, control and user-defined pieces
    assert (got.model_type, got.unk_id) == (expected.trainer_spec.model_type, expected.trainer_spec.unk_id) == (
        {"unigram": 1, "bpe": 2}[model_type], 3,
    )  # fmt: skip
    assert got.precompiled_charsmap == expected.normalizer_spec.precompiled_charsmap and got.precompiled_charsmap


def test_a_deberta_v3_folder_with_only_spm_model_traces_as_transformers_runs_it(tmp_path, monkeypatch):
    """microsoft/deberta-v3-base ships spm.model and no tokenizer.json: the whole road, folder to attention."""
    import torch
    from transformers import AutoTokenizer

    from attention_core import load_model
    from tests.texts import FLUFFY
    from tests.tiny_models import save_tiny_deberta

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "deberta-v3"
    hf = save_tiny_deberta(folder)
    (folder / "tokenizer.json").unlink()
    spm_folder(folder, "spm.model", DEBERTA_V3)
    with_settings(folder, {"do_lower_case": False, "vocab_type": "spm"})  # deberta-v3-base's own settings
    trace = load_model(str(folder), device="cpu").trace(FLUFFY)
    ids = AutoTokenizer.from_pretrained(str(folder))(FLUFFY)["input_ids"]
    assert trace.token_ids == ids and len(ids) > 5
    with torch.inference_mode():
        attentions = hf(torch.tensor([ids]), output_attentions=True).attentions
    for layer, expected in enumerate(attentions):
        got = torch.stack([trace.pattern(layer, head) for head in range(trace.n_heads)])
        assert (got - expected[0]).abs().max().item() <= 1e-4  # the patterns' tolerance in test_deberta.py



def test_a_real_sized_byte_level_bpe_splits_as_transformers_does(tmp_path):
    """SmolLM2's vocabulary (49,152 tokens, 48,900 merges, read from the embedded GGUF file) written as GPT-2's slow
    files: at full size, with merges of every kind of byte, the same ids and offsets as transformers' GPT2Tokenizer."""
    import gguf
    from transformers import AutoTokenizer

    from attention_core.registry import resolve

    fields = gguf.GGUFReader(str(resolve("smollm2-135m").path)).fields
    tokens, merges = fields["tokenizer.ggml.tokens"].contents(), fields["tokenizer.ggml.merges"].contents()
    assert len(tokens) == 49152 and len(merges) > 48000
    (tmp_path / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}), encoding="utf-8")
    (tmp_path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    with_settings(tmp_path, {"tokenizer_class": "GPT2Tokenizer"})
    ours, reference = tokenizer_from_slow_files(tmp_path, None), AutoTokenizer.from_pretrained(str(tmp_path))
    assert ours.get_vocab(with_added_tokens=True) == reference.get_vocab()
    for text in [*TEXTS, *HOSTILE, "<|im_start|>user\nhi<|im_end|>"]:
        expected, got = reference(text, return_offsets_mapping=True), ours.encode(text)
        assert got.ids == list(expected["input_ids"]), text
        assert [tuple(o) for o in got.offsets] == [tuple(o) for o in expected["offset_mapping"]], text
