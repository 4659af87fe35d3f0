"""Tiny encoders with a head, as transformers builds them (random weights, tests.tiny_models._peaked_and_saved's),
saved locally with a WordPiece tokenizer: masked-language models of every family attention_core/loading/masked_lm.py
reads (ESM's and ESM C's through their own savers, tests/tiny_models_later.py), and the sequence and token classifiers
(named-entity taggers) attention_core/loading/classifier_head.py reads."""

from __future__ import annotations

from pathlib import Path

import torch

V = 300
BERT_LIKE = dict(vocab_size=V, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96,
                 max_position_embeddings=130)  # fmt: skip
MODERNBERT_LIKE = dict(vocab_size=V, hidden_size=64, num_hidden_layers=3, num_attention_heads=4, intermediate_size=96,
                       max_position_embeddings=128, local_attention=8, pad_token_id=0, bos_token_id=2, eos_token_id=3,
                       cls_token_id=2, sep_token_id=3, classifier_activation="silu")  # fmt: skip
KINDS = ("bert", "bert_untied", "bert_pretraining", "roberta", "xlm-roberta", "distilbert", "albert",
         "electra_generator", "mpnet", "modernbert", "deberta_v2", "deberta_v2_legacy", "esm", "esmc",
         "megatron-bert", "rembert")  # fmt: skip


def masked_lm(kind: str):
    """transformers' masked-language model of `kind` with its initial weights (the head's activation, where the
    family reads it from config.json, set off GELU, so the one named there must be the one used)."""
    import transformers as tf

    if kind in ("bert", "bert_untied"):  # untied: the decoder's own matrix, not the embeddings
        return tf.BertForMaskedLM(tf.BertConfig(hidden_act="gelu_new", tie_word_embeddings=kind == "bert", **BERT_LIKE))
    if kind == "bert_pretraining":  # cls.predictions beside the next-sentence head (bert-base-uncased's layout)
        return tf.BertForPreTraining(tf.BertConfig(**BERT_LIKE))
    if kind == "rembert":  # BERT's head names, its decoder its own (output_embedding_size wide), never the inputs'
        cfg = tf.RemBertConfig(input_embedding_size=32, output_embedding_size=48, hidden_act="gelu_new", **BERT_LIKE)
        return tf.RemBertForMaskedLM(cfg)
    if kind == "megatron-bert":  # BERT's head (cls.predictions), read after the stack's closing LayerNorm
        return tf.MegatronBertForMaskedLM(tf.MegatronBertConfig(hidden_act="gelu_new", **BERT_LIKE))
    if kind == "roberta":  # lm_head.*: GELU fixed in its code whatever hidden_act says
        return tf.RobertaForMaskedLM(tf.RobertaConfig(pad_token_id=1, hidden_act="relu", **BERT_LIKE))
    if kind == "xlm-roberta":
        return tf.XLMRobertaForMaskedLM(tf.XLMRobertaConfig(pad_token_id=1, **BERT_LIKE))
    if kind == "distilbert":
        cfg = tf.DistilBertConfig(vocab_size=V, dim=64, n_layers=2, n_heads=4, hidden_dim=96,
                                  max_position_embeddings=130, activation="relu")  # fmt: skip
        return tf.DistilBertForMaskedLM(cfg)
    if kind == "albert":  # the head maps 64 → the embeddings' 32, its LayerNorm and W_U at 32
        cfg = tf.AlbertConfig(embedding_size=32, num_hidden_groups=2, hidden_act="gelu_new",
                              **{**BERT_LIKE, "num_hidden_layers": 3})  # fmt: skip
        return tf.AlbertForMaskedLM(cfg)
    if kind == "electra_generator":  # ELECTRA's generator: embeddings 32 wide, projected up; its head back down
        return tf.ElectraForMaskedLM(tf.ElectraConfig(embedding_size=32, **BERT_LIKE))
    if kind == "mpnet":
        return tf.MPNetForMaskedLM(tf.MPNetConfig(pad_token_id=1, **BERT_LIKE))
    if kind == "modernbert":
        return tf.ModernBertForMaskedLM(tf.ModernBertConfig(**MODERNBERT_LIKE))
    if kind in ("deberta_v2", "deberta_v2_legacy"):  # lm_predictions.lm_head (v3's), or the legacy cls.predictions
        return tf.DebertaV2ForMaskedLM(tf.DebertaV2Config(
            **BERT_LIKE, relative_attention=True, position_buckets=16, max_relative_positions=64,
            pos_att_type=["p2c", "c2p"], share_att_key=True, norm_rel_ebd="layer_norm", position_biased_input=False,
            type_vocab_size=0, pad_token_id=0, legacy=kind.endswith("legacy"), hidden_act="gelu_new",
        ))  # fmt: skip
    raise ValueError(kind)


