"""Experiments on the real model: change one head (ablate it, change its temperature, force its pattern)
and see what happens downstream: the next-token prediction, the log-probability of one token, and how
far each later layer's embedding of one position moved. Plus a ranking of every head by how much
ablating it alone lowers the log-probability of a chosen next token (the engine's batched sweep).

Three parts, no Streamlit anywhere in this module:
* running: `run_trace` / `run_sweep` through a small process-wide cache whose key includes the
  interventions (they are frozen, hashable values), so "before" and "after" are never confused;
* view models: traces → numpy arrays and labels (`next_token_logprobs`, `compare_predictions`,
  `residual_drift`, `row_entropy`, `rank_heads`);
* figure builders: arrays and already-escaped labels → `go.Figure`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from attention_core import Intervention, ablate_head, ablate_layer, force_pattern, temperature
from viz.labels import plotly_escape, plotly_token, readable_token

EXP_MAX_TOKENS = 128  # experiments run on at most this many tokens (each change is a full forward pass; the
# temperature heatmap draws every cell with its own hover text)
SWEEP_MAX_TOKENS = 64  # the all-heads sweep runs n_heads variants per layer: keep it to short texts
TOP_K = 10
TEMPERATURES: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)

# The changes a user can apply to the selected head, in the order the page offers them.
CHANGES: dict[str, str] = {
    "zero": "Zero-ablate the head (its output set to 0)",
    "mean": "Mean-ablate the head (its output set to its mean over positions)",
    "previous": "Force the head to attend only to the previous token",
    "self": "Force the head to attend only to itself",
    "temperature": "Change the head's softmax temperature (scores ÷ T)",
    "layer": "Remove the whole attention layer (every head of it)",
}

BEFORE_COLOUR = "#7f9cc0"
AFTER_COLOUR = "#d9572b"


def make_intervention(change: str, layer: int, head: int, T: float = 1.0) -> Intervention:
    """The engine's intervention for one of CHANGES on (layer, head)."""
    if change == "zero":
        return ablate_head(layer, head, mode="zero")
    if change == "mean":
        return ablate_head(layer, head, mode="mean")
    if change == "previous":
        return force_pattern(layer, head, "previous")
    if change == "self":
        return force_pattern(layer, head, "self")
    if change == "temperature":
        return temperature(layer, head, T)
    if change == "layer":
        return ablate_layer(layer)
    raise ValueError(f"unknown change {change!r}; expected one of {sorted(CHANGES)}")


def valid_interventions(items: Sequence[Any], n_layers: int, n_heads: int) -> tuple[Intervention, ...]:
    """The interventions (from session state) that fit this model, in order, without duplicates."""
    out: list[Intervention] = []
    for item in items:
        if not isinstance(item, Intervention) or not 0 <= item.layer < n_layers:
            continue
        if item.head is not None and not 0 <= item.head < n_heads:
            continue
        if item not in out:
            out.append(item)
    return tuple(out)


