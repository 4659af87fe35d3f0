"""Weights of a model whose layers share them (ALBERT): every layer's names, each tensor stored once.

ALBERT runs one block's weights in every layer (or in each of a few groups of layers). The converter stores the
blocks once (`blocks.0.*`, ...) and `ModelConfig.layer_weights` says which block each layer reads; the
SharedLayerWeights mapping answers `blocks.{layer}.{name}` with that block's tensor, so the forward pass, a head's
step-by-step maths and every page read a layer's weights by its own index, as for any other model. Iterating it
gives the stored names alone: a parameter count or a cache sees each shared tensor once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch

from .config import ModelConfig

BLOCKS = "blocks."


class SharedLayerWeights(Mapping[str, torch.Tensor]):
    """`stored`, where `blocks.{l}.*` reads `blocks.{layer_weights[l]}.*` (read-only, as a model's weights are)."""

    def __init__(self, stored: Mapping[str, torch.Tensor], layer_weights: tuple[int, ...]):
        self._stored = stored
        self._layer_weights = layer_weights

    def stored_name(self, name: str) -> str:
        """The name under which `name`'s tensor is stored: its layer's block, for a layer's weight."""
        if not name.startswith(BLOCKS):
            return name
        layer, dot, rest = name[len(BLOCKS) :].partition(".")
        if not dot or not layer.isdigit() or int(layer) >= len(self._layer_weights):
            return name
        return f"{BLOCKS}{self._layer_weights[int(layer)]}.{rest}"

    def __getitem__(self, name: str) -> torch.Tensor:
        return self._stored[self.stored_name(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.stored_name(name) in self._stored

    def __iter__(self) -> Iterator[str]:
        return iter(self._stored)

    def __len__(self) -> int:
        return len(self._stored)


def share_layers(weights: Mapping[str, torch.Tensor], config: ModelConfig) -> Mapping[str, torch.Tensor]:
    """`weights` as every layer reads them: unchanged unless the model's layers share blocks."""
    return SharedLayerWeights(weights, config.layer_weights) if config.layer_weights else weights
