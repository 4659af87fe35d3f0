"""GGUF files (llama.cpp, Ollama, LM Studio) → (ModelConfig, canonical float32 weights, tokenizer).

`reader` reads metadata, dequantises tensors and builds the tokenizer; one module per architecture family
maps llama.cpp's tensor names to the canonical layout; `ollama` finds a model's GGUF in Ollama's store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer

from ...config import ModelConfig
from ...config_check import refuse_absurd_depth
from ...errors import ModelLoadError
from ..not_yet import not_read, not_yet
from ..shape_check import check_shapes, refusing_misfits
from . import (
    afmoe,
    apertus,
    deepseek,
    dots,
    encoders,
    ernie_moe,
    exaone_moe,
    falcon_h1,
    gemma,
    glm,
    gpt2,
    gpt_oss,
    hunyuan,
    hybrid,
    jamba,
    layernorm,
    llama,
    llama4,
    minimax,
    nemotron_h,
    qwen3next,
    qwen35,
    scaled,
    t5,
)
from .reader import Meta, Progress, Tensors, dequantize_all, read_gguf
from .tokenizer import split_note, tokenizer_from_gguf

ConfigFn = Callable[[Meta, str, set[str]], ModelConfig]
WeightsFn = Callable[[Tensors, ModelConfig], dict[str, torch.Tensor]]

# general.architecture → (config, weights). Mistral files say 'llama' (llama.cpp has no 'mistral' architecture).
CONVERTERS: dict[str, tuple[ConfigFn, WeightsFn]] = {
    "llama": (llama.llama_config, llama.llama_weights),
    "qwen2": (llama.rope_config, llama.qwen2_weights),
    # Qwen2-VL's and Qwen2.5-VL's language model (llama.cpp's text file): Qwen 2's layers; its M-RoPE sections all
    # read one position for a text, which is NeoX RoPE (rows kept)
    "qwen2vl": (partial(llama.rope_config, arch="qwen2_vl"), llama.qwen2_weights),
    "smollm3": (llama.smollm3_config, llama.llama_weights),
    "mistral3": (llama.mistral3_config, llama.llama_weights),  # Ministral 3: YaRN, capped below its query scaling
    "qwen3": (llama.qwen3_config, llama.qwen2_weights),
    "qwen3moe": (llama.qwen3_config, llama.qwen2_weights),
    "qwen3vl": (llama.qwen3_config, llama.qwen2_weights),  # Qwen3-VL's language model (llama.cpp's text file)
    "qwen3vlmoe": (llama.qwen3_config, llama.qwen2_weights),
    "qwen2moe": (llama.qwen2moe_config, llama.qwen2_weights),
    "olmoe": (llama.olmoe_config, llama.qwen2_weights),
    "gemma": (gemma.gemma1_config, llama.qwen2_weights),
    "lfm2": (hybrid.lfm2_config, hybrid.lfm2_weights),  # LFM2: convolution layers beside attention
    "lfm2moe": (hybrid.lfm2_config, hybrid.lfm2_weights),  # and with a mixture of experts
    "granitehybrid": (hybrid.granite_hybrid_config, hybrid.granite_hybrid_weights),  # Granite 4 H, Bamba: Mamba-2
    "falcon-h1": (falcon_h1.falcon_h1_config, falcon_h1.falcon_h1_weights),  # Falcon-H1: a scan beside the heads
    "jamba": (jamba.jamba_config, jamba.jamba_weights),  # Jamba: Mamba's selective scan beside attention
    "nemotron_h": (nemotron_h.nemotron_h_config, nemotron_h.nemotron_h_weights),  # a scan, attention or MLP a layer
    "nemotron_h_moe": (nemotron_h.nemotron_h_config, nemotron_h.nemotron_h_weights),
    "qwen35": (qwen35.qwen35_config, qwen35.qwen35_weights),  # Qwen3.5: the gated delta rule beside attention
    "qwen35moe": (qwen35.qwen35_config, qwen35.qwen35_weights),
    "qwen3next": (qwen3next.qwen3next_config, qwen3next.qwen3next_weights),  # Qwen3-Next: its maps fused
    "gemma2": (gemma.gemma_config, gemma.output_norm_weights),
    "gemma3": (gemma.gemma_config, gemma.output_norm_weights),
    "gemma-embedding": (gemma.gemma_embedding_config, gemma.gemma_embedding_weights),  # EmbeddingGemma
    "t5": (t5.t5_config, t5.t5_weights),  # T5, Flan-T5, mT5, umT5: encoder-decoders
    "t5encoder": (t5.t5_config, t5.t5_weights),  # T5's encoder alone
    "olmo2": (gemma.olmo2_config, gemma.output_norm_weights),
    "phi3": (llama.phi3_config, llama.phi3_weights),
    "phi2": (layernorm.phi2_config, layernorm.layernorm_weights),
    "stablelm": (layernorm.stablelm_config, layernorm.layernorm_weights),
    "starcoder2": (layernorm.starcoder2_config, layernorm.layernorm_weights),
    "falcon": (layernorm.falcon_config, layernorm.layernorm_weights),
    "gptneox": (layernorm.gptneox_config, layernorm.layernorm_weights),
    "nemotron": (layernorm.nemotron_config, layernorm.layernorm_weights),
    "jais2": (layernorm.jais2_config, layernorm.layernorm_weights),
    "gpt2": (gpt2.gpt2_config, layernorm.layernorm_weights),
    "bloom": (gpt2.bloom_config, layernorm.layernorm_weights),
    "mpt": (gpt2.mpt_config, layernorm.layernorm_weights),  # MPT-7B, 30B: ALiBi, no biases
    "starcoder": (gpt2.starcoder_config, layernorm.layernorm_weights),
    "granite": (scaled.granite_config, scaled.granite_weights),
    "granitemoe": (scaled.granite_config, scaled.granite_weights),
    "minicpm": (scaled.minicpm_config, scaled.granite_weights),  # MiniCPM 1, 2, 4: Granite's scales
    "command-r": (scaled.command_r_config, scaled.command_r_weights),
    "cohere2": (scaled.cohere2_config, scaled.command_r_weights),
    "bert": (encoders.bert_config, encoders.bert_weights),
    "nomic-bert": (encoders.nomic_bert_config, encoders.nomic_bert_weights),  # Ollama's nomic-embed-text
    "jina-bert-v3": (encoders.jina_bert_v3_config, encoders.bert_weights),  # Jina Embeddings v3, without its LoRAs
    "modern-bert": (encoders.modern_bert_config, encoders.modern_bert_weights),  # ModernBERT and its embedders
    "chatglm": (glm.chatglm_config, glm.chatglm_weights),  # GLM-4-9B-Chat, CodeGeeX4 (Ollama's codegeex4)
    "glm4": (glm.glm4_config, glm.glm4_weights),
    "glm4moe": (glm.glm4moe_config, glm.glm4moe_weights),  # DeepSeek-V3's router behind GLM's attention
    "deepseek2": (deepseek.deepseek2_config, deepseek.deepseek2_weights),  # latent attention (DeepSeek-V2, V3)
    "mistral4": (deepseek.mistral4_config, deepseek.deepseek2_weights),  # Mistral Small 4: deepseek2's layout
    "minicpm3": (deepseek.minicpm3_config, deepseek.minicpm3_weights),  # latent attention, scaled (MiniCPM3-4B)
    "olmo": (llama.olmo_config, llama.olmo_weights),
    "arcee": (llama.arcee_config, llama.arcee_weights),
    "ernie4_5": (llama.ernie4_5_config, llama.ernie4_5_weights),
    "seed_oss": (partial(llama.rope_config, arch="seed_oss"), llama.seed_oss_weights),
    "exaone": (llama.exaone_config, llama.exaone_weights),  # EXAONE 3, 3.5: a Llama, rows kept
    "internlm2": (llama.internlm2_config, llama.internlm2_weights),  # InternLM2, 2.5: a llama file
    "exaone4": (gemma.exaone4_config, gemma.exaone4_weights),
    "gpt-oss": (gpt_oss.gpt_oss_config, gpt_oss.gpt_oss_weights),  # OpenAI's GPT-OSS (llama.cpp's openai-moe)
    "gptoss": (gpt_oss.gpt_oss_config, gpt_oss.gpt_oss_weights),  # the same as Ollama's converter writes it
    "llama4": (llama4.llama4_config, llama4.llama4_weights),  # Llama 4 Scout, Maverick (llama.cpp's and Ollama's)
    "ernie4_5-moe": (ernie_moe.ernie4_5_moe_config, ernie_moe.ernie4_5_moe_weights),  # a biased softmax router
    "minimax-m2": (minimax.minimax_m2_config, minimax.minimax_m2_weights),
    # HunYuan dense: q/k norms after RoPE; llama.cpp's converter writes its NTK-alpha base stretched already
    "hunyuan-dense": (partial(llama.rope_config, arch="hunyuan_dense", qk_norm="head", qk_norm_after_rope=True),
                      llama.qwen2_weights),
    "hunyuan-moe": (hunyuan.hunyuan_moe_config, hunyuan.hunyuan_moe_weights),  # a shared MLP beside its experts
    "exaone-moe": (exaone_moe.exaone_moe_config, exaone_moe.exaone_moe_weights),  # K-EXAONE
    "dots1": (dots.dots1_config, dots.dots1_weights),  # dots.llm1: Qwen3's heads, DeepSeek-V3's router ungrouped
    "afmoe": (afmoe.afmoe_config, afmoe.afmoe_weights),  # Trinity: gated heads, sandwich norms, a biased router
    "apertus": (apertus.apertus_config, apertus.apertus_weights),  # xIELU MLPs, its numbers in the metadata
}
SUPPORTED = tuple(sorted(CONVERTERS))
# Numbers an architecture's weights reader needs that its converter wrote as metadata, not tensors: handed over as
# tensors of their own (Tensors.check_all_used then sees each read)
METADATA_TENSORS: dict[str, Callable[[Meta], dict[str, np.ndarray]]] = {"apertus": apertus.xielu_tensors}


def gguf_config_and_tokenizer(path: Path, name: str) -> tuple[ModelConfig, Tokenizer]:
    """A GGUF file's config and tokenizer from its header, without dequantising a tensor (what a job checks its
    settings against)."""
    _, config, tokenizer = _config_and_tokenizer(read_gguf(path), path, name)
    return config, tokenizer


# What malformed metadata raises where no check of ours names it first (text where a number belongs, a list
# where a string does): made one ModelLoadError naming the file. AttributeError, NameError and the like are
# bugs of ours and pass through.
_MALFORMED = (ValueError, TypeError, KeyError, IndexError, ArithmeticError, RecursionError)


@contextmanager
def _about(path: Path, malformed: bool = False) -> Iterator[None]:
    """Every ModelLoadError inside names `path`; with `malformed`, so does any of _MALFORMED."""
    try:
        yield
    except ModelLoadError as exc:
        if path.name in str(exc):
            raise
        raise ModelLoadError(f"{path.name}: {exc}") from exc.__cause__
    except _MALFORMED as exc:
        if not malformed:
            raise
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]  # one line, whatever the library said
        raise ModelLoadError(f"{path.name} has metadata the loader cannot use ({detail}); the file is malformed.") \
            from exc


def _config_and_tokenizer(reader: Any, path: Path, name: str) -> tuple[Meta, ModelConfig, Tokenizer]:
    with _about(path, malformed=True):
        meta = Meta(reader)
        refuse_absurd_depth(meta.get("block_count", None), f"{meta.arch}.block_count")  # before any layer is listed
        if meta.arch not in CONVERTERS and (why := not_yet(meta.arch)) is not None:
            raise ModelLoadError(f"GGUF architecture {meta.arch!r} ({path.name}) is not supported yet. {why}")
        if meta.arch not in CONVERTERS:
            raise ModelLoadError(f"{path.name}: {not_read('GGUF architecture', meta.arch, CONVERTERS)}")
        config = CONVERTERS[meta.arch][0](meta, name, {t.name for t in reader.tensors})
        tokenizer, note = tokenizer_from_gguf(meta), split_note(meta)
        return meta, replace(config, conversion_notes=config.conversion_notes + (note,)) if note else config, tokenizer


def convert_gguf(
    path: Path, name: str, progress: Progress | None = None
) -> tuple[ModelConfig, dict[str, torch.Tensor], Tokenizer]:
    """GGUF file → (config, canonical float32 weights, tokenizer), whatever its architecture and quantisation."""
    reader = read_gguf(path)
    meta, config, tokenizer = _config_and_tokenizer(reader, path, name)
    weights_fn = CONVERTERS[meta.arch][1]
    with _about(path):
        arrays = dequantize_all(reader, progress)
        if meta.arch in METADATA_TENSORS:
            arrays.update(METADATA_TENSORS[meta.arch](meta))
        tensors = Tensors(arrays)
        weights = refusing_misfits(lambda: weights_fn(tensors, config), "its tensors do not fit its metadata")
        tensors.check_all_used()
        check_shapes(config, weights, path.name)
    return config, weights, tokenizer


__all__ = ["SUPPORTED", "convert_gguf", "gguf_config_and_tokenizer"]
