"""Small helpers shared by the view models: tensors → numpy, a trace's tokens as shown, 2-D PCA, cosine."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from viz.labels import counted, markdown_code, name_byte_pieces


def to_numpy(value: Any, dtype: DTypeLike | None = np.float64) -> np.ndarray:
    """Tensor or array → numpy on the CPU, float64 by default so sums and checks don't lose digits.

    `.detach().cpu()` first, since a CUDA/MPS tensor can't `.numpy()`. `dtype=None` keeps the value's
    own dtype (what the pattern views and exports hand on unchanged).
    """
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype)


def pca_2d(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project rows of `points` [m, d] on their first two principal axes (numpy SVD).

    Returns (coords [m, 2], explained variance ratio [2], mean [d]). The sign of each axis is fixed
    (largest |loading| positive) so the picture does not flip between reruns.
    """
    pts = np.asarray(points, dtype=np.float64)
    mean = pts.mean(axis=0)
    centered = pts - mean
    _, s, vt = np.linalg.svd(centered, full_matrices=False)
    axes = vt[:2]
    for k in range(axes.shape[0]):
        if axes[k, np.argmax(np.abs(axes[k]))] < 0:
            axes[k] = -axes[k]
    coords = centered @ axes.T
    total = float((s**2).sum())
    ratio = (s[:2] ** 2) / total if total > 0 else np.zeros(2)
    if coords.shape[1] < 2:  # a single point or rank-1 data: pad so callers can always draw x and y
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
        ratio = np.pad(ratio, (0, 2 - ratio.shape[0]))
    return coords, ratio, mean


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors; NaN when either is zero."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return float("nan")
    return float(np.dot(a, b) / (na * nb))


def display_tokens(trace: Any) -> list[str]:
    """A trace's tokens as the app shows them: byte pieces of a character named by it (viz.labels)."""
    return name_byte_pieces(list(trace.tokens), list(trace.offsets), trace.text)


def no_prediction_sentence(
    model_label: str, encoder_decoder: bool, masked_lm: bool = False, classifier: bool = False, tagger: bool = False,
    answerer: bool = False,
) -> str:
    """Why the sidebar's text gets no next-token prediction from this model, for a page's notice (Markdown;
    `model_label` already Markdown-safe): an encoder-decoder's decoder reads a target text of its own, which these
    pages do not run; a masked-language model (`masked_lm`) predicts the token at each position instead, a sequence
    classifier (`classifier`) one label for the whole text, a token classifier (`tagger`) one for each token, an
    extractive question-answering model (`answerer`) an answer's span; an encoder loaded without a head predicts
    nothing."""
    if classifier:  # an encoder-decoder's too (BART's: its decoder reads the text itself)
        return (
            f"{model_label} is a sequence classifier: it reads the whole text and gives it one label, and predicts no "
            "token. The Logit lens page shows its verdict, layer by layer."
        )
    if encoder_decoder:
        return (
            f"{model_label} is an encoder-decoder: the sidebar's text goes through its encoder, which predicts no "
            "token; its decoder predicts from a target text of its own (the Cross-attention page runs both), which "
            "this page does not run."
        )
    if masked_lm:
        return (
            f"{model_label} is a masked-language model: it reads the whole text at once and predicts the token at "
            "each position (where the text has its mask token, the missing one), not the next token. The Logit lens "
            "and Experiments pages show those predictions."
        )
    if tagger:
        return (
            f"{model_label} is a token classifier: it reads the whole text at once and gives each token a label (a "
            "named entity's kind, a part of speech), and predicts no token. The Logit lens page shows its labels, "
            "layer by layer."
        )
    if answerer:
        return (
            f"{model_label} is an extractive question-answering model: it reads a question and a context (the "
            "sidebar's text and second text) and points at the answer's span in the context, and predicts no token. "
            "The Logit lens page shows its answer, layer by layer."
        )
    return (
        f"{model_label} is an encoder: it reads a whole text at once and predicts no token, as this checkpoint "
        "carries no masked-language-model head (an embedding model's checkpoint, as all-MiniLM-L6-v2's is; a "
        "...ForMaskedLM checkpoint such as bert-base-uncased has one, and then the Logit lens page shows what it "
        "fills in)."
    )


UNKNOWN_SHOWN = 8  # distinct unknown pieces a notice quotes


def unknown_sentence(pieces: Sequence[str], unk: str) -> str | None:
    """Markdown: which pieces of the text the model's vocabulary lacks (services.traces.unknown_pieces), each quoted
    as code (the user's text, shown as text), and what the model reads instead; None when there are none."""
    if not pieces:
        return None
    distinct = list(dict.fromkeys(pieces))
    quoted = ", ".join(markdown_code(piece) for piece in distinct[:UNKNOWN_SHOWN])
    more = f" and {len(distinct) - UNKNOWN_SHOWN} more" if len(distinct) > UNKNOWN_SHOWN else ""
    n, verb = len(pieces), "is" if len(pieces) == 1 else "are"
    return (
        f"{counted(n, 'piece')} of the text {verb} not in this model's vocabulary: {quoted}{more}. It reads each as "
        f"one {markdown_code(unk)} token, all it sees of it."
    )


def hide_a_word(text: str, mask: str, protein: bool = False) -> str | None:
    """`text` with its last word replaced by `mask`, for a masked-language model to fill in (a protein's middle
    residue, as a protein sequence has no words); None when there is nothing to hide (no word, or `mask` already
    in the text)."""
    if mask in text:
        return None
    if protein:
        letters = [i for i, ch in enumerate(text) if ch.isalpha()]
        middle = letters[len(letters) // 2] if letters else None
        return None if middle is None else text[:middle] + mask + text[middle + 1 :]
    words = list(re.finditer(r"\w+", text))
    return None if not words else text[: words[-1].start()] + mask + text[words[-1].end() :]


def mask_words(causal: bool, window: int | None) -> str:
    """A page header's words for the mask a layer's scores get (the pass's causal mask or none, and the layer's own
    window: ModelConfig.window, where a query sees at most `window` keys, itself included)."""
    if window is None:
        return "causal mask on" if causal else "no mask (bidirectional)"
    if causal:
        return f"causal mask on, sliding window of {window} tokens"
    return f"local window: keys within {window - 1} tokens either way"


def model_mask_words(causal: bool, windows: list[int | None]) -> str:
    """`mask_words` for a view of every layer (`windows`: each layer's ModelConfig.window): one window in every layer
    is named as a layer's is; windows in some layers only are counted."""
    used = [w for w in windows if w is not None]
    if not used or (len(used) == len(windows) and len(set(used)) == 1):
        return mask_words(causal, used[0] if used else None)
    kind = "causal mask on, sliding windows" if causal else "bidirectional, local windows"
    return f"{kind} in {len(used)} of {len(windows)} layers"