# ── running, cached ──────────────────────────────────────────────────────────────────────────────
class ResultCache:
    """A small thread-safe LRU bounded by an estimate of bytes held (traces keep O(n·d) per layer).

    Computing happens outside the lock: two sessions asking for the same new key may both compute it
    (rare, and harmless), but a long sweep never blocks other sessions' lookups.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, compute: Callable[[], Any], size: Callable[[Any], int] = lambda _: 1) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = compute()
        nbytes = int(size(value))
        with self._lock:
            self._items[key] = (value, nbytes)
            self._items.move_to_end(key)
            while len(self._items) > 1 and sum(b for _, b in self._items.values()) > self.max_bytes:
                self._items.popitem(last=False)
        return value

    def __contains__(self, key: tuple) -> bool:
        with self._lock:
            return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


RESULTS = ResultCache(max_bytes=768 * 2**20)


def trace_bytes(trace: Any) -> int:
    """Bytes a trace holds: residuals (n_layers + 1) and q, k, v per layer, float32."""
    cfg = trace.model.config
    per_layer = 2 * cfg.d_model + 2 * cfg.n_kv_heads * cfg.d_head  # resid, q (= d_model), k, v
    return 4 * trace.n_tokens * (cfg.n_layers + 1) * per_layer


def trace_key(model: Any, text: str, causal: bool, cap: int, interventions: Sequence[Intervention]) -> tuple:
    """What identifies a trace: the forward pass is deterministic, so equal keys mean equal traces."""
    return ("trace", model.key, str(model.device), text, bool(causal), int(cap), tuple(interventions))


def run_trace(model: Any, text: str, causal: bool, cap: int, interventions: Sequence[Intervention] = ()) -> Any:
    """`model.trace(text, causal, cap, interventions)`, cached by (model, device, text, masking, cap, interventions)."""
    ivs = tuple(interventions)
    key = trace_key(model, text, causal, cap, ivs)
    compute = lambda: model.trace(text, causal=causal, max_tokens=cap, interventions=ivs)  # noqa: E731
    return RESULTS.get(key, compute, trace_bytes)


def sweep_key(model: Any, text: str, causal: bool, cap: int, target_id: int, mode: str = "zero") -> tuple:
    return ("sweep", model.key, str(model.device), text, bool(causal), int(cap), int(target_id), mode)


def run_sweep(trace: Any, cap: int, target_id: int, mode: str = "zero") -> np.ndarray:
    """[n_layers, n_heads] change in log p(target_id) after the last token when each head alone is ablated
    (the engine's batched `head_ablation_sweep` on a clean trace), cached."""
    from attention_core.sweep import head_ablation_sweep

    key = sweep_key(trace.model, trace.text, trace.causal, cap, target_id, mode)
    compute = lambda: head_ablation_sweep(trace, int(target_id), position=-1, mode=mode).numpy().astype(np.float64)  # noqa: E731
    return RESULTS.get(key, compute, lambda a: a.nbytes)


def has_sweep(trace: Any, cap: int, target_id: int, mode: str = "zero") -> bool:
    return sweep_key(trace.model, trace.text, trace.causal, cap, target_id, mode) in RESULTS


# ── view models ──────────────────────────────────────────────────────────────────────────────────
def next_token_logprobs(trace: Any) -> np.ndarray | None:
    """[vocab] log-probabilities of the token after the text (float64); None for encoders (no LM head)."""
    logits = trace.next_token_logits()
    if logits is None:
        return None
    x = logits.detach().cpu().numpy().astype(np.float64)
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


def top_ids(logprobs: np.ndarray, k: int = TOP_K) -> list[int]:
    """Ids of the k most likely tokens, most likely first (ties broken by id, so the order is stable)."""
    k = min(k, logprobs.shape[0])
    part = np.argpartition(-logprobs, k - 1)[:k]
    return [int(i) for i in sorted(part, key=lambda i: (-logprobs[i], i))]


@dataclass(frozen=True)
class PredictionRow:
    token_id: int
    token: str  # readable (␣ for a leading space); plain text, not escaped
    p_before: float
    p_after: float
    rank_before: int  # 1 = the top prediction
    rank_after: int

    @property
    def dlogp(self) -> float:
        """log p_after − log p_before (natural log)."""
        return float(np.log(self.p_after) - np.log(self.p_before))


def rank_of(logprobs: np.ndarray, token_id: int) -> int:
    """1-based rank of a token in a distribution (1 = most likely)."""
    return int(np.sum(logprobs > logprobs[token_id])) + 1


def compare_predictions(
    before: np.ndarray, after: np.ndarray, decode: Callable[[int], str], k: int = TOP_K
) -> list[PredictionRow]:
    """Rows for the union of the top-k before and the top-k after, ordered by probability before, then after."""
    ids = top_ids(before, k)
    ids += [i for i in top_ids(after, k) if i not in ids]
    rows = [
        PredictionRow(
            token_id=i,
            token=readable_token(decode(i)),
            p_before=float(np.exp(before[i])),
            p_after=float(np.exp(after[i])),
            rank_before=rank_of(before, i),
            rank_after=rank_of(after, i),
        )
        for i in ids
    ]
    return sorted(rows, key=lambda r: (r.rank_before, r.rank_after))


def prediction_table(rows: Sequence[PredictionRow], with_after: bool) -> list[dict[str, Any]]:
    """Plain rows for st.dataframe (the token stays text: no markup is ever interpreted there)."""
    out = []
    for r in rows:
        row: dict[str, Any] = {"token": r.token, "rank": r.rank_before, "p": r.p_before}
        if with_after:
            row = {
                "token": r.token,
                "rank before": r.rank_before,
                "p before": r.p_before,
                "rank after": r.rank_after,
                "p after": r.p_after,
                "Δ log p": r.dlogp,
            }
        out.append(row)
    return out


def residual_drift(before: Any, after: Any) -> np.ndarray:
    """[n_layers + 1, n] ‖resid_after(l) − resid_before(l)‖ / ‖resid_before(l)‖ at every position.

    Row l is the residual stream entering block l (row 0: the embeddings; the last row: the final
    residual, before the final norm).
    """
    if before.n_tokens != after.n_tokens or before.token_ids != after.token_ids:
        raise ValueError("before and after must be traces of the same tokens")
    rows = []
    for layer in range(before.n_layers + 1):
        b = before.resid(layer).double().numpy()
        a = after.resid(layer).double().numpy()
        norm = np.linalg.norm(b, axis=-1)
        rows.append(np.linalg.norm(a - b, axis=-1) / np.where(norm > 0, norm, 1.0))
    return np.stack(rows)


def row_entropy(pattern: np.ndarray) -> np.ndarray:
    """[n_q] entropy in bits of each query row of an attention pattern (0·log 0 = 0)."""
    p = np.asarray(pattern, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(-1)


@dataclass(frozen=True)
class HeadEffect:
    layer: int
    head: int
    dlogp: float  # change in log p(target) when this head alone is ablated; negative = the head helped


def rank_heads(sweep: np.ndarray) -> list[HeadEffect]:
    """Every head, largest drop in log p first (ties by layer, head)."""
    L, H = sweep.shape
    order = sorted((float(sweep[l, h]), l, h) for l in range(L) for h in range(H))  # noqa: E741
    return [HeadEffect(layer, head, d) for d, layer, head in order]


def typed_token_id(tokenizer: Any, typed: str) -> tuple[int | None, str]:
    """A token id for text the user typed (' Paris'), and a sentence saying what was used.

    The text is tokenised as the model would; when it is more than one token, the first one is the
    next-token prediction that matters, and the message says so.
    """
    if not typed:
        return None, "Type a token, e.g. ' Paris' with its leading space."
    ids = list(tokenizer.tokenizer.encode(typed, add_special_tokens=False).ids)
    if not ids:
        return None, f"{readable_token(typed)!s} produced no tokens."
    first = readable_token(tokenizer.decode_token(ids[0]))
    if len(ids) == 1:
        return ids[0], f"{first} is one token (id {ids[0]})."
    parts = " │ ".join(readable_token(tokenizer.decode_token(i)) for i in ids)
    return ids[0], f"That text is {len(ids)} tokens ({parts}); using the first, {first} (id {ids[0]})."


# ── figures ──────────────────────────────────────────────────────────────────────────────────────
def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=15)),
        height=height,
        margin=dict(l=10, r=10, t=60, b=40),
        template="plotly_white",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
    )
    return fig


