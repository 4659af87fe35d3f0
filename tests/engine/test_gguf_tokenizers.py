"""The tokenizer a GGUF describes, built by us and by transformers (AutoTokenizer, gguf_file=...) from the
same file, must give the same token ids: byte-level BPE with each model's split regex, SentencePiece BPE as
Llama, Phi-3 and Gemma files hold it (no merges: rebuilt from scores), BOS where the file asks for it."""

from __future__ import annotations

import pytest

from attention_core import ModelLoadError
from attention_core.loading.gguf.reader import Meta, read_gguf
from attention_core.loading.gguf.tokenizer import tokenizer_from_gguf
from tests.gguf_writer import write_tokenizer_only

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

TEXTS = [
    "the quick brown fox",
    "  two  spaces, then\na new line",
    "In 2017, 12345 moles of ünïcödé 🙂 in 20172017",
    "it's the mole's",
]
CASES = [  # (architecture, tokenizer model, tokenizer.ggml.pre, add_bos_token)
    ("llama", "gpt2", "default", None),
    ("llama", "gpt2", "llama-bpe", True),  # Llama 3: its regex (digits in threes) and <|begin_of_text|>
    ("qwen2", "gpt2", "qwen2", None),  # Qwen 2: digits one by one
    ("llama", "llama", None, None),  # Llama 2 / Mistral SentencePiece: '▁' prefix, BOS by default
    ("phi3", "llama", None, None),
    ("gemma2", "llama", None, True),  # Gemma: no prefix space, merges in file order
    ("llama", "llama", None, False),
]


@pytest.mark.parametrize(("arch", "kind", "pre", "add_bos"), CASES)
def test_token_ids_match_transformers(tmp_path, arch, kind, pre, add_bos):
    path = write_tokenizer_only(tmp_path / "tok.gguf", arch, kind, pre, add_bos)
    reference = transformers.AutoTokenizer.from_pretrained(str(tmp_path), gguf_file=path.name)
    ours = tokenizer_from_gguf(Meta(read_gguf(path)))
    for text in TEXTS:
        assert ours.encode(text).ids == reference(text).input_ids, (arch, kind, pre, text)
    added = len(ours.encode("the").ids) - len(ours.encode("the", add_special_tokens=False).ids)
    assert added == (1 if (add_bos if add_bos is not None else kind == "llama") else 0)


FLAG_TEXTS = ["the quick", " the quick", "\nthe quick", " ", "", "the</s>the"]
FLAGS = [  # (architecture, tokenizer model, add_space_prefix, add_bos_token, add_eos_token); None: not written
    *[("llama", "llama", prefix, bos, eos) for prefix in (None, True, False) for bos in (None, False) for eos in
      (None, True, False)],
    ("gemma2", "llama", False, True, True),  # Gemma's files say add_space_prefix false
    ("phi3", "llama", False, None, True),
    ("llama", "gpt2", None, True, True),
    ("llama", "gpt2", None, None, True),
]


@pytest.mark.parametrize(("arch", "kind", "prefix", "add_bos", "add_eos"), FLAGS)
def test_the_tokenizer_flags_give_transformers_ids(tmp_path, arch, kind, prefix, add_bos, add_eos):
    """tokenizer.ggml.add_bos_token and add_eos_token are read (EOS appended where the file asks, as transformers
    and llama.cpp do); add_space_prefix is not: transformers ignores it (llama.cpp honours it)."""
    path = write_tokenizer_only(tmp_path / "tok.gguf", arch, kind, None, add_bos, add_eos=add_eos,
                                add_space_prefix=prefix)
    reference = transformers.AutoTokenizer.from_pretrained(str(tmp_path), gguf_file=path.name)
    ours = tokenizer_from_gguf(Meta(read_gguf(path)))
    for text in FLAG_TEXTS:
        assert ours.encode(text).ids == reference(text).input_ids, (prefix, add_bos, add_eos, text)
    assert ours.encode("a", "b").ids == reference("a", "b").input_ids  # a pair, as transformers frames it
    eos = 2 if kind == "llama" else 0
    assert (ours.encode("the").ids[-1] == eos) == bool(add_eos)


