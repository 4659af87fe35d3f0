"""XLM-RoBERTa encoders as llama.cpp writes them (bge-m3, multilingual-e5, snowflake-arctic-embed2 in Ollama): a
'bert' file whose vocabulary is a SentencePiece unigram model ('t5'); Jina Embeddings v3 ('jina-bert-v3': XLM-R's
layers with RoPE, q, k and v fused); and RoBERTa's (granite-embedding's English models): a 'bert' file with a byte-level
BPE vocabulary. transformers does not read such files, so the reference is the model written and its own tokenizer
(XLMRobertaTokenizer over the same sentencepiece.bpe.model).

The file is written as llama.cpp's converter writes it from a folder with sentencepiece.bpe.model: fairseq's <s>
<pad> </s> <unk> first, then the model's pieces after its own first three, the last id (<mask>) an unused [PAD…]
token; the normaliser table (precompiled_charsmap), add_space_prefix, the special ids and the add_bos/add_eos flags
its RobertaProcessing implies; the position table without its first pad_token_id + 1 rows (XLM-R counts positions
from there). Tolerances: ids exact; patterns 1e-4 and hidden states 1e-3 (max absolute, float32 CPU).
"""

from __future__ import annotations

import pytest
import torch

from attention_core import ModelLoadError, load_model
from attention_core.loading.gguf.reader import Meta, read_gguf
from attention_core.loading.gguf.tokenizer import tokenizer_from_gguf
from tests.engine.test_gguf_architectures import randomize
from tests.gguf_writer import rewrite_gguf
from tests.gguf_writer_unigram import encoder_shape, write_jina_v3_gguf, write_xlm_roberta_gguf, xlm_r_folder
from tests.texts import TEXTS

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, HIDDEN_TOL = 1e-4, 1e-3
HOSTILE = [  # typed special tokens, NFKC's work (ligature, circled and full-width forms), runs of whitespace
    "<s> typed </s> and <pad> <unk> here", "ﬁ ligature ① Ｆｕｌｌwidth café", "  many   spaces\t\ttabs\n\nnl  ",
    "x\u0000y\u200bz", "UPPER lower MiXeD", "",
]  # fmt: skip


def _encoder(tmp_path, config_class, model_class, seed: int, **extra):
    """(a tiny transformers encoder of `model_class` over xlm_r_folder's vocabulary, its tokenizer, the folder)."""
    folder = xlm_r_folder(tmp_path)
    reference = transformers.AutoTokenizer.from_pretrained(str(folder))
    torch.manual_seed(seed)
    cfg = config_class(
        vocab_size=len(reference), hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96,
        max_position_embeddings=66, type_vocab_size=1, pad_token_id=1, attn_implementation="eager",
    )  # fmt: skip
    hf = model_class(cfg, **extra)
    randomize(hf)
    return hf.eval(), reference, folder


def _assert_parity(ours, hf, reference) -> None:
    """The ids, every layer's patterns and hidden states as the transformers model written gives them."""
    text = "the blue creature took a mole of the forest"
    trace = ours.trace(text)
    assert trace.token_ids == reference(text).input_ids and len(trace.token_ids) > 5
    with torch.inference_mode():  # XLM-R numbers positions from pad_token_id + 1, the file's row 0
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    for layer in range(2):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item() <= PATTERN_TOL, layer
        assert (trace.resid(layer + 1) - out.hidden_states[layer + 1][0]).abs().max().item() <= HIDDEN_TOL, layer


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """(the transformers model, its tokenizer, the GGUF written from them)."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf, reference, folder = _encoder(tmp_path, transformers.XLMRobertaConfig, transformers.XLMRobertaModel, 0,
                                     add_pooling_layer=False)  # fmt: skip
    return hf, reference, write_xlm_roberta_gguf(hf, folder, tmp_path / "xlmr.gguf")


def test_the_unigram_vocabulary_splits_text_as_xlm_r_does(tiny):
    _, reference, path = tiny
    ours = tokenizer_from_gguf(Meta(read_gguf(path)))
    for text in TEXTS + HOSTILE:
        assert ours.encode(text).ids == reference(text).input_ids, text
    assert ours.get_vocab()["<unk>"] == reference.unk_token_id == 3
    assert ours.encode("ﬁ").ids == reference("fi").input_ids  # the normaliser table (NFKC) at work
    for first, second in zip(TEXTS, TEXTS[1:], strict=False):  # a text pair (a reranker's): <s> A </s></s> B </s>
        assert ours.encode(first, second).ids == reference(first, second).input_ids, (first, second)


def test_an_xlm_r_file_matches_the_model_written(tiny):
    hf, reference, path = tiny
    ours = load_model(str(path), device="cpu")
    _assert_parity(ours, hf, reference)
    assert not ours.config.causal and ours.config.n_token_types == 1 and ours.config.n_ctx == 64


def test_a_jina_v3_file_matches_the_model_written(tmp_path, monkeypatch):
    """jina-bert-v3: RoPE (base 20000 from the file) in place of positions, q, k and v (and biases) fused."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf, reference, folder = _encoder(tmp_path, transformers.JinaEmbeddingsV3Config, transformers.JinaEmbeddingsV3Model,
                                     1)  # fmt: skip
    ours = load_model(str(write_jina_v3_gguf(hf, folder, tmp_path / "jina.gguf")), device="cpu")
    _assert_parity(ours, hf, reference)
    assert ours.config.arch == "jina_v3" and ours.config.uses_rope and ours.config.rope_theta == 20000.0
    assert "embed.W_pos" not in ours.weights


