"""A tokenizer for a folder that has no tokenizer.json, only a "slow" tokenizer's files, built as transformers'
tokenizer class for that folder builds it: WordPiece from vocab.txt (BERT, DistilBERT, ELECTRA, MPNet), byte-level
BPE from vocab.json + merges.txt (GPT-2, OPT, RoBERTa, BART, DeBERTa v1) and a SentencePiece model: a unigram one
from spm.model (DeBERTa-v2/v3), spiece.model (T5) or sentencepiece.bpe.model (XLM-R, whose ids are fairseq's), or
Llama's BPE from tokenizer.model, read by sentencepiece_model.py and built by sentencepiece_tokenizers.py.

Many fine-tuned checkpoints on the hub were saved that way, and DeBERTa-v3's own repositories. Parity with
transformers' class for each folder: tests/engine/test_slow_tokenizer.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from ..errors import ModelLoadError
from .byt5_tokenizer import byt5_tokenizer
from .esm_tokenizer import esm_tokenizer
from .json_file import read_json
from .m2m100_tokenizer import FILES as M2M100_FILES
from .m2m100_tokenizer import m2m100_tokenizer
from .sentencepiece_model import read_sentencepiece
from .sentencepiece_tokenizers import sentencepiece_tokenizer, spm_added_tokens, t5_sentinels

LEGACY_EXTRA = "special_tokens_map_extra_"
NAMED_SPECIAL = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
_BERT = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}
_ROBERTA = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>", "unk_token": "<unk>",
            "pad_token": "<pad>", "mask_token": "<mask>"}  # fmt: skip


@dataclass(frozen=True)
class TokenizerClass:
    """What one of transformers' tokenizer classes builds: its vocabulary's kind and file(s), its default special
    tokens and how it frames a text ("bert": [CLS] text [SEP]; "deberta": the same, a pair as [CLS] A [SEP] [SEP] B
    [SEP] in segment 0, as transformers' DeBERTa (v1) class frames it; "roberta": <s> text </s>; "bos": a BOS and an EOS
    where tokenizer_config.json asks for them, as GPT-2 and Llama; "t5": text </s>; "bos_eos": <s> text </s> by the
    bos and eos tokens, as XLM-R)."""

    vocabulary: str  # "wordpiece", "byte_bpe", "sentencepiece" (a SentencePiece model file) or "m2m100" (one and
    # vocab.json)
    files: tuple[str, ...]
    special: dict[str, str]
    framing: str
    mask_lstrip: bool = False  # MPNet's <mask> swallows the space before it


_WORDPIECE, _BYTE_BPE = ("wordpiece", ("vocab.txt",)), ("byte_bpe", ("vocab.json", "merges.txt"))
_GPT2 = TokenizerClass(*_BYTE_BPE, {k: "<|endoftext|>" for k in ("unk_token", "bos_token", "eos_token")}, "bos")
_DEBERTA = {**_BERT, "bos_token": "[CLS]", "eos_token": "[SEP]"}
CLASSES = {
    "BertTokenizer": TokenizerClass(*_WORDPIECE, _BERT, "bert"),
    "DistilBertTokenizer": TokenizerClass(*_WORDPIECE, _BERT, "bert"),
    "ElectraTokenizer": TokenizerClass(*_WORDPIECE, _BERT, "bert"),
    "MPNetTokenizer": TokenizerClass(*_WORDPIECE, {**_ROBERTA, "unk_token": "[UNK]"}, "roberta", mask_lstrip=True),
    "GPT2Tokenizer": _GPT2,
    "CodeGenTokenizer": _GPT2,  # GPT-2's byte-level BPE under CodeGen's name
    "RobertaTokenizer": TokenizerClass(*_BYTE_BPE, _ROBERTA, "roberta"),
    "BartTokenizer": TokenizerClass(*_BYTE_BPE, _ROBERTA, "roberta"),
    "DebertaTokenizer": TokenizerClass(*_BYTE_BPE, _DEBERTA, "deberta"),
    "DebertaV2Tokenizer": TokenizerClass("sentencepiece", ("spm.model",), _DEBERTA, "bert"),
    "T5Tokenizer": TokenizerClass("sentencepiece", ("spiece.model",),
                                  {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}, "t5"),
    "XLMRobertaTokenizer": TokenizerClass("sentencepiece", ("sentencepiece.bpe.model",), _ROBERTA, "bos_eos"),
    "M2M100Tokenizer": TokenizerClass("m2m100", M2M100_FILES, {}, "m2m100"),  # its own builder: m2m100_tokenizer.py
    "LlamaTokenizer": TokenizerClass("sentencepiece", ("tokenizer.model",),
                                     {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}, "bos"),
}  # fmt: skip
SLOW_FILES = ("vocab.txt", "vocab.json", "merges.txt", "spm.model", "spiece.model", "sentencepiece.bpe.model",
              "tokenizer.model")  # fmt: skip
# The class AutoTokenizer picks from config.json's model_type when tokenizer_config.json names none.
BY_MODEL_TYPE = {"bert": "BertTokenizer", "distilbert": "DistilBertTokenizer", "electra": "ElectraTokenizer",
                 "mpnet": "MPNetTokenizer", "gpt2": "GPT2Tokenizer", "opt": "GPT2Tokenizer",
                 "codegen": "CodeGenTokenizer", "roberta": "RobertaTokenizer", "bart": "BartTokenizer",
                 "deberta": "DebertaTokenizer", "deberta-v2": "DebertaV2Tokenizer", "t5": "T5Tokenizer",
                 "mt5": "T5Tokenizer", "xlm-roberta": "XLMRobertaTokenizer", "m2m_100": "M2M100Tokenizer",
                 "esm": "EsmTokenizer"}  # fmt: skip
# (not "llama": transformers then builds a generic tokenizer from tokenizer.model, not LlamaTokenizer; Llama folders
# name their class in tokenizer_config.json)


def tokenizer_from_slow_files(folder: Path, model_type: str | None) -> Tokenizer | None:
    """The folder's tokenizer from vocab.txt, vocab.json + merges.txt or a SentencePiece model; None when it has none
    of them."""
    present = {name for name in SLOW_FILES if (folder / name).is_file()}
    settings = read_json(folder / "tokenizer_config.json", optional=True)
    name = str(settings.get("tokenizer_class") or BY_MODEL_TYPE.get(model_type or "", "")).removesuffix("Fast")
    if name == "ByT5Tokenizer":  # bytes: no vocabulary file to read
        return byt5_tokenizer(settings)
    if not present:
        return None
    if name == "EsmTokenizer" and "vocab.txt" in present:  # one token per amino acid: its own builder
        return esm_tokenizer(folder, settings)
    kind = CLASSES.get(name)
    if kind is None:
        raise ModelLoadError(
            f"{folder.name} has no tokenizer.json, and its tokenizer class {name or '(not named)'} is not one built "
            f"here from slow files (those are {', '.join(sorted(CLASSES))}). With transformers installed, "
            "AutoTokenizer.from_pretrained(folder).save_pretrained(folder) writes a tokenizer.json."
        )
    if missing := [f for f in kind.files if f not in present]:
        raise ModelLoadError(f"{folder.name}: a {name} needs {' and '.join(missing)}, which the folder does not have.")
    try:
        return _build(folder, kind, settings)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:  # a setting or entry of the wrong kind
        raise ModelLoadError(f"{folder.name}: its tokenizer files hold something of the wrong kind: {exc!r}") from exc


def _build(folder: Path, kind: TokenizerClass, settings: dict) -> Tokenizer:
    if kind.vocabulary == "m2m100":  # pieces by a SentencePiece model, ids by fairseq's dictionary, languages after
        return m2m100_tokenizer(folder, settings)
    if kind.vocabulary == "sentencepiece":
        pieces = read_sentencepiece(folder / kind.files[0])
        special = _special_tokens(folder, settings, kind, spm_added_tokens(pieces))
        names = {key: token.content for key, token in special.items()}
        tokenizer = sentencepiece_tokenizer(pieces, kind.files[0], kind.framing, settings, names)
    else:
        special = _special_tokens(folder, settings, kind, [])
        build = _wordpiece if kind.vocabulary == "wordpiece" else _byte_bpe
        tokenizer = build(folder, settings, special)
    _add_tokens(tokenizer, folder, settings, special)
    tokenizer.post_processor = _framing(tokenizer, kind, special, settings)
    return tokenizer


def _special_tokens(
    folder: Path, settings: dict, kind: TokenizerClass, extras: list[AddedToken]
) -> dict[str, AddedToken]:
    """Each named special token (cls_token, …): the class's default, then tokenizer_config.json's, then (in a
    folder saved before added_tokens_decoder existed) special_tokens_map.json's, as transformers reads them."""
    found: dict[str, object] = dict(kind.special)
    found.update({key: settings[key] for key in NAMED_SPECIAL if settings.get(key) is not None})
    legacy = {} if "added_tokens_decoder" in settings else read_json(folder / "special_tokens_map.json", optional=True)
    found.update({key: legacy[key] for key in NAMED_SPECIAL if legacy.get(key) is not None})
    # Added in transformers' order of the names (bos, eos, unk, sep, pad, cls, mask): a token new to the vocabulary
    # takes the next id, so the order decides its id.
    out = {key: _added_token(found[key], special=True) for key in NAMED_SPECIAL if key in found}
    for token in out.values():
        token.special = True  # even where a dict says otherwise, as transformers makes them
    if kind.mask_lstrip and isinstance(found.get("mask_token"), str):
        out["mask_token"] = AddedToken(str(found["mask_token"]), lstrip=True, special=True, normalized=False)
    # The extra special tokens tokenizer_config.json lists or, when it lists none, those of the SentencePiece model
    extras = [_added_token(token, special=True) for token in _extra_special(settings)] or extras
    if kind.framing == "t5" and not any(t.content.startswith("<extra_id_") for t in extras):
        extras = [*extras, *(AddedToken(s, special=True, normalized=False) for s in t5_sentinels(settings))]
    out.update({f"extra_{i}": token for i, token in enumerate(extras)})
    # (special_tokens_map.json's extra tokens are special but, as in transformers, do not make an added_tokens.json
    # entry special: _add_tokens)
    out.update({f"{LEGACY_EXTRA}{i}": _added_token(t, special=True) for i, t in enumerate(_extra_special(legacy))})
    return out


