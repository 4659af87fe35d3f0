"""T5 as llama.cpp writes it ('t5': Flan-T5, T5, mT5), read as the transformers model the file was written from and
that model's own T5 tokenizer (spiece.model: a 't5' vocabulary, the 100 <extra_id_N> blanks written as unused [PAD…]
tokens after the pieces and named back). Both MLP kinds: original T5 (ReLU, tied embeddings: the decoder's output
× d_model^-0.5, as transformers computes it; llama.cpp leaves that scale out) and Flan-T5 (GeGLU, its own output
matrix). The file holds no relative_attention_max_distance: llama.cpp's fixed 128, T5's own, so the tiny models use
it; the texts reach the logarithmic buckets (past 4 tokens with 8 buckets).

Tolerances (max absolute, float32 CPU): patterns 1e-4 (encoder, decoder, cross-attention); logits 1e-3.
"""

from __future__ import annotations

import numpy as np
import pytest

from attention_core import load_model
from attention_core.loading.gguf.reader import Meta, read_gguf
from attention_core.loading.gguf.tokenizer import tokenizer_from_gguf
from tests.engine.pair_parity import assert_patterns_match, pair_and_reference
from tests.gguf_writer import finish
from tests.slow_tokenizer_folders import T5, spm_folder, with_settings
from tests.texts import TEXTS
from tests.tiny_models import save_tiny_t5

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL = 1e-4, 1e-3
SOURCE = "translate English to German: the quick brown fox jumps over the lazy dog in the verdant forest"
TARGET = "der schnelle braune Fuchs springt über den faulen Hund im grünen Wald"
UNKNOWN, CONTROL, NORMAL, UNUSED = 2, 3, 1, 5  # gguf.TokenType


def _vocab(w, folder, n_vocab: int) -> None:
    """llama.cpp's T5 vocabulary: the SentencePiece pieces, then [PADn] (unused) up to the model's rows."""
    from sentencepiece import SentencePieceProcessor
    from sentencepiece import sentencepiece_model_pb2 as spm

    sp = SentencePieceProcessor(model_file=str(folder / "spiece.model"))
    proto = spm.ModelProto.FromString((folder / "spiece.model").read_bytes())
    tokens, scores, types = [f"[PAD{i}]" for i in range(n_vocab)], [0.0] * n_vocab, [UNUSED] * n_vocab
    for i in range(sp.vocab_size()):
        kind = UNKNOWN if sp.IsUnknown(i) else CONTROL if sp.IsControl(i) else NORMAL
        tokens[i], scores[i], types[i] = sp.IdToPiece(i), sp.GetScore(i), kind
    w.add_tokenizer_model("t5")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_add_space_prefix(True)
    w.add_precompiled_charsmap(proto.normalizer_spec.precompiled_charsmap)
    w.add_eos_token_id(1), w.add_unk_token_id(2), w.add_pad_token_id(0)
    w.add_add_bos_token(False)  # T5's TemplateProcessing: text </s>
    w.add_add_eos_token(True)


def _write(hf, folder, path, tied: bool):
    import gguf

    cfg = hf.config
    w = gguf.GGUFWriter(str(path), "t5")
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
    _vocab(w, folder, cfg.vocab_size)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.T5, cfg.num_layers)
    tensors = {}
    for hf_name, tensor in hf.state_dict().items():
        base, suffix = hf_name.rsplit(".", 1)
        gguf_name = names.get_name(base)
        if gguf_name is None or (gguf_name == "output" and tied):
            continue  # the stacks' copies of the shared embedding; a tied head (llama.cpp writes none)
        tensors[f"{gguf_name}.{suffix}"] = np.ascontiguousarray(tensor.float().numpy(), dtype=np.float32)
    return finish(w, path, tensors)


@pytest.mark.parametrize("feed_forward", ["relu", "gated-gelu"])
def test_a_t5_file_matches_the_model_written_and_its_tokenizer(tmp_path, monkeypatch, feed_forward):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    folder = with_settings(spm_folder(tmp_path, "spiece.model", T5), {"tokenizer_class": "T5Tokenizer"})
    reference = transformers.AutoTokenizer.from_pretrained(str(folder))
    hf = save_tiny_t5(tmp_path / "hf", feed_forward, vocab=len(reference) + 8, max_distance=128)
    path = _write(hf, folder, tmp_path / "t5.gguf", tied=feed_forward == "relu")
    ours = tokenizer_from_gguf(Meta(read_gguf(path)))
    for text in [*TEXTS, "fill <extra_id_0> and <extra_id_99> in", "  runs   of\tspaces </s> <unk>"]:
        assert ours.encode(text).ids == reference(text).input_ids, text
    model = load_model(str(path), device="cpu")
    pair, out = pair_and_reference(hf, model, SOURCE, TARGET)
    assert pair.encoder.n_tokens > 12 and pair.encoder.token_ids == reference(SOURCE).input_ids
    assert_patterns_match(model, pair, out, PATTERN_TOL)
    assert (pair.logits - out.logits[0]).abs().max() <= LOGIT_TOL
    cfg = model.config
    assert (cfg.gated_mlp, cfg.tie_embeddings) == (feed_forward != "relu", feed_forward == "relu")
    assert cfg.n_decoder_layers == 2 and cfg.rel_max_distance == 128 and cfg.decoder_start_token_id == 0
