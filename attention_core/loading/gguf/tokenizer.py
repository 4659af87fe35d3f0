"""The GGUF's tokenizer (tokenizer.ggml.* metadata) → a `tokenizers.Tokenizer`, built the way transformers
builds it from the same file (our parity reference; it follows llama.cpp's conventions):

- 'gpt2': byte-level BPE; text is split by the regexes of the model's own pre-tokenizer (tokenizer.ggml.pre:
  Llama 3's, Qwen's, Tekken's, GPT-4o's, digits one by one; `SPLITS`), else GPT-2's.
- 'bert': WordPiece, its vocabulary read back from llama.cpp's '▁' spelling (below), [CLS] text [SEP].
- 'llama': SentencePiece BPE with byte fallback; merges from the file, or rebuilt from the vocabulary ranked
  by score (Gemma: by file order, its scores do not follow its merges). Spaces become '▁'; a leading '▁'
  is added (Llama, Mistral; Phi-3 by a normalizer) except for Gemma.
- 't5': a SentencePiece unigram model (XLM-RoBERTa's, in bge-m3, multilingual-e5, snowflake-arctic-embed2): the
  scores as log-probabilities, the file's own normaliser table (precompiled_charsmap), words split at whitespace,
  each with a '▁' before it, as the original tokenizer (XLM-R's, T5's) splits text.
Control tokens are special, user-defined ones are kept whole; BOS is prepended and EOS appended where the file
says so (tokenizer.ggml.add_bos_token, add_eos_token; 'llama' vocabularies without the BOS flag add it, as
llama.cpp does; 't5' ones add EOS alone unless the file says otherwise, as llama.cpp does).
tokenizer.ggml.add_space_prefix is read for 't5' alone: transformers ignores it for the others (the '▁' prefix
goes by architecture, as above), though llama.cpp honours it.
"""

from __future__ import annotations

import re

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from ...errors import ModelLoadError
from ..sentencepiece_tokenizers import normalised_words, t5_sentinels
from .reader import Meta

# GGUF token types (gguf.TokenType): CONTROL tokens are the special ones (<|im_start|>, ...).
_UNKNOWN, _CONTROL, _USER_DEFINED = 2, 3, 4
SPACE = "\u2581"  # SentencePiece's '▁'

