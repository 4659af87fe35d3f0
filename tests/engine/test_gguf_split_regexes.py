"""A byte-level GGUF vocabulary names how its text is split before the merges (tokenizer.ggml.pre): each model's
own regex. A wrong split gives other tokens for digits, case changes or contractions, so other numbers on every
page. Two references: transformers, for every value its GGUF loader knows (read from its own table, so a value it
learns later fails here until we know it too); llama.cpp, for values only it knows, written out below from its
pre-tokenizer table (src/llama-vocab.cpp: which regexes, in which order)."""

from __future__ import annotations

import pytest

from attention_core.loading.gguf.reader import Meta, read_gguf
from attention_core.loading.gguf.tokenizer import split_note, tokenizer_from_gguf
from tests.gguf_writer import write_tokenizer_only

transformers = pytest.importorskip("transformers")
mapping = pytest.importorskip("transformers.integrations.gguf.gguf_tokenizer_mapping")
pytestmark = pytest.mark.parity

# Digits in runs, case changes inside a word (o200k and Tekken split there), contractions in either case, a
# combining accent (Qwen 3.5 keeps marks with their letter), slashes and line ends, spaces before a digit.
TEXTS = [
    "In 2017, 12345 moles of ünïcödé 🙂 in 20172017",
    "HelloWorld isn't IT's, he'LL CamelCaseWord",
    "cafe\u0301 na\u0308ive a/b/c\n\n  x  1 22 333\r\n",
]


def _splits(tokenizer, text: str) -> list[str]:
    return [piece for piece, _ in tokenizer.pre_tokenizer.pre_tokenize_str(text)]


def _ours(tmp_path, pre: str):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = write_tokenizer_only(tmp_path / f"{pre}.gguf", "llama", "gpt2", pre)
    return tokenizer_from_gguf(Meta(read_gguf(path))), path


@pytest.mark.parametrize("pre", sorted(mapping.GGUF_PRE_TOKENIZER_SPLITS))
def test_every_split_transformers_knows_splits_and_tokenises_as_it_does(tmp_path, pre):
    ours, path = _ours(tmp_path, pre)
    reference = transformers.AutoTokenizer.from_pretrained(str(tmp_path), gguf_file=path.name)
    for text in TEXTS:
        assert _splits(ours, text) == _splits(reference.backend_tokenizer, text), (pre, text)
        assert ours.encode(text).ids == reference(text).input_ids, (pre, text)


# What llama.cpp does with values transformers' loader does not know (it splits them as GPT-2 does).
DIGITS_ONE_BY_ONE = ["starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"]
AS_LLAMA3 = ["glm4", "chatglm-bpe"]
AS_QWEN2 = ["stablelm2", "hunyuan", "grok-2"]


@pytest.mark.parametrize("pre", DIGITS_ONE_BY_ONE)
def test_digits_one_by_one_then_gpt2s_split(tmp_path, pre):
    """llama.cpp: first every digit alone, then GPT-2's regex (SmolLM's tokenizer.json: Digits(individual), then
    ByteLevel's regex); GPT-2's alone would keep ' 12345' whole."""
    ours, _ = _ours(tmp_path, pre)
    assert _splits(ours, "In 2017, it's 12") == ["In", "Ġ", "2", "0", "1", "7", ",", "Ġit", "'s", "Ġ", "1", "2"]


@pytest.mark.parametrize(("pre", "same_as"), [(p, "llama-bpe") for p in AS_LLAMA3] + [(p, "qwen2") for p in AS_QWEN2])
def test_values_llama_cpp_splits_as_llama3_or_qwen2(tmp_path, pre, same_as):
    ours, _ = _ours(tmp_path / "a", pre)
    model, _ = _ours(tmp_path / "b", same_as)
    for text in TEXTS:
        assert _splits(ours, text) == _splits(model, text), (pre, text)


# Values llama.cpp splits with several regexes in turn (or BLOOM's own), pieces written out from its rules:
# falcon: punctuation runs (\p{P} and $+<=>^~|`) first, then GPT-2's regex, then digits in threes; bloom (and
# gpt3-finnish, poro-chat): a word with its space up to a space, a bracket, a bar or a stop; viking: BLOOM's, then
# every digit alone; deepseek-coder: line ends, letters, punctuation, CJK runs, every digit alone; seed-coder: one
# regex, as Qwen 2's but punctuation never takes the line end after it; deepseek-llm and deepseek-v3: below.
WRITTEN_OUT = {
    "falcon": ("It's 12345 + x==y, ok",
               ["It", "'", "s", "Ġ", "123", "45", "Ġ", "+", "Ġx", "==", "y", ",", "Ġok"]),
    # the characters between two matches are one piece ("! (")
    "bloom": ("Hello, world! (a|b) x.y", ["Hello", ",", "Ġworld", "!Ġ(", "a", "|", "b", ")", "Ġx", ".", "y"]),
    "gpt3-finnish": ("it's abc123, ok", ["it's", "Ġabc123", ",", "Ġok"]),
    "poro-chat": ("it's abc123, ok", ["it's", "Ġabc123", ",", "Ġok"]),
    "viking": ("in 2017.", ["in", "Ġ", "2", "0", "1", "7", "."]),
    "seed-coder": ("x = 12;\n", ["x", "Ġ=", "Ġ", "1", "2", ";", "Ċ"]),  # Qwen 2's, but a line end stays apart
    "deepseek-coder": ("def f(x):\n  return 12",
                       ["def", "Ġf", "(", "x", "):", "Ċ", "Ġ", "Ġreturn", "Ġ", "1", "2"]),
    # deepseek-llm: line ends, a (Latin, Greek, Cyrillic, …) word with one space before, ASCII and full-width
    # punctuation runs (letters too: they lie in its ranges), trailing spaces, CJK runs, digit runs
    "deepseek-llm": ("In 2017, it's 12345 CamelCase", ["In", "Ġ", "2017", ",", "Ġit", "'", "s", "Ġ", "12345",
                                                        "ĠCamelCase"]),
    # deepseek-v3: digits in threes, CJK and kana runs, then one regex where punctuation takes the ASCII word after it
    "deepseek-v3": ("In 2017, it's 12345 CamelCase\n\n  x", ["In", "Ġ", "201", "7", ",", "Ġit", "'s", "Ġ", "123", "45",
                                                             "ĠCamelCase", "ĊĊ", "Ġ", "Ġx"]),
}
GPT2_LIKE = ["mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4"]  # llama.cpp's GPT-2 regex


