"""M2M100's tokenizer, built as transformers' M2M100Tokenizer builds it from a folder's sentencepiece.bpe.model and
vocab.json (facebook/m2m100_418M, 1.2B, 12B, wmt21: none ships a tokenizer.json, and transformers has no fast class
that would write one).

The SentencePiece model splits the text into pieces; vocab.json, fairseq's dictionary, gives each piece its id (not
the SentencePiece file's). The language tokens __en__, __fr__, ... follow the dictionary, at len(vocab.json) + i in
fairseq's order of the folder's language_codes ("m2m100": 100 languages, "wmt21": 8). A text is framed as
__src__ text </s>, src_lang from tokenizer_config.json (English where unset); attention_core/languages.py swaps the
leading token for another language. A language token typed in the text is that token, as M2M100Tokenizer meant and
transformers 4's made it (5's no longer registers them, and spells a typed one out). Parity with transformers' class:
tests/engine/test_m2m100_tokenizer.py.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import AddedToken, Tokenizer, models, processors

from ..errors import ModelLoadError
from .json_file import read_json
from .sentencepiece_model import BPE, NORMAL, UNIGRAM, read_sentencepiece
from .sentencepiece_tokenizers import bpe_merges, normalised_words

SPM_FILE, VOCAB_FILE = "sentencepiece.bpe.model", "vocab.json"
FILES = (VOCAB_FILE, SPM_FILE)
NAMED = {"bos_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"}
# fairseq's language lists, in the order that gives each language token its id
LANGUAGE_CODES = {
    "m2m100": (
        "af am ar ast az ba be bg bn br bs ca ceb cs cy da de el en es et fa ff fi fr fy ga gd gl gu ha he hi hr ht hu "
        "hy id ig ilo is it ja jv ka kk km kn ko lb lg ln lo lt lv mg mk ml mn mr ms my ne nl no ns oc or pa pl ps pt "
        "ro ru sd si sk sl so sq sr ss su sv sw ta th tl tn tr uk ur uz vi wo xh yi yo zh zu"
    ).split(),
    "wmt21": "en ha is ja cs ru zh de".split(),
}


def m2m100_tokenizer(folder: Path, settings: dict) -> Tokenizer:
    """The folder's M2M100Tokenizer: pieces by its SentencePiece model, ids by its vocab.json, its languages' tokens
    after them, each text framed as __src_lang__ text </s>."""
    spm = read_sentencepiece(folder / SPM_FILE)
    ids = read_json(folder / VOCAB_FILE)
    names = {key: str(settings.get(key) or default) for key, default in NAMED.items()}
    _check_vocabulary(folder.name, ids, [p.text for p in spm.pieces if p.kind == NORMAL], names)
    if spm.model_type == UNIGRAM:  # a Unigram's ids are its list's positions: the dictionary's order, the file's scores
        scores = {p.text: p.score for p in spm.pieces}
        ordered = sorted(ids, key=ids.__getitem__)
        model = models.Unigram([(t, scores.get(t, 0.0)) for t in ordered], ids[names["unk_token"]], False)
    elif spm.model_type == BPE:  # merges ranked by the file's order of pieces, whatever ids the dictionary gives
        ranks = {p.text: i for i, p in enumerate(spm.pieces)}
        model = models.BPE(ids, bpe_merges(ranks), unk_token=names["unk_token"], fuse_unk=True)
    else:
        raise ModelLoadError(f"{folder.name}/{SPM_FILE} is neither a unigram nor a BPE SentencePiece model.")
    unreadable = f"{SPM_FILE}'s normaliser table is not readable"
    tokenizer = normalised_words(Tokenizer(model), spm.precompiled_charsmap, unreadable, "always")
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in names.values()])
    codes = LANGUAGE_CODES.get(str(settings.get("language_codes") or "m2m100"))
    if codes is None:
        raise ModelLoadError(f"{folder.name}: language_codes {settings['language_codes']!r} is not one of "
                             f"{', '.join(LANGUAGE_CODES)}.")  # fmt: skip
    tokenizer.add_special_tokens([AddedToken(f"__{c}__", special=True, normalized=False) for c in codes])
    source = f"__{settings.get('src_lang') or 'en'}__"
    if tokenizer.token_to_id(source) is None:
        raise ModelLoadError(f"{folder.name}: src_lang {settings['src_lang']!r} is not one of its languages.")
    eos = names["eos_token"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{source}:0 $A:0 {eos}:0", pair=f"{source}:0 $A:0 $B:1 {eos}:1",
        special_tokens=[(source, tokenizer.token_to_id(source)), (eos, ids[eos])],
    )  # fmt: skip
    return tokenizer


def _check_vocabulary(folder: str, ids: dict, pieces: list[str], names: dict[str, str]) -> None:
    """Refuse a vocab.json whose ids are not 0 … n − 1, that lacks a named token, or lacks pieces the SentencePiece
    model writes (M2M100Tokenizer reads those as <unk>, which a tokenizer built here could not do)."""
    if not isinstance(ids, dict) or sorted(ids.values()) != list(range(len(ids))):
        raise ModelLoadError(f"{folder}/{VOCAB_FILE} does not give its tokens the ids 0 to {len(ids) - 1}, one each.")
    if absent := [t for t in names.values() if t not in ids]:
        raise ModelLoadError(f"{folder}/{VOCAB_FILE} lacks {', '.join(absent)}.")
    if absent := [p for p in pieces if p not in ids]:
        raise ModelLoadError(
            f"{folder}/{VOCAB_FILE} lacks {len(absent)} of the pieces its {SPM_FILE} writes ({absent[0]!r}, ...), "
            "which M2M100Tokenizer reads as <unk>; that is not built here."
        )