# The models' own split regexes, as their tokenizer.json files write them. A value names the regexes applied in
# turn (each splits the pieces the one before left); ByteLevel then maps bytes to the vocabulary's characters.
_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_LLAMA3 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2 = _LLAMA3.replace(r"\p{N}{1,3}", r"\p{N}")  # digits one by one
_QWEN35 = (  # Qwen 3.5: combining marks stay with their letters
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"
    r"| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_UPPER, _LOWER = r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"
_TEKKEN = (  # Mistral's Tekken: a word breaks where lower case turns upper
    rf"[^\r\n\p{{L}}\p{{N}}]?{_UPPER}*{_LOWER}+|[^\r\n\p{{L}}\p{{N}}]?{_UPPER}+{_LOWER}*"
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_CONTRACTION = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
_O200K = (  # GPT-4o's: Tekken's words keep a contraction, digits in threes
    rf"[^\r\n\p{{L}}\p{{N}}]?{_UPPER}*{_LOWER}+{_CONTRACTION}|[^\r\n\p{{L}}\p{{N}}]?{_UPPER}+{_LOWER}*{_CONTRACTION}"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


_GPT2_CORE = _GPT2.removesuffix(r"|\s+")  # llama.cpp's GPT-2 regex: the same pieces (an unmatched gap is a piece too)
_FALCON = (r"[\p{P}\$\+<=>\^~\|`]+", _GPT2_CORE, r"[0-9][0-9][0-9]")  # punctuation runs, GPT-2's, then digit triples
_BLOOM = r" ?[^(\s|.,!?…。，、।۔،)]+"  # BLOOM's: a word and its space, up to a space or a stop (brackets, bar too)
_SEED_CODER = _QWEN2.replace(r" ?[^\s\p{L}\p{N}]+[\r\n]*", r" ?[^\s\p{L}\p{N}\r\n]+")  # a line end is never glued on
_DEEPSEEK_CODER = (r"[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", r"[一-龥ࠀ-一가-퟿]+", r"\p{N}")
# DeepSeek LLM's (and V2's): a word of the scripts in its letter class with one space before it, ASCII and full-width
# punctuation runs (its second range, : to ~, holds the ASCII letters as well), trailing spaces, CJK runs, digit runs
_DEEPSEEK_LETTERS = (  # cased letters by script; Greek Extended and the letterlike symbols as code points, since a
    # few of them (Ω, K, ΐ, ώ, …) would be rewritten to their canonical twins if typed, turning their ranges around
    "A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚ"
    "\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d"
    "\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec"
    "\u1ff2-\u1ff4\u1ff6-\u1ffc"
    "\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"
    "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184"
    "Ⰰ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ"
    "\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2"
    "\U000118a0-\U000118df\U0001e900-\U0001e943"
)
_DEEPSEEK_LLM = (r"[\r\n]", rf"\s?[{_DEEPSEEK_LETTERS}]+", r"\s?[!-/:-~！-／：-～‘-‟　-。]+", r"\s+$",
                 r"[一-龥ࠀ-一가-퟿]+", r"\p{N}+")  # fmt: skip
# DeepSeek-V3's: digits in threes, CJK and kana runs, then one regex in which an ASCII punctuation mark takes the ASCII
# word after it ('s, .com), a word takes one non-letter before it, and punctuation runs take their line ends
_DEEPSEEK_V3 = (
    r"\p{N}{1,3}", r"[一-龥぀-ゟ゠-ヿ]+",
    r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+",
)  # fmt: skip


def _named(names: str, regexes: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return dict.fromkeys(names.split(), regexes)


# tokenizer.ggml.pre → regexes. The values transformers' GGUF loader knows (our parity reference), then values
# only llama.cpp knows, split as llama.cpp splits them (tests/engine/test_gguf_split_regexes.py holds both). Any
# other value splits as GPT-2 does, as in transformers (llama.cpp logs it and uses its own 'default' regexes).
_LLAMA3_NAMES = "llama3 llama-v3 llama-bpe falcon3 falcon-h1 pixtral midm-2.0 lfm2"  # llama.cpp's LLAMA3 type
SPLITS = {
    **_named(f"{_LLAMA3_NAMES} jina-v5-nano dbrx smaug-bpe", (_LLAMA3,)),
    **_named("qwen2 deepseek-r1-qwen kormo f2llmv2 megrez", (_QWEN2,)),
    "qwen35": (_QWEN35,),
    "tekken": (_TEKKEN,),
    **_named("gpt-4o llama4 kanana2 talkie minimax-m2", (_O200K,)),
    # llama.cpp only:
    **_named("glm4 chatglm-bpe", (_LLAMA3,)),
    **_named("stablelm2 hunyuan grok-2", (_QWEN2,)),
    **_named("starcoder refact command-r smollm codeshell exaone minerva-7b", (r"\p{N}", _GPT2)),
    "falcon": _FALCON,
    **_named("bloom gpt3-finnish poro-chat", (_BLOOM,)),
    "viking": (_BLOOM, r"\p{N}"),
    "deepseek-coder": _DEEPSEEK_CODER,
    "deepseek-llm": _DEEPSEEK_LLM,
    **_named("deepseek-v3 hunyuan-dense", _DEEPSEEK_V3),
    "seed-coder": (_SEED_CODER,),
}
# Values llama.cpp splits with GPT-2's own regex (its GPT2 type), as we do for them (transformers knows none of them
# and falls back to GPT-2's): they need no note.
GPT2_NAMES = frozenset(
    "gpt-2 phi-2 jina-es jina-de jina-v1-en jina-v2-es jina-v2-de jina-v2-code gigachat roberta-bpe a.x-4.0 mellum "
    "modern-bert mpt olmo jais trillion granite-docling exaone4".split()
)
# Pre values whose models look a piece up whole before merging (Llama 3's and Tekken's tokenizer.json:
# "ignore_merges"; llama.cpp sets it for these values). transformers' GGUF loader does not: we follow the models.
WHOLE_PIECES_FIRST = frozenset(f"{_LLAMA3_NAMES} tekken".split())


# Architectures whose runtime splits with one pre value's regexes whatever the file says: Ollama's gptoss model
# splits with o200k's regex (its converter names known splits only, else 'default'); llama.cpp's gpt-oss files say
# 'gpt-4o'.
ARCH_SPLITS = {"gptoss": "gpt-4o", "gpt-oss": "gpt-4o"}


def _known(pre: str | None) -> bool:
    """Whether we split `pre` as its model does: its own regexes, or GPT-2's where that is the model's."""
    return pre is not None and (pre in SPLITS or pre in GPT2_NAMES)


def _pre(meta: Meta) -> str | None:
    """The tokenizer.ggml.pre value to split by: the file's, or its architecture's where the file names none we
    know."""
    pre = meta.key("tokenizer.ggml.pre", None)
    pre = None if pre is None else str(pre)
    return ARCH_SPLITS[meta.arch] if not _known(pre) and meta.arch in ARCH_SPLITS else pre


def split_note(meta: Meta) -> str:
    """What to tell the user when a byte-level vocabulary's split is one we do not know ('' otherwise): its text is
    then split as GPT-2's is, where the model's own tokenizer (and llama.cpp, with its 'default' regexes) may cut
    digits, punctuation or spaces otherwise, so a token boundary can differ from the model's own."""
    if meta.key("tokenizer.ggml.model") != "gpt2":
        return ""
    pre = _pre(meta)
    if _known(pre):
        return ""
    named = "does not name its split (no tokenizer.ggml.pre)" if pre is None else (
        f"names its split {str(pre)!r} (tokenizer.ggml.pre), which this tool does not know"
    )
    return (
        f"This GGUF's tokenizer {named}: its text is split into words as GPT-2's is, as transformers reads such a "
        "file. The model's own tokenizer may cut digits, punctuation or spaces otherwise, so a few token "
        "boundaries can differ from what the model saw in training."
    )


def tokenizer_from_gguf(meta: Meta) -> Tokenizer:
    kind = meta.key("tokenizer.ggml.model")
    if kind == "gpt2":
        tokenizer = _byte_level(meta)
    elif kind == "llama":
        tokenizer = _sentencepiece(meta)
    elif kind == "bert":
        tokenizer = _wordpiece(meta)
    elif kind == "t5":
        tokenizer = _unigram(meta)
    else:
        raise ModelLoadError(
            f"GGUF tokenizer model {kind!r} is not supported; supported: 'gpt2' (byte-level BPE), 'llama' "
            "(SentencePiece BPE), 'bert' (WordPiece) and 't5' (SentencePiece unigram)."
        )
    tokens = [str(t) for t in meta.key("tokenizer.ggml.tokens")]
    types = per_token(meta, "tokenizer.ggml.token_type", "types", len(tokens), [1] * len(tokens))
    special = (_CONTROL, _UNKNOWN) if kind == "t5" else (_CONTROL,)  # XLM-R's and T5's <unk> is typed whole
    tokenizer.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t, k in zip(tokens, types, strict=True) if k in special]
    )
    tokenizer.add_tokens(
        [
            AddedToken(t, special=False, normalized=False)
            for t, k in zip(tokens, types, strict=True)
            if k == _USER_DEFINED
        ]
    )
    framing = _framing(meta, tokens, kind)
    if framing is not None:
        tokenizer.post_processor = framing
    return tokenizer


NO_BOS_PRE = ("glm4", "chatglm-bpe")  # GLM-4's: its chat template writes [gMASK]<sop> first instead


# Encoders whose unigram ('t5') or byte-level BPE ('gpt2') vocabulary is XLM-R's or RoBERTa's: their pair template is
# RoBERTa's (bge-m3 and bge-reranker-v2-m3, multilingual-e5, granite-embedding, Jina Embeddings v3).
ROBERTA_PAIRS = ("bert", "jina-bert-v3")


def _framing(meta: Meta, tokens: list[str], kind: str) -> processors.TemplateProcessing | None:
    """BOS before and EOS after the text where tokenizer.ggml.add_bos_token / add_eos_token ask (add_bos_token
    defaults to true for 'llama' vocabularies, as in llama.cpp and transformers; a 'bert' one adds [CLS] and [SEP]
    unless the file says not, as llama.cpp's WordPiece does), framed as transformers frames them (a pair: BOS A EOS
    BOS B EOS; BERT's and ModernBERT's [CLS] A [SEP] B [SEP], B in segment 1; XLM-R's <s> A </s></s> B </s>). A
    flag whose token id is absent adds nothing (transformers); an id outside the vocabulary is refused (transformers
    cannot load the file; llama.cpp warns and falls back to its default id): a BOS past the vocabulary cannot be
    embedded, and generation stops at EOS."""
    bos = token_id(meta, "tokenizer.ggml.bos_token_id", len(tokens))
    if meta.key("tokenizer.ggml.pre", None) in NO_BOS_PRE:  # llama.cpp sets these vocabularies' BOS to none
        bos = None
    eos = token_id(meta, "tokenizer.ggml.eos_token_id", len(tokens))
    if kind == "bert":  # [CLS] text [SEP]: older files name them cls_token_id and seperator_token_id (sic)
        bos = bos if bos is not None else token_id(meta, "tokenizer.ggml.cls_token_id", len(tokens))
        sep = token_id(meta, "tokenizer.ggml.seperator_token_id", len(tokens))
        eos = sep if sep is not None else eos
    bos_default, eos_default = kind not in ("gpt2", "t5"), kind in ("bert", "t5")  # llama.cpp's, by vocabulary
    before = [bos] if bos is not None and bool(meta.key("tokenizer.ggml.add_bos_token", bos_default)) else []
    after = [eos] if eos is not None and bool(meta.key("tokenizer.ggml.add_eos_token", eos_default)) else []
    if not before and not after:
        return None
    single = [*(f"{tokens[i]}:0" for i in before), "$A:0", *(f"{tokens[i]}:0" for i in after)]  # lists: a token
    arch = meta.key("general.architecture", "")
    if kind == "bert" or arch == "modern-bert":  # [CLS] A [SEP] B [SEP]: no second [CLS]
        opens = []
    elif arch in ROBERTA_PAIRS:  # XLM-R's and RoBERTa's vocabularies on BERT's layers: <s> A </s></s> B </s>
        opens = after
    else:  # a decoder's (transformers' Llama class): BOS A EOS BOS B EOS
        opens = before
    second = [*(f"{tokens[i]}:1" for i in opens), "$B:1", *(f"{tokens[i]}:1" for i in after)]  # may hold a space
    return processors.TemplateProcessing(
        single=single, pair=single + second, special_tokens=[(tokens[i], i) for i in {*before, *after}]
    )


def per_token(meta: Meta, key: str, what: str, n_tokens: int, default: list | None = None) -> list:
    """A list with one entry per token (types, scores): a shorter one would pair entries with the wrong tokens.
    Without a default the key must be there."""
    values = meta.key(key) if default is None else meta.key(key, default)
    if not isinstance(values, list) or len(values) != n_tokens:
        size = len(values) if isinstance(values, list) else repr(values)
        raise ModelLoadError(f"{key} lists {size} {what} for {n_tokens} tokens.")
    return values


def token_id(meta: Meta, key: str, n_tokens: int) -> int | None:
    """A special token's id, which the tokenizer looks up in the vocabulary."""
    value = meta.maybe_int(key)
    if value is not None and not 0 <= value < n_tokens:
        raise ModelLoadError(f"{key} {value} is not a token id (the vocabulary has {n_tokens}).")
    return value


def _merges(meta: Meta) -> list[tuple[str, str]]:
    merges = [tuple(str(m).split(" ", 1)) for m in meta.key("tokenizer.ggml.merges")]
    for i, merge in enumerate(merges):
        if len(merge) != 2:  # the tokenizers library's own complaint is a paragraph about its Rust types
            raise ModelLoadError(f"tokenizer.ggml.merges entry {i} ({merge[0]!r}) is not two tokens separated by "
                                 "a space.")
    return merges


def _byte_level(meta: Meta) -> Tokenizer:
    tokens = [str(t) for t in meta.key("tokenizer.ggml.tokens")]
    merges = _merges(meta)
    vocab = {tok: i for i, tok in enumerate(tokens)}
    pre = _pre(meta) or "default"
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False,
                                     ignore_merges=pre in WHOLE_PIECES_FIRST))
    splits = SPLITS.get(pre)
    if splits is None:  # GPT-2's own regex
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [*(pre_tokenizers.Split(Regex(r), behavior="isolated") for r in splits),
             pre_tokenizers.ByteLevel(False, use_regex=False)]
        )
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def merges_from_scores(vocab: dict[str, int], scores: dict[str, float]) -> list[tuple[str, str]]:
    """SentencePiece keeps no merges: every split of a token into two tokens is one, best score first."""
    merges = []
    for token, score in scores.items():
        pairs = [(token[:i], token[i:]) for i in range(1, len(token)) if token[:i] in vocab and token[i:] in vocab]
        pairs.sort(key=lambda p: (vocab[p[0]], vocab[p[1]]))
        merges.extend((left, right, score) for left, right in pairs)
    merges.sort(key=lambda m: (m[2], len(m[0]), len(m[1])), reverse=True)
    return [(left, right) for left, right, _ in merges]


