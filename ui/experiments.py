"""The Experiments page's panels that score one prediction (app_pages/experiments.py draws the page): the prediction
after a position the user picks (default: the text's last token, i.e. after the text), the token it is scored on, that
prediction before and after an experiment, and the heads ranked by how much ablating each alone lowers its log p.

Every number at a picked position comes from the logits the one forward pass computed there (no extra pass); only
the sweep runs more, cached per (trace, token, position) by services.traces.get_sweep. "After the text" is after the
text's own last token: a special token the tokenizer appends (an EOS) is offered by that name, never as the text's.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from services.interventions import make_intervention
from services.traces import get_sweep, has_sweep
from ui.widgets import fixed_decimals, labels_digest, token_picker
from viz.figures.experiments import prediction_bars, sweep_heatmap
from viz.labels import markdown_code, plotly_escape, predicted_byte_note, predicted_token_label
from viz.views.experiments import (
    SWEEP_MAX_TOKENS,
    TOP_K,
    added_after,
    change_text,
    compare_predictions,
    next_in_text,
    next_token_logprobs,
    prediction_place,
    prediction_position,
    prediction_table,
    probability_text,
    rank_heads_by_effect,
    rank_of,
    text_end,
    top_ids,
    typed_token_id,
)

CHART_CONFIG = {"displaylogo": False}
TYPED = -1  # the token selectbox's "type another token" option
NEXT_IN_TEXT = "the token that comes next in your text"
HERE_IN_TEXT = "the token your text has here"
ADDED = "the special token the tokenizer added after your text"


@dataclass(frozen=True)
class Spot:
    """Where the page scores a prediction: after token `position` of `trace` (the clean trace), or, for a
    masked-language model (`mask`: the token it fills in, "[MASK]"), at that position: its guess for the token
    there."""

    trace: Any
    position: int
    logprobs: np.ndarray  # [vocab] log p of the token after `position` (at it, with `mask`), float64
    mask: str | None = None

    @property
    def fills_in(self) -> bool:
        """A masked-language model's guess at `position` (its vocabulary may lack a mask token: `mask` is "" then)."""
        return self.mask is not None

    @property
    def last(self) -> bool:
        """After the text's last token: the prediction after the whole text (a decoder's default); a special token
        the tokenizer appends after the text (an EOS) comes after that position. Never, for a fill-in."""
        return self.mask is None and self.position == text_end(self.trace)

    @property
    def place(self) -> str:
        """“…the verdant forest” after the last token; “…and Mrs D” (token 28) elsewhere; for a fill-in, the token
        there, ‘[MASK]’ (token 6) (for titles)."""
        if self.mask is not None:
            return f"{self.quoted(self.trace.token_ids[self.position])} (token {self.position})"
        return prediction_place(self.trace, self.position)

    @property
    def where(self) -> str:
        """Where the prediction is made, for a sentence: “after the text”, “after …” or, for a fill-in, “for …”."""
        return "after the text" if self.last else f"{'for' if self.fills_in else 'after'} {self.place}"

    @property
    def next_id(self) -> int | None:
        """The text's own answer: the token that comes next after `position` (None after the text's last token);
        for a fill-in, the token the text has there (None where that is the mask)."""
        if self.mask is not None:
            there = int(self.trace.token_ids[self.position])
            return None if self.trace.tokens[self.position] == self.mask else there
        return next_in_text(self.trace, self.position)

    @property
    def added_id(self) -> int | None:
        """The special token the tokenizer appended right after `position` (an EOS after the text), or None."""
        return None if self.mask is not None else added_after(self.trace, self.position)

    @property
    def guessed(self) -> str:
        """What the prediction is of, for an axis: “the next token”, or a fill-in's “token 8”."""
        return "the next token" if self.mask is None else f"token {self.position}"

    @property
    def in_text(self) -> str:
        """What next_id is, in words."""
        return NEXT_IN_TEXT if self.mask is None else HERE_IN_TEXT

    def quoted(self, token_id: int) -> str:
        """A token as plain text between quotes (a lone ',' or '␣' is easy to miss otherwise), a byte piece named by
        its bytes (viz.labels.predicted_token_label: no character of the text names a predicted one)."""
        return f"‘{predicted_token_label(self.trace.decode_token(token_id))}’"

    def named(self, token_id: int) -> str:
        """The token quoted, and, when it comes next in the text or the tokenizer appended it there, said so."""
        said = self.in_text if token_id == self.next_id else ADDED if token_id == self.added_id else ""
        return self.quoted(token_id) + (f" ({said})" if said else "")


