"""Logit-lens view models: the layer × position grid of each layer's most likely next token (or, for a
masked-language model, `fills_in`, its most likely token at that position), where the prediction settles, and one
position's chosen tokens across layers. numpy in (from services.lens), no engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from viz.labels import escape_note, plotly_escape, predicted_byte_note, predicted_token_label, readable_token

CELL_CHARS = 8  # a cell shows at most this many characters of its token; the hover has all of it
# The grid's plot is ~390 px wide at 1024 px, and a cell's 10 px text takes ~6 px a character: with the default
# sentence's 10 positions, 8-character labels ("␣dismant") ran over their neighbours.
GRID_PLOT_PX, CELL_CHAR_PX = 390, 6


def cell_chars(n_positions: int) -> int:
    """How many characters of its token a cell shows when the grid shows `n_positions` (3 to CELL_CHARS)."""
    return max(3, min(CELL_CHARS, GRID_PLOT_PX // (CELL_CHAR_PX * max(n_positions, 1))))

# Past this many positions a cell is narrower than its token at 1024 px (the plot is ~390 px wide there; at 27
# positions the cells' tokens ran together); the hover names every cell's top k.
TEXT_IN_CELLS_MAX = 16

# A long text's grid shows this many positions at a time: each position costs n_layers projections onto the
# whole vocabulary (30 × 49,152 × 576 multiply-adds on SmolLM2), so 64 positions take about a second on two cores
# (bench/lens.py) where a 1,000-token grid would take half a minute; and 64 columns are as many as a screen
# can label.
LENS_WINDOW = 64  # the page's window and the notebook view's


@dataclass(frozen=True)
class LensGrid:
    """Rows are layers (block 0 at the bottom when drawn), columns are positions first, first + 1, ... of the text
    (the whole text, or the window of a long one)."""

    cell_text: list[list[str]]  # [n_layers][n] top-1 token, readable, cut to cell_chars(n), Plotly-escaped
    prob: np.ndarray  # [n_layers, n] its probability under that layer's lens
    hover: list[list[str]]  # [n_layers][n] "layer l · after 'tok'" and the top k with probabilities
    tokens: list[str]  # [n] readable input tokens (the column labels)
    settles: np.ndarray  # [n] first layer from which the top-1 is the final layer's top-1 at every layer after
    first_shown: np.ndarray  # [n] first layer whose top-1 is the final layer's
    first: int = 0  # the text position of column 0
    fills_in: bool = False  # a masked-language model's: each cell guesses the token at its position, not the next
    tagged: bool = False  # a token classifier's (viz.views.tags): each cell is a label of the token at its position

    @property
    def names_cells(self) -> bool:
        """Whether each cell is wide enough to carry its token's text (the figure writes it in, the page says so)."""
        return len(self.tokens) <= TEXT_IN_CELLS_MAX

    @property
    def column_px(self) -> float:
        """The width (px) a column's cell text was cut for (cell_chars: the grid's plot at 1024 px shared by its
        positions); 0 where the cells carry no text."""
        return GRID_PLOT_PX / max(len(self.tokens), 1) if self.names_cells else 0.0


def grid_introduction(grid: LensGrid, k: int, prediction_head: bool = False, mask: str | None = None) -> str:
    """The page's Markdown introduction to the grid, which says where a cell's token is read: in the cell, or, in a
    grid too wide for text in its cells, in the hover; `prediction_head`: the model reads its logits through one
    (ModernBERT decoder, a masked-language model's head), and so does the lens. A masked-language model's grid
    (`grid.fills_in`) guesses the token at each position, not the next one; `mask`: the token to type to hide one."""
    through = "final normalisation, prediction head and unembedding" if prediction_head else (
        "final normalisation and unembedding")
    lens = (
        "After every block the embedding at each position is still a vector in the same space the last block "
        f"writes to. The **logit lens** sends it through the model's own {through}, as if the model stopped there: "
    )
    guess = "token for that position" if grid.fills_in else "next token"
    if grid.names_cells:
        cells = (
            f"each cell is the most likely {guess} after that block, written in the cell and coloured by its "
            f"probability; hover for the top {k}."
        )
    else:
        cells = (
            f"each cell is coloured by the probability of the most likely {guess} after that block; with "
            f"{len(grid.tokens)} positions the cells are too narrow to write it in, so hover a cell for it and the "
            f"top {k}."
        )
    said = lens + cells + " The top row is the model's real prediction."
    if grid.fills_in:  # a fill-in model sees the very token it guesses, except where the text hides it
        said += (" This model was trained to fill in masked tokens: it reads the whole text, the token at each "
                 "position included, so most columns guess their own token.")  # fmt: skip
    if grid.fills_in and mask:
        said += f" Type `{mask}` in the text to hide a token and see what the model puts there."
    return said


