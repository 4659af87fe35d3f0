"""Decoding a quantised checkpoint's matrix to float32: the engine's decoders (attention_core/loading/gptq.py, awq.py,
bnb.py, mlx_quantised.py, aqlm.py) against each format's own library on the same stored parts, in the same run:
AutoGPTQ's QuantLinear (its torch path, timed on one input row, so the time is its decoding), AutoAWQ's
dequantize_gemm, bitsandbytes' dequantize_4bit (its CPU kernel), mlx.core.dequantize (MLX's CPU backend, evaluated)
and AQLM's _dequantize_weight (its 1x16 layout: one 2^16-vector codebook of 8 weights a code, 2 bits a weight; random
codes, as codebooks are learnt). One matrix of
Llama-2-7B's MLP shape by default (11008 × 4096), 4 bits, groups of 128 (GPTQ, AWQ), blocks of 64 (NF4) or groups of
64 with bfloat16 scales (MLX, as mlx-community's 4-bit models; and 3 bits, whose codes spill across words); random
weights.

    python bench/quantised.py
    python bench/quantised.py --rows 4096 --cols 4096 --repeats 5

Loading decodes every quantised matrix once (the converted weights are cached after), so this is the part of a
first load that the quantisation adds. make test installs the libraries (requirements-dev.txt,
requirements-dev-nodeps.txt); their modules are read from their files, without their packages' `__init__`.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from attention_core.loading import aqlm, awq, bnb, gptq, mlx_quantised  # noqa: E402

GROUP = 128


def library_file(package: str, relative: str):
    """A module of an installed library read from its file (its package's `__init__` not run)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed: make test installs it (requirements-dev-nodeps.txt)")
    path = Path(spec.submodule_search_locations[0]) / relative
    module_spec = importlib.util.spec_from_file_location(f"_bench_{package}_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def best_of(repeats: int, run) -> float:
    """The median of `repeats` timings of run(), after one untimed run."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gptq_case(weight: torch.Tensor):
    """(ours, AutoGPTQ's) decoding of `weight` [out, in] packed by AutoGPTQ (4 bits, groups of 128)."""
    qlinear = library_file("auto_gptq", "nn_modules/qlinear/qlinear_cuda.py")
    n_out, n_in = weight.shape
    linear = torch.nn.Linear(n_in, n_out, bias=False)
    linear.weight.data = weight
    grouped = weight.reshape(n_out, n_in // GROUP, GROUP)
    scales = ((grouped.amax(-1) - grouped.amin(-1)) / 15).clamp(min=1e-4)  # [out, groups]
    zeros = torch.round(-grouped.amin(-1) / scales).clamp(1, 15)
    layer = qlinear.QuantLinear(4, GROUP, n_in, n_out, False, weight_dtype=torch.float16)
    layer.pack(linear.half(), scales.half(), zeros.half(), (torch.arange(n_in) // GROUP).int())
    parts = {"qweight": layer.qweight, "qzeros": layer.qzeros, "scales": layer.scales, "g_idx": layer.g_idx}
    row = torch.zeros(1, n_in, dtype=torch.float16)
    return (lambda: gptq.dequantize(parts, 4, GROUP, 1, "w")), (lambda: layer(row))


def awq_case(weight: torch.Tensor):
    """(ours, AutoAWQ's) decoding of random AWQ parts of `weight`'s shape."""
    packing = library_file("awq", "utils/packing_utils.py")
    n_out, n_in = weight.shape
    words = torch.randint(-(2**31), 2**31 - 1, (n_in, n_out // 8), dtype=torch.int32)
    zeros = torch.randint(-(2**31), 2**31 - 1, (n_in // GROUP, n_out // 8), dtype=torch.int32)
    scales = (torch.rand(n_in // GROUP, n_out) * 0.01).half()
    parts = {"qweight": words, "qzeros": zeros, "scales": scales}
    theirs = lambda: packing.dequantize_gemm(words, zeros, scales, 4, GROUP)  # noqa: E731
    return (lambda: awq.dequantize(parts, GROUP, "w")), theirs


def nf4_case(weight: torch.Tensor):
    """(ours, bitsandbytes') decoding of `weight` quantised to NF4 by bitsandbytes (blocks of 64, bfloat16)."""
    import json

    import bitsandbytes.functional as F

    packed, state = F.quantize_4bit(weight.bfloat16(), quant_type="nf4", blocksize=64)
    meta = {"shape": list(weight.shape), "blocksize": 64, "dtype": "bfloat16", "quant_type": "nf4"}
    parts = {"weight": packed, "quant_map": state.code, "absmax": state.absmax,
             "state": torch.tensor(list(json.dumps(meta).encode()), dtype=torch.uint8)}  # fmt: skip
    return (lambda: bnb.dequantize_4bit(parts, "w")), (lambda: F.dequantize_4bit(packed, state))


def mlx_case(bits: int):
    """(ours, MLX's) decoding of `weight` quantised by mlx.core.quantize (affine, groups of 64, bfloat16 scales)."""

    def case(weight: torch.Tensor):
        import mlx.core as mx
        import numpy as np

        stored = mx.quantize(mx.array(weight.numpy()).astype(mx.bfloat16), group_size=64, bits=bits)
        mx.eval(stored)
        as_torch = [torch.from_numpy(np.array(part.astype(mx.float32))).bfloat16() for part in stored[1:]]
        parts = {"weight": torch.from_numpy(np.array(stored[0])), "scales": as_torch[0], "biases": as_torch[1]}
        theirs = lambda: mx.eval(mx.dequantize(*stored, group_size=64, bits=bits))  # noqa: E731 (MLX is lazy)
        return (lambda: mlx_quantised.dequantize(parts, "affine", bits, 64, "w")), theirs

    return case


def aqlm_case(weight: torch.Tensor):
    """(ours, AQLM's) decoding of a 1x16 AQLM matrix of `weight`'s shape (random codes, float16 codebook and scales)."""
    import aqlm.utils as lib

    n_out, n_in = weight.shape
    codes = lib.pack_int_data(torch.randint(0, 2**16, (n_out, n_in // 8, 1)), 16)
    codebooks, scales = (torch.randn(1, 2**16, 1, 8) * 0.02).half(), (torch.rand(n_out, 1, 1, 1) + 0.5).half()
    theirs = lambda: lib._dequantize_weight(lib.unpack_int_data(codes, 16), codebooks, scales).float()  # noqa: E731
    return (lambda: aqlm.dequantize(codes, codebooks, scales, 16).float()), theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=11008, help="the matrix's outputs")
    parser.add_argument("--cols", type=int, default=4096, help="the matrix's inputs (a multiple of 128)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    weight = torch.randn(args.rows, args.cols) * 0.02
    print(f"one {args.rows} x {args.cols} matrix, {torch.get_num_threads()} threads; median of {args.repeats}")
    print(f"{'format':<22}{'engine s':>10}{'library s':>11}{'ratio':>8}")
    for label, case in (("GPTQ 4-bit (AutoGPTQ)", gptq_case), ("AWQ 4-bit (AutoAWQ)", awq_case),
                        ("NF4 (bitsandbytes)", nf4_case), ("MLX 4-bit (mlx)", mlx_case(4)),
                        ("MLX 3-bit (mlx)", mlx_case(3)), ("AQLM 1x16 (aqlm)", aqlm_case)):  # fmt: skip
        ours, theirs = case(weight)
        mine, ref = best_of(args.repeats, ours), best_of(args.repeats, theirs)
        print(f"{label:<22}{mine:>10.3f}{ref:>11.3f}{mine / ref:>8.2f}")


if __name__ == "__main__":
    main()
