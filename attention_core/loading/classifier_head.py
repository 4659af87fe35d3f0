"""An encoder's sequence-classification head, read where the checkpoint carries one.

A ...ForSequenceClassification checkpoint (a sentiment model such as distilbert-base-uncased-finetuned-sst-2-english,
cardiffnlp's RoBERTa classifiers, an NLI model) reads the whole text's class from the first token's final embedding
([CLS], <s>): a pooler (one dense map and an activation) and one linear map to a logit per label,

    logits = act(h_0 · W_pool + b_pool) · W_cls + b_cls

BERT, ALBERT and their kin pool with the encoder's own `pooler` (tanh), RoBERTa's family and ELECTRA with the head's
`classifier.dense` (tanh; ELECTRA's GELU, RoFormer's and BigBird's hidden_act), DistilBERT with `pre_classifier`
(ReLU), DeBERTa with its ContextPooler (`pooler.dense`, pooler_hidden_act). The labels are config.json's
id2label; problem_type says how the logits read (softmax over the labels, a sigmoid each, or a regression's score).
A ...ForTokenClassification checkpoint (a named-entity tagger such as dslim/bert-base-NER, a part-of-speech tagger)
labels every position from its own final embedding with one linear map, `logits_i = h_i · W_tag + b_tag`, under
`classifier` in every family read here. config.json's architectures tell the two apart where the tensors alone do not
(a tagger converted with its encoder's pooler), and keep a multiple-choice model's one score (a pooler and a
classifier too) from being read as a verdict. A checkpoint without such a head (an embedding model's) is left as it is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from ..config import ENCODER_ARCHS, ModelConfig
from ..errors import ModelLoadError

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class ClassifierNames:
    """Where one family keeps its pooler and its classifier (module paths in the checkpoint)."""

    pool: tuple[str, ...]  # the pooler's dense map, under any of these names (the model's prefix varies)
    out: str  # the linear map to one logit per label
    act: str  # the pooler's activation


CLASSIFIERS = (
    ClassifierNames(("classifier.dense",), "classifier.out_proj", "tanh"),  # RoBERTa, XLM-R, CamemBERT, ELECTRA
    ClassifierNames(("pre_classifier",), "classifier", "relu"),  # DistilBERT
    ClassifierNames(("bert.pooler.dense", "albert.pooler", "ernie.pooler.dense", "pooler.dense"), "classifier",
                    "tanh"),  # BERT, ALBERT, ERNIE  # fmt: skip
)
# Families whose pooler's activation is not their layout's own: (the config.json field naming it, its default)
POOLER_ACTS = {"electra": (None, "gelu"), "roformer": ("hidden_act", "gelu"), "big_bird": ("hidden_act", "gelu_new"),
               "deberta": ("pooler_hidden_act", "gelu"), "deberta-v2": ("pooler_hidden_act", "gelu")}  # fmt: skip
# Classifiers whose forward gives the first token global attention (Longformer's): their verdict comes from a pass with
# that token reading and read by every position, which the engine's local windows do not run, so the head is not read.
GLOBAL_FIRST_TOKEN = ("longformer",)
# config.json's architectures name the head: a class ending so is that task's (others: no classifier is read)
TASKS = {"ForSequenceClassification": "sequence", "ForTokenClassification": "token", "ForMultipleChoice": "choice",
         "ForQuestionAnswering": "answer"}  # fmt: skip
PROBLEMS = {"single_label_classification": "softmax", "multi_label_classification": "sigmoid",
            "regression": "regression"}  # fmt: skip


def classifier_names(state: StateDict) -> tuple[ClassifierNames, str] | None:
    """The family whose head `state` holds and the name its pooler has there, or None."""
    for names in CLASSIFIERS:
        pool = next((p for p in names.pool if p + ".weight" in state), None)
        if pool is not None and names.out + ".weight" in state:
            return names, pool
    return None


def attach_classifier_head(
    hf: dict, state: StateDict, config: ModelConfig, weights: StateDict
) -> tuple[ModelConfig, StateDict]:
    """(config, weights) with the encoder's classification head where `state` has one: weights gain classify.W_pool,
    b_pool, W_out and b_out; the config its labels, pooler activation and problem. Anything else unchanged."""
    if config.arch not in ENCODER_ARCHS or config.is_encoder_decoder or config.causal:
        return config, weights
    task = named_task(hf)
    found = classifier_names(state) if task in (None, "sequence") else None
    if found is None:
        return attach_tagger(hf, state, config, weights) if task in (None, "token") else (config, weights)
    if hf.get("model_type") in GLOBAL_FIRST_TOKEN:  # its classifier's pass is not the one the engine runs
        return config, weights
    names, pool = found
    head = {f"classify.{ours}": state[f"{theirs}.{part}"].float() for ours, theirs, part in (
        ("W_pool", pool, "weight"), ("b_pool", pool, "bias"), ("W_out", names.out, "weight"),
        ("b_out", names.out, "bias")) if f"{theirs}.{part}" in state}  # fmt: skip
    if len(head) != 4:
        raise ModelLoadError(f"The classification head is incomplete: {pool} and {names.out} need a weight and a bias.")
    head["classify.W_pool"] = head["classify.W_pool"].T.contiguous()  # [d_model, d_model]
    head["classify.W_out"] = head["classify.W_out"].T.contiguous()  # [d_model, n_labels]
    n_labels = head["classify.W_out"].shape[1]
    if head["classify.W_pool"].shape != (config.d_model, config.d_model) or head["classify.W_out"].shape[0] != (
            config.d_model) or head["classify.b_out"].shape != (n_labels,):  # fmt: skip
        raise ModelLoadError(f"The classification head's shapes do not fit the encoder's width {config.d_model}.")
    act = names.act
    if hf.get("model_type") in POOLER_ACTS:  # ELECTRA's head's own GELU, RoFormer's hidden_act, DeBERTa's ContextPooler
        from .hf_adapters import _act  # hf_adapters imports the adapters, which import this module's callers

        field, default = POOLER_ACTS[hf["model_type"]]
        act = _act(str(hf.get(field, default) if field else default))
    problem = PROBLEMS.get(str(hf.get("problem_type") or ""), "regression" if n_labels == 1 else "softmax")
    return dataclasses.replace(config, class_labels=_labels(hf, n_labels), class_pool_act=act,
                               class_problem=problem), {**weights, **head}  # fmt: skip


def named_task(hf: dict) -> str | None:
    """The task (TASKS) of the head config.json's architectures name, None where they name none of them."""
    for name in hf.get("architectures") or ():
        for suffix, task in TASKS.items():
            if str(name).endswith(suffix):
                return task
    return None


