"""An encoder's sequence-classification head, read where the checkpoint carries one.

A ...ForSequenceClassification checkpoint (a sentiment model such as distilbert-base-uncased-finetuned-sst-2-english,
cardiffnlp's RoBERTa classifiers, an NLI model) reads the whole text's class from the first token's final embedding
([CLS], <s>): a pooler (one dense map and an activation) and one linear map to a logit per label,

    logits = act(h_0 · W_pool + b_pool) · W_cls + b_cls

BERT, ALBERT and their kin pool with the encoder's own `pooler` (tanh), RoBERTa's family and ELECTRA with the head's
`classifier.dense` (tanh; ELECTRA's GELU, RoFormer's and BigBird's hidden_act), DistilBERT with `pre_classifier`
(ReLU), DeBERTa with its ContextPooler (`pooler.dense`, pooler_hidden_act), ModernBERT with its `head` (dense,
classifier_activation, then a LayerNorm) on the first token or on the mean of every position (classifier_pooling). The
labels are config.json's id2label; problem_type says how the logits read (softmax over the labels, a sigmoid each, or a
regression's score).

A ...ForTokenClassification checkpoint (a named-entity tagger such as dslim/bert-base-NER, a part-of-speech tagger)
labels every position from its own final embedding with one linear map, `logits_i = h_i · W_tag + b_tag`, under
`classifier` in every family read here (ModernBERT's `head` on each position first). config.json's architectures tell
the two apart where the tensors alone do not (a tagger converted with its encoder's pooler; ModernBERT's two share
their layout), and keep a multiple-choice model's one score (a pooler and a classifier too) from being read as a
verdict. A checkpoint without such a head (an embedding model's) is left as it is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from ..config import ENCODER_ARCHS, REPLACED_LABELS, ModelConfig
from ..errors import ModelLoadError

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class ClassifierNames:
    """Where one family keeps its pooler and its classifier (module paths in the checkpoint)."""

    pool: tuple[str, ...]  # the pooler's dense map, under any of these names (the model's prefix varies)
    out: str  # the linear map to one logit per label
    act: str  # the pooler's activation
    norm: str | None = None  # a LayerNorm after the activation (ModernBERT's head.norm)
    pool_bias: bool = True  # False: the dense map may have no bias (ModernBERT's has one only with classifier_bias)


# ModernBERT's head (dense, classifier_activation, a norm): after the first token or the mean of every position
# (classifier_pooling) in a sequence classifier, on every token in a tagger
MODERNBERT_HEAD = ClassifierNames(("head.dense",), "classifier", "gelu", norm="head.norm", pool_bias=False)
CLASSIFIERS = (
    ClassifierNames(("classifier.dense",), "classifier.out_proj", "tanh"),  # RoBERTa, XLM-R, CamemBERT, ELECTRA
    ClassifierNames(("pre_classifier",), "classifier", "relu"),  # DistilBERT
    ClassifierNames(("bert.pooler.dense", "albert.pooler", "ernie.pooler.dense", "pooler.dense"), "classifier",
                    "tanh"),  # BERT, ALBERT, ERNIE  # fmt: skip
    MODERNBERT_HEAD,
)
# Families whose pooler's activation is not their layout's own: (the config.json field naming it, its default)
POOLER_ACTS = {"electra": (None, "gelu"), "roformer": ("hidden_act", "gelu"), "big_bird": ("hidden_act", "gelu_new"),
               "deberta": ("pooler_hidden_act", "gelu"), "deberta-v2": ("pooler_hidden_act", "gelu"),
               "modernbert": ("classifier_activation", "gelu")}  # fmt: skip
# Classifiers whose forward gives the first token global attention (Longformer's): their verdict comes from a pass with
# that token reading and read by every position, which the engine's local windows do not run, so the head is not read.
GLOBAL_FIRST_TOKEN = ("longformer",)
# ELECTRA's discriminator (ElectraForPreTraining): dense, hidden_act, then one logit per token, p(replaced) = σ(logit)
DISCRIMINATOR = ClassifierNames(("discriminator_predictions.dense",), "discriminator_predictions.dense_prediction",
                                "gelu")  # fmt: skip
# config.json's architectures name the head: a class ending so is that task's (others: no classifier is read)
TASKS = {"ForSequenceClassification": "sequence", "ForTokenClassification": "token", "ForMultipleChoice": "choice",
         "ForQuestionAnswering": "answer"}  # fmt: skip
TASK_WORDS = {"sequence": "sequence classifier", "token": "token classifier", "choice": "multiple-choice model",
              "answer": "question-answering model"}  # fmt: skip
# An encoder-decoder's classifier (BartForSequenceClassification): dense → tanh → out_proj on the decoder's last </s>
SEQ2SEQ_CLASSIFIER = ClassifierNames(("classification_head.dense",), "classification_head.out_proj", "tanh")
SEQ2SEQ_CLASSIFIER_TYPES = ("bart", "mbart", "plbart")
BART_DECODER_START = 2  # transformers' BartConfig's decoder_start_token_id where config.json names none
PROBLEMS = {"single_label_classification": "softmax", "multi_label_classification": "sigmoid",
            "regression": "regression"}  # fmt: skip


def classifier_names(state: StateDict) -> tuple[ClassifierNames, str] | None:
    """The family whose head `state` holds and the name its pooler has there, or None."""
    for names in CLASSIFIERS:
        pool = next((p for p in names.pool if p + ".weight" in state), None)
        if pool is not None and names.out + ".weight" in state:
            return names, pool
    return None


def is_decoder_classifier(hf: dict, state: StateDict, config: ModelConfig) -> bool:
    """Whether the checkpoint is a decoder's classifier: a sequence classifier (a reward model) with a `score` map on
    its last token, or a token classifier with one on every token; either way without a language-model head."""
    decoder = config.causal and not config.is_encoder_decoder
    return decoder and named_task(hf) in ("sequence", "token") and "score.weight" in state


def attach_classifier_head(
    hf: dict, state: StateDict, config: ModelConfig, weights: StateDict
) -> tuple[ModelConfig, StateDict]:
    """(config, weights) with the encoder's classification head where `state` has one: weights gain classify.W_pool,
    b_pool, W_out and b_out (ModernBERT's norm as classify.ln); the config its labels, pooler activation, pooling and
    problem. A tagger's head (attach_tagger) where config.json's architectures allow one; a decoder's `score`
    (attach_decoder_classifier); anything else unchanged."""
    if is_decoder_classifier(hf, state, config):
        return attach_decoder_classifier(hf, state, config, weights)
    if is_seq2seq_classifier(hf, state, config):
        return attach_seq2seq_classifier(hf, state, config, weights)
    if config.arch not in ENCODER_ARCHS or config.is_encoder_decoder or config.causal:
        return config, weights
    task = named_task(hf)
    if task == "answer":
        return attach_answer_head(hf, state, config, weights)
    found = classifier_names(state) if task in (None, "sequence") else None
    if found is None:
        return attach_tagger(hf, state, config, weights) if task in (None, "token") else (config, weights)
    if hf.get("model_type") in GLOBAL_FIRST_TOKEN:  # its classifier's pass is not the one the engine runs
        return config, weights
    names, pool = found
    width = config.d_model
    head = _pooler(state, names, pool, width) | _linear(state, names.out, "out", width, "classification")
    n_labels = head["classify.W_out"].shape[1]
    problem = PROBLEMS.get(str(hf.get("problem_type") or ""), "regression" if n_labels == 1 else "softmax")
    return dataclasses.replace(config, class_labels=_labels(hf, n_labels), class_pool_act=_pool_act(hf, names),
                               class_problem=problem, class_pool="mean" if hf.get("classifier_pooling") == "mean"
                               else "first"), {**weights, **head}  # fmt: skip


def is_seq2seq_classifier(hf: dict, state: StateDict, config: ModelConfig) -> bool:
    """Whether the checkpoint is an encoder-decoder's sequence classifier the engine reads (BART's:
    facebook/bart-large-mnli; mBART's and PLBART's, whose decoders read the text's language code first)."""
    return (config.is_encoder_decoder and hf.get("model_type") in SEQ2SEQ_CLASSIFIER_TYPES
            and named_task(hf) == "sequence" and SEQ2SEQ_CLASSIFIER.out + ".weight" in state)  # fmt: skip


def attach_seq2seq_classifier(
    hf: dict, state: StateDict, config: ModelConfig, weights: StateDict
) -> tuple[ModelConfig, StateDict]:
    """BART's classification_head (dense → tanh → out_proj) as the pooler and classifier, read from the decoder's
    residual at the text's last </s> (class_pool "decoder_eos": attention_core/seq2seq_classify.py); its unembedding,
    which the adapter read as if tied, dropped (it has none)."""
    kept = {k: v for k, v in weights.items() if not k.startswith("unembed.")}
    dense = SEQ2SEQ_CLASSIFIER.pool[0]
    head = _pooler(state, SEQ2SEQ_CLASSIFIER, dense, config.d_model)
    head |= _linear(state, SEQ2SEQ_CLASSIFIER.out, "out", config.d_model, "classification")
    n_labels = head["classify.W_out"].shape[1]
    problem = PROBLEMS.get(str(hf.get("problem_type") or ""), "regression" if n_labels == 1 else "softmax")
    # Its shift reads config.decoder_start_token_id, which transformers' BartConfig sets to 2 where config.json names
    # none (the adapter's fallback, bos, is generate's, not this forward's)
    start = hf.get("decoder_start_token_id", BART_DECODER_START)
    config = dataclasses.replace(config, class_labels=_labels(hf, n_labels), class_pool_act=SEQ2SEQ_CLASSIFIER.act,
                                 class_problem=problem, class_pool="decoder_eos", decoder_start_token_id=start)
    return config, {**kept, **head}


def attach_decoder_classifier(
    hf: dict, state: StateDict, config: ModelConfig, weights: StateDict
) -> tuple[ModelConfig, StateDict]:
    """A decoder's sequence classifier: `score` (no bias where it has none) on the last token that is not the pad
    token, through the final norm; or its token classifier: `score` on every token. Its unembedding, which the adapter
    read as if tied, dropped (it has none)."""
    kept = {k: v for k, v in weights.items() if not k.startswith("unembed.")}
    if named_task(hf) == "token":
        head = _linear(state, "score", "tag", config.d_model, "token-classification", bias=False)
        return dataclasses.replace(config, tag_labels=_labels(hf, head["classify.W_tag"].shape[1])), {**kept, **head}
    head = _linear(state, "score", "out", config.d_model, "classification", bias=False)
    n_labels = head["classify.W_out"].shape[1]
    problem = PROBLEMS.get(str(hf.get("problem_type") or ""), "regression" if n_labels == 1 else "softmax")
    pad = hf.get("pad_token_id")
    return dataclasses.replace(config, class_labels=_labels(hf, n_labels), class_problem=problem, class_pool="last",
                               class_pad_id=int(pad) if isinstance(pad, int) else None), {**kept, **head}  # fmt: skip


def _pooler(state: StateDict, names: ClassifierNames, pool: str, width: int) -> StateDict:
    """The pooler's classify.W_pool [width, width], b_pool (where the checkpoint has it: a family may leave it out)
    and, where the family has one, its norm's classify.ln.w and ln.b."""
    parts = {"classify.W_pool": state.get(pool + ".weight"), "classify.b_pool": state.get(pool + ".bias")}
    if names.norm is not None:
        parts |= {"classify.ln.w": state.get(names.norm + ".weight"), "classify.ln.b": state.get(names.norm + ".bias")}
    optional = {"classify.ln.b"} | (set() if names.pool_bias else {"classify.b_pool"})
    if any(v is None for k, v in parts.items() if k not in optional):
        raise ModelLoadError(f"The classification head is incomplete: {pool} needs a weight and a bias"
                             + (f", {names.norm} a weight." if names.norm else "."))  # fmt: skip
    parts = {k: v.float() for k, v in parts.items() if v is not None}
    parts["classify.W_pool"] = parts["classify.W_pool"].T.contiguous()  # [d_model, d_model]
    if any(v.shape != ((width, width) if k == "classify.W_pool" else (width,)) for k, v in parts.items()):
        raise ModelLoadError(f"The classification head's shapes do not fit the encoder's width {width}.")
    return parts


def _linear(state: StateDict, name: str, ours: str, width: int, what: str, bias: bool = True) -> StateDict:
    """The map to one logit per label: classify.W_{ours} [width, n_labels] and b_{ours} (`bias` false: where the
    checkpoint has one; a decoder's `score` has none); `what` names the head."""
    if name + ".weight" not in state or (bias and name + ".bias" not in state):
        raise ModelLoadError(f"The {what} head is incomplete: {name} needs a weight and a bias.")
    W = state[name + ".weight"].float().T.contiguous()
    parts = {f"classify.W_{ours}": W} | ({f"classify.b_{ours}": state[name + ".bias"].float()}
                                         if name + ".bias" in state else {})  # fmt: skip
    if W.dim() != 2 or W.shape[0] != width or any(v.shape != (W.shape[1],) for v in list(parts.values())[1:]):
        raise ModelLoadError(f"The {what} head's shapes do not fit the model's width {width}.")
    return parts


def _pool_act(hf: dict, names: ClassifierNames) -> str:
    """The pooler's activation: the family's own where config.json names it (ELECTRA's head's GELU, RoFormer's
    hidden_act, DeBERTa's ContextPooler, ModernBERT's classifier_activation), else its layout's."""
    if hf.get("model_type") not in POOLER_ACTS:
        return names.act
    return _config_act(hf, *POOLER_ACTS[hf["model_type"]])


def _config_act(hf: dict, field: str | None, default: str) -> str:
    """The engine's name of the activation config.json's `field` names (`default` where it names none)."""
    from .hf_adapters import _act  # hf_adapters imports the adapters, which import this module's callers

    return _act(str(hf.get(field, default) if field else default))


def named_task(hf: dict) -> str | None:
    """The task (TASKS) of the head config.json's architectures name, None where they name none of them."""
    for name in hf.get("architectures") or ():
        for suffix, task in TASKS.items():
            if str(name).endswith(suffix):
                return task
    return None


def refuse_unread_head(hf: dict, state: StateDict, config: ModelConfig) -> None:
    """Raise ModelLoadError where config.json's architectures name a classifier's head (TASKS) on a model read as a
    decoder or an encoder-decoder (facebook/bart-large-mnli, a decoder's question-answering head), but for a decoder's
    sequence or token classifier (is_decoder_classifier, read): that head is not read there, and the model has no
    language-model head, so tied embeddings would stand in for one and its next-token logits be made up."""
    task = named_task(hf)
    if task is None or not (config.causal or config.is_encoder_decoder) or is_decoder_classifier(hf, state, config):
        return
    if is_seq2seq_classifier(hf, state, config):
        return
    kind = "an encoder-decoder" if config.is_encoder_decoder else "a decoder"
    names = ", ".join(map(str, hf["architectures"]))
    raise ModelLoadError(
        f"{names} is a {TASK_WORDS[task]} built on {kind}: this engine does not read its head yet, and without it the "
        "model has no logits of its own (its embeddings would stand in for a language-model head it does not have). "
        "Read are the classifiers built on encoders (BERT, RoBERTa, DeBERTa, ModernBERT and kin) and decoders' "
        "sequence and token classifiers (a `score` map: reward models).")


def attach_tagger(hf: dict, state: StateDict, config: ModelConfig, weights: StateDict) -> tuple[ModelConfig, StateDict]:
    """(config, weights) with a token classifier's head where `state` has one (a `classifier` map from the encoder's
    width to the labels, no pooler; ModernBERT's head before it; ELECTRA's discriminator's two dense maps): weights
    gain classify.W_tag [d_model, n_labels] and b_tag (and a head before it as the pooler's classify.W_pool, b_pool,
    ln); the config, labels."""
    if DISCRIMINATOR.out + ".weight" in state:  # ELECTRA's discriminator: is each token the text's own or replaced?
        head = _pooler(state, DISCRIMINATOR, DISCRIMINATOR.pool[0], config.d_model)
        head |= _linear(state, DISCRIMINATOR.out, "tag", config.d_model, "replaced-token-detection")
        act = _config_act(hf, "hidden_act", DISCRIMINATOR.act)
        return dataclasses.replace(config, tag_labels=REPLACED_LABELS, class_pool_act=act), {**weights, **head}
    if "classifier.weight" not in state or state["classifier.weight"].dim() != 2:
        return config, weights
    head = _linear(state, "classifier", "tag", config.d_model, "token-classification")
    if "head.dense.weight" in state:  # ModernBERT's: dense, activation and norm on every token first
        head |= _pooler(state, MODERNBERT_HEAD, "head.dense", config.d_model)
        config = dataclasses.replace(config, class_pool_act=_pool_act(hf, MODERNBERT_HEAD))
    return dataclasses.replace(config, tag_labels=_labels(hf, head["classify.W_tag"].shape[1])), {**weights, **head}


def attach_answer_head(
    hf: dict, state: StateDict, config: ModelConfig, weights: StateDict
) -> tuple[ModelConfig, StateDict]:
    """(config, weights) with an extractive question-answering head where `state` has one (`qa_outputs`, from the
    encoder's width to a start and an end logit per token: BERT's, RoBERTa's, DistilBERT's, ALBERT's, ELECTRA's,
    DeBERTa's; ModernBERT's is its `classifier`, after a head of its own): weights gain classify.W_answer
    [d_model, 2] and b_answer (ModernBERT's head, on every token, as the pooler's classify.W_pool, b_pool, ln, as a
    tagger's). Called where config.json's architectures name a ...ForQuestionAnswering."""
    modern = "head.dense.weight" in state
    name = "classifier" if modern else "qa_outputs"
    if name + ".weight" not in state:
        return config, weights
    head = _linear(state, name, "answer", config.d_model, "question-answering")
    if head["classify.W_answer"].shape[1] != 2:
        raise ModelLoadError("The question-answering head must give two logits per token (start and end).")
    if modern:  # dense, activation and norm on every token first
        head |= _pooler(state, MODERNBERT_HEAD, "head.dense", config.d_model)
        config = dataclasses.replace(config, class_pool_act=_pool_act(hf, MODERNBERT_HEAD))
    return dataclasses.replace(config, answer_head=True), {**weights, **head}


def _labels(hf: dict, n: int) -> tuple[str, ...]:
    """config.json's id2label in order (its keys are strings in the file), LABEL_i where it names none."""
    table = hf.get("id2label") or {}
    if not isinstance(table, dict):
        raise ModelLoadError(f"config.json's id2label is {table!r}, not a table of class ids and their labels.")
    named = {int(k): str(v) for k, v in table.items() if str(k).lstrip("-").isdigit()}
    return tuple(named.get(i, f"LABEL_{i}") for i in range(n))
