"""The vectors of two picked tokens inside one head: each token's query, key and value (d_head numbers each),
their lengths, the score q_i·k_j (and scaled by the model's factor, 1/√d_head unless it sets its own), and cosines
between them.

Reads the engine's step-by-step arrays (`Trace.head_steps`, attention_core/steps.py: q and k after RoPE, what
the scores use; v value-down; E what the head reads) and returns plain numbers, float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

KINDS = ("q", "k", "v")
KIND_NAMES = {"q": "query", "k": "key", "v": "value"}


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """cos of the angle between two vectors; 0 when either is the zero vector (no direction to compare)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(np.dot(a, b) / (na * nb)) if na > 0 and nb > 0 else 0.0


@dataclass(frozen=True)
class PickedVectors:
    """Query token i and key token j of one head: their q, k, v and what they make together."""

    query: int  # i, the token that is looking
    key: int  # j, the token it looks at
    d_head: int
    q_i: np.ndarray
    k_i: np.ndarray
    v_i: np.ndarray
    q_j: np.ndarray
    k_j: np.ndarray
    v_j: np.ndarray
    e_i: np.ndarray  # what the head reads at i and j (E's rows)
    e_j: np.ndarray
    attn_scale: float = 0.0  # the model's factor on q·k; 0 (unset) means 1/√d_head

    def vector(self, kind: str, token: str) -> np.ndarray:
        """kind 'q' | 'k' | 'v', token 'i' | 'j'."""
        return getattr(self, f"{kind}_{token}")

    @property
    def dot(self) -> float:
        return float(np.dot(self.q_i, self.k_j))

    @property
    def scaled(self) -> float:
        return self.dot * self.attn_scale if self.attn_scale else self.dot / math.sqrt(self.d_head)

    def norms(self) -> list[dict[str, Any]]:
        """One row per picked token: its position and the length of its q, k and v."""
        return [
            {"token": pos, **{f"|{kind}|": float(np.linalg.norm(self.vector(kind, t))) for kind in KINDS}}
            for t, pos in (("i", self.query), ("j", self.key))
        ]

    def cosines(self) -> dict[str, float]:
        """cos(q_i, k_j) (the score's direction, without the lengths) and cos between the two tokens' vectors."""
        return {
            "cos(q_i, k_j)": cosine(self.q_i, self.k_j),
            "cos(q_i, q_j)": cosine(self.q_i, self.q_j),
            "cos(k_i, k_j)": cosine(self.k_i, self.k_j),
            "cos(v_i, v_j)": cosine(self.v_i, self.v_j),
            "cos(e_i, e_j)": cosine(self.e_i, self.e_j),
        }


def picked_vectors(steps: Any, i: int, j: int) -> PickedVectors:
    """The picked tokens' vectors from a HeadSteps (Trace.head_steps)."""
    rows = {name: np.asarray(getattr(steps, name), dtype=np.float64) for name in ("q", "k", "v", "E")}
    return PickedVectors(
        query=i,
        key=j,
        d_head=int(steps.d_head),
        q_i=rows["q"][i],
        k_i=rows["k"][i],
        v_i=rows["v"][i],
        q_j=rows["q"][j],
        k_j=rows["k"][j],
        v_j=rows["v"][j],
        e_i=rows["E"][i],
        e_j=rows["E"][j],
        attn_scale=float(getattr(steps, "attn_scale", 0.0) or 0.0),
    )