def save_tiny_masked_lm(kind: str, folder: Path, seed: int = 0):
    """A tiny masked-language model of `kind` (KINDS) saved in `folder` with a tokenizer; returns it, in eval mode.
    ESM's head is tied to its embeddings; ESM C's decoder is its own, with a bias."""
    from tests.tiny_models import _peaked_and_saved, wordpiece
    from tests.tiny_models_later import save_tiny_esm, save_tiny_esmc

    torch.manual_seed(seed)
    if kind in ("esm", "esmc"):
        return (save_tiny_esm if kind == "esm" else save_tiny_esmc)(folder, head=True, seed=seed)
    tokenizer = wordpiece(V)
    tokenizer.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])  # as BERT's: "[MASK]" typed is one
    return _peaked_and_saved(masked_lm(kind), folder, tokenizer, norms_too=True, norm_names=("norm", "Norm"))


CLASSIFIER_LIKE = dict(**BERT_LIKE, num_labels=3, id2label={0: "negative", 1: "neutral", 2: "positive"},
                       label2id={"negative": 0, "neutral": 1, "positive": 2})  # fmt: skip


def classifier(kind: str):
    """transformers' sequence classifier of `kind` (CLASSIFIER_KINDS), three labels, with its initial weights."""
    import transformers as tf

    if kind == "bert":
        return tf.BertForSequenceClassification(tf.BertConfig(**CLASSIFIER_LIKE))
    if kind == "roberta":
        cfg = tf.RobertaConfig(pad_token_id=1, **CLASSIFIER_LIKE)
        return tf.RobertaForSequenceClassification(cfg)
    if kind == "distilbert":
        labels = {key: CLASSIFIER_LIKE[key] for key in ("num_labels", "id2label", "label2id")}
        cfg = tf.DistilBertConfig(vocab_size=V, dim=64, n_layers=2, n_heads=4, hidden_dim=96,
                                  max_position_embeddings=130, **labels)  # fmt: skip
        return tf.DistilBertForSequenceClassification(cfg)
    if kind == "electra":  # ELECTRA's own head: dense, GELU, out_proj
        return tf.ElectraForSequenceClassification(tf.ElectraConfig(embedding_size=64, **CLASSIFIER_LIKE))
    if kind == "albert":
        cfg = tf.AlbertConfig(embedding_size=32, num_hidden_groups=1, hidden_act="gelu_new", **CLASSIFIER_LIKE)
        return tf.AlbertForSequenceClassification(cfg)
    if kind == "big_bird":  # its head's activation is hidden_act (set off GELU, so the wrong one shows; RoFormer's
        # is too, by the same rule); its encoder's own pooler is saved but unused; full attention on a short text
        cfg = tf.BigBirdConfig(block_size=4, num_random_blocks=1, hidden_act="relu", **CLASSIFIER_LIKE)
        model = tf.BigBirdForSequenceClassification(cfg)
        model.bert.set_attention_type("original_full")
        return model
    if kind == "deberta_v2":  # its ContextPooler's activation is pooler_hidden_act
        cfg = tf.DebertaV2Config(
            **CLASSIFIER_LIKE, relative_attention=True, position_buckets=16, max_relative_positions=64,
            pos_att_type=["p2c", "c2p"], share_att_key=True, norm_rel_ebd="layer_norm", position_biased_input=False,
            type_vocab_size=0, pad_token_id=0, pooler_hidden_act="relu",
        )  # fmt: skip
        return tf.DebertaV2ForSequenceClassification(cfg)
    if kind.startswith("modernbert"):  # a head (dense, its classifier_activation, a norm) after cls or mean pooling
        return tf.ModernBertForSequenceClassification(tf.ModernBertConfig(**MODERNBERT_LIKE, **{
            key: CLASSIFIER_LIKE[key] for key in ("num_labels", "id2label", "label2id")},
            classifier_pooling="mean" if kind.endswith("mean") else "cls", classifier_bias=kind.endswith("mean")))
    if kind == "multi_label":  # each label's own sigmoid
        cfg = tf.BertConfig(problem_type="multi_label_classification", **CLASSIFIER_LIKE)
        return tf.BertForSequenceClassification(cfg)
    raise ValueError(kind)


