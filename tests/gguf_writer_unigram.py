"""GGUF files with a SentencePiece unigram vocabulary ('t5'), written as llama.cpp's converters write them from a
folder with the model's SentencePiece file: XLM-RoBERTa encoders (`bert`), Jina Embeddings v3 (`jina-bert-v3`) and
T5 (`t5`). The folders (`xlm_r_folder`, `t5_folder`) hold a tiny SentencePiece model trained on the tests' corpus, as
transformers' tokenizer class for them reads it (the reference)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.gguf_writer import finish
from tests.slow_tokenizer_folders import T5, XLM_R, spm_folder, with_settings

UNKNOWN, CONTROL, NORMAL, UNUSED = 2, 3, 1, 5  # gguf.TokenType


def xlm_r_folder(folder: Path, prefix_space: bool = True) -> Path:
    settings = {"tokenizer_class": "XLMRobertaTokenizer", "add_prefix_space": prefix_space}
    return with_settings(spm_folder(folder, "sentencepiece.bpe.model", XLM_R), settings)


def t5_folder(folder: Path) -> Path:
    return with_settings(spm_folder(folder, "spiece.model", T5), {"tokenizer_class": "T5Tokenizer"})


def _pieces(model_file: Path, size: int, unused_score: float):
    """The SentencePiece model's pieces, scores and gguf token types in the first ids of a `size`-long vocabulary,
    the rest [PADn] (unused), as llama.cpp's converters lay them out; and the model's normaliser table."""
    from sentencepiece import SentencePieceProcessor
    from sentencepiece import sentencepiece_model_pb2 as spm

    sp = SentencePieceProcessor(model_file=str(model_file))
    tokens, scores, types = [f"[PAD{i}]" for i in range(size)], [unused_score] * size, [UNUSED] * size
    for i in range(sp.vocab_size()):
        kind = UNKNOWN if sp.IsUnknown(i) else CONTROL if sp.IsControl(i) else NORMAL
        tokens[i], scores[i], types[i] = sp.IdToPiece(i), sp.GetScore(i), kind
    proto = spm.ModelProto.FromString(model_file.read_bytes())
    return tokens, scores, types, proto.normalizer_spec


def _xlm_r_vocab(w, folder: Path, n_vocab: int, prefix_space: bool) -> None:
    """llama.cpp's XLM-R vocabulary: the SentencePiece model's pieces moved one id on behind fairseq's four."""
    model = folder / "sentencepiece.bpe.model"
    tokens, scores, types, normalizer = _pieces(model, max(n_vocab, _size(model)), -10000.0)
    w.add_tokenizer_model("t5")
    w.add_tokenizer_pre("default")
    w.add_token_list(["<s>", "<pad>", "</s>", "<unk>", *tokens[3:-1]])
    w.add_token_scores([0.0] * 4 + scores[3:-1])
    w.add_token_types([CONTROL, CONTROL, CONTROL, UNKNOWN, *types[3:-1]])
    w.add_add_space_prefix(prefix_space)
    w.add_remove_extra_whitespaces(normalizer.remove_extra_whitespaces)
    w.add_precompiled_charsmap(normalizer.precompiled_charsmap)
    for add, token_id in ((w.add_bos_token_id, 0), (w.add_eos_token_id, 2), (w.add_unk_token_id, 3),
                          (w.add_sep_token_id, 2), (w.add_pad_token_id, 1)):
        add(token_id)  # fmt: skip
    w.add_add_bos_token(True)  # RobertaProcessing: <s> text </s>
    w.add_add_eos_token(True)


def _size(model_file: Path) -> int:
    from sentencepiece import SentencePieceProcessor

    return SentencePieceProcessor(model_file=str(model_file)).vocab_size()


def encoder_shape(w, cfg, offset: int) -> None:
    """A RoBERTa-family encoder's keys as llama.cpp's converter writes them: its context without the `offset` rows
    cut from the position table."""
    w.add_causal_attention(False)
    w.add_token_type_count(cfg.type_vocab_size)
    w.add_context_length(cfg.max_position_embeddings - offset)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_attention_heads)
    w.add_layer_norm_eps(cfg.layer_norm_eps)