def token_table(name: str, rows: Sequence[Any], table: list[dict[str, Any]], column_config: dict[str, Any]) -> None:
    """A table of predicted tokens (`rows`, as `table`), in a container keyed by the tokens it lists. st.dataframe
    sizes its columns to their text when it first appears and keeps those widths while it stays on the page, keyed
    or not: after a new text, a token column sized for ',' cut "␣Einstein" to "␣Einste". A new container is a new
    table, sized to the new tokens."""
    with st.container(key=f"exp_tokens_{name}_{labels_digest([row.token for row in rows])}"):
        st.dataframe(table, hide_index=True, width="stretch", height="content", column_config=column_config,
                     key=f"exp_{name}_table")  # every row: the chart beside it shows them all (up to 20)


def pick_spot(trace: Any, readable: Sequence[str], has_lm_head: bool, mask: str | None = None) -> Spot | None:
    """The position picker (default: the text's last token) and the prediction after it, computed there alone;
    None for a model without logits (`has_lm_head`: the model's config says so). `mask`: a masked-language model's
    mask token: the prediction is at the position picked (default: the first mask, else the text's last token)."""
    if not has_lm_head:
        return None
    where, _ = st.columns([2, 3])  # a token label is short: a full-width box read as a text field
    default = prediction_position(trace, mask)
    label = "Predict the token after" if mask is None else "Predict the token at"
    position = token_picker(label, readable, default, "exp_predict_at", where=where)
    logprobs = next_token_logprobs(trace, position)
    return None if logprobs is None else Spot(trace, position, logprobs, mask)


def prediction_sentence(spot: Spot, causal: bool) -> str:
    """What the top 10 below are: the prediction after the text, after a token in it, or after a token the
    tokenizer appended to it; for a masked-language model, the guess for a token the text hides or has."""
    if spot.fills_in:
        return fill_in_sentence(spot)
    end, added = text_end(spot.trace), spot.added_id
    if spot.last:
        logits = "its last position's logits" if added is None else (
            f"its logits at the text's last token, token {end}; the tokenizer adds {spot.quoted(added)} after it"
        )  # fmt: skip
        return (
            "The chapter's claim: a transformer exists to predict the next token. These are the model's "
            f"{TOP_K} most likely tokens after the text (softmax of {logits}). Pick an earlier token above for its "
            "prediction in the middle of the text."
        )
    back = "the last token" if end == spot.trace.n_tokens - 1 else f"token {end}, the text's last,"
    if spot.position > end:
        return (
            f"The model's {TOP_K} most likely tokens after token {spot.position}, "
            f"{spot.quoted(spot.trace.token_ids[spot.position])}: {ADDED}. Pick {back} for the prediction after "
            "the text."
        )
    seen = "as if your text stopped there" if causal else "though with the mask off it also saw the tokens after it"
    return (
        f"The model's {TOP_K} most likely tokens after token {spot.position}, {seen}: the softmax of its logits at "
        f"that position (the same forward pass computes every position's). Chosen by default: {NEXT_IN_TEXT}. Pick "
        f"{back} for the prediction after the whole text."
    )


def fill_in_sentence(spot: Spot) -> str:
    """What a masked-language model's top 10 below are: its guesses for the picked token, which the text hides (the
    mask) or has (and so is in view)."""
    said = (
        f"A masked-language model guesses the token at each position from the whole text. These are the model's "
        f"{TOP_K} most likely tokens for token {spot.position}, {spot.quoted(spot.trace.token_ids[spot.position])}"
    )
    if spot.next_id is None:
        return said + ", which your text hides: what the model fills in."
    typed = f": type {markdown_code(spot.mask)} in the text to hide a token" if spot.mask else ""
    return said + f". It reads that token too, so it mostly guesses it back{typed}. Chosen by default: {HERE_IN_TEXT}."


