"""Tiny random encoder-decoders of the BART family (attention_core/loading/hf_adapters_seq2seq.py): BART, mBART,
Pegasus and M2M100 (NLLB's layout), each saved as transformers saves it, with a byte-level tokenizer. Weights and
biases at std 0.3 and norm weights moved off 1 (as tests.tiny_models draws them), so a wrong norm placement or
position row shows."""

from __future__ import annotations

from pathlib import Path

import torch

from tests.tiny_models import CORPUS

SHAPE = dict(
    vocab_size=300, d_model=64, encoder_layers=2, decoder_layers=3, encoder_attention_heads=4,
    decoder_attention_heads=4, encoder_ffn_dim=96, decoder_ffn_dim=96, max_position_embeddings=128,
)  # fmt: skip


def bart_tokenizer(vocab_size: int = 300, languages: tuple[str, ...] = ()):
    """A byte-level BPE laid out like BART's tokenizer.json: <s> 0, <pad> 1, </s> 2, <unk> 3 (then `languages`, as
    special tokens), and RoBERTa's post-processor wrapping every text in <s> … </s>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<s>", "<pad>", "</s>", "<unk>", *languages]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=False)
    return tok


NLLB_LANGUAGES = ("eng_Latn", "fra_Latn", "deu_Latn")


def nllb_tokenizer(vocab_size: int = 300):
    """BART's byte-level BPE laid out as NLLB-200's tokenizer.json: <s> 0, <pad> 1, </s> 2, <unk> 3, then language
    tokens (special added tokens, as NLLB's additional_special_tokens), and NLLB's post-processor marking every text
    with the language it was saved with first: eng_Latn … </s>."""
    from tokenizers import processors

    tok = bart_tokenizer(vocab_size, languages=NLLB_LANGUAGES)
    tok.post_processor = processors.TemplateProcessing(
        single="eng_Latn $A </s>", special_tokens=[("eng_Latn", tok.token_to_id("eng_Latn")), ("</s>", 2)]
    )
    return tok


def _tiny(kind: str):
    import transformers

    if kind == "bart":  # post-norm, learned positions from row 2, embedding LayerNorm; decoder starts at </s>,
        # then writes <s> whatever it predicts (forced_bos_token_id, as bart-large-cnn's says: saved below)
        return transformers.BartForConditionalGeneration(transformers.BartConfig(**SHAPE))
    if kind == "mbart":  # pre-norm with a final norm per stack; token embeddings × √d_model; no decoder start named
        cfg = transformers.MBartConfig(**SHAPE, scale_embedding=True, decoder_start_token_id=None)
        return transformers.MBartForConditionalGeneration(cfg)
    if kind == "pegasus":  # pre-norm, fixed sinusoids, no embedding norm, ReLU; pad 0, eos 1, decoder starts at 0
        cfg = transformers.PegasusConfig(
            **SHAPE, activation_function="relu", scale_embedding=True, pad_token_id=0, eos_token_id=1,
            decoder_start_token_id=0,
        )  # fmt: skip
        return transformers.PegasusForConditionalGeneration(cfg)
    if kind == "plbart":  # BART's layout under its own model_type (code: PLBART, uclanlp)
        return transformers.PLBartForConditionalGeneration(transformers.PLBartConfig(**SHAPE, scale_embedding=True))
    if kind == "blenderbot":  # pre-norm with a final norm per stack, learned positions from row 0, no embedding norm
        cfg = transformers.BlenderbotConfig(**SHAPE, scale_embedding=True, decoder_start_token_id=1)
        return transformers.BlenderbotForConditionalGeneration(cfg)
    if kind == "led":  # BART's post-norm stacks, positions from row 0; the encoder reads 4 keys either way
        shape = {k: v for k, v in SHAPE.items() if k != "max_position_embeddings"}
        cfg = transformers.LEDConfig(**shape, max_encoder_position_embeddings=128, max_decoder_position_embeddings=64,
                                     attention_window=8, pad_token_id=1, bos_token_id=0, eos_token_id=2)  # fmt: skip
        return transformers.LEDForConditionalGeneration(cfg)
    if kind == "bigbird_pegasus":  # pre-norm, learned positions from 0, no attention biases; sources up to
        # (5 + 2·1)·4 = 28 tokens, where its block-sparse encoder attends to every key
        cfg = transformers.BigBirdPegasusConfig(**SHAPE, block_size=4, num_random_blocks=1, pad_token_id=0,
                                                eos_token_id=1, bos_token_id=2, decoder_start_token_id=2)  # fmt: skip
        hf = transformers.BigBirdPegasusForConditionalGeneration(cfg)
        hf.model.encoder.set_attention_type("original_full")  # what its forward switches to on such sources, set
        return hf  # beforehand: transformers 5 returns no patterns from a switch made inside the forward
    if kind == "m2m_100":  # NLLB-200's layout: pre-norm, fairseq sinusoids from row pad + 1 = 2, ReLU, embeddings
        # × √d_model, no final_logits_bias; decoder starts at </s> (2), as NLLB's config says
        cfg = transformers.M2M100Config(
            **SHAPE, activation_function="relu", scale_embedding=True, pad_token_id=1, bos_token_id=0, eos_token_id=2,
            decoder_start_token_id=2,
        )  # fmt: skip
        return transformers.M2M100ForConditionalGeneration(cfg)
    raise ValueError(kind)


def save_tiny_seq2seq(kind: str, folder: Path, seed: int = 5):
    """A tiny `kind` ("bart", "mbart", "pegasus", "m2m_100"): 2 encoder and 3 decoder layers, 4 heads, d_model 64;
    returns it."""
    torch.manual_seed(seed)
    hf = _tiny(kind)
    hf.set_attn_implementation("eager")  # the only implementation that returns attention patterns
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if "embed_positions" in name and kind in ("pegasus", "m2m_100"):
                continue  # fixed sinusoids, not weights
            if p.dim() >= 2 or name.endswith("bias"):
                p.normal_(0.0, 0.3)
            elif "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
        if kind != "m2m_100":  # M2M100 has none
            hf.final_logits_bias.normal_(0.0, 0.3)
    if kind == "bart":  # transformers 5 keeps it in generation_config.json alone
        hf.generation_config.forced_bos_token_id = 0
    hf.save_pretrained(folder, safe_serialization=True)
    tokenizers = {"m2m_100": nllb_tokenizer,
                  **dict.fromkeys(("bart", "mbart", "plbart", "blenderbot", "led"), bart_tokenizer)}  # fmt: skip
    tokenizer = tokenizers.get(kind, _byte_bpe)()
    tokenizer.save(str(Path(folder) / "tokenizer.json"))
    return hf.eval()


def _byte_bpe():
    from tests.tiny_models import byte_bpe

    return byte_bpe(300)


# The tiny T5-layout models' shape: d_model 32, 4 heads of d_kv 8, 8 relative buckets up to 16 tokens, 300 tokens
T5_SHAPE = dict(
    vocab_size=300, d_model=32, d_kv=8, d_ff=48, num_heads=4, relative_attention_num_buckets=8,
    relative_attention_max_distance=16, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, dropout_rate=0.0,
)  # fmt: skip


def save_tiny_umt5(folder: Path, seed: int = 4):
    """A tiny umT5 (UMT5ForConditionalGeneration: T5 v1.1's layout with a relative position table in every layer;
    d_model 32, 2 + 2 layers, 4 heads of d_kv 8, 8 buckets up to 16 tokens, its own lm_head), drawn as
    tests.tiny_models.save_tiny_t5 draws T5 (each layer's table at std 2, so a table read from the wrong layer
    moves real weight); returns it."""
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.UMT5Config(num_layers=2, num_decoder_layers=2, feed_forward_proj="gated-gelu",
                                  tie_word_embeddings=False, **T5_SHAPE)  # fmt: skip
    return _drawn_and_saved_like_t5(transformers.UMT5ForConditionalGeneration(cfg), folder)


T5GEMMA_MODULE = dict(
    vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
    num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=16, sliding_window=4, max_position_embeddings=128,
    layer_types=["sliding_attention", "full_attention", "sliding_attention"], bos_token_id=2, eos_token_id=1,
    pad_token_id=0,
)  # fmt: skip


def save_tiny_t5gemma(folder: Path, tie: bool = True):
    """A tiny T5Gemma (3 + 3 of Gemma 2's layers, the middle one global, windows of 4; 4 heads over 2 key/value heads;
    tied embeddings, or its own lm_head); returns it."""
    import transformers

    from tests.tiny_models import _peaked_and_saved, byte_bpe

    torch.manual_seed(7)
    cfg = transformers.T5GemmaConfig(
        encoder=T5GEMMA_MODULE, decoder={**T5GEMMA_MODULE, "cross_attention_hidden_size": 64}, vocab_size=300,
        tie_word_embeddings=tie, bos_token_id=2, eos_token_id=1, pad_token_id=0,
    )  # fmt: skip
    return _peaked_and_saved(transformers.T5GemmaForConditionalGeneration(cfg), folder, byte_bpe(300), norms_too=True)


NLI_LABELS = ("contradiction", "neutral", "entailment")  # facebook/bart-large-mnli's, in its order


def save_tiny_bart_classifier(folder: Path, seed: int = 6, kind: str = "bart"):
    """A tiny BartForSequenceClassification (facebook/bart-large-mnli's layout: its decoder reads the text shifted
    right, and a dense → tanh → out_proj head reads the decoder's last </s>), three NLI labels, drawn as
    save_tiny_seq2seq draws its models, saved with BART's tokenizer (a pair: <s> A </s></s> B </s>); returns it.
    `kind` "mbart" or "plbart": MBartForSequenceClassification or PLBartForSequenceClassification, whose tokenizer
    ends a text with </s> and a language code (mBART's "en_XX", PLBART's "__java__"), which their decoder reads
    first."""
    import transformers

    torch.manual_seed(seed)
    labels = dict(num_labels=3, id2label=dict(enumerate(NLI_LABELS)), label2id={n: i for i, n in enumerate(NLI_LABELS)})
    classes = {"bart": ("BartForSequenceClassification", "BartConfig"),
               "mbart": ("MBartForSequenceClassification", "MBartConfig"),
               "plbart": ("PLBartForSequenceClassification", "PLBartConfig")}  # fmt: skip
    model, config = (getattr(transformers, name) for name in classes[kind])
    extra = dict(scale_embedding=True) if kind != "bart" else {}
    hf = model(config(**SHAPE, **labels, **extra))
    hf.set_attn_implementation("eager")
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if p.dim() >= 2 or name.endswith("bias"):
                p.normal_(0.0, 0.3)
            elif "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    hf.save_pretrained(folder, safe_serialization=True)
    tokenizer = bart_tokenizer() if kind == "bart" else _language_last("en_XX" if kind == "mbart" else "__java__")
    tokenizer.save(str(Path(folder) / "tokenizer.json"))
    return hf.eval()


def _language_last(language: str):
    """BART's byte-level BPE with mBART's post-processor: every text ends </s> `language`."""
    from tokenizers import processors

    tok = bart_tokenizer(languages=(language,))
    tok.post_processor = processors.TemplateProcessing(
        single=f"$A </s> {language}", special_tokens=[("</s>", 2), (language, tok.token_to_id(language))]
    )
    return tok


def save_tiny_switch(folder: Path, seed: int = 5, capacity: int = 48):
    """A tiny Switch Transformer (SwitchTransformersForConditionalGeneration: T5's layout with, in every other layer
    of each stack, 4 ReLU experts behind a top-1 router; d_model 32, 4 + 4 layers, 4 heads of d_kv 8, 8 buckets up
    to 16 tokens, tied embeddings), drawn as save_tiny_t5 draws T5, each router at std 1 so tokens spread over the
    experts; `capacity` tokens an expert takes per text. Returns it."""
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.SwitchTransformersConfig(
        num_layers=4, num_decoder_layers=4, num_experts=4, expert_capacity=capacity, encoder_sparse_step=2,
        decoder_sparse_step=2, **T5_SHAPE,
    )  # fmt: skip
    return _drawn_and_saved_like_t5(transformers.SwitchTransformersForConditionalGeneration(cfg), folder)


def _drawn_and_saved_like_t5(hf, folder: Path):
    """`hf` (a T5-layout model) with eager attention, drawn as tests.tiny_models.draw_like_t5 draws T5, saved with a
    SentencePiece-style tokenizer; returns it, in eval mode."""
    from tests.tiny_models import draw_like_t5, sentencepiece_unigram

    hf.set_attn_implementation("eager")
    draw_like_t5(hf)
    hf.save_pretrained(folder, safe_serialization=True)
    sentencepiece_unigram(300).save(str(Path(folder) / "tokenizer.json"))
    return hf.eval()
