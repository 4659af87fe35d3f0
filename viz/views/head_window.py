"""Inside one head on a long text: every step's matrix for the tokens around the picked query and key.

A 1,000-token text makes four 1,000 × 1,000 query × key matrices and six 1,000-row token matrices: slow to send
and draw, and unreadable in a page column. Past STEPS_FULL_MAX_TOKENS the page draws the same matrices for a set
of positions that holds the picked query i and key j (one span when they are close, a span round each when they
are far apart), cut from the engine's step-by-step arrays (`Trace.head_steps`): every number is the full matrix's
number at that position, and a pattern row keeps its true weights (normalised over all of its keys, not only the
shown ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from viz.views.norm_words import projection_title, qk_norm_name

STEPS_FULL_MAX_TOKENS = 64  # up to this many tokens every matrix shows every token (a learner's short sentence)
STEPS_WINDOW_SIZE = 48  # past it, at most this many positions: every row keeps its own label (MATRIX_MAX_LABELS)
STEPS_TOGGLE_MAX_TOKENS = 256  # up to here the page also offers every token (a toggle, off by default)

TOKEN_ROWS = ("E", "q_pre", "k_pre", "q", "k", "v", "z", "delta")  # [n, ·] one row per token
QUERY_KEY = ("dots", "scaled", "capped", "mask", "masked", "pattern")  # [n_q, n_k]
BIAS_KEY = ("position_bias", "before_mask")  # [n_q, n_k], for a model with a position bias (T5) only
LATENT_ROWS = ("q_input", "kv_input")  # [n, ·] latent attention's c_Q and c_KV, where the model has them
GATE_ROWS = ("gate", "z_out")  # [n, d_head_v] the output gate and the gated z, where the model gates (AFMoE)


def _span(n: int, centre_lo: int, centre_hi: int, size: int) -> tuple[int, int]:
    """[start, stop) of `size` positions (at most n) holding centre_lo..centre_hi, the rest split round them."""
    size = min(size, n)
    start = centre_lo - (size - (centre_hi - centre_lo + 1)) // 2
    start = min(max(0, start), n - size)
    return start, start + size


def step_positions(n: int, query: int, key: int, size: int = STEPS_WINDOW_SIZE) -> np.ndarray:
    """Ascending positions to draw: every one of n when n ≤ size; else `size` positions holding the query and the
    key, as one span when they fit in it together, or size/2 round each."""
    if not (0 <= query < n and 0 <= key < n):
        raise ValueError(f"query {query} and key {key} must be positions of the {n} tokens")
    lo, hi = sorted((query, key))
    if n <= size or hi - lo < size:
        start, stop = _span(n, lo, hi, size)
        return np.arange(start, stop)
    half = size // 2
    spans = [_span(n, p, p, half) for p in (key, query)]
    return np.unique(np.concatenate([np.arange(a, b) for a, b in spans]))


def describe_positions(positions: np.ndarray) -> str:
    """'tokens 0–23 and 976–999' (contiguous runs, as a reader counts them)."""
    runs = [f"{r[0]}–{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in _runs(positions)]
    return "tokens " + " and ".join(runs) if len(runs) <= 2 else "tokens " + ", ".join(runs)


def _runs(positions: np.ndarray) -> list[np.ndarray]:
    cuts = np.flatnonzero(np.diff(positions) > 1) + 1
    return np.split(np.asarray(positions), cuts)


@dataclass(frozen=True)
class StepsWindow:
    """One head's steps at `positions` only: token matrices [m, ·] and query × key matrices [m, m] (rows and
    columns both at `positions`), each the full matrix's slice."""

    n: int  # tokens in the text
    positions: np.ndarray  # [m] ascending
    arrays: dict[str, np.ndarray]

    @property
    def m(self) -> int:
        return int(self.positions.size)

    @property
    def complete(self) -> bool:
        return self.m == self.n

    @property
    def gaps(self) -> list[int]:
        """Row (and column) indices where a new run of positions starts: a line is drawn before each."""
        return [int(i) for i in np.flatnonzero(np.diff(self.positions) > 1) + 1]

    def index(self, position: int) -> int:
        """The row of `position` in the window."""
        found = np.flatnonzero(self.positions == position)
        if not found.size:
            raise ValueError(f"position {position} is not in the window ({describe_positions(self.positions)})")
        return int(found[0])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def row_share(self) -> np.ndarray:
        """[m] the part of each shown query's weight that falls on the shown keys (1 when every key is shown)."""
        return self.arrays["pattern"].sum(axis=-1)

    def describe(self) -> str:
        return describe_positions(self.positions)


