"""The language model of a vision-language checkpoint whose text model is an architecture read here: LLaVA (1.5,
NeXT, NeXT-Video, OneVision, ViP-LLaVA), Video-LLaVA, VideoLLaMA 3, Idefics2, Idefics3 and SmolVLM, InternVL,
DeepSeek-VL (and its hybrid), Janus, Ovis2, GOT-OCR 2, LightOnOCR, HyperCLOVA X Vision, Fuyu (its Persimmon),
LFM2-VL, LFM3-VL and Qwen3.5 (their hybrid layers); and Llama 3.2 Vision's (Mllama), whose cross-attention layers a
text skips.

Each stores its language model whole beside a vision tower and a projector: the text model under
`model.language_model.` (transformers 5's layout), `language_model.model.` (checkpoints saved before it) or
`model.text_model.` (Idefics, SmolVLM), its unembedding as `lm_head.weight` or `language_model.lm_head.weight`. A
text without images runs through that language model alone, so the adapter reads `text_config` with the text
architecture's own adapter, renames the language model's tensors to that architecture's plain layout (`model.`,
`lm_head.`) and hands them to its weights reader; the vision tower and projector are not read. (Gemma 3, Mistral 3,
Llama 4, EXAONE 4.5 and the Qwen-VL family have their own adapters; PaliGemma, whose prompt is read both ways, is not
this kind. Aya Vision and Command A Vision are left out: transformers runs their Cohere 2 language model without the
logit_scale that Cohere2ForCausalLM, and vLLM's port of them, multiply the logits by, so which logits are theirs is not
settled.)
"""

from __future__ import annotations

import dataclasses

from ..config import ModelConfig
from ..errors import ModelLoadError
from .hf_adapters import StateDict, adapter_for, llama_config, llama_weights
from .hf_adapters_recent import _defaults, _language_config

VISION_LANGUAGE_TYPES = (
    "llava", "llava_next", "llava_next_video", "llava_onevision", "vipllava", "idefics2", "idefics3", "smolvlm",
    "internvl", "deepseek_vl", "got_ocr2", "video_llava", "video_llama_3", "ovis2", "janus", "lighton_ocr",
    "hyperclovax_vision_v2", "deepseek_vl_hybrid", "lfm2_vl", "lfm3_vl", "qwen3_5", "qwen3_5_moe", "fuyu",
)  # fmt: skip
_TEXT_MODEL = ("model.language_model.", "language_model.model.", "model.text_model.")  # → model.
_HEAD = ("lm_head.weight", "language_model.lm_head.weight")  # → lm_head.weight
# LlamaConfig's defaults: LLaVA 1.5's config.json (llava-hf/llava-1.5-7b-hf) names only the text model's vocabulary,
# context and norm epsilon, and transformers fills in the rest from them (Vicuna-7B's sizes)
_LLAMA_DEFAULTS = dict(
    vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
    hidden_act="silu", max_position_embeddings=2048, rms_norm_eps=1e-6,
)  # fmt: skip


def vision_language_config(hf: dict, name: str) -> ModelConfig:
    """The language model's config, made by its own architecture's adapter from text_config."""
    text = _language_config(hf)
    kind, text_kind = hf.get("model_type"), text.get("model_type")
    if not text_kind:
        raise ModelLoadError(f"The {kind} checkpoint's config.json names no text_config.model_type.")
    if text_kind == "llama":
        text = _defaults(text, **_LLAMA_DEFAULTS)
    try:
        make_config, make_weights = adapter_for(text)
        cfg = make_config(text, name)
        same_reader = adapter_for({"model_type": cfg.arch})[1] is make_weights  # what the weights step looks up
    except ModelLoadError as exc:
        raise ModelLoadError(f"The language model of this {kind} checkpoint is {text_kind!r}: {exc}") from exc
    if not same_reader:
        raise ModelLoadError(f"The language model of a {kind} checkpoint is not read for {text_kind!r} models yet.")
    return cfg


def vision_language_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """The language model's tensors renamed to its architecture's plain layout, read by that architecture's reader
    (the config step checked that cfg.arch names it)."""
    return adapter_for({"model_type": cfg.arch})[1](_plain_language_model(sd), cfg)


def _plain_language_model(sd: StateDict) -> StateDict:
    """The language model's tensors under `model.` and `lm_head.weight`, the rest of the checkpoint left out."""
    plain: StateDict = {}
    for key, tensor in sd.items():
        prefix = next((p for p in _TEXT_MODEL if key.startswith(p)), None)
        if prefix is not None:
            plain["model." + key[len(prefix) :]] = tensor
        elif key in _HEAD:
            plain["lm_head.weight"] = tensor
    if not plain:
        raise ModelLoadError(f"The checkpoint holds no language model under {', '.join(_TEXT_MODEL)}.")
    return plain


# ── Mllama (Llama 3.2 Vision): its cross-attention layers are skipped on a text ──────────────────────────────────
_MLLAMA_CROSS = [3, 8, 13, 18, 23, 28, 33, 38]  # MllamaTextConfig's default cross_attention_layers


def _mllama_layers(text: dict) -> tuple[list[int], list[int]]:
    """(the checkpoint's self-attention layers, in order; its cross-attention layers)."""
    n = int(text["num_hidden_layers"])
    cross = sorted(int(i) for i in (text.get("cross_attention_layers") or _MLLAMA_CROSS) if int(i) < n)
    return [i for i in range(n) if i not in cross], cross


def mllama_config(hf: dict, name: str) -> ModelConfig:
    """Llama 3.2 Vision's language model on a text: MllamaTextModel skips each cross-attention layer when there is no
    image (nothing for it to read), so a text runs through its self-attention layers alone, a Llama's. They are this
    model's layers, renumbered from 0; the sidebar says so."""
    text = _defaults(_language_config(hf), **_LLAMA_DEFAULTS)
    kept, cross = _mllama_layers(text)
    listed = f"layer {cross[0]}" if len(cross) == 1 else f"layers {', '.join(map(str, cross))}"
    note = (f"Its cross-attention (the checkpoint's {listed}), which reads the image, is skipped on a text as "
            f"transformers runs one: layers 0–{len(kept) - 1} here are its {len(kept)} self-attention layers, in "
            "order.")  # fmt: skip
    cfg = llama_config({**text, "model_type": "llama", "num_hidden_layers": len(kept)}, name)
    return dataclasses.replace(cfg, arch="mllama", conversion_notes=(*cfg.conversion_notes, note))


def mllama_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """The self-attention layers' tensors, renumbered 0 … n − 1 under a Llama's names; the embedding's 8 image-token
    rows past the text vocabulary kept (no text token reads them)."""
    plain = _plain_language_model(sd)
    found = sorted({int(k.split(".")[2]) for k in plain if k.startswith("model.layers.")})
    kept = [i for i in found if f"model.layers.{i}.self_attn.q_proj.weight" in plain]
    if len(kept) != cfg.n_layers:
        raise ModelLoadError(f"The checkpoint has {len(kept)} self-attention layers; the config says {cfg.n_layers}.")
    renamed = {k: v for k, v in plain.items() if not k.startswith("model.layers.")}
    for new, old in enumerate(kept):
        prefix = f"model.layers.{old}."
        renamed.update({f"model.layers.{new}.{k[len(prefix):]}": v for k, v in plain.items() if k.startswith(prefix)})
    return llama_weights(renamed, cfg)


ADAPTERS = {kind: (vision_language_config, vision_language_weights) for kind in VISION_LANGUAGE_TYPES}
ADAPTERS["mllama"] = (mllama_config, mllama_weights)
