"""Contribution-graph view model: where each edge of one token's graph is drawn, and what its hover says.

Columns are the tokens on some path to the chosen one, in text order (a long text keeps only those). Rows are
the residual stream's levels, bottom to top: entering block l (row 2l), after block l's attention (row 2l + 1),
and the final residual (row 2·n_layers). numpy in (services.lens.contribution_graph's columns), no engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from viz.labels import plotly_escape, readable_token

DEFAULT_THRESHOLD = 0.04  # the LLM Transparency Tool's default: sparse enough to read, dense enough to matter
KINDS = ("attention", "convolution", "delta", "ssm", "recurrence", "residual_attn", "mlp", "residual_mlp")
# the kinds that move information between tokens
TOKEN_MIXING = ("attention", "convolution", "delta", "ssm", "recurrence")
KIND_NAMES = {
    "attention": "attention (from another token, or itself)",
    "convolution": "short convolution (from itself or a few tokens before)",
    "delta": "gated delta rule (linear attention, from any earlier token)",
    "ssm": "Mamba state-space scan (from any earlier token)",
    "recurrence": "RG-LRU linear recurrence (from any earlier token)",
    "residual_attn": "residual stream",
    "mlp": "MLP",
    "residual_mlp": "residual past the MLP",
}


@dataclass(frozen=True)
class EdgeLines:
    """The edges of one kind: segment ends in (column, row) coordinates, with hovers at their middles."""

    kind: str
    x0: np.ndarray  # [e] source column
    y0: np.ndarray  # [e] source row
    x1: np.ndarray  # [e] target column
    y1: np.ndarray  # [e] target row
    importance: np.ndarray  # [e] 0..1
    hover: list[str]  # [e]


@dataclass(frozen=True)
class FlowView:
    positions: list[int]  # [c] text positions of the columns
    tokens: list[str]  # [c] readable tokens of the columns
    target_column: int
    n_layers: int
    lines: list[EdgeLines]  # one per kind that has edges
    node_x: np.ndarray  # [v] reached nodes: column
    node_y: np.ndarray  # [v] and row
    node_hover: list[str]  # [v]
    threshold: float

    @property
    def n_edges(self) -> int:
        return sum(len(line.importance) for line in self.lines)


def lowest_threshold(n_tokens: int) -> float:
    """The lowest threshold the page offers for a text of n_tokens. Below it the graph reaches nearly every
    token at every layer. Measured on SmolLM2 (2 cores), before the graph computed its rows alone: 1,000
    tokens at 0.01 gave 65,000 edges in 149 s, at 0.02 2,800 edges in 11 s, at 0.03 600 edges in 2.8 s;
    256 tokens at 0.02 took 1.1 s, 64 at 0.01 0.9 s."""
    if n_tokens <= 64:
        return 0.01
    return 0.02 if n_tokens <= 256 else 0.03


def level_name(row: int, n_layers: int, mixers: Sequence[str] = ()) -> str:
    """What row `row` of the graph is, in words; `mixers`: what mixes tokens in each block, where not attention in
    every one (a hybrid's "short convolution")."""
    if row == 2 * n_layers:
        return "the final embedding"
    block, after_attention = divmod(row, 2)
    mixer = mixers[block] if mixers else "attention"
    return f"after block {block}'s {mixer}" if after_attention else f"entering block {block}"


def _rows(kind: str, layer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Source and target rows of edges of `kind` in blocks `layer`."""
    if kind in (*TOKEN_MIXING, "residual_attn"):
        return 2 * layer, 2 * layer + 1
    return 2 * layer + 1, 2 * layer + 2


def flow_view(
    edges: Mapping[str, np.ndarray], tokens: Sequence[str], target: int, n_layers: int, threshold: float,
    mixers: Sequence[str] = (),
) -> FlowView:  # fmt: skip
    """The drawing of a graph's edge columns (layer, kind, source, target, importance); `tokens`: every token
    of the text; `mixers`: a hybrid's token mixer per block, in words (level_name)."""
    positions = sorted({int(p) for p in edges["source"]} | {target})
    column = {p: c for c, p in enumerate(positions)}
    shown = [readable_token(tokens[p]) for p in positions]
    lines, nodes = [], {(column[target], 2 * n_layers)}
    for kind in KINDS:
        keep = edges["kind"] == kind
        if not keep.any():
            continue
        layer = edges["layer"][keep]
        src = np.array([column[int(p)] for p in edges["source"][keep]])
        dst = np.array([column[int(p)] for p in edges["target"][keep]])
        y0, y1 = _rows(kind, layer)
        share = edges["importance"][keep]
        hover = [
            f"block {int(lay)} · {KIND_NAMES[kind]}<br>{_name(shown, s, positions)} → {_name(shown, d, positions)}"
            f"<br>{imp:.1%} of the sum it joins"
            for lay, s, d, imp in zip(layer, src, dst, share, strict=True)
        ]  # fmt: skip
        lines.append(EdgeLines(kind, src, y0, dst, y1, share, hover))
        nodes |= set(zip(src.tolist(), y0.tolist(), strict=True)) | set(zip(dst.tolist(), y1.tolist(), strict=True))
    ordered = sorted(nodes)
    node_x = np.array([x for x, _ in ordered])
    node_y = np.array([y for _, y in ordered])
    node_hover = [f"{_name(shown, x, positions)}<br>{level_name(y, n_layers, mixers)}" for x, y in ordered]
    return FlowView(
        positions, shown, column[target], n_layers, lines, node_x, node_y, node_hover, float(threshold)
    )  # fmt: skip


def _name(shown: Sequence[str], col: int, positions: Sequence[int]) -> str:
    return f"{plotly_escape(shown[col])} ({positions[col]})"


THROUGH = {"attention": "attention", "convolution": "short convolution", "delta": "gated delta rule",
           "ssm": "Mamba scan", "recurrence": "RG-LRU"}  # a token-mixing edge's kind, in the table's words


def strongest_sources(edges: Mapping[str, np.ndarray], tokens: Sequence[str], top: int = 12) -> list[dict]:
    """The edges from another token (attention's, or a hybrid's convolution's), strongest first: what the table
    under the graph lists; where they run through more than attention, a column says through what."""
    rows = [
        {"block": int(lay), "from": f"{p}: {readable_token(tokens[p])}", "to": f"{q}: {readable_token(tokens[q])}",
         "through": THROUGH[kind], "importance": float(imp)}
        for lay, kind, p, q, imp in zip(
            edges["layer"], edges["kind"], edges["source"], edges["target"], edges["importance"], strict=True
        )
        if kind in TOKEN_MIXING and p != q
    ]  # fmt: skip
    if all(row["through"] == "attention" for row in rows):
        rows = [{k: v for k, v in row.items() if k != "through"} for row in rows]
    return sorted(rows, key=lambda r: -r["importance"])[:top]


MIXER_COLOURS = {"short_conv": ("green", "a short convolution"), "gated_delta": ("purple", "a gated delta rule"),
                 "ssm": ("brown", "a state-space scan"), "rg_lru": ("pink", "a linear recurrence")}  # fmt: skip
# (as viz.figures.flow.COLOURS draws their edges)
SCANS = ("ssm", "selective_scan")  # the mixers whose edges are a state-space scan's (Mamba-2's, Mamba's)


def mixer_colour_words(cfg: Any) -> str:
    """"green: a short convolution; " for each kind of layer without attention the model has (cfg: its config)."""
    had = set(cfg.mixers) | ({"ssm"} if cfg.ssm_beside_attention or set(SCANS) & set(cfg.mixers) else set())
    return "".join(f"{colour}: {words}; " for mixer, (colour, words) in MIXER_COLOURS.items() if mixer in had)


def hybrid_words(model: str, cfg: Any) -> str:
    """What the graph shows of a hybrid's layers without attention (cfg: the ModelConfig), a sentence per mixer."""
    if cfg.ssm_beside_attention:
        return (f"{model} runs a Mamba-2 state-space scan beside attention in every block: both read the same "
                "normalised residual and their outputs are added. Attention's part from each source is drawn in blue; "
                "the scan's, a sum over every earlier token of weight[i, j] · x_j per head (C_i·B_j, decayed by every "
                "step between them, × the step Δ_j) with the token's own D·x_i, through the gate"
                + (" and the group norm" if cfg.ssm_norm != "none" else "") + " and W_out, in brown.")  # fmt: skip
    counts = {m: sum(1 for x in cfg.mixers if x == m) for m in ("short_conv", "gated_delta", *SCANS, "rg_lru", "none")}
    said = [f"{model} is a hybrid: in {cfg.n_layers - len(cfg.attention_layers)} of its {cfg.n_layers} blocks "
            "something else replaces attention."]  # fmt: skip
    if counts["short_conv"]:
        said.append(f"In {counts['short_conv']}, a short convolution: the token receives from itself and the "
                    f"{cfg.conv_kernel - 1} tokens before it, each through its own tap of the kernel (C_i ⊙ kernel tap "
                    "⊙ B_j x_j, then W_out); those parts add up to the convolution's output and are drawn in green.")
    if counts["gated_delta"]:
        said.append(f"In {counts['gated_delta']}, a gated delta rule (linear attention): the token's output is a sum "
                    "over every earlier token of weight[i, j] · v_j per head, with weights that the rule's decay and "
                    "overwriting set (neither positive nor summing to 1), through the head's gated norm and W_out; "
                    "those parts add up to its output and are drawn in purple.")
    if counts["ssm"]:
        said.append(f"In {counts['ssm']}, a Mamba-2 state-space scan: the token's output is a sum over every earlier "
                    "token of weight[i, j] · x_j per head (C_i·B_j, decayed by every step between them, × the step "
                    "Δ_j), with the token's own D·x_i, through the gate and the group norm and W_out; those parts add "
                    "up to its output and are drawn in brown.")
    if counts["selective_scan"]:
        said.append(f"In {counts['selective_scan']}, Mamba's selective scan: the token's output is a sum over every "
                    "earlier token of what each channel kept of it (C_i·B_j per state number, decayed by every step "
                    "between them, channel by channel, × the step Δ_j), with the token's own D·x_i, through the gate "
                    "and W_out; those parts add up to its output and are drawn in brown.")
    if counts["rg_lru"]:
        said.append(f"In {counts['rg_lru']}, Griffin's gated linear recurrence (RG-LRU): the token's output is a sum "
                    "over every earlier token of what each channel kept of it (its gated input, decayed channel by "
                    "channel by every step between them), through the token's own GeLU gate and W_out; those parts add "
                    "up to its output and are drawn in pink.")
    if counts["none"]:
        said.append(f"In {counts['none']}, nothing mixes tokens: the block is an MLP alone, so each token's residual "
                    "passes whole to its MLP (a grey residual edge) and no other token sends anything there.")
    without_mlp = sum(1 for layer in range(cfg.n_layers) if not cfg.has_mlp(layer))
    if without_mlp:
        said.append(f"{without_mlp} blocks have no MLP: what their mixer leaves is the block's output.")
    return " ".join(said)