def prediction_panel(spot: Spot) -> int | None:
    """The top-k after the picked position, the token chosen for Δ log p and the ranking; returns its id."""
    lp = spot.logprobs
    rows = compare_predictions(lp, lp, spot.trace.decode_token)
    c1, c2 = st.columns([3, 2], gap="medium")
    with c1:
        title = f"Top {TOP_K} {'tokens for' if spot.fills_in else 'next tokens after'} {plotly_escape(spot.place)}"
        bars = prediction_bars(rows, title, False, spot.guessed)
        st.plotly_chart(bars, key="exp_next", theme=None, config=CHART_CONFIG)
    with c2:
        target_id = _target_picker(spot)
        token_table(
            "next",
            rows,
            prediction_table(rows, with_after=False),
            column_config=fixed_decimals(["p"]),
        )
    if target_id is not None:
        st.caption(
            f"Chosen token: {spot.named(target_id)}, p = {probability_text(np.exp(lp[target_id]), 4)}, "
            f"log p = {lp[target_id]:.3f}, "
            f"rank {rank_of(lp, target_id)} of {lp.shape[0]}."
        )
    if note := predicted_byte_note([row.token for row in rows]):  # the top 10 as the chart shows them
        st.caption(note)
    return target_id


def _target_picker(spot: Spot) -> int | None:
    """The token to score: after the text's last token the model's top 10 (its top-1 first; then a token the
    tokenizer appends there, by that name); elsewhere the token that comes next in the text first. Or one the user
    types."""
    lp, next_id, added_id = spot.logprobs, spot.next_id, spot.added_id
    options = top_ids(lp, TOP_K)
    if next_id is not None:
        options = [next_id] + [i for i in options if i != next_id]
    elif added_id is not None and added_id not in options:
        options.append(added_id)
    options.append(TYPED)

    def label(i: int) -> str:
        if i == TYPED:
            return "another token (type it)…"
        here = ", next in your text" if spot.mask is None else ", in your text here"
        mark = here if i == next_id else ", added by the tokenizer" if i == added_id else ""
        return f"{spot.quoted(i)}  (p = {probability_text(np.exp(lp[i]))}{mark})"

    # The key names what the box offers (position, ids, labels): a new text, position or model opens a new box on its
    # own default. Keyed by the position alone, Streamlit kept the last pick wherever its id was still an option.
    digest = labels_digest([str(spot.position), *(f"{i}:{label(i)}" for i in options)])
    choice = st.selectbox(
        "Chosen token (for Δ log p and the head ranking)", options, format_func=label, key=f"exp_token_{digest}"
    )
    if choice != TYPED:
        return int(choice)
    typed = st.text_input("Token", value=" Paris", key="exp_typed", help="Leading spaces count: ' Paris'.")
    target_id, note = typed_token_id(spot.trace, typed)
    st.caption(note)
    return target_id


def compare_panel(spot: Spot, after: Any, target_id: int | None) -> None:
    """The picked prediction before and after the experiment: Δ log p of the chosen token, the top prediction,
    the bars and the table."""
    before_lp, after_lp = spot.logprobs, next_token_logprobs(after, spot.position)
    both = compare_predictions(before_lp, after_lp, spot.trace.decode_token)
    top_before, top_after = int(np.argmax(before_lp)), int(np.argmax(after_lp))
    name_before, name_after = spot.quoted(top_before), spot.quoted(top_after)
    if not spot.last:
        st.caption(f"The prediction {spot.where}, as picked above.")
    m1, m2, m3 = st.columns(3)
    if target_id is not None:
        m1.metric(
            f"Δ log p({spot.quoted(target_id)})",
            f"{after_lp[target_id] - before_lp[target_id]:+.3f}",
            help="Natural log. Negative: the changed heads were helping the model predict this token.",
        )
        p_before, p_after = float(np.exp(before_lp[target_id])), float(np.exp(after_lp[target_id]))
        change, moved = change_text(p_after - p_before)
        m2.metric(
            f"p after (before: {probability_text(p_before)})",
            probability_text(p_after),
            change,
            delta_color="normal" if moved else "off",  # a change that rounds to zero is neither good nor bad:
            delta_arrow="auto" if moved else "off",  # no colour, no arrow
        )
    m3.metric("Top prediction after", name_after, help=f"Before: {name_before}")
    if top_after != top_before:
        st.success(
            f"The top prediction changed: {name_before} (p = {np.exp(before_lp[top_before]):.3f}) → "
            f"{name_after} (p = {np.exp(after_lp[top_after]):.3f}).",
            icon=":material/swap_horiz:",
        )
    else:
        st.caption(f"The top prediction is still {name_before}.")
    title = "Next-token p before and after the change"
    if not spot.last:
        title = f"{'Token' if spot.fills_in else 'After token'} {spot.position}: p before and after the change"
    c1, c2 = st.columns([2, 3], gap="medium")  # the table's six columns whole at 1280 px (a cut Δ log p misread)
    bars = prediction_bars(both, title, True, spot.guessed)
    c1.plotly_chart(bars, key="exp_compare", theme=None, config=CHART_CONFIG)
    with c2:
        token_table(
            "compare",
            both,
            prediction_table(both, with_after=True),
            column_config={
                **fixed_decimals(["p before", "p after"]),
                "Δ log p": st.column_config.NumberColumn(format="%+.3f"),
            },
        )


