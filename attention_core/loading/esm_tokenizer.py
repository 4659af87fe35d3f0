"""ESM's tokenizer (facebook/esm2_* and esm1b: protein sequences), built as transformers' EsmTokenizer builds it from
the folder's vocab.txt; ESM's folders ship no tokenizer.json.

Every line of vocab.txt is a token, its id the line's number: the specials (<cls>, <pad>, <eos>, <unk>, <mask>, ...)
and one token per amino-acid letter. Each of them is split out of the text wherever it stands (EsmTokenizer holds them
all as tokens never split), so "MKTAY" is five tokens; what lies between them is split at whitespace, and each such
piece is one <unk> (a lowercase run, a digit). A text is framed as <cls> text <eos>. Parity with transformers' class:
tests/engine/test_esm.py.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, processors

from ..errors import ModelLoadError

SPECIAL = {"unk_token": "<unk>", "cls_token": "<cls>", "pad_token": "<pad>", "mask_token": "<mask>",
           "eos_token": "<eos>"}  # fmt: skip  (EsmTokenizer's defaults)


def esm_tokenizer(folder: Path, settings: dict) -> Tokenizer:
    """EsmTokenizer's ids from vocab.txt; every text framed as <cls> text <eos>."""
    tokens = [line.strip() for line in (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()]
    vocab = {token: i for i, token in enumerate(tokens)}
    special = {key: str(settings.get(key) or default) for key, default in SPECIAL.items()}
    if missing := [token for token in special.values() if token not in vocab]:
        raise ModelLoadError(f"{folder.name}: vocab.txt lacks ESM's {', '.join(missing)}.")
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=special["unk_token"]))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    named = set(special.values())
    tokenizer.add_tokens([AddedToken(t, normalized=False) for t in vocab if t and t not in named])
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in named])
    cls, eos = special["cls_token"], special["eos_token"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{cls}:0 $A:0 {eos}:0", pair=f"{cls}:0 $A:0 {eos}:0 $B:1 {eos}:1",
        special_tokens=[(cls, vocab[cls]), (eos, vocab[eos])],
    )  # fmt: skip
    return tokenizer
