"""XLM-RoBERTa encoders as llama.cpp writes them (bge-m3, multilingual-e5, snowflake-arctic-embed2 in Ollama): a
'bert' file whose vocabulary is a SentencePiece unigram model ('t5'); and Jina Embeddings v3 ('jina-bert-v3': XLM-R's
layers with RoPE, q, k and v fused). transformers does not read such files, so the reference is the model written and
its own tokenizer (XLMRobertaTokenizer over the same sentencepiece.bpe.model).

The file is written as llama.cpp's converter writes it from a folder with sentencepiece.bpe.model: fairseq's <s>
<pad> </s> <unk> first, then the model's pieces after its own first three, the last id (<mask>) an unused [PAD…]
token; the normaliser table (precompiled_charsmap), add_space_prefix, the special ids and the add_bos/add_eos flags
its RobertaProcessing implies; the position table without its first pad_token_id + 1 rows (XLM-R counts positions
from there). Tolerances: ids exact; patterns 1e-4 and hidden states 1e-3 (max absolute, float32 CPU).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from attention_core import ModelLoadError, load_model
from attention_core.loading.gguf.reader import Meta, read_gguf
from attention_core.loading.gguf.tokenizer import tokenizer_from_gguf
from tests.engine.test_gguf_architectures import randomize
from tests.gguf_writer import finish, rewrite_gguf
from tests.slow_tokenizer_folders import XLM_R, spm_folder, with_settings
from tests.texts import TEXTS

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, HIDDEN_TOL = 1e-4, 1e-3
HOSTILE = [  # typed special tokens, NFKC's work (ligature, circled and full-width forms), runs of whitespace
    "<s> typed </s> and <pad> <unk> here", "ﬁ ligature ① Ｆｕｌｌwidth café", "  many   spaces\t\ttabs\n\nnl  ",
    "x\u0000y\u200bz", "UPPER lower MiXeD", "",
]  # fmt: skip
UNKNOWN, CONTROL, NORMAL, UNUSED = 2, 3, 1, 5  # gguf.TokenType


def _folder(tmp_path: Path, prefix_space: bool = True) -> Path:
    settings = {"tokenizer_class": "XLMRobertaTokenizer", "add_prefix_space": prefix_space}
    return with_settings(spm_folder(tmp_path, "sentencepiece.bpe.model", XLM_R), settings)


def _vocab(w, folder: Path, n_vocab: int, prefix_space: bool) -> None:
    """llama.cpp's XLM-R vocabulary: the SentencePiece model's pieces moved one id on behind fairseq's four."""
    from sentencepiece import SentencePieceProcessor
    from sentencepiece import sentencepiece_model_pb2 as spm

    sp = SentencePieceProcessor(model_file=str(folder / "sentencepiece.bpe.model"))
    proto = spm.ModelProto.FromString((folder / "sentencepiece.bpe.model").read_bytes())
    size = max(n_vocab, sp.vocab_size())
    tokens, scores, types = [f"[PAD{i}]" for i in range(size)], [-10000.0] * size, [UNUSED] * size
    for i in range(sp.vocab_size()):
        kind = UNKNOWN if sp.IsUnknown(i) else CONTROL if sp.IsControl(i) else NORMAL
        tokens[i], scores[i], types[i] = sp.IdToPiece(i), sp.GetScore(i), kind
    w.add_tokenizer_model("t5")
    w.add_tokenizer_pre("default")
    w.add_token_list(["<s>", "<pad>", "</s>", "<unk>", *tokens[3:-1]])
    w.add_token_scores([0.0] * 4 + scores[3:-1])
    w.add_token_types([CONTROL, CONTROL, CONTROL, UNKNOWN, *types[3:-1]])
    w.add_add_space_prefix(prefix_space)
    w.add_remove_extra_whitespaces(proto.normalizer_spec.remove_extra_whitespaces)
    w.add_precompiled_charsmap(proto.normalizer_spec.precompiled_charsmap)
    for add, token_id in ((w.add_bos_token_id, 0), (w.add_eos_token_id, 2), (w.add_unk_token_id, 3),
                          (w.add_sep_token_id, 2), (w.add_pad_token_id, 1)):
        add(token_id)  # fmt: skip
    w.add_add_bos_token(True)  # RobertaProcessing: <s> text </s>
    w.add_add_eos_token(True)