def _extra_special(settings: dict) -> list:
    """The special tokens beyond the named ones (extra_special_tokens, formerly additional_special_tokens)."""
    found = settings.get("extra_special_tokens") or settings.get("additional_special_tokens") or []
    return list(found.values()) if isinstance(found, dict) else list(found)


def _added_token(value: object, special: bool) -> AddedToken:
    """A token as tokenizer_config.json writes it: a string, or a dict with its content and flags."""
    if isinstance(value, str):
        return AddedToken(value, special=special, normalized=not special)
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        flags = {k: bool(value[k]) for k in ("single_word", "lstrip", "rstrip", "normalized") if k in value}
        return AddedToken(value["content"], special=bool(value.get("special", special)), **flags)
    raise ModelLoadError(f"tokenizer_config.json has a token that is neither a string nor a dict: {value!r}")


def _wordpiece(folder: Path, settings: dict, special: dict[str, AddedToken]) -> Tokenizer:
    # vocab.txt: one token per line, its id the line's number (a repeated token keeps its last line, as
    # transformers' reader does).
    lines = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")
    vocab = {token: i for i, token in enumerate(lines[:-1] if lines and lines[-1] == "" else lines)}
    if not vocab:
        raise ModelLoadError(f"{folder.name}/vocab.txt holds no tokens.")
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token=special["unk_token"].content))
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=bool(settings.get("tokenize_chinese_chars", True)),
        strip_accents=settings.get("strip_accents"),
        lowercase=bool(settings.get("do_lower_case", True)),
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    return tokenizer


