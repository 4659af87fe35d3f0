"""The converted weights held to the config they were read with, before any pass runs.

A config.json (or a GGUF file's metadata) that misstates the model (an edited head count, a head width, a
hidden size) used to load: its weights were read by their names, and the first trace tripped on a matrix of the
wrong width inside the pass (a traceback in the app), or ran on a hidden size its weights do not have. What every
architecture's canonical weights share is checked here, by name, so such a model is refused with what does not fit:
each attention layer's W_Q, W_K, W_V and W_O against the heads, their widths and d_model, and a relative position
table's columns against the heads, a Mamba or delta-rule layer's maps against its heads, state and Δ rank, a router
against the experts; the unembedding against the vocabulary, and the token embedding against d_model (or the width
an embedding projection takes) and the vocabulary (its rows, where the model has no unembedding of its own). An
MLP's widths vary too much between families (Granite 4's shared MLP, experts) to hold to one d_mlp.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

from ..config import ModelConfig
from ..errors import ModelLoadError
from ..mamba import in_widths


def check_shapes(config: ModelConfig, weights: dict[str, torch.Tensor], source: str) -> None:
    """Raise ModelLoadError naming the first weight of `weights` whose shape `config` does not describe."""
    cfg, d = config, config.d_model
    heads = f"{cfg.n_heads} heads of {cfg.d_head} dimensions, d_model {d}, {cfg.d_vocab:,} tokens"
    want: dict[str, tuple[int, int]] = {}
    for layer in range(cfg.n_layers):
        p = f"blocks.{layer}.attn."
        if p + "W_Q" in weights:  # standard attention (latent attention and other mixers keep other names)
            kv = cfg.kv_heads_layers[layer] if cfg.kv_heads_layers else cfg.n_kv_heads  # the layer's own (MiMo)
            want |= {p + "W_Q": (d, cfg.n_heads * cfg.d_head), p + "W_K": (d, kv * cfg.d_head),
                     p + "W_V": (d, kv * cfg.d_value), p + "W_O": (cfg.n_heads * cfg.d_value, d)}  # fmt: skip
        if p + "rel_bias" in weights:  # a relative position table (MPNet's, T5's): one column per head
            want[p + "rel_bias"] = (weights[p + "rel_bias"].shape[0], cfg.n_heads)
    width = weights["embed.W_proj"].shape[0] if "embed.W_proj" in weights else d  # ALBERT's narrower embeddings
    embed = weights["embed.W_E"]
    # The vocabulary is the unembedding's (its rows are the width of what reads it: RemBERT's head narrows the
    # residual first); an embedding may hold more rows (Llama 3.2 Vision's image tokens)
    if "unembed.W_U" in weights:
        want["unembed.W_U"] = (weights["unembed.W_U"].shape[0], cfg.d_vocab)
    want["embed.W_E"] = (max(cfg.d_vocab, embed.shape[0]) if "unembed.W_U" in weights else cfg.d_vocab, width)
    refuse_misfit(weights, want, heads, source)
    for split, described in _split_shapes(cfg, weights):
        refuse_misfit(weights, split, described, source)


def _split_shapes(cfg: ModelConfig, weights: dict[str, torch.Tensor]) -> list[tuple[dict[str, tuple[int, int]], str]]:
    """The widths the pass splits other maps' outputs by, and the config's words for them: Jamba's x_proj into Δ's
    rank and B's and C's states (selective_scan.py), a Mamba-2 in_proj into z, x, B, C and Δ (mamba.py), a delta
    rule's W_qkv into q, k and v, a router's scores into the experts (experts.py)."""
    scans, d = [], cfg.d_model
    if "selective_scan" in cfg.mixers:  # gated on the layers, not the sizes: a mangled 0 is checked too
        D, N, R = cfg.selective_shape
        scan = {f"blocks.{layer}.ssm.W_x": (D, R + 2 * N) for layer in range(cfg.n_layers)}
        scans.append((scan, f"a selective scan of {D} channels, state {N}, Δ rank {R}"))
    if "ssm" in cfg.mixers or cfg.ssm_beside_attention:
        widths = in_widths(cfg)  # z, x, B, C, Δ
        scan = {f"blocks.{layer}.ssm.{name}": shape for layer in range(cfg.n_layers)
                for name, shape in (("W_in", (d, sum(widths))), ("W_out", (widths[1], d)))}  # fmt: skip
        scans.append((scan, mamba2_words(cfg)))
    if "gated_delta" in cfg.mixers:  # a delta rule's fused q, k, v (delta_net.py)
        (n_k, n_v), (d_k, d_v) = cfg.delta_heads, cfg.delta_dims
        scan = {f"blocks.{layer}.delta.{name}": shape for layer in range(cfg.n_layers)
                for name, shape in (("W_qkv", (d, 2 * n_k * d_k + n_v * d_v)), ("W_out", (n_v * d_v, d)))}  # fmt: skip
        scans.append((scan, f"a delta rule of {n_k} key heads of {d_k} dimensions, {n_v} value heads of {d_v}"))
    if cfg.n_experts:  # a router scores each expert (experts.py): stacked experts are read whole, whatever the count
        scans.append((_router_shapes(cfg, weights), f"{cfg.n_experts:,} experts"))
    return scans


def _router_shapes(cfg: ModelConfig, weights: dict[str, torch.Tensor]) -> dict[str, tuple[int, int]]:
    names = (f"blocks.{layer}.mlp.router.W" for layer in range(cfg.n_layers))
    return {name: (weights[name].shape[0], cfg.n_experts) for name in names if name in weights}


def mamba2_words(cfg: ModelConfig) -> str:
    """A Mamba-2 scan's shape as the config states it (ModelConfig.ssm_shape), for a refusal's message."""
    H, P, N, G = cfg.ssm_shape
    return f"a Mamba-2 scan of {H} heads of {P} dimensions, {G} groups of state {N}"


def refuse_misfit(weights: dict[str, torch.Tensor], want: dict[str, tuple[int, int]], described: str,
                  source: str = "") -> None:  # fmt: skip
    """Raise ModelLoadError naming the first weight in `want` whose shape is not the one wanted (`source`: the file,
    named first where given)."""
    for name, shape in want.items():
        found = weights.get(name)
        if found is not None and tuple(found.shape) != shape:
            raise ModelLoadError(
                f"{source + ': ' if source else ''}{name} is {_shape(found.shape)}, but its config ({described}) "
                f"needs {_shape(shape)}: the config does not describe these weights."
            )


Converted = TypeVar("Converted")


def refusing_misfits(read: Callable[[], Converted], said: str) -> Converted:
    """read() (an architecture's reader over the stored tensors); what its arithmetic trips on, a reshape or an index
    over a tensor the config or metadata misstates (RuntimeError, ValueError, IndexError), or a tensor it names that
    is not there (KeyError), refused as a ModelLoadError: `said` ("its tensors do not fit its metadata"), then the
    reason."""
    try:
        return read()
    except ModelLoadError:
        raise
    except KeyError as exc:  # a tensor the config says the model has (an untied head's, say) is not in the file
        raise ModelLoadError(f"{said}: it has no tensor {exc.args[0]!r}.") from exc
    except (RuntimeError, ValueError, IndexError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise ModelLoadError(f"{said}: {detail}.") from exc


def _shape(shape) -> str:
    return " × ".join(str(int(n)) for n in shape)
