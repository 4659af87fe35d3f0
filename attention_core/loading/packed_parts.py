"""The loop the decoders of GPTQ, AWQ and AQLM checkpoints share: each quantised linear found by the part that names
it, its stored parts taken out of the checkpoint, the ones it cannot do without checked."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ..errors import ModelLoadError


def quantised_linears(
    state: dict[str, torch.Tensor], anchor: str, parts: tuple[str, ...], required: tuple[str, ...], needs: str,
    file_name: str,
) -> Iterator[tuple[str, dict[str, torch.Tensor]]]:
    """(base name, its parts) of each linear whose `<base>.<anchor>` is in `state`, the parts popped from `state` one
    linear at a time (so each is freed once decoded); ModelLoadError naming what is missing (`needs`: what the
    format's weights need, for the message)."""
    for key in [k for k in state if k.endswith("." + anchor)]:
        base = key.removesuffix("." + anchor)
        found = {part: state.pop(f"{base}.{part}") for part in parts if f"{base}.{part}" in state}
        missing = [part for part in required if part not in found]
        if missing:
            raise ModelLoadError(f"{file_name}: {key} has no {' or '.join(missing)} beside it; {needs}")
        yield base, found