def _sentencepiece(meta: Meta) -> Tokenizer:
    tokens = [str(t) for t in meta.key("tokenizer.ggml.tokens")]
    gemma = meta.arch.startswith("gemma")
    if gemma:  # runs of spaces are stored as spaces, looked up as '▁'s; merge order is file order
        tokens = [SPACE * len(t) if " " in t and not t.strip() else t for t in tokens]
        scores = {t: -float(i) for i, t in enumerate(tokens)}
    else:
        scores = dict(zip(tokens, (float(s) for s in per_token(meta, "tokenizer.ggml.scores", "scores", len(tokens))),
                          strict=True))
    vocab = {t: i for i, t in enumerate(tokens)}
    if "tokenizer.ggml.merges" in meta.reader.fields:
        merges = _merges(meta)
    else:
        merges = merges_from_scores(vocab, scores)
    unk = token_id(meta, "tokenizer.ggml.unknown_token_id", len(tokens))
    unk_token = tokens[unk] if unk is not None else ("<unk>" if "<unk>" in vocab else None)
    tokenizer = Tokenizer(
        models.BPE(vocab=vocab, merges=merges, unk_token=unk_token, fuse_unk=True, byte_fallback=True)
    )
    steps = [decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    if gemma:
        tokenizer.normalizer = normalizers.Replace(" ", SPACE)
        tokenizer.pre_tokenizer = pre_tokenizers.Split(" ", behavior="merged_with_previous")
    elif meta.arch == "phi3":
        tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend(SPACE), normalizers.Replace(" ", SPACE)])
        steps.append(decoders.Strip(" ", 1, 0))
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SPACE, prepend_scheme="first", split=False)
        steps.append(decoders.Strip(" ", 1, 0))
    tokenizer.decoder = decoders.Sequence(steps)
    return tokenizer