def _byte_bpe(folder: Path, settings: dict, special: dict[str, AddedToken]) -> Tokenizer:
    vocab = read_json(folder / "vocab.json")
    if not vocab:
        raise ModelLoadError(f"{folder.name}/vocab.json holds no tokens.")
    merges = []
    for number, line in enumerate((folder / "merges.txt").read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip() or (number == 1 and line.startswith("#version")):
            continue
        pair = line.split(" ")
        if len(pair) != 2:
            raise ModelLoadError(f"{folder.name}/merges.txt line {number} is not two tokens: {line[:80]!r}")
        merges.append((pair[0], pair[1]))
    try:
        bpe = models.BPE(vocab, merges, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False)
    except Exception as exc:  # a merge of tokens the vocabulary lacks
        raise ModelLoadError(f"{folder.name}: vocab.json and merges.txt do not fit together: {exc}") from exc
    tokenizer = Tokenizer(bpe)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=bool(settings.get("add_prefix_space", False)))
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def _add_tokens(tokenizer: Tokenizer, folder: Path, settings: dict, special: dict[str, AddedToken]) -> None:
    """The folder's added tokens (tokenizer_config.json's added_tokens_decoder, or an older folder's
    added_tokens.json) in id order, then any named special token not among them. A token the vocabulary already
    has keeps its id; a new one takes the next, which must be the id the folder gives it."""
    by_id: dict[int, AddedToken] = {}
    if "added_tokens_decoder" in settings:
        by_id = {int(i): _added_token(v, special=False) for i, v in dict(settings["added_tokens_decoder"]).items()}
    else:
        names = {t.content for key, t in special.items() if not key.startswith(LEGACY_EXTRA)}
        legacy = read_json(folder / "added_tokens.json", optional=True)
        by_id = {int(i): _added_token(t, special=t in names) for t, i in legacy.items()}
    listed = {t.content for t in by_id.values()}
    for token_id, token in sorted(by_id.items()):
        tokenizer.add_tokens([token])
        if tokenizer.token_to_id(token.content) != token_id:
            raise ModelLoadError(
                f"{folder.name}: the added token {token.content!r} is given id {token_id}, but the vocabulary of "
                f"{tokenizer.get_vocab_size()} tokens puts it at {tokenizer.token_to_id(token.content)}."
            )
    tokenizer.add_tokens([t for t in _unique(special.values()) if t.content not in listed])