@pytest.mark.parametrize("pre", sorted(WRITTEN_OUT))
def test_values_llama_cpp_splits_in_several_steps(tmp_path, pre):
    ours, _ = _ours(tmp_path, pre)
    gpt2, _ = _ours(tmp_path / "gpt2", "gpt-2")
    text, pieces = WRITTEN_OUT[pre]
    assert _splits(ours, text) == pieces
    assert _splits(gpt2, text) != pieces  # GPT-2's split (what an unknown value gets) would differ here


@pytest.mark.parametrize("pre", GPT2_LIKE)
def test_values_llama_cpp_splits_as_gpt2_say_nothing(tmp_path, pre):
    """OLMo's and EXAONE 4's files among them: split as GPT-2's, as before, and now without the note an unknown
    value gets (it said their split might differ from the model's own; it does not)."""
    ours, path = _ours(tmp_path / "a", pre)
    gpt2, _ = _ours(tmp_path / "b", "gpt-2")
    for text in TEXTS:
        assert _splits(ours, text) == _splits(gpt2, text), (pre, text)
    assert split_note(Meta(read_gguf(path))) == ""


def test_the_split_tables_differ_where_the_models_do(tmp_path):
    """The comparisons above can fail: on these texts every regex gives other pieces than GPT-2's."""
    gpt2, _ = _ours(tmp_path / "gpt2", "gpt-2")
    for pre in ["gpt-4o", "tekken", "qwen35", "llama-bpe", "qwen2", "smollm"]:
        ours, _ = _ours(tmp_path / pre, pre)
        assert any(_splits(ours, t) != _splits(gpt2, t) for t in TEXTS), pre


def test_an_unknown_value_splits_as_gpt2(tmp_path):
    """A value neither reference knows: GPT-2's split, as transformers' loader does (llama.cpp uses its own
    'default' regexes there and says so in its log)."""
    unknown, _ = _ours(tmp_path / "u", "some-future-model")
    gpt2, _ = _ours(tmp_path / "g", "gpt-2")
    for text in TEXTS:
        assert _splits(unknown, text) == _splits(gpt2, text)


@pytest.mark.real_model
def test_smollm2_splits_digits_off_a_run_of_spaces_as_its_own_tokenizer_does():
    """SmolLM2's file says 'smollm': digits one by one first, so '  22' keeps its two spaces as one piece ('ĠĠ'),
    as SmolLM2's tokenizer.json (Digits, then ByteLevel) and llama.cpp split it. transformers' GGUF loader does not
    know the value and splits as GPT-2 ('Ġ', 'Ġ22' → 'Ġ', 'Ġ', '2', '2'): here we follow the model, not it."""
    from attention_core.registry import resolve

    tokenizer = tokenizer_from_gguf(Meta(read_gguf(resolve("smollm2-135m").path)))
    assert tokenizer.encode("a  22", add_special_tokens=False).tokens == ["a", "ĠĠ", "2", "2"]


def _whole_word_vocabulary(tmp_path, pre: str):
    """Bytes, one merge ('Ġ z') and a token 'Ġzebra' that no merge makes: only a tokenizer that looks a piece
    up whole before merging can give it."""
    import gguf
    from tokenizers import pre_tokenizers

    tokens = [*pre_tokenizers.ByteLevel.alphabet(), "Ġz", "Ġzebra"]
    path = tmp_path / f"whole-{pre}.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types([1] * len(tokens))
    w.add_token_merges(["Ġ z"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return tokenizer_from_gguf(Meta(read_gguf(path)))


@pytest.mark.parametrize(("pre", "whole"), [("llama-bpe", True), ("pixtral", True), ("tekken", True),
                                            ("qwen2", False), ("gpt-2", False), ("smollm", False)])
def test_llama3_and_tekken_take_a_piece_whole_when_the_vocabulary_has_it(tmp_path, pre, whole):
    """Llama 3's and Tekken's tokenizer.json say "ignore_merges": a piece found whole in the vocabulary is one
    token, whatever the merges (llama.cpp sets it for the same pre values). transformers' GGUF loader does not,
    so here we follow the models and llama.cpp."""
    tokens = _whole_word_vocabulary(tmp_path, pre).encode("a zebra", add_special_tokens=False).tokens
    assert (tokens == ["a", "Ġzebra"]) == whole, tokens