def _unigram(meta: Meta) -> Tokenizer:
    """llama.cpp's 't5' vocabulary (its UGM tokenizer) as the original tokenizer.json reads it: a unigram model
    over the tokens and their scores, the file's normaliser table, words split at whitespace (runs of spaces count
    as one, as the table's and XLM-R's own steps have it) with a '▁' before each unless add_space_prefix is false.
    XLM-R's files hold the ids as the original's (fairseq's <s> <pad> </s> <unk> first); its converter writes the
    last, <mask>, as an unused [PAD…] token, so a typed <mask> is split into pieces, as llama.cpp splits it."""
    tokens = [str(t) for t in meta.key("tokenizer.ggml.tokens")]
    scores = [float(s) for s in per_token(meta, "tokenizer.ggml.scores", "scores", len(tokens))]
    sentinels = _t5_sentinels(tokens) if meta.arch in ("t5", "t5encoder") else []
    unk = token_id(meta, "tokenizer.ggml.unknown_token_id", len(tokens))
    unk = unk if unk is not None else 2  # llama.cpp's default for a 't5' vocabulary (T5's <unk>)
    tokenizer = Tokenizer(models.Unigram(list(zip(tokens, scores, strict=True)), unk, False))
    charsmap = bytes(int(b) & 0xFF for b in meta.key("tokenizer.ggml.precompiled_charsmap", None) or ())
    scheme = "always" if bool(meta.key("tokenizer.ggml.add_space_prefix", True)) else "never"
    normalised_words(tokenizer, charsmap, "tokenizer.ggml.precompiled_charsmap is not a readable normaliser table",
                     scheme)  # fmt: skip
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in sentinels])
    return tokenizer