def prediction_bars(rows: Sequence[PredictionRow], title: str, with_after: bool) -> go.Figure:
    """Horizontal bars of next-token probabilities, most likely at the top; before (and after) side by side."""
    labels = [f"‘{plotly_escape(r.token)}’" for r in rows]  # quoted: ',' or '.' alone is hard to see
    y = list(range(len(rows)))
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=[r.p_before for r in rows],
            y=y,
            orientation="h",
            name="before" if with_after else "probability",
            marker_color=BEFORE_COLOUR,
            customdata=[[lab, r.rank_before] for lab, r in zip(labels, rows, strict=True)],
            hovertemplate="%{customdata[0]}: p = %{x:.4f} (rank %{customdata[1]})<extra></extra>",
            texttemplate="%{x:.3f}",
            textposition="outside",
        )
    )
    if with_after:
        fig.add_trace(
            go.Bar(
                x=[r.p_after for r in rows],
                y=y,
                orientation="h",
                name="after",
                marker_color=AFTER_COLOUR,
                customdata=[[lab, r.rank_after] for lab, r in zip(labels, rows, strict=True)],
                hovertemplate="%{customdata[0]}: p = %{x:.4f} after (rank %{customdata[1]})<extra></extra>",
                texttemplate="%{x:.3f}",
                textposition="outside",
            )
        )
    top = max([r.p_before for r in rows] + ([r.p_after for r in rows] if with_after else []) + [1e-9])
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_yaxes(tickvals=y, ticktext=labels, autorange="reversed", title=None, tickfont=dict(size=13))
    fig.update_xaxes(title="probability of the next token", range=[0, min(1.0, top * 1.25)])
    return _layout(fig, title, 120 + (34 if with_after else 24) * len(rows))


