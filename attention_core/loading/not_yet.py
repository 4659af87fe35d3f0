"""Architectures this engine cannot run yet, and why, so that loading one says so by name (a Hugging Face model_type
or a GGUF architecture) instead of listing every supported one.

Hybrids: some layers mix tokens without attention. Of those mixers the engine runs LFM2's and LFM3's short convolution
(attention_core/short_conv.py), the gated delta rule of Qwen3.5 and OLMo Hybrid (delta_net.py), the Mamba-2 scan of
Granite 4, Bamba and Nemotron-H (mamba.py), Jamba's Mamba (selective_scan.py) and RecurrentGemma's RG-LRU
(rg_lru.py); other models' state-space, linear-attention and recurrent layers are not read yet.
Recurrent models have no attention at all. Gemma 3n and Gemma 4 give layers different head widths and let later
layers reuse earlier ones' keys and values, which the engine's one head width per model does not hold. Models that
read audio or images (Whisper, wav2vec 2.0, ViT, CLIP, ...) are not text models: a text box has nothing to give them.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection

_HYBRID = ("some of its layers mix tokens without attention ({}), which are not read for this model yet (of the "
           "hybrids, this engine runs LFM2's and LFM3's short convolutions, the gated delta rule of Qwen3.5 and OLMo "
           "Hybrid, Kimi Linear's delta attention, the Mamba-2 layers of Granite 4, Bamba, Nemotron-H and Falcon-H1, "
           "Jamba's Mamba layers and RecurrentGemma's recurrent blocks)")  # fmt: skip
_RECURRENT = "it has no attention layers ({}), so it has no attention patterns to show"
_AUDIO = "it reads audio ({}), not text: a text box has nothing to give it"
_IMAGES = "it reads images, not text: a text box has nothing to give it"
_WIDTHS = ("its layers differ in head widths and later layers reuse earlier ones' keys and values, which this engine "
           "does not run")  # fmt: skip

_REASONS = {
    "Zamba": _HYBRID.format("Mamba layers"),
    "Kimi Linear (GGUF)": "its GGUF file is not read yet (Kimi Linear's Hugging Face folders are)",
    "MiniMax-01": _HYBRID.format("lightning attention"),
    "Ling hybrid": _HYBRID.format("linear attention"),
    "PLaMo 2": _HYBRID.format("Mamba layers"),
    "Mamba": _RECURRENT.format("state-space layers"),
    "RWKV": _RECURRENT.format("RWKV's recurrent time mixing"),
    "xLSTM": _RECURRENT.format("xLSTM's recurrent blocks"),
    "Gemma 3n": _WIDTHS,
    "Gemma 4": _WIDTHS,
    "BitNet": "its ternary weights multiply activations rounded to 8 bits per token, which this engine does not run",
    "Whisper": _AUDIO.format("log-mel spectrograms"),
    "wav2vec 2.0": _AUDIO.format("waveforms"),
    **dict.fromkeys(("ViT", "DeiT", "BEiT", "DINOv2", "Swin", "ConvNeXt"), _IMAGES),
    **dict.fromkeys(("CLIP", "SigLIP"), _IMAGES + " (beside a text tower this tool does not load alone)"),
    "HuBERT": _AUDIO.format("waveforms"),
    "WavLM": _AUDIO.format("waveforms"),
}
# Hugging Face model_types and GGUF architectures (llama.cpp's names) → the family's name above
_NAMES = {

    "zamba": "Zamba", "zamba2": "Zamba",
    "kimi-linear": "Kimi Linear (GGUF)", "minimax": "MiniMax-01", "bailing_hybrid": "Ling hybrid",
    "plamo2": "PLaMo 2", "mamba": "Mamba", "mamba2": "Mamba",
    "falcon_mamba": "Mamba", "rwkv": "RWKV", "rwkv6": "RWKV", "rwkv7": "RWKV", "xlstm": "xLSTM",
    "gemma3n": "Gemma 3n", "gemma3n_text": "Gemma 3n", "gemma4": "Gemma 4", "gemma4_text": "Gemma 4",
    "bitnet": "BitNet", "whisper": "Whisper", "wav2vec2": "wav2vec 2.0", "hubert": "HuBERT", "wavlm": "WavLM",
    "vit": "ViT", "deit": "DeiT", "beit": "BEiT", "dinov2": "DINOv2", "swin": "Swin", "convnext": "ConvNeXt",
    "clip": "CLIP", "siglip": "SigLIP",
}  # fmt: skip


def not_yet(kind: str) -> str | None:
    """Why `kind` (a model_type or GGUF architecture) is not run yet, as a sentence; None for one not listed."""
    family = _NAMES.get(kind)
    return None if family is None else f"{family}: {_REASONS[family]}."


def not_read(what: str, kind: str, known: Collection[str]) -> str:
    """The sentence refusing `kind` (a `what`: "model_type" or "GGUF architecture") that neither an adapter reads nor
    not_yet names: the nearest of `known` where one is near (a typo, a size suffix), and where the whole list is, not
    the list itself (~180 names)."""
    near = difflib.get_close_matches(kind, sorted(known), n=1, cutoff=0.75)
    guess = f" (is it {near[0]!r}?)" if near else ""
    return f"{what} {kind!r} is not supported{guess}; the {len(known)} this engine reads are listed in docs/models.md."
