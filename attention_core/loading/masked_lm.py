"""An encoder's masked-language-model head, read where the checkpoint carries one.

BERT, RoBERTa, ESM and their kin are trained to fill in masked tokens: a prediction head turns the last layer's
embedding at each position into logits over the vocabulary, LayerNorm(act(x·W_head + b_head))·W_U + b_U, with W_U
the word embeddings (tied) in every checkpoint transformers writes by default. A ...ForMaskedLM checkpoint (what
bert-base-uncased, roberta-base or facebook/esm2_* ship) stores the head beside the encoder; an embedding model
(all-MiniLM-L6-v2, a ...Model checkpoint) does not, and then the encoder predicts nothing, as before.

The head becomes the same unembedding step a decoder's final norm and W_U are (`model.unembed`, with
`ModelConfig.head_act`), so the logit lens, a trace's logits and the ablation sweep read an encoder through it. Its
logits at a position are the model's guess for the token at that position, not the next one (`ModelConfig.masked_lm`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from ..config import ENCODER_ARCHS, ModelConfig
from ..errors import ModelLoadError

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class HeadNames:
    """Where one family keeps its head, each name a module path in the checkpoint (its .weight and .bias)."""

    dense: str  # x·W_head + b_head: [d_model → d_head_out] (ALBERT and ELECTRA's generator: to the embedding width)
    norm: str  # the LayerNorm after the activation
    decoder: str | None  # W_U where the embeddings are not tied (None: always the embeddings)
    bias: str  # b_U, one logit bias per vocabulary entry (transformers ties decoder.bias to it)
    act_field: str | None  # the config.json field naming the activation; None: GELU, fixed in the family's code
    act_default: str = "gelu"
    # Keys of which one must be there too: ModernBERT's classifiers keep a `head` of the same layout for their
    # classifier, so only its decoder's tensors say the head is a masked-language model's.
    confirm: tuple[str, ...] = ()


HEADS = (
    HeadNames("cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm", "cls.predictions.decoder",
              "cls.predictions.bias", "hidden_act"),  # BERT, ERNIE, RoFormer, BigBird, DeBERTa's legacy layout
    HeadNames("cls.predictions.dense", "cls.predictions.LayerNorm", "cls.predictions.decoder",
              "cls.predictions.decoder.bias", "hidden_act"),  # RemBERT: to output_embedding_size, its own decoder
    HeadNames("lm_head.dense", "lm_head.layer_norm", "lm_head.decoder", "lm_head.bias",
              None),  # RoBERTa, ESM, ESM C, MPNet
    HeadNames("vocab_transform", "vocab_layer_norm", "vocab_projector", "vocab_projector.bias", "activation"),  # Distil
    HeadNames("predictions.dense", "predictions.LayerNorm", "predictions.decoder", "predictions.bias",
              "hidden_act", "gelu_new"),  # ALBERT
    HeadNames("generator_predictions.dense", "generator_predictions.LayerNorm", "generator_lm_head",
              "generator_lm_head.bias", None),  # ELECTRA's generators
    HeadNames("lm_predictions.lm_head.dense", "lm_predictions.lm_head.LayerNorm", None,
              "lm_predictions.lm_head.bias", "hidden_act"),  # DeBERTa v2 and v3
    HeadNames("head.dense", "head.norm", "decoder", "decoder.bias", "classifier_activation",
              confirm=("decoder.bias", "decoder.weight")),  # ModernBERT
)  # fmt: skip

UNTIED_BY_DEFAULT = ("esmc",)  # model types whose config class defaults tie_word_embeddings to false


def head_names(state: StateDict) -> HeadNames | None:
    """The family whose head `state` holds, or None (an embedding model's checkpoint)."""
    return next((h for h in HEADS if h.dense + ".weight" in state
                 and (not h.confirm or any(key in state for key in h.confirm))), None)  # fmt: skip


def attach_masked_lm_head(
    hf: dict, state: StateDict, config: ModelConfig, weights: StateDict
) -> tuple[ModelConfig, StateDict]:
    """(config, weights) with the encoder's masked-language-model head where `state` (the checkpoint as read) has
    one: weights gain unembed.W_head, b_head, unembed.ln.w and .b, b_U, and W_U where not tied; the config
    says masked_lm and names the head's activation. Anything else is returned unchanged."""
    names = head_names(state)
    if names is None or config.arch not in ENCODER_ARCHS or config.is_encoder_decoder or config.causal:
        return config, weights
    from .hf_adapters import _act  # hf_adapters imports the adapters, which import this module's callers

    def get(key: str) -> torch.Tensor:
        if key not in state:
            raise ModelLoadError(f"The masked-language-model head is incomplete: the checkpoint lacks {key!r}.")
        return state[key].float()

    head = {"unembed.W_head": get(names.dense + ".weight").T.contiguous()}  # [d_model, d_out]
    if names.dense + ".bias" in state:  # ModernBERT's classifier_bias may leave it out
        head["unembed.b_head"] = get(names.dense + ".bias")
    head["unembed.ln.w"] = get(names.norm + ".weight")
    if names.norm + ".bias" in state:  # ModernBERT's norm_bias may leave it out
        head["unembed.ln.b"] = get(names.norm + ".bias")
    untied_default = hf.get("model_type") in UNTIED_BY_DEFAULT  # config.json may leave a default value out
    tied = hf.get("tie_word_embeddings", not untied_default) is not False or names.decoder is None
    # The logit bias: transformers ties the decoder's bias to the head's own where it ties the embeddings, and the
    # forward pass adds the decoder's (or, without a decoder module, the head's) otherwise.
    biases = (names.bias, f"{names.decoder}.bias")
    bias = next((key for key in (biases if tied else biases[::-1]) if key in state), None)
    if bias is not None:  # ModernBERT's decoder_bias may leave it out
        head["unembed.b_U"] = get(bias)
    if not tied:  # transformers reads the decoder's own matrix only where the config unties it
        head["unembed.W_U"] = get(names.decoder + ".weight").T.contiguous()  # [d_out, d_vocab]
    _check_widths(head, weights, config)
    act = _act(str(hf.get(names.act_field, names.act_default) if names.act_field else "gelu"))
    return dataclasses.replace(config, masked_lm=True, head_act=act, tie_embeddings=tied), {**weights, **head}


def _check_widths(head: StateDict, weights: StateDict, config: ModelConfig) -> None:
    """The head must read d_model and write the width W_U reads, and the logit bias must cover the vocabulary."""
    d_in, d_out = head["unembed.W_head"].shape
    w_u = head.get("unembed.W_U", weights["embed.W_E"].T)  # [d_out, d_vocab]
    if d_in != config.d_model or w_u.shape != (d_out, config.d_vocab) or head["unembed.ln.w"].shape != (d_out,):
        shapes = f"dense {d_in} → {d_out}, LayerNorm {head['unembed.ln.w'].numel()}, unembedding {tuple(w_u.shape)}"
        raise ModelLoadError(f"The masked-language-model head's shapes do not fit the encoder: {shapes} for d_model "
                             f"{config.d_model} and {config.d_vocab} tokens.")  # fmt: skip
    if "unembed.b_U" in head and head["unembed.b_U"].shape != (config.d_vocab,):
        raise ModelLoadError(f"The masked-language-model head's logit bias has {head['unembed.b_U'].numel()} entries, "
                             f"not one per token ({config.d_vocab}).")  # fmt: skip