def sweep_panel(
    base_key: Hashable,
    spot: Spot | None,
    target_id: int | None,
    selected: tuple[int, int],
    n_input: int,
    add: Callable[[Any], None],
) -> None:
    """Every head ranked by how much zeroing it alone changes log p of the chosen token at the picked position
    (after a click; drawn again without one once cached). `selected`: the sidebar's (layer, head), framed;
    `n_input`: the text's true length, for the refusal; `add`: puts an intervention into the experiment."""
    if spot is None:
        st.info("The ranking needs next-token probabilities, which this model does not give here (see above).")
        return
    if target_id is None:
        st.info("Choose a token above.")
        return
    trace = spot.trace
    if trace.n_tokens > SWEEP_MAX_TOKENS:
        st.info(f"The ranking runs on texts up to {SWEEP_MAX_TOKENS} tokens; this one has {n_input}. Shorten the text.")
        return
    L, H = len(trace.attention_layers), trace.n_heads  # a hybrid's other layers have no heads to zero
    where = spot.where
    st.caption(
        f"Ablate (zero) each of the {L * H} heads alone, run the rest of the model, and measure the change in "
        f"log p({spot.quoted(target_id)}) {where}. Batched: each layer's {H} variants run through the later layers "
        "together from the unchanged residual: the same numbers as one trace per head, in less time (bench/sweep.py)."
    )
    cached = has_sweep(base_key, target_id, position=spot.position, trace=trace)
    if cached or st.button(f"Rank all {L * H} heads", key="exp_sweep", type="primary"):
        with st.spinner(f"Ablating each of {L * H} heads in turn…"):
            sweep = get_sweep(base_key, trace, target_id, position=spot.position)
        _sweep_result(spot, target_id, sweep, selected, add)


def _sweep_result(
    spot: Spot, target_id: int, sweep: np.ndarray, selected: tuple[int, int], add: Callable[[Any], None]
) -> None:
    ranked = rank_heads_by_effect(sweep)
    best, name = ranked[0], spot.quoted(target_id)
    p0 = float(np.exp(spot.logprobs[target_id]))
    layer, head = selected
    title = f"Change in log p({plotly_escape(name)}) when one head is zeroed"
    if not spot.last:
        at = "at" if spot.fills_in else "after"
        title = f"Δ log p({plotly_escape(name)}) {at} token {spot.position}, each head zeroed"
    c1, c2 = st.columns([3, 2], gap="medium")
    with c1:
        fig = sweep_heatmap(sweep, title, selected)
        st.plotly_chart(fig, key="exp_sweep_map", theme=None, config=CHART_CONFIG)
    with c2:
        st.metric(
            f"Most important: layer {best.layer}, head {best.head}",
            f"{best.dlogp:+.3f}",
            help="Change in log p of the chosen token when this head alone is zeroed.",
        )
        table = [
            {"layer": e.layer, "head": e.head, "Δ log p": e.dlogp, "p after": p0 * float(np.exp(e.dlogp))}
            for e in ranked[:TOP_K]
        ]
        st.dataframe(
            table,
            hide_index=True,
            width="stretch",
            key="exp_sweep_table",
            column_config={"Δ log p": st.column_config.NumberColumn(format="%+.3f"), **fixed_decimals(["p after"])},
        )
        st.button(
            f"Add L{best.layer}H{best.head} (zeroed) to the experiment",
            key="exp_add_top",
            on_click=add,
            args=(make_intervention("zero", best.layer, best.head),),
        )
    st.caption(
        f"Red: zeroing the head lowers p({name}), so the head was helping; blue: it was working against it. The "
        f"framed cell is the selected head (layer {layer}, head {head}: {sweep[layer, head]:+.3f}). "
        f"{int(np.sum(sweep < -0.1))} of {sweep.size} heads lower log p by more than 0.1."
    )