def _unique(tokens) -> list[AddedToken]:
    seen: dict[str, AddedToken] = {}
    for token in tokens:
        seen.setdefault(token.content, token)
    return list(seen.values())


def _framing(tokenizer: Tokenizer, kind: TokenizerClass, special: dict[str, AddedToken], settings: dict):
    """The special tokens around a text: [CLS] text [SEP] (BERT, DeBERTa), <s> text </s> (RoBERTa, BART, MPNet) or,
    for GPT-2, a BOS only when tokenizer_config.json asks for one (add_bos_token)."""
    ids = {key: (token.content, tokenizer.token_to_id(token.content)) for key, token in special.items()}
    if kind.framing in ("bert", "deberta"):
        (cls, cls_id), (sep, sep_id) = ids["cls_token"], ids["sep_token"]
        second = f"$B:1 {sep}:1" if kind.framing == "bert" else f"{sep}:0 $B:0 {sep}:0"
        return processors.TemplateProcessing(
            single=f"{cls}:0 $A:0 {sep}:0", pair=f"{cls}:0 $A:0 {sep}:0 {second}",
            special_tokens=[(cls, cls_id), (sep, sep_id)],
        )  # fmt: skip
    if kind.framing == "bos_eos":  # XLM-R: <s> text </s>, by the bos and eos tokens' names
        (bos, bos_id), (eos, eos_id) = ids["bos_token"], ids["eos_token"]
        return processors.TemplateProcessing(
            single=f"{bos}:0 $A:0 {eos}:0", pair=f"{bos}:0 $A:0 {eos}:0 {eos}:0 $B:1 {eos}:1",
            special_tokens=[(bos, bos_id), (eos, eos_id)],
        )  # fmt: skip
    if kind.framing == "t5":  # "</s>" by name, whatever eos_token is called, as transformers' T5 class writes it
        return processors.TemplateProcessing(
            single="$A:0 </s>:0", pair="$A:0 </s>:0 $B:1 </s>:1", special_tokens=[("</s>", ids["eos_token"][1])]
        )
    if kind.framing == "roberta":
        add_prefix_space = bool(settings.get("add_prefix_space", False)) and kind.vocabulary == "byte_bpe"
        trim_offsets = bool(settings.get("trim_offsets", True))
        return processors.RobertaProcessing(ids["sep_token"], ids["cls_token"], trim_offsets, add_prefix_space)
    add_bos, add_eos = bool(settings.get("add_bos_token", False)), bool(settings.get("add_eos_token", False))
    (bos, bos_id), (eos, eos_id) = ids["bos_token"], ids["eos_token"]
    single = " ".join([f"{bos}:0"] * add_bos + ["$A:0"] + [f"{eos}:0"] * add_eos)
    pair = " ".join([single] + [f"{bos}:1"] * add_bos + ["$B:1"] + [f"{eos}:1"] * add_eos)
    used = dict([(bos, bos_id)] * add_bos + [(eos, eos_id)] * add_eos)  # GPT-2's BOS and EOS are one token
    return processors.TemplateProcessing(single=single, pair=pair, special_tokens=list(used.items()))
