"""The weights' dtype: float32 (the default, and the CPU's), or bfloat16 / float16 on request.

Half precision halves the weights' memory, so a 7–8B model fits one GPU. The forward pass then runs in that
dtype (matrix products, norms' outputs, the residual stream), but the numbers a user reads stay float32:
scores are computed from upcast q and k and the softmax runs in float32 (as Hugging Face's eager attention
upcasts before its softmax), and every public tensor of a Trace is float32 on the CPU.

Where each dtype runs (the library; the app offers half precision on CUDA only, see services/models.py):

    float32    everywhere
    bfloat16   CUDA, MPS, and the CPU (slower than float32 there: no packed oneDNN matrices; for tests and
               for users who want the CPU to show what a bfloat16 model computes)
    float16    CUDA and MPS; refused on the CPU (many CPU kernels are slow or missing in float16)
"""

from __future__ import annotations

import torch

from .errors import ModelLoadError

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
HALF = (torch.bfloat16, torch.float16)


def dtype_name(dtype: torch.dtype) -> str:
    """'float32', 'bfloat16' or 'float16'."""
    return str(dtype).removeprefix("torch.")


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """The weights' dtype for a request (None: float32), or ModelLoadError with a message saying why not."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        found = dtype if dtype in DTYPES.values() else None
    else:
        found = DTYPES.get(str(dtype).strip().lower().removeprefix("torch."))
    if found is None:
        raise ModelLoadError(f"Unknown weight dtype {dtype!r}: use one of {', '.join(DTYPES)}.")
    if found == torch.float16 and device.type == "cpu":
        raise ModelLoadError(
            "float16 weights are not supported on the CPU (many of its kernels are slow or missing there): use "
            "float32, or bfloat16 if you need half precision on the CPU, or float16 on a CUDA GPU."
        )
    return found


def wide(t: torch.Tensor) -> torch.Tensor:
    """t in float32 when it is half precision (float32 and float64 pass through unchanged): what scores and
    softmaxes are computed in, so a half-precision model's patterns are float32."""
    return t.float() if t.dtype in HALF else t