CLASSIFIER_KINDS = ("bert", "roberta", "distilbert", "electra", "albert", "big_bird", "deberta_v2", "multi_label",
                    "modernbert", "modernbert_mean")  # fmt: skip


def save_tiny_classifier(kind: str, folder: Path, seed: int = 0):
    """A tiny sequence classifier of `kind` saved in `folder` with a WordPiece tokenizer; returns it, in eval mode."""
    from tests.tiny_models import _peaked_and_saved, wordpiece

    torch.manual_seed(seed)
    return _peaked_and_saved(classifier(kind), folder, wordpiece(V), norms_too=True, norm_names=("norm", "Norm"))


def save_tiny_answerer(kind: str, folder: Path, seed: int = 0):
    """A tiny extractive question-answering model of `kind` (a CLASSIFIER_KINDS encoder's config with its
    ...ForQuestionAnswering class: qa_outputs, a start and an end logit per token) saved in `folder` with a WordPiece
    tokenizer; returns it, in eval mode."""
    import transformers as tf

    from tests.tiny_models import _peaked_and_saved, wordpiece

    model = classifier(kind)
    config, name = model.config, type(model).__name__.replace("ForSequenceClassification", "ForQuestionAnswering")
    config.num_labels = 2  # qa_outputs: a start and an end logit
    torch.manual_seed(seed)
    return _peaked_and_saved(getattr(tf, name)(config), folder, wordpiece(V), norms_too=True,
                             norm_names=("norm", "Norm"))  # fmt: skip


TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")  # a named-entity tagger's labels
TAGGER_KINDS = ("bert", "roberta", "distilbert", "electra", "albert", "big_bird", "deberta_v2", "modernbert", "esm",
                "electra_discriminator", "llama")  # fmt: skip
REPLACED = ("original", "replaced")  # ELECTRA's discriminator's two labels: its one logit is p(replaced) through σ