def drift_figure(
    drift: np.ndarray, position: int, labels: Sequence[str], intervened_layers: Sequence[int], title: str
) -> go.Figure:
    """Relative change of the residual stream per layer: the chosen position bold, every other position thin.

    `drift` is [n_layers + 1, n] (residual_drift); `labels` are Plotly-safe token labels.
    """
    n_rows, n = drift.shape
    x = list(range(n_rows))
    fig = go.Figure()
    for j in range(n):
        if j == position:
            continue
        fig.add_trace(
            go.Scatter(
                x=x,
                y=drift[:, j],
                mode="lines",
                line=dict(color="rgba(120,120,120,0.35)", width=1),
                name="other positions",
                legendgroup="others",
                showlegend=j == (1 if position == 0 else 0),
                hovertemplate=f"{labels[j]}<br>entering layer %{{x}}: %{{y:.3f}}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=drift[:, position],
            mode="lines+markers",
            line=dict(color=AFTER_COLOUR, width=3),
            name=f"position {labels[position]}",
            hovertemplate=f"{labels[position]}<br>entering layer %{{x}}: %{{y:.3f}}<extra></extra>",
        )
    )
    for layer in sorted(set(intervened_layers)):
        fig.add_vline(x=layer, line=dict(color="#888", dash="dot", width=1))
    fig.update_xaxes(title="residual stream entering layer l (last: the final residual)", dtick=max(1, n_rows // 15))
    fig.update_yaxes(title="‖after − before‖ / ‖before‖", rangemode="tozero")
    return _layout(fig, title, 380)


def sweep_heatmap(sweep: np.ndarray, title: str, selected: tuple[int, int] | None = None) -> go.Figure:
    """[n_layers, n_heads] change in log p(target) per ablated head; red = a drop (the head helped), blue = a rise."""
    L, H = sweep.shape
    lim = float(max(np.max(np.abs(sweep)), 1e-6))
    fig = go.Figure(
        go.Heatmap(
            z=sweep,
            x=list(range(H)),
            y=list(range(L)),
            zmin=-lim,
            zmax=lim,
            colorscale="RdBu",  # Plotly's RdBu runs red (low) → blue (high): a drop is red, a rise blue
            colorbar=dict(title="Δ log p", thickness=12),
            hovertemplate="layer %{y}, head %{x}<br>Δ log p = %{z:.3f}<extra></extra>",
        )
    )
    if selected is not None:
        layer, head = selected
        fig.add_shape(
            type="rect", x0=head - 0.5, x1=head + 0.5, y0=layer - 0.5, y1=layer + 0.5, line=dict(color="black", width=2)
        )
    fig.update_xaxes(title="head", dtick=1)
    fig.update_yaxes(title="layer", autorange="reversed", dtick=max(1, L // 15))
    return _layout(fig, title, max(360, 80 + 16 * L))


def temperature_figure(
    pattern: np.ndarray,
    entropy_after: np.ndarray,
    entropy_before: np.ndarray,
    labels: Sequence[str],
    title: str,
    T: float,
) -> go.Figure:
    """The head's pattern at temperature T (rows = queries) beside the entropy of each row, T vs T = 1.

    `labels` are Plotly-safe token labels; the pattern is [n_q, n_k].
    """
    n = pattern.shape[0]
    pos = list(range(n))
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.64, 0.36],
        horizontal_spacing=0.1,
        shared_yaxes=True,
        subplot_titles=(f"pattern at T = {T:g} (rows: queries, each sums to 1)", "entropy of each row (bits)"),
    )
    hover = [[f"query {labels[i]}<br>key {labels[j]}<br>weight {pattern[i, j]:.4f}" for j in pos] for i in pos]
    fig.add_trace(
        go.Heatmap(
            z=pattern,
            x=pos,
            y=pos,
            zmin=0.0,
            zmax=1.0,
            colorscale="Blues",
            text=hover,
            hovertemplate="%{text}<extra></extra>",
            colorbar=dict(title="weight", thickness=12, x=0.585, len=0.9),
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            x=entropy_before,
            y=pos,
            orientation="h",
            name="T = 1 (the model)",
            marker_color=BEFORE_COLOUR,
            customdata=list(labels),
            hovertemplate="%{customdata}: %{x:.3f} bits at T = 1<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Bar(
            x=entropy_after,
            y=pos,
            orientation="h",
            name=f"T = {T:g}",
            marker_color=AFTER_COLOUR,
            customdata=list(labels),
            hovertemplate=f"%{{customdata}}: %{{x:.3f}} bits at T = {T:g}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    step = max(1, -(-n // 48))
    ticks = dict(tickvals=pos[::step], ticktext=list(labels)[::step])
    fig.update_yaxes(autorange="reversed", title="query", row=1, col=1, **ticks)
    fig.update_xaxes(title="key", tickangle=-45, row=1, col=1, **ticks)
    fig.update_xaxes(title="bits", rangemode="tozero", row=1, col=2)
    fig = _layout(fig, title, max(460, 200 + 22 * n))
    fig.update_layout(barmode="group", bargap=0.2, margin=dict(b=110))
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.12, xanchor="right", x=1.0))
    return fig


def token_labels(tokens: Sequence[str]) -> list[str]:
    """Plotly-safe labels with positions ("3: ␣creature"): tokens repeat, positions do not."""
    return [f"{i}: {plotly_token(t)}" for i, t in enumerate(tokens)]


def readable_labels(tokens: Sequence[str]) -> list[str]:
    """The same labels as plain text, for widgets (selectboxes show text, never markup)."""
    return [f"{i}: {readable_token(t)}" for i, t in enumerate(tokens)]