def settle_layers(top1: np.ndarray) -> np.ndarray:
    """[n] for top-1 ids [n_layers, n]: the first layer l with top1[l:] all equal to the last layer's."""
    same = top1 == top1[-1:]  # (n_layers, n)
    # Scanning from the top: the settled run is the suffix of rows that all agree with the final row.
    suffix = np.flip(np.cumprod(np.flip(same, 0), axis=0), 0).astype(bool)  # (n_layers, n)
    return top1.shape[0] - suffix.sum(0)


def settle_caption(grid: LensGrid, column: int, final: str, where: str) -> str:
    """One sentence on the grid's `column`: the final answer (`final`, already quoted), after which block the lens
    first shows it, and from which block on it keeps it."""
    last = grid.prob.shape[0] - 1
    first, settled = int(grid.first_shown[column]), int(grid.settles[column])
    if settled == 0:
        when = "the lens shows it after every block"
    elif first == last:
        when = f"the lens shows it only after the last block ({last})"
    elif first == settled:
        when = f"the lens first shows it after block {first} (of 0–{last}) and keeps it to the end"
    else:
        when = f"the lens first shows it after block {first} (of 0–{last}) and keeps it from block {settled} on"
    return f"At {where} the final answer is {final}: {when}."


def grid_byte_note(ids: np.ndarray, decode: Callable[[int], str]) -> str | None:
    """Why some cells name bytes, not a character (viz.labels.predicted_byte_note), for the top-1 tokens of lens ids
    [n_layers, n, k]; None when none is a byte piece."""
    return predicted_byte_note([predicted_token_label(decode(int(i))) for i in np.unique(ids[..., 0])])


def grid_escape_note(ids: np.ndarray, tokens: Sequence[str], decode: Callable[[int], str]) -> str | None:
    """What the escapes in the grid stand for (viz.labels.escape_note): its column labels, the raw input `tokens`,
    and every predicted token of lens ids [n_layers, n, k] (cells and hover); None when none is drawn."""
    return escape_note([*tokens, *(decode(int(i)) for i in np.unique(ids))])


def lens_grid(
    ids: np.ndarray, probs: np.ndarray, tokens: Sequence[str], decode: Callable[[int], str], first: int = 0,
    fills_in: bool = False,
) -> LensGrid:
    """The grid from lens ids/probs [n_layers, n, k] at positions first..first + n - 1 (`tokens`: those n input
    tokens); `decode(id)` is the model's token string; `fills_in`: a masked-language model's guesses for the token
    at each position, not for the next one."""
    n_layers, n, k = ids.shape
    names = {int(i): predicted_token_label(decode(int(i))) for i in np.unique(ids)}  # a piece by its bytes
    shown = [readable_token(t) for t in tokens]
    cell_text, hover, chars = [], [], cell_chars(n)
    for layer in range(n_layers):
        row_text, row_hover = [], []
        for pos in range(n):
            top = [names[int(i)] for i in ids[layer, pos]]
            cut = top[0] if len(top[0]) <= chars else top[0][: chars - 1] + "…"
            row_text.append(plotly_escape(cut))
            lines = [f"{plotly_escape(t)}  {p:.1%}" for t, p in zip(top, probs[layer, pos], strict=True)]
            head = f"layer {layer} · position {first + pos}, {position_words(plotly_escape(shown[pos]), fills_in)}"
            guess = "tokens for this position" if fills_in else "next tokens"
            row_hover.append("<br>".join([head, f"top {k} {guess} under this layer's lens:", *lines]))
        cell_text.append(row_text)
        hover.append(row_hover)
    top1 = ids[:, :, 0]  # (n_layers, n)
    first_shown = np.argmax(top1 == top1[-1:], axis=0)  # the final row matches itself, so argmax finds a match
    prob = np.asarray(probs[:, :, 0], dtype=np.float64)
    return LensGrid(cell_text, prob, hover, shown, settle_layers(top1), first_shown, first, fills_in)