def tagger(kind: str):
    """transformers' token classifier of `kind` (TAGGER_KINDS), five labels (TAGS), with its initial weights; for
    "multiple_choice", BertForMultipleChoice (a pooler and a one-score classifier, a sequence classifier's layout)."""
    import transformers as tf

    labels = dict(num_labels=len(TAGS), id2label=dict(enumerate(TAGS)), label2id={t: i for i, t in enumerate(TAGS)})
    if kind == "multiple_choice":
        return tf.BertForMultipleChoice(tf.BertConfig(**BERT_LIKE))
    if kind == "electra_discriminator":  # ElectraForPreTraining: dense, hidden_act (off GELU), one logit per token
        return tf.ElectraForPreTraining(tf.ElectraConfig(embedding_size=32, hidden_act="relu", **BERT_LIKE))
    families = {"bert": (tf.BertConfig, tf.BertForTokenClassification, {}),
                "llama": (tf.LlamaConfig, tf.LlamaForTokenClassification, dict(num_key_value_heads=2)),  # a decoder
                "roberta": (tf.RobertaConfig, tf.RobertaForTokenClassification, dict(pad_token_id=1)),
                "electra": (tf.ElectraConfig, tf.ElectraForTokenClassification, dict(embedding_size=32)),
                "albert": (tf.AlbertConfig, tf.AlbertForTokenClassification, dict(embedding_size=32)),
                "big_bird": (tf.BigBirdConfig, tf.BigBirdForTokenClassification, dict(block_size=4,
                                                                                      num_random_blocks=1)),
                "deberta_v2": (tf.DebertaV2Config, tf.DebertaV2ForTokenClassification, dict(
                    relative_attention=True, position_buckets=16, max_relative_positions=64,
                    pos_att_type=["p2c", "c2p"], share_att_key=True, norm_rel_ebd="layer_norm",
                    position_biased_input=False, type_vocab_size=0, pad_token_id=0))}  # fmt: skip
    if kind == "distilbert":
        cfg = tf.DistilBertConfig(vocab_size=V, dim=64, n_layers=2, n_heads=4, hidden_dim=96,
                                  max_position_embeddings=130, **labels)  # fmt: skip
        return tf.DistilBertForTokenClassification(cfg)
    if kind == "modernbert":  # its head (dense, classifier_activation, a norm) on every token before `classifier`
        return tf.ModernBertForTokenClassification(tf.ModernBertConfig(**MODERNBERT_LIKE, **labels))
    config_class, model_class, extra = families[kind]
    model = model_class(config_class(**BERT_LIKE, **labels, **extra))
    if kind == "big_bird":  # full attention on a short text
        model.bert.set_attention_type("original_full")
    return model


def save_tiny_tagger(kind: str, folder: Path, seed: int = 0):
    """A tiny token classifier of `kind` saved in `folder` with a WordPiece tokenizer; returns it, in eval mode."""
    from tests.tiny_models import _peaked_and_saved, wordpiece

    torch.manual_seed(seed)
    if kind == "esm":  # a residue tagger: ESM-2's own vocabulary and saver
        from tests.tiny_models_later import save_tiny_esm

        return save_tiny_esm(folder, tags=TAGS, seed=seed)
    return _peaked_and_saved(tagger(kind), folder, wordpiece(V), norms_too=True, norm_names=("norm", "Norm"))


DECODER_CLASSIFIER_KINDS = ("llama", "llama_tied", "gpt2")
DECODER_LABELS = dict(num_labels=2, id2label={0: "bad", 1: "good"}, label2id={"bad": 0, "good": 1})


def save_tiny_decoder_classifier(kind: str, folder: Path, seed: int = 0, pad_last_of: str | None = None):
    """A tiny decoder with a sequence-classification head (`score` on the last token that is not padding: a reward
    model's layout) of `kind` (DECODER_CLASSIFIER_KINDS), two labels, saved in `folder` with a WordPiece tokenizer;
    `pad_last_of`: a text whose last token is made the pad token. Returns the model, in eval mode."""
    import transformers as tf

    from tests.tiny_models import _peaked_and_saved, wordpiece

    tokenizer = wordpiece(V)
    pad = tokenizer.encode(pad_last_of).ids[-1] if pad_last_of else 0
    torch.manual_seed(seed)
    if kind.startswith("llama"):
        model = tf.LlamaForSequenceClassification(tf.LlamaConfig(
            vocab_size=V, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=128, pad_token_id=pad,
            tie_word_embeddings=kind == "llama_tied", **DECODER_LABELS))  # fmt: skip
    elif kind == "gpt2":
        model = tf.GPT2ForSequenceClassification(tf.GPT2Config(vocab_size=V, n_embd=64, n_layer=2, n_head=4,
                                                               n_positions=128, pad_token_id=pad, **DECODER_LABELS))
    else:
        raise ValueError(kind)
    return _peaked_and_saved(model, folder, tokenizer)
