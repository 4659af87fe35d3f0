"""Downloads: a head's pattern (CSV and NPZ for short texts, NPZ and window CSV for long ones), the logit lens's
grid, a contribution graph's edges, a generation's candidates and a protein model's log p at each residue (CSV).

Rows are always queries in the pattern files, whatever the on-screen orientation, so a file's rows sum to 1 and
match the engine's convention; the header says so. Numbers are written with repr(float): nothing is rounded.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from viz.views.patterns import HeadView, PooledView, Tokens, WindowView
from viz.views.residues import ResidueView


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A header and its rows as UTF-8 CSV, one "\n" per line: what every CSV download here is."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def pattern_csv(view: HeadView) -> bytes:
    """The selected head's used pattern: one row per query, one column per key, with tokens."""
    header = ["query_pos", "query_token"] + [f"{j}:{tok}" for j, tok in enumerate(view.tokens.raw)]
    # repr(float) round-trips float32 exactly enough for a sum check; no rounding of real numbers.
    rows = ([i, tok] + [repr(float(w)) for w in view.pattern[i]] for i, tok in enumerate(view.tokens.raw))
    return csv_bytes(header, rows)


def pattern_npz(view: HeadView, model_name: str) -> bytes:
    """Pattern, pre-mask scores, mask and tokens in one file (np.load(..., allow_pickle=False) works)."""
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        pattern=view.pattern,
        scores=view.scores,
        mask=view.mask,
        pattern_masked=view.pattern_masked,
        pattern_unmasked=view.pattern_unmasked,
        tokens=np.array(view.tokens.raw, dtype=str),
        token_ids=np.array(view.tokens.ids, dtype=np.int64),
        layer=np.int64(view.layer),
        head=np.int64(view.head),
        causal=np.bool_(view.causal),
        model=np.array(model_name),
    )
    return buf.getvalue()


def window_csv(view: WindowView) -> bytes:
    """A long text's exact window: one row per query of the window, one column per key of the window.

    Weights are the true ones (each row normalised over all keys), so a row sums to the share of the
    query's attention inside the window, given in the last column.
    """
    w = view.window
    header = ["query_pos", "query_token"] + [f"{j}:{view.tokens.raw[j]}" for j in range(w.k0, w.k1)] + ["row_share"]
    rows = (
        [i, view.tokens.raw[i], *(repr(float(x)) for x in view.pattern[r]), repr(float(view.row_share[r]))]
        for r, i in enumerate(range(w.q0, w.q1))
    )
    return csv_bytes(header, rows)


def export_basename(model_name: str, layer: int, head: int, causal: bool) -> str:
    return f"attention_{model_name}_L{layer}_H{head}_{'causal' if causal else 'bidirectional'}"


def pooled_npz(view: PooledView, window: WindowView, tokens: Tokens, model_name: str) -> bytes:
    """A long text's export: the block means, the exact window, and the tokens."""
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        pooled=view.pooled,
        block=np.int64(view.block),
        window=np.array(window.window.as_tuple(), dtype=np.int64),
        window_pattern=window.pattern,
        window_scores=window.scores,
        tokens=np.array(tokens.raw, dtype=str),
        token_ids=np.array(tokens.ids, dtype=np.int64),
        layer=np.int64(view.layer),
        head=np.int64(view.head),
        causal=np.bool_(window.causal),
        model=np.array(model_name),
    )
    return buf.getvalue()


def lens_csv(
    ids: np.ndarray, probs: np.ndarray, tokens: Sequence[str], decode: Callable[[int], str], first: int = 0,
    fills_in: bool = False,
) -> bytes:
    """The logit lens's top k at every (block, position): ids/probs [n_layers, n, k] at positions first.., `tokens`
    the text's tokens there. One row per block, position and rank; the last block's rows are the model's own.
    `fills_in`: a masked-language model's, whose predictions are of the token at each position, not the next."""

    def rows() -> Iterable[list]:
        n_layers, n, k = ids.shape
        for layer in range(n_layers):
            for pos in range(n):
                for rank in range(k):
                    token_id = int(ids[layer, pos, rank])
                    prob = repr(float(probs[layer, pos, rank]))
                    yield [layer, first + pos, tokens[pos], rank + 1, token_id, decode(token_id), prob]

    guessed = "guessed_token" if fills_in else "next_token"
    return csv_bytes(["after_block", "position", "token", "rank", f"{guessed}_id", guessed, "probability"], rows())


def graph_csv(edges: Mapping[str, np.ndarray], tokens: Sequence[str]) -> bytes:
    """A contribution graph's edges (services.lens.contribution_graph's columns), with the tokens they join."""
    columns = zip(edges["layer"], edges["kind"], edges["source"], edges["target"], edges["importance"], strict=True)
    rows = (
        [int(layer), kind, int(src), tokens[int(src)], int(dst), tokens[int(dst)], repr(float(imp))]
        for layer, kind, src, dst, imp in columns
    )
    return csv_bytes(["block", "kind", "source", "source_token", "target", "target_token", "importance"], rows)


def steps_csv(
    top_ids: np.ndarray, top_probs: np.ndarray, written: Sequence[int], decode: Callable[[int], str]
) -> bytes:
    """A generation's candidates: top_ids/top_probs [n_new, k] at each step, `written` the token each step wrote.
    One row per step and rank; `written` says which candidate was written (none, when sampling chose one outside)."""

    def rows() -> Iterable[list]:
        for step, (ids, probs) in enumerate(zip(top_ids, top_probs, strict=True)):
            for rank, (token_id, p) in enumerate(zip(ids, probs, strict=True)):
                chosen = int(token_id) == int(written[step])
                yield [step + 1, rank + 1, int(token_id), decode(int(token_id)), repr(float(p)), int(chosen)]

    return csv_bytes(["step", "rank", "token_id", "token", "probability", "written"], rows())


def residues_csv(view: ResidueView) -> bytes:
    """A protein model's log p (natural) of each amino acid at each residue: one row per residue, its own amino acid
    and position, then one column per amino acid."""
    rows = ([k + 1, label, *(repr(float(x)) for x in view.logp[:, k])] for k, label in enumerate(view.labels))
    return csv_bytes(["residue", "label", *(f"logp_{letter}" for letter in view.letters)], rows)


def tags_csv(probs: np.ndarray, labels: Sequence[str], tokens: Sequence[str]) -> bytes:
    """A token classifier's probability of each label at every (block, position), read from that position's embedding
    after the block (services.lens.tag_grid); the last block's rows are the model's own."""
    n_layers, n, _ = probs.shape
    rows = ([layer, pos, tokens[pos], *(repr(float(p)) for p in probs[layer, pos])]
            for layer in range(n_layers) for pos in range(n))  # fmt: skip
    return csv_bytes(["after_block", "position", "token", *(f"p_{label}" for label in labels)], rows)
