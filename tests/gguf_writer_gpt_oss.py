"""GPT-OSS's tensors as llama.cpp's GptOssModel converter writes a dequantised (bfloat16 or float32) checkpoint
(tests/gguf_writer.py writes the file): the sinks get a ".weight"; the experts, stacked [n_experts, in, out] with
gate and up interleaved in one tensor, are turned to (out, in) and split into gate_proj and up_proj (even and odd
rows), their biases alike; down_proj turned to (out, in). Newer converters can fuse gate and up again as
ffn_gate_up_exps, rows gate | up (`fused_gate_up`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np


def gpt_oss_names(state: dict) -> Iterator[tuple[str, object]]:
    for name, tensor in state.items():
        if name.endswith("self_attn.sinks"):
            yield name + ".weight", tensor
        elif name.endswith("experts.gate_up_proj"):  # [E, d_model, 2·d_mlp]: gate, up, gate, up, …
            turned = tensor.transpose(-1, -2)  # [E, 2·d_mlp, d_model]
            yield name.replace("gate_up_proj", "gate_proj.weight"), turned[:, ::2]
            yield name.replace("gate_up_proj", "up_proj.weight"), turned[:, 1::2]
        elif name.endswith("experts.gate_up_proj_bias"):  # [E, 2·d_mlp]
            yield name.replace("gate_up_proj_bias", "gate_proj.bias"), tensor[..., ::2]
            yield name.replace("gate_up_proj_bias", "up_proj.bias"), tensor[..., 1::2]
        elif name.endswith("experts.down_proj"):  # [E, d_mlp, d_model]
            yield name + ".weight", tensor.transpose(-1, -2)
        elif name.endswith("experts.down_proj_bias"):
            yield name.replace("down_proj_bias", "down_proj.bias"), tensor
        else:
            yield name, tensor


def fused_gate_up(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each block's ffn_gate_exps and ffn_up_exps (weights and biases) as one ffn_gate_up_exps, gate first."""
    out = {}
    for name, data in tensors.items():
        if re.search(r"ffn_(gate|up)_exps", name) is None:
            out[name] = data
        elif "ffn_gate_exps" in name:
            up, rows = tensors[name.replace("ffn_gate_exps", "ffn_up_exps")], -2 if data.ndim == 3 else -1
            out[name.replace("ffn_gate_exps", "ffn_gate_up_exps")] = np.concatenate([data, up], axis=rows)
    return out