def _t5_sentinels(tokens: list[str]) -> list[str]:
    """T5's blanks (<extra_id_0> …, t5_sentinels: 100 of them), which llama.cpp's converter writes as unused [PAD…]
    tokens after the pieces: the first 100 such are named back in place, the last <extra_id_0>, as transformers' T5
    tokenizer numbers them (and its GGUF reader renames them)."""
    names = t5_sentinels({})[::-1]  # <extra_id_99> … <extra_id_0>
    blanks = [i for i, t in enumerate(tokens) if re.fullmatch(r"\[PAD\d+\]", t)][: len(names)]
    for i, name in zip(blanks, names, strict=False):
        tokens[i] = name
    return [tokens[i] for i in blanks]


def _wordpiece(meta: Meta) -> Tokenizer:
    """llama.cpp's 'bert' vocabulary as BERT's WordPiece: its converter wrote each word-start token with a leading
    '▁' and each continuation without BERT's '##' (special tokens as they are), so '▁x' is read back as 'x' and a
    bare 'y' as '##y'. Text is lowercased whatever the model, as llama.cpp does (the file does not say whether the
    model was cased), and its accents are stripped, as an uncased BERT's own tokenizer does (llama.cpp keeps them as
    separate marks, which such a vocabulary spells as unknown pieces)."""
    tokens = [str(t) for t in meta.key("tokenizer.ggml.tokens")]
    types = per_token(meta, "tokenizer.ggml.token_type", "types", len(tokens), [1] * len(tokens))
    vocab: dict[str, int] = {}
    for i, (token, kind) in enumerate(zip(tokens, types, strict=True)):
        if token.startswith(SPACE):
            word = token[1:]
        elif kind in (_UNKNOWN, _CONTROL) or (token.startswith("[") and token.endswith("]")):
            word = token  # [CLS], [SEP], [UNK]; older converters kept every bracketed token as it was
        else:
            word = "##" + token
        vocab.setdefault(word, i)
    unk = token_id(meta, "tokenizer.ggml.unknown_token_id", len(tokens))
    unk_token = tokens[unk] if unk is not None else "[UNK]"
    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token=unk_token, max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer
