"""Context-size arithmetic for the parameters page: how many attention weights one pass computes, their
bytes at n tokens, the context lengths to plot and bytes for people."""

from __future__ import annotations


def pattern_entries(n_layers: int, n_heads: int, n: int) -> int:
    """Attention weights one forward pass computes: one n × n pattern per head per layer."""
    return n_layers * n_heads * n * n


def pattern_bytes(n_layers: int, n_heads: int, n: int, bytes_per: int) -> int:
    """Bytes of every pattern of one pass at `bytes_per` bytes per weight."""
    return pattern_entries(n_layers, n_heads, n) * bytes_per


def sublayer_words(n_layers: int, n_decoder_layers: int) -> str:
    """An encoder-decoder's attention sublayers in words (ModelConfig.attention_sublayers counts them), for the
    pages that count them as layers."""
    return (
        f"{n_layers + 2 * n_decoder_layers} attention sublayers: {n_layers} in the encoder, and self- and "
        f"cross-attention in each of {n_decoder_layers} decoder layers"
    )


def context_lengths(n_ctx: int) -> list[int]:
    """Powers of two from 16 up to the model's trained context (and that context itself)."""
    out, n = [], 16
    while n < n_ctx:
        out.append(n)
        n *= 2
    out.append(n_ctx)
    return out


COUNT_WORDS = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"))


def human_count(n: int) -> str:
    """A count short enough for a metric: exact below ten million (9,999,999), else three significant figures and
    a word as the chapter says them (603,979,776 → "604 million", 57,982,058,496 → "58.0 billion")."""
    if abs(n) < 10**7:
        return f"{n:,}"
    rounded = float(f"{n:.3g}")  # rounded first, so 999,999,999 reads "1.00 billion", not "1,000 million"
    if abs(rounded) >= 10**15:
        return f"{rounded:.2e}"
    scale, word = next((s, w) for s, w in COUNT_WORDS if abs(rounded) >= s)
    value = rounded / scale
    return f"{value:.{3 - len(str(int(abs(value))))}f} {word}"


def human_bytes(n: float) -> str:
    """1500 → "1.5 kB": decimal (SI) units, as the context-size chart's axis writes them (whole bytes below 1 kB)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # unreachable; keeps type checkers honest