def test_add_space_prefix_false_is_honoured(tmp_path):
    """The one flag transformers' XLM-R tokenizer has for it (add_prefix_space): no '▁' before each word."""
    folder = xlm_r_folder(tmp_path, prefix_space=False)
    reference = transformers.AutoTokenizer.from_pretrained(str(folder))
    cfg = transformers.XLMRobertaConfig(vocab_size=len(reference), hidden_size=16, num_hidden_layers=1,
                                        num_attention_heads=2, intermediate_size=16, max_position_embeddings=34)
    hf = transformers.XLMRobertaModel(cfg, add_pooling_layer=False)
    path = write_xlm_roberta_gguf(hf, folder, tmp_path / "x.gguf", False)
    ours = tokenizer_from_gguf(Meta(read_gguf(path)))
    for text in TEXTS + HOSTILE:
        assert ours.encode(text).ids == reference(text).input_ids, text
    assert ours.encode("the fox").ids != tokenizer_from_gguf(Meta(read_gguf(
        rewrite_gguf(path, tmp_path / "prefixed.gguf", drop=("tokenizer.ggml.add_space_prefix",))))).encode(
        "the fox").ids  # fmt: skip


def test_without_the_flags_eos_alone_is_added_as_llama_cpp_does(tiny, tmp_path):
    _, reference, path = tiny
    bare = rewrite_gguf(path, tmp_path / "bare.gguf", drop=("tokenizer.ggml.add_bos_token",
                                                            "tokenizer.ggml.add_eos_token"))
    ids = tokenizer_from_gguf(Meta(read_gguf(bare))).encode("the fox").ids
    assert ids == reference("the fox").input_ids[1:] and ids[-1] == 2


def test_an_unreadable_normaliser_table_is_refused_by_name(tiny, tmp_path):
    import gguf

    _, _, path = tiny
    fields = {"tokenizer.ggml.precompiled_charsmap": ([7, 0, 0, 0, 1, 2], gguf.GGUFValueType.ARRAY,
                                                      gguf.GGUFValueType.UINT8)}
    damaged = rewrite_gguf(path, tmp_path / "damaged.gguf", fields)
    with pytest.raises(ModelLoadError, match="precompiled_charsmap is not a readable normaliser table"):
        tokenizer_from_gguf(Meta(read_gguf(damaged)))


def test_a_roberta_file_with_a_byte_level_vocabulary_matches_the_model_written(tmp_path, monkeypatch):
    """llama.cpp's RobertaModel converter: 'bert' with RoBERTa's BPE ('gpt2', pre roberta-bpe), <s> text </s> as
    its RobertaProcessing says, positions cut by pad_token_id + 1 rows."""
    import gguf
    import numpy as np

    from tests.gguf_writer import _tokenizer, finish
    from tests.tiny_models import byte_bpe

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(2)
    cfg = transformers.RobertaConfig(vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=96, max_position_embeddings=68, pad_token_id=3,
                                     attn_implementation="eager")  # fmt: skip
    hf = transformers.RobertaModel(cfg, add_pooling_layer=False).eval()
    randomize(hf)
    written = tmp_path / "written.gguf"
    w = gguf.GGUFWriter(str(written), "bert")
    encoder_shape(w, cfg, cfg.pad_token_id + 1)
    _tokenizer(w, byte_bpe(300), pre="roberta-bpe")
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, 2)
    tensors = {}
    for hf_name, tensor in hf.state_dict().items():
        base, suffix = hf_name.rsplit(".", 1)
        data = tensor.detach().float().numpy()
        if hf_name == "embeddings.position_embeddings.weight":
            data = data[cfg.pad_token_id + 1 :]
        tensors[f"{names.get_name(base)}.{suffix}"] = np.ascontiguousarray(data, dtype=np.float32)
    finish(w, written, tensors)
    flags = {"tokenizer.ggml.bos_token_id": (1, gguf.GGUFValueType.UINT32),
             "tokenizer.ggml.eos_token_id": (2, gguf.GGUFValueType.UINT32),
             "tokenizer.ggml.add_bos_token": (True, gguf.GGUFValueType.BOOL),
             "tokenizer.ggml.add_eos_token": (True, gguf.GGUFValueType.BOOL)}  # fmt: skip
    ours = load_model(str(rewrite_gguf(written, tmp_path / "roberta.gguf", flags)), device="cpu")
    text = "the blue creature took a mole of the forest"
    trace = ours.trace(text)
    assert trace.token_ids == [1, *byte_bpe(300).encode(text).ids, 2] and cfg.pad_token_id not in trace.token_ids
    with torch.inference_mode():  # RoBERTa numbers positions from pad_token_id + 1, the file's row 0
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    for layer in range(2):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item() <= PATTERN_TOL, layer
        assert (trace.resid(layer + 1) - out.hidden_states[layer + 1][0]).abs().max().item() <= HIDDEN_TOL, layer
