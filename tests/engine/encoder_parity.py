"""An encoder's trace beside transformers' run of the same input: what the encoder parity tests share (each holds its
own tolerances)."""

from __future__ import annotations


def assert_patterns_and_hidden_states(trace, out, n_layers: int, pattern_tol: float, hidden_tol: float) -> None:
    """Every layer's pattern within `pattern_tol`, and every hidden state (the embeddings', then each layer's output)
    within `hidden_tol`, of transformers' `out` (max absolute difference)."""
    for layer in range(n_layers):
        diff = (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item()
        assert diff <= pattern_tol, f"layer {layer} pattern differs by {diff}"
    for layer in range(n_layers + 1):
        diff = (trace.resid(layer) - out.hidden_states[layer][0]).abs().max().item()
        assert diff <= hidden_tol, f"hidden state {layer} differs by {diff}"
