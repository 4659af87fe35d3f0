"""A folder with only a slow tokenizer's files (vocab.txt; vocab.json + merges.txt; spm.model or spiece.model)
splits text exactly as
transformers' tokenizer class for that folder does: the same ids, the same character offsets, the same decoded
text and the same vocabulary, added and special tokens included. Tolerance: none, ids are integers.
SentencePiece models are trained here by the sentencepiece package (a test dependency: the engine reads the file
itself, attention_core/loading/sentencepiece_model.py, checked here against sentencepiece's own reader).

The vocabularies are the tiny test tokenizers' (tests/tiny_tokenizers.py) written out as slow files; the real
30,522-token vocab.txt of all-MiniLM is checked against its own tokenizer.json in tests/engine/test_loading.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attention_core.errors import ModelLoadError
from attention_core.loading.sentencepiece_model import read_sentencepiece
from attention_core.loading.slow_tokenizer import tokenizer_from_slow_files
from tests.texts import TEXTS
from tests.tiny_tokenizers import CORPUS, byte_bpe, wordpiece

pytestmark = pytest.mark.parity

# Typed special and added tokens, spaces around them, control and zero-width characters, mixed case.
HOSTILE = [
    "<s> typed </s> and <mask> here", "x<mask>y", "a <mask>b", "[CLS] [SEP] [MASK] [UNK] typed", "<|endoftext|> gpt",
    "x\u0000y\u200bz", "UPPER lower MiXeD", "tab\t\tend  ", "a fluffy creature here", "fluffy creaturely",
    "[NEW] token newword", "<extra1> and <extra2>",
]  # fmt: skip
WORDPIECE_SIZE = len(wordpiece(200).get_vocab())


def wordpiece_folder(folder: Path, settings: dict | None) -> Path:
    vocab = sorted(wordpiece(200).get_vocab().items(), key=lambda kv: kv[1])
    (folder / "vocab.txt").write_text("".join(token + "\n" for token, _ in vocab), encoding="utf-8")
    return _with_settings(folder, settings)


def byte_bpe_folder(folder: Path, settings: dict | None) -> Path:
    model = json.loads(byte_bpe(300).to_str())["model"]
    (folder / "vocab.json").write_text(json.dumps(model["vocab"]), encoding="utf-8")
    merges = [" ".join(m) if isinstance(m, list) else m for m in model["merges"]]
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return _with_settings(folder, settings)


def _with_settings(folder: Path, settings: dict | None) -> Path:
    if settings is not None:
        (folder / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    return folder


def _added(content: str, special: bool = True, lstrip: bool = False) -> dict:
    return {"content": content, "lstrip": lstrip, "rstrip": False, "single_word": False, "normalized": not special,
            "special": special}  # fmt: skip


ROBERTA_DECODER = {
    "tokenizer_class": "RobertaTokenizer",
    "added_tokens_decoder": {"300": _added("<s>"), "301": _added("<pad>"), "302": _added("</s>"),
                             "303": _added("<unk>"), "304": _added("<mask>", lstrip=True),
                             "305": _added("fluffy creature", special=False)},
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


def test_a_folder_without_slow_files_has_none(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text('{"tokenizer_class": "BertTokenizer"}')
    assert tokenizer_from_slow_files(tmp_path, "bert") is None
    (tmp_path / "vocab.json").write_text("{}")  # a slow file, but not the one this class reads
    with pytest.raises(ModelLoadError, match="a BertTokenizer needs vocab.txt, which the folder does not have"):
        tokenizer_from_slow_files(tmp_path, "bert")


@pytest.mark.parametrize(
    ("write", "settings", "model_type", "said"),
    [
        (byte_bpe_folder, {"tokenizer_class": "XLNetTokenizer"}, None, "tokenizer class XLNetTokenizer is not one"),
        (byte_bpe_folder, None, "llama", r"tokenizer class \(not named\) is not one"),
        (byte_bpe_folder, {"tokenizer_class": "BertTokenizer"}, None, "a BertTokenizer needs vocab.txt"),
        (wordpiece_folder, {"tokenizer_class": "RobertaTokenizer"}, None, "needs vocab.json and merges.txt"),
    ],
)
def test_a_tokenizer_class_not_built_here_is_a_clear_error(tmp_path, write, settings, model_type, said):
    folder = write(tmp_path, settings)
    with pytest.raises(ModelLoadError, match=said) as raised:
        tokenizer_from_slow_files(folder, model_type)
    assert str(folder.name) in str(raised.value)


def test_broken_slow_files_are_clear_errors(tmp_path):
    folder = byte_bpe_folder(tmp_path, {"tokenizer_class": "GPT2Tokenizer"})
    merges = (folder / "merges.txt").read_text(encoding="utf-8")
    (folder / "merges.txt").write_text(merges + "only-one-token\n", encoding="utf-8")
    with pytest.raises(ModelLoadError, match=r"merges.txt line \d+ is not two tokens"):
        tokenizer_from_slow_files(folder, None)
    (folder / "merges.txt").write_text(merges + "zzzq qqqz\n", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="vocab.json and merges.txt do not fit together"):
        tokenizer_from_slow_files(folder, None)
    (folder / "vocab.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="vocab.json holds no tokens"):
        tokenizer_from_slow_files(folder, None)
    (folder / "vocab.json").write_text("[1, 2]")
    with pytest.raises(ModelLoadError, match="should hold a JSON object"):
        tokenizer_from_slow_files(folder, None)
    (folder / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="tokenizer_config.json is not valid JSON"):
        tokenizer_from_slow_files(folder, None)


def test_an_added_token_at_another_id_than_its_folder_says_is_a_clear_error(tmp_path):
    settings = {"tokenizer_class": "BertTokenizer", "added_tokens_decoder": {"500": _added("[NEW]")}}
    folder = wordpiece_folder(tmp_path, settings)
    with pytest.raises(ModelLoadError, match=rf"'\[NEW\]' is given id 500, but .* puts it at {WORDPIECE_SIZE}"):
        tokenizer_from_slow_files(folder, None)


# SentencePiece unigram models laid out as DeBERTa-v3's spm.model ([PAD] [CLS] [SEP] [UNK] first) and T5's
# spiece.model (<pad> </s> <unk> first, no BOS): (file, trainer settings, tokenizer_config.json or None, model_type)
_DEBERTA_V3 = {"pad_id": 0, "bos_id": 1, "eos_id": 2, "unk_id": 3, "pad_piece": "[PAD]", "bos_piece": "[CLS]",
               "eos_piece": "[SEP]", "unk_piece": "[UNK]"}  # fmt: skip
_T5 = {"pad_id": 0, "eos_id": 1, "unk_id": 2, "bos_id": -1}
SPM_CASES = {
    "deberta_v3": ("spm.model", _DEBERTA_V3, {"tokenizer_class": "DebertaV2Tokenizer"}, None),
    "deberta_v3_mask_piece_lowercase_punct": (
        "spm.model", {**_DEBERTA_V3, "user_defined_symbols": ["[MASK]"]},
        {"tokenizer_class": "DebertaV2Tokenizer", "do_lower_case": True, "split_by_punct": True}, None,
    ),
    "deberta_v2_without_prefix_space": (
        "spm.model", _DEBERTA_V3, {"tokenizer_class": "DebertaV2Tokenizer", "add_prefix_space": False}, None,
    ),
    "deberta_v3_by_model_type": ("spm.model", _DEBERTA_V3, {"do_lower_case": False, "vocab_type": "spm"},
                                 "deberta-v2"),
    "t5": ("spiece.model", _T5, {"tokenizer_class": "T5Tokenizer"}, None),
    "t5_five_sentinels": ("spiece.model", _T5, {"tokenizer_class": "T5Tokenizer", "extra_ids": 5}, None),
    "t5_sentinels_listed": (
        "spiece.model", _T5,
        {"tokenizer_class": "T5Tokenizer", "additional_special_tokens": [f"<extra_id_{i}>" for i in range(100)]}, None,
    ),
    "t5_by_model_type": ("spiece.model", _T5, None, "t5"),
}  # fmt: skip
SPM_HOSTILE = [
    "<s> </s> <pad> <unk> <extra_id_0> x <extra_id_99>",
    "ﬁ ligature ① Ｆｕｌｌwidth",
    "  many   spaces\t\ttabs\n\nnl  ",
]


def spm_folder(folder: Path, name: str, trainer: dict, model_type: str = "unigram") -> Path:
    import sentencepiece

    corpus = [*CORPUS, "Ｆｕｌｌwidth ﬁ café"]  # NFKC folds these: the model's normaliser table has work to do
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_prefix=str(folder / "trained"), vocab_size=60, hard_vocab_limit=False,
        model_type=model_type, num_threads=1, minloglevel=2, **trainer,
    )  # fmt: skip
    (folder / "trained.model").rename(folder / name)
    (folder / "trained.vocab").unlink()  # the pieces as text, which no tokenizer class reads
    return folder


@pytest.mark.parametrize("case", sorted(SPM_CASES))
def test_sentencepiece_models_split_text_as_transformers_does(tmp_path, case):
    from transformers import AutoTokenizer

    name, trainer, settings, model_type = SPM_CASES[case]
    folder = _with_settings(spm_folder(tmp_path, name, trainer), settings)
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


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_the_sentencepiece_file_reads_as_sentencepiece_reads_it(tmp_path, model_type):
    from sentencepiece import sentencepiece_model_pb2

    trainer = {**_DEBERTA_V3, "user_defined_symbols": ["[MASK]"]}
    path = spm_folder(tmp_path, "spm.model", trainer, model_type) / "spm.model"
    expected = sentencepiece_model_pb2.ModelProto.FromString(path.read_bytes())
    got = read_sentencepiece(path)
    assert [(p.text, p.score, p.kind) for p in got.pieces] == [(p.piece, p.score, p.type) for p in expected.pieces]
    assert {p.kind for p in got.pieces} == {1, 2, 3, 4}  # normal, unknown, control and user-defined pieces
    assert (got.model_type, got.unk_id) == (expected.trainer_spec.model_type, expected.trainer_spec.unk_id) == (
        {"unigram": 1, "bpe": 2}[model_type], 3,
    )  # fmt: skip
    assert got.precompiled_charsmap == expected.normalizer_spec.precompiled_charsmap and got.precompiled_charsmap


def test_broken_sentencepiece_files_are_clear_errors(tmp_path):
    folder = spm_folder(tmp_path, "spm.model", _DEBERTA_V3)
    data = (folder / "spm.model").read_bytes()
    (folder / "spm.model").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="spm.model is not a readable SentencePiece model"):
        tokenizer_from_slow_files(folder, "deberta-v2")
    (folder / "spm.model").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="it holds no pieces"):
        tokenizer_from_slow_files(folder, "deberta-v2")
    piece = b"\x0a\x01a" + b"\x1a\x01x"  # text "a", then its kind (field 3) written as bytes, not a number
    (folder / "spm.model").write_bytes(b"\x0a" + bytes([len(piece)]) + piece)
    with pytest.raises(ModelLoadError, match="a field holds bytes where a number belongs"):
        tokenizer_from_slow_files(folder, "deberta-v2")
    (folder / "spm.model").unlink()
    spm_folder(folder, "spm.model", _DEBERTA_V3, model_type="bpe")
    with pytest.raises(ModelLoadError, match="spm.model is a BPE SentencePiece model; only unigram ones"):
        tokenizer_from_slow_files(folder, "deberta-v2")


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
    spm_folder(folder, "spm.model", _DEBERTA_V3)
    _with_settings(folder, {"do_lower_case": False, "vocab_type": "spm"})  # deberta-v3-base's own settings
    trace = load_model(str(folder), device="cpu").trace(FLUFFY)
    ids = AutoTokenizer.from_pretrained(str(folder))(FLUFFY)["input_ids"]
    assert trace.token_ids == ids and len(ids) > 5
    with torch.inference_mode():
        attentions = hf(torch.tensor([ids]), output_attentions=True).attentions
    for layer, expected in enumerate(attentions):
        got = torch.stack([trace.pattern(layer, head) for head in range(trace.n_heads)])
        assert (got - expected[0]).abs().max().item() <= 1e-4  # the patterns' tolerance in test_deberta.py


def test_a_damaged_sentencepiece_file_is_a_clear_error_or_a_model(tmp_path):
    """Bytes changed anywhere (a hostile or corrupt download): read_sentencepiece gives a model or ModelLoadError,
    never another exception."""
    import random

    path = spm_folder(tmp_path, "spm.model", _DEBERTA_V3) / "spm.model"
    data, rng, outcomes = path.read_bytes(), random.Random(0), set()
    for _ in range(300):
        damaged = bytearray(data if rng.random() < 0.5 else data[: rng.randrange(1, len(data))])
        for _ in range(rng.randrange(1, 4)):  # in the pieces and the trainer's settings, which come first
            damaged[rng.randrange(min(len(damaged), 2000))] = rng.randrange(256)
        path.write_bytes(bytes(damaged))
        try:
            read_sentencepiece(path)
            outcomes.add("read")
        except ModelLoadError as exc:
            assert "spm.model is not a readable SentencePiece model" in str(exc)
            outcomes.add("refused")
    assert outcomes == {"read", "refused"}


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"tokenizer_class": "BertTokenizer", "added_tokens_decoder": {"one": _added("[NEW]")}}, "wrong kind"),
        ({"tokenizer_class": "BertTokenizer", "added_tokens_decoder": ["[NEW]"]}, "wrong kind"),
        ({"tokenizer_class": "BertTokenizer", "cls_token": 7}, "neither a string nor a dict"),
        ({"tokenizer_class": "BertTokenizer", "additional_special_tokens": 5}, "wrong kind"),
    ],
)
def test_settings_of_the_wrong_kind_are_clear_errors(tmp_path, settings, said):
    with pytest.raises(ModelLoadError, match=said):
        tokenizer_from_slow_files(wordpiece_folder(tmp_path, settings), None)


def test_t5_settings_out_of_bounds_are_clear_errors(tmp_path):
    folder = spm_folder(tmp_path, "spiece.model", _T5)
    _with_settings(folder, {"tokenizer_class": "T5Tokenizer", "extra_ids": 10**9})  # not a memory budget
    with pytest.raises(ModelLoadError, match="extra_ids is 1000000000; T5's are 0 to 10000"):
        tokenizer_from_slow_files(folder, None)


def test_an_unreadable_normaliser_table_is_a_clear_error(tmp_path):
    piece, table = b"\x0a\x01a", b"\x12\x07garbage"  # one piece "a"; the normaliser's table (field 2): 7 bad bytes
    model = b"\x0a" + bytes([len(piece)]) + piece + b"\x1a" + bytes([len(table)]) + table
    (tmp_path / "spiece.model").write_bytes(model)
    with pytest.raises(ModelLoadError, match="spiece.model's normaliser table is not readable"):
        tokenizer_from_slow_files(tmp_path, "t5")