def steps_window(steps: Any, positions: np.ndarray) -> StepsWindow:
    """Cut a HeadSteps (Trace.head_steps) to `positions`: rows of the token matrices, rows × columns of the
    query × key ones."""
    pos = np.asarray(positions, dtype=np.intp)
    n = int(steps.n)
    if pos.ndim != 1 or not pos.size or pos.min() < 0 or pos.max() >= n or np.any(np.diff(pos) <= 0):
        raise ValueError(f"positions must be ascending positions of the {n} tokens")
    arrays = {name: np.asarray(getattr(steps, name))[pos] for name in TOKEN_ROWS}
    arrays |= {name: np.asarray(x)[pos] for name in LATENT_ROWS if (x := getattr(steps, name, None)) is not None}
    if getattr(steps, "gate", None) is not None:
        arrays |= {name: np.asarray(getattr(steps, name))[pos] for name in GATE_ROWS}
    grid = np.ix_(pos, pos)
    arrays |= {name: np.asarray(getattr(steps, name))[grid] for name in QUERY_KEY}
    if getattr(steps, "position_bias", None) is not None:
        arrays |= {name: np.asarray(getattr(steps, name))[grid] for name in BIAS_KEY}
    return StepsWindow(n=n, positions=pos, arrays=arrays)


# ── How the page's titles name a head's matrices ──────────────────────────────────────────────────
def plus_bias(has_bias: bool, name: str) -> str:
    """' + b_Q' where the model adds a bias to E·W_Q (BERT), '' where it has none (llama)."""
    return f" + b_{name}" if has_bias else ""


def clipped(product: str, steps: Any) -> str:
    """`product` wrapped in the model's clamp where it clips q, k and v (OLMo's clip_qkv): 'clip(E·W_V, ±8)'."""
    clip = getattr(steps, "qkv_clip", None)
    return product if clip is None else f"clip({product}, ±{clip:g})"


def kv_head_name(group_size: int, head: int, kv_head: int) -> str:
    """Whose W_K / W_V these are: 'kv head 1' where grouped-query heads share them, else the head's own."""
    return f"kv head {kv_head}" if group_size > 1 else f"head {head}"


def sharing_note(steps: Any) -> str | None:
    """Under grouped-query attention, which other query heads share this head's key/value head (and so its
    W_K, W_V, K and V), from one head's steps (attention_core.steps: head, kv_head, group_size); None where every
    head has its own."""
    if steps.group_size <= 1:
        return None
    sharing = [h for h in range(steps.n_heads) if h // steps.group_size == steps.kv_head and h != steps.head]
    others = f"query head {sharing[0]} uses" if len(sharing) == 1 else f"query heads {', '.join(map(str, sharing))} use"
    return (
        f"Grouped-query attention: {steps.n_heads} query heads share {steps.n_kv_heads} key/value heads. Query head "
        f"{steps.head} uses key/value head {steps.kv_head}, which {others} too; so W_K and W_V "
        "below (and K, V) are shared with them, while W_Q and W_O are this head's own."
    )


def value_source(steps: Any) -> tuple[str, str, str]:
    """(what V is read from, the map, that input's width in words) for a head's steps: ("E", "W_V", "d_model = 576"),
    or latent attention's ("c_KV", "W_UV", "the latent's 16")."""
    if getattr(steps, "kv_input", None) is None:
        return "E", "W_V", f"d_model = {steps.d_model}"
    return "c_KV", "W_UV", f"the latent's {steps.kv_input.shape[1]}"


def qk_titles(steps: Any, rows: int | str, rope: str = "") -> dict[str, str]:
    """{"Q": title, "K": title} of a head's q and k charts: the product each is (norm_words.projection_title), or
    latent attention's ("Q = c_Q·W_UQ", "K = [c_KV·W_UK | E·W_KR]"). `rope`: "before", "after" or "" (no RoPE)."""
    d = steps.d_head
    if getattr(steps, "kv_input", None) is None:
        norm_name = qk_norm_name(getattr(steps, "norm", "rms"))
        return {name: projection_title(name, steps.has_bias, steps.qk_norm, rows, d, rope, steps.qk_norm_after_rope,
                                       steps.qk_norm_weighted, getattr(steps, "qkv_clip", None), norm_name)
                for name in "QK"}  # fmt: skip
    q_from = "E·W_Q" if steps.q_input is None else "c_Q·W_UQ"
    stage = f" {rope} RoPE" if rope else ""
    return {"Q": f"Q = {q_from}  [{rows} × {d}]{stage}", "K": f"K = [c_KV·W_UK | E·W_KR]  [{rows} × {d}]{stage}"}
