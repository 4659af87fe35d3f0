"""What a key sends a query through one head, in words and formulas: A[i,j]·v_j·W_O, or, in a model that gates
each head's output (AFMoE: z × σ(E·W_G) before W_O), A[i,j]·(g_i ⊙ v_j)·W_O, the query's gate g_i in every part.
Every page and figure that names that product takes it from here, so the label follows the model."""

from __future__ import annotations

GATE_NOTE = (
    "This model gates each head's output: every part also carries the query's gate g_i = σ(E_i·W_G), numbers "
    "between 0 and 1 that multiply the value vector dimension by dimension."
)


def sent_formula(gated: bool, short: bool = False) -> str:
    """'A[i,j]·v_j·W_O' (short: 'A·v·W_O'), or with the query's gate 'A[i,j]·(g_i ⊙ v_j)·W_O' ('A·(g⊙v)·W_O')."""
    if short:
        return "A·(g⊙v)·W_O" if gated else "A·v·W_O"
    return "A[i,j]·(g_i ⊙ v_j)·W_O" if gated else "A[i,j]·v_j·W_O"


def value_up(gated: bool, value: str = "v_j", gate: str = "g_i") -> str:
    """'v_j·W_O', or '(g_i ⊙ v_j)·W_O' where the model gates: what one source's value becomes in the query's update."""
    return f"({gate} ⊙ {value})·W_O" if gated else f"{value}·W_O"