def test_the_split_regex_changes_the_tokens(tmp_path):
    """The comparison above can fail: GPT-2's, Llama 3's and Qwen 2's splits tokenise digits differently."""
    ids = {}
    for pre in ("default", "llama-bpe", "qwen2"):
        path = write_tokenizer_only(tmp_path / f"{pre}.gguf", "llama", "gpt2", pre)
        ids[pre] = tokenizer_from_gguf(Meta(read_gguf(path))).encode("in 20172017").ids
    assert len({tuple(v) for v in ids.values()}) == 3


def test_an_unknown_tokenizer_model_is_a_clear_message(tmp_path):
    import gguf

    path = tmp_path / "rwkv.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model("rwkv")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(ModelLoadError, match="tokenizer model 'rwkv' is not supported.*'gpt2'.*'llama'.*'t5'"):
        tokenizer_from_gguf(Meta(read_gguf(path)))


def test_a_sentencepiece_model_runs_end_to_end_like_transformers(tmp_path, monkeypatch):
    """A tiny Phi-3 with a SentencePiece vocabulary: the same ids as transformers' tokenizer (BOS first), and the
    same logits (max abs difference ≤ 1e-3, as in test_gguf_architectures.py)."""
    import torch

    from attention_core import load_model

    path = _tiny_sentencepiece_phi3(tmp_path)
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(path), device="cpu")
    reference_tok = transformers.AutoTokenizer.from_pretrained(str(tmp_path), gguf_file=path.name)
    reference = transformers.AutoModelForCausalLM.from_pretrained(
        str(tmp_path), gguf_file=path.name, dtype=torch.float32
    )
    text = "the blue creature took a mole"
    trace = ours.trace(text)
    assert trace.token_ids == reference_tok(text).input_ids and trace.token_ids[0] == 1  # <s>
    assert trace.tokens[1].startswith(" ")  # SentencePiece's ▁ word start reads as the space it stands for
    with torch.inference_mode():
        logits = reference(torch.tensor([trace.token_ids])).logits[0]
    assert (trace.logits - logits).abs().max().item() <= 1e-3


def _tiny_sentencepiece_phi3(folder):
    """A tiny random Phi-3 GGUF with a SentencePiece vocabulary (byte fallback: <0x00>..<0xFF>)."""
    import torch

    from tests.gguf_writer import sentencepiece_vocab, write_gguf

    torch.manual_seed(0)
    cfg = transformers.Phi3Config(
        vocab_size=len(sentencepiece_vocab()[0]), hidden_size=64, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, pad_token_id=0,
    )  # fmt: skip
    hf = transformers.Phi3ForCausalLM(cfg)
    with torch.no_grad():
        for p in hf.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.3)
    return write_gguf(hf, "sentencepiece", folder / "phi3-spm.gguf", "phi3")


def test_byte_fallback_pieces_are_named_by_their_character(tmp_path, monkeypatch):
    # The vocabulary lacks ❤, so the tokenizer spells it as three byte tokens; the app names them as it names a
    # byte-level BPE's pieces (tests/viz/test_byte_pieces.py), not '<0xE2>'.
    from attention_core import load_model
    from viz.views.common import display_tokens

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    trace = load_model(str(_tiny_sentencepiece_phi3(tmp_path)), device="cpu").trace("the ❤ cat")
    assert [t for t in trace.tokens if t.startswith("<0x")] == ["<0xE2>", "<0x9D>", "<0xA4>"]
    shown = display_tokens(trace)
    assert [t for t in shown if "⟨" in t] == ["⟨❤·1/3⟩", "⟨❤·2/3⟩", "⟨❤·3/3⟩"]
    assert not [t for t in shown if "<0x" in t]


def test_a_sentencepiece_generation_reads_as_the_tokenizer_decodes_it(tmp_path, monkeypatch):
    # The generated text is the prompt and what the new tokens add after it: the whole sequence decoded, never
    # the new tokens decoded alone (a SentencePiece decoder drops the first one's space: "fluffy" + "you").
    from attention_core import load_model

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    model = load_model(str(_tiny_sentencepiece_phi3(tmp_path)), device="cpu")
    gen = model.generate("a fluffy", max_new_tokens=8)
    ids = gen.trace.token_ids
    assert gen.new_tokens[0] == " you"
    assert model.tokenizer.decode(gen.new_token_ids[:1]) == "you"  # decoded alone, it loses its space
    assert gen.text == model.tokenizer.decode(ids[1:])  # after <s>: the prompt, then the continuation
    assert gen.text.startswith("a fluffy you")