@dataclass(frozen=True)
class LensTrack:
    """Chosen tokens' probability and rank at one position, layer by layer."""

    labels: list[str]  # [t] readable token strings
    probs: np.ndarray  # [n_layers, t]
    ranks: np.ndarray  # [n_layers, t] 0 = the lens's top-1


def position_words(token: str, fills_in: bool) -> str:
    """Where a prediction is made, `token` readable and Plotly-escaped: "after ‘tok’", or, for a masked-language
    model's guess of the token there, "at ‘tok’"."""
    return f"{'at' if fills_in else 'after'} {token}"


def focus_place(focus: int, stop: int, n_tokens: int, mask: str | None = None) -> str:
    """Where the followed position is, for settle_caption: `mask` (already quoted for where it is written) when it is
    the first mask; the text's last token where a masked LM follows it before the window's end; else the last
    position, or the window's last."""
    if mask is not None:
        return f"position {focus} (the first {mask}),"
    if focus != stop - 1:
        return f"position {focus}, the text's last token,"
    return "the last position" if focus == n_tokens - 1 else f"position {focus}, the window's last,"


def chosen_tokens(
    ids: np.ndarray, position: int, token_ids: Sequence[int], n_final: int = 3, mask_id: int | None = None
) -> list[int]:
    """The tokens to follow at `position` (of `token_ids`, which start where ids' positions do): the final layer's
    top `n_final`, then the text's actual next token; with `mask_id` (a masked-language model, which guesses the
    token at each position), the token actually at `position`, unless it is the mask."""
    chosen = [int(i) for i in ids[-1, position, :n_final]]
    actual = position if mask_id is not None else position + 1
    if actual < len(token_ids) and int(token_ids[actual]) not in (*chosen, mask_id):
        chosen.append(int(token_ids[actual]))
    return chosen


def focus_position(tokens: Sequence[str], first: int, stop: int, mask: str | None, last_word: int | None = None) -> int:
    """The position a page first follows among first..stop-1: the first `mask` token there (what a masked-language
    model is asked to fill in), else `last_word` where given and shown (such a model's guess at the text's last
    token, not at the [SEP] after it), else the last position (a decoder's prediction after the text)."""
    masked = [i for i in range(first, stop) if mask is not None and tokens[i] == mask]
    if masked:
        return masked[0]
    return last_word if last_word is not None and first <= last_word < stop else stop - 1


def lens_track(
    token_ids: Sequence[int], probs: np.ndarray, ranks: np.ndarray, decode: Callable[[int], str]
) -> LensTrack:
    return LensTrack([predicted_token_label(decode(int(t))) for t in token_ids], np.asarray(probs), np.asarray(ranks))


def first_key_shares(pattern: np.ndarray, sent: np.ndarray) -> tuple[float, float]:
    """(mean share of each query's weight on key 0, mean share of what it is sent that comes from key 0), over
    queries after the first: a large first share and a small second one is an attention sink."""
    if pattern.shape[0] < 2:
        return float("nan"), float("nan")
    weight = pattern[1:, 0] / np.maximum(pattern[1:].sum(1), 1e-12)
    norm = sent[1:, 0] / np.maximum(sent[1:].sum(1), 1e-12)
    return float(weight.mean()), float(norm.mean())


def sink_sentence(pattern: np.ndarray, sent: np.ndarray) -> str:
    """This head's first-key shares (first_key_shares) as a sentence; empty when there is no later query."""
    weight, norm = first_key_shares(np.asarray(pattern, dtype=np.float64), sent)
    if not np.isfinite(weight):
        return ""
    return (
        f"In this head, the first token gets {weight:.0%} of the later queries' weight on average, and "
        f"{norm:.0%} of the summed lengths of what they are sent."
    )