def _write(hf, folder: Path, path: Path, prefix_space: bool = True) -> Path:
    import gguf

    cfg, offset = hf.config, hf.config.pad_token_id + 1
    w = gguf.GGUFWriter(str(path), "bert")
    w.add_name("tiny-xlm-roberta")
    _shape(w, cfg, offset)
    _vocab(w, folder, cfg.vocab_size, prefix_space)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, cfg.num_hidden_layers)
    tensors = {}
    for hf_name, tensor in hf.state_dict().items():
        base, suffix = hf_name.rsplit(".", 1)
        data = tensor.detach().float().numpy()
        if hf_name == "embeddings.position_embeddings.weight":
            data = data[offset:]  # the converter's cut: position 0 is XLM-R's row pad_token_id + 1
        tensors[f"{names.get_name(base)}.{suffix}"] = np.ascontiguousarray(data, dtype=np.float32)
    return finish(w, path, tensors)


def _shape(w, cfg, offset: int) -> None:
    w.add_causal_attention(False)
    w.add_token_type_count(cfg.type_vocab_size)
    w.add_context_length(cfg.max_position_embeddings - offset)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_attention_heads)
    w.add_layer_norm_eps(cfg.layer_norm_eps)


# transformers' Jina v3 port's names → llama.cpp's (q, k and v are fused into attn_qkv, rows q | k | v)
_JINA = {"embeddings.word_embeddings": "token_embd", "embeddings.token_type_embeddings": "token_types",
         "embeddings.LayerNorm": "token_embd_norm", "self_attn.o_proj": "attn_output",
         "post_attention_layernorm": "attn_output_norm", "mlp.fc1": "ffn_up", "mlp.fc2": "ffn_down",
         "post_mlp_layernorm": "layer_output_norm"}  # fmt: skip


def _write_jina(hf, folder: Path, path: Path) -> Path:
    import gguf

    cfg = hf.config
    w = gguf.GGUFWriter(str(path), "jina-bert-v3")
    w.add_name("tiny-jina-v3")
    _shape(w, cfg, cfg.pad_token_id + 1)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    _vocab(w, folder, cfg.vocab_size, True)
    state = {k: v.detach().float().numpy() for k, v in hf.state_dict().items() if not k.startswith("pooler.")}
    tensors = {}
    for hf_name, data in state.items():
        base, suffix = hf_name.rsplit(".", 1)
        layer, _, local = base.removeprefix("layers.").partition(".")
        if base.startswith("layers.") and local.startswith("self_attn.q_proj"):
            parts = [state[f"layers.{layer}.self_attn.{p}_proj.{suffix}"] for p in "qkv"]
            tensors[f"blk.{layer}.attn_qkv.{suffix}"] = np.concatenate(parts, axis=0)
        elif base.startswith("layers.") and local in _JINA:
            tensors[f"blk.{layer}.{_JINA[local]}.{suffix}"] = data
        elif base in _JINA:
            tensors[f"{_JINA[base]}.{suffix}"] = data
    return finish(w, path, {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()})


def _encoder(tmp_path, config_class, model_class, seed: int, **extra):
    """(a tiny transformers encoder of `model_class` over _folder's vocabulary, its tokenizer, the folder)."""
    folder = _folder(tmp_path)
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
    return hf, reference, _write(hf, folder, tmp_path / "xlmr.gguf")


def test_the_unigram_vocabulary_splits_text_as_xlm_r_does(tiny):
    _, reference, path = tiny
    ours = tokenizer_from_gguf(Meta(read_gguf(path)))
    for text in TEXTS + HOSTILE:
        assert ours.encode(text).ids == reference(text).input_ids, text
    assert ours.get_vocab()["<unk>"] == reference.unk_token_id == 3
    assert ours.encode("ﬁ").ids == reference("fi").input_ids  # the normaliser table (NFKC) at work


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
    ours = load_model(str(_write_jina(hf, folder, tmp_path / "jina.gguf")), device="cpu")
    _assert_parity(ours, hf, reference)
    assert ours.config.arch == "jina_v3" and ours.config.uses_rope and ours.config.rope_theta == 20000.0
    assert "embed.W_pos" not in ours.weights


def test_add_space_prefix_false_is_honoured(tmp_path):
    """The one flag transformers' XLM-R tokenizer has for it (add_prefix_space): no '▁' before each word."""
    folder = _folder(tmp_path, prefix_space=False)
    reference = transformers.AutoTokenizer.from_pretrained(str(folder))
    cfg = transformers.XLMRobertaConfig(vocab_size=len(reference), hidden_size=16, num_hidden_layers=1,
                                        num_attention_heads=2, intermediate_size=16, max_position_embeddings=34)
    path = _write(transformers.XLMRobertaModel(cfg, add_pooling_layer=False), folder, tmp_path / "x.gguf", False)
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