def attach_tagger(hf: dict, state: StateDict, config: ModelConfig, weights: StateDict) -> tuple[ModelConfig, StateDict]:
    """(config, weights) with a token classifier's head where `state` has one (a `classifier` map from the encoder's
    width to the labels, no pooler): weights gain classify.W_tag [d_model, n_labels] and b_tag; the config, labels."""
    if "classifier.weight" not in state or state["classifier.weight"].dim() != 2 or "head.dense.weight" in state:
        return config, weights  # ModernBERT's: a dense map, an activation and a norm before `classifier`, not read
    if "classifier.bias" not in state:
        raise ModelLoadError("The token-classification head is incomplete: classifier needs a weight and a bias.")
    W_tag, b_tag = state["classifier.weight"].float().T.contiguous(), state["classifier.bias"].float()
    if W_tag.shape[0] != config.d_model or b_tag.shape != (W_tag.shape[1],):
        raise ModelLoadError(f"The token-classification head's shapes do not fit the encoder's width {config.d_model}.")
    head = {"classify.W_tag": W_tag, "classify.b_tag": b_tag}
    return dataclasses.replace(config, tag_labels=_labels(hf, W_tag.shape[1])), {**weights, **head}


def _labels(hf: dict, n: int) -> tuple[str, ...]:
    """config.json's id2label in order (its keys are strings in the file), LABEL_i where it names none."""
    named = {int(k): str(v) for k, v in (hf.get("id2label") or {}).items() if str(k).lstrip("-").isdigit()}
    return tuple(named.get(i, f"LABEL_{i}") for i in range(n))