def write_xlm_roberta_gguf(hf, folder: Path, path: Path, prefix_space: bool = True) -> Path:
    """`hf` (a transformers XLMRobertaModel over `folder`'s vocabulary) as llama.cpp's converter writes it: 'bert',
    the position table without its first pad_token_id + 1 rows (XLM-R counts positions from there)."""
    import gguf

    cfg, offset = hf.config, hf.config.pad_token_id + 1
    w = gguf.GGUFWriter(str(path), "bert")
    w.add_name("tiny-xlm-roberta")
    encoder_shape(w, cfg, offset)
    _xlm_r_vocab(w, folder, cfg.vocab_size, prefix_space)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, cfg.num_hidden_layers)
    tensors = {}
    for hf_name, tensor in hf.state_dict().items():
        base, suffix = hf_name.rsplit(".", 1)
        data = tensor.detach().float().numpy()
        if hf_name == "embeddings.position_embeddings.weight":
            data = data[offset:]  # the converter's cut: position 0 is XLM-R's row pad_token_id + 1
        tensors[f"{names.get_name(base)}.{suffix}"] = np.ascontiguousarray(data, dtype=np.float32)
    return finish(w, path, tensors)


# transformers' Jina v3 port's names → llama.cpp's (q, k and v are fused into attn_qkv, rows q | k | v)
_JINA = {"embeddings.word_embeddings": "token_embd", "embeddings.token_type_embeddings": "token_types",
         "embeddings.LayerNorm": "token_embd_norm", "self_attn.o_proj": "attn_output",
         "post_attention_layernorm": "attn_output_norm", "mlp.fc1": "ffn_up", "mlp.fc2": "ffn_down",
         "post_mlp_layernorm": "layer_output_norm"}  # fmt: skip


def write_jina_v3_gguf(hf, folder: Path, path: Path) -> Path:
    """`hf` (transformers' JinaEmbeddingsV3Model) as 'jina-bert-v3': RoPE at the file's base, q, k, v fused."""
    import gguf

    cfg = hf.config
    w = gguf.GGUFWriter(str(path), "jina-bert-v3")
    w.add_name("tiny-jina-v3")
    encoder_shape(w, cfg, cfg.pad_token_id + 1)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    _xlm_r_vocab(w, folder, cfg.vocab_size, True)
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


def _t5_vocab(w, folder: Path, n_vocab: int) -> None:
    """llama.cpp's T5 vocabulary: the SentencePiece pieces, then [PADn] (unused) up to the model's rows (T5's 100
    <extra_id_N> blanks among them)."""
    tokens, scores, types, normalizer = _pieces(folder / "spiece.model", n_vocab, 0.0)
    w.add_tokenizer_model("t5")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_add_space_prefix(True)
    w.add_precompiled_charsmap(normalizer.precompiled_charsmap)
    w.add_eos_token_id(1), w.add_unk_token_id(2), w.add_pad_token_id(0)
    w.add_add_bos_token(False)  # T5's TemplateProcessing: text </s>
    w.add_add_eos_token(True)


def write_t5_gguf(hf, folder: Path, path: Path, tied: bool, encoder_only: bool = False) -> Path:
    """`hf` (a T5ForConditionalGeneration over `folder`'s vocabulary) as 't5'; `tied`: no output tensor;
    `encoder_only`: its encoder alone, as 't5encoder' (enc.* and token_embd)."""
    import gguf

    cfg = hf.config
    arch = "t5encoder" if encoder_only else "t5"
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name("tiny-t5")
    w.add_context_length(512)
    w.add_embedding_length(cfg.d_model)
    w.add_feed_forward_length(cfg.d_ff)
    w.add_block_count(cfg.num_layers)
    w.add_head_count(cfg.num_heads)
    w.add_key_length(cfg.d_kv)
    w.add_value_length(cfg.d_kv)
    w.add_layer_norm_rms_eps(cfg.layer_norm_epsilon)
    w.add_relative_attn_buckets_count(cfg.relative_attention_num_buckets)
    w.add_decoder_start_token_id(cfg.decoder_start_token_id)
    _t5_vocab(w, folder, cfg.vocab_size)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.T5, cfg.num_layers)
    tensors = {}
    for hf_name, tensor in hf.state_dict().items():
        base, suffix = hf_name.rsplit(".", 1)
        gguf_name = names.get_name(base)
        if gguf_name is None or (gguf_name == "output" and (tied or encoder_only)):
            continue  # the stacks' copies of the shared embedding; a tied head (llama.cpp writes none)
        if encoder_only and gguf_name.startswith("dec."):
            continue
        tensors[f"{gguf_name}.{suffix}"] = np.ascontiguousarray(tensor.float().numpy(), dtype=np.float32)
    return finish(w, path, tensors)
