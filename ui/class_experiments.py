"""The Experiments page's panels for a classifier (app_pages/experiments.py draws the page): a sequence classifier's
verdict, or a token classifier's labels, and the label to follow (a tagger's at one token); each label's score before
and after an experiment; and the heads ranked by how much zeroing each alone lowers log p of that label (the engine's
sweep read through the classifier: attention_core/classify.py)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from services.interventions import make_intervention
from services.lens import (
    REPLACED_LABELS,
    class_log_scores_of,
    class_sweep,
    class_verdict,
    class_verdict_of,
    has_class_sweep,
    has_tag_sweep,
    tag_grid,
    tag_grid_of,
    tag_log_scores_of,
    tag_sweep,
)
from ui.widgets import fixed_decimals, labels_digest, token_picker
from viz.figures.experiments import sweep_heatmap
from viz.views.classes import class_sentence, class_view
from viz.views.experiments import SWEEP_MAX_TOKENS, rank_heads_by_effect
from viz.views.tags import first_uncommon, tag_sentence

CHART_CONFIG = {"displaylogo": False}
LABEL_BOX = "Label (for Δ log p and the head ranking)"


@dataclass(frozen=True)
class Followed:
    """The label the panels follow: a sequence classifier's for the whole text, or a tagger's at one token."""

    label: int
    position: int | None = None  # the tagger's token; None: a sequence classifier's verdict


def class_choice(base_key: Hashable, base: Any, model_title: str, tokens: Sequence[str],
                 readable: Sequence[str]) -> Followed | None:  # fmt: skip
    """The classifier's verdict (a tagger's labels) in words and the label the panels below follow (default: the
    verdict; a tagger's first token not given the commonest label, and its label); None for a model without a
    classification head. `tokens`: the text's tokens as shown; `readable`: the picker's labels of them."""
    found = class_verdict(base_key, base)
    if found is None:
        return _tag_choice(base_key, base, model_title, tokens, readable)
    view = class_view(*found)
    st.caption(class_sentence(view, model_title, pair=base.segments is not None))
    where, _ = st.columns([2, 3])  # a label is short: a full-width box read as a text field
    return Followed(int(where.selectbox(LABEL_BOX, range(len(view.labels)), index=view.verdict,
                                        format_func=view.labels.__getitem__,
                                        key=f"exp_label_{labels_digest(view.labels)}")))  # fmt: skip


def _tag_choice(base_key: Hashable, base: Any, model_title: str, tokens: Sequence[str],
                readable: Sequence[str]) -> Followed | None:  # fmt: skip
    found = tag_grid(base_key, base)
    if found is None:
        return None
    probs, labels = found
    st.caption(tag_sentence(probs, labels, tokens, model_title, replaced=tuple(labels) == REPLACED_LABELS))
    token_column, label_column = st.columns(2)
    position = token_picker("Token whose label to follow", readable, first_uncommon(probs), "exp_tag_position",
                            where=token_column)  # fmt: skip
    label = label_column.selectbox(LABEL_BOX, range(len(labels)), index=int(probs[-1, position].argmax()),
                                   format_func=labels.__getitem__,
                                   key=f"exp_tag_label_{labels_digest(labels)}_{position}")  # a new token: its label
    return Followed(int(label), position)


def class_compare(base_key: Hashable, base: Any, after: Any, followed: Followed) -> None:
    """Each label's score before and after the experiment (a tagger's at the followed token), and the chosen label's
    change."""
    label, at = followed.label, followed.position
    if at is None:
        before, labels, problem, _ = class_verdict(base_key, base)
        before, now = before[-1], class_verdict_of(after)[0][-1]  # `after`: the cached experiment's trace
        change = float(class_log_scores_of(after)[label] - class_log_scores_of(base)[label])  # the engine's log scores
    else:
        before, labels = tag_grid(base_key, base)
        before, now, problem = before[-1, at], tag_grid_of(after)[0][-1, at], "softmax"
        change = float(tag_log_scores_of(after, at)[label] - tag_log_scores_of(base, at)[label])
    what = "Δ log p of the chosen label" if problem != "regression" else "Δ score of the chosen label"
    st.metric(what, f"{change:+.3f}", help="Natural log. Negative: the changed heads were helping the model choose it.")
    table = [{"label": name, "before": float(before[i]), "after": float(now[i])} for i, name in enumerate(labels)]
    st.dataframe(table, hide_index=True, key="exp_class_table", column_config=fixed_decimals(["before", "after"]))


def class_sweep_panel(
    base_key: Hashable, base: Any, followed: Followed, selected: tuple[int, int], add: Callable[[Any], None]
) -> None:
    """Every head ranked by how much zeroing it alone changes log p of the followed label (after a click; drawn again
    without one once cached); one click adds the top head to the experiment."""
    if base.n_tokens > SWEEP_MAX_TOKENS:
        st.info(f"The ranking runs on texts up to {SWEEP_MAX_TOKENS} tokens; this one has {base.n_tokens}.")
        return
    L, H = len(base.attention_layers), base.n_heads
    label, at = followed.label, followed.position
    read = "the classifier" if at is None else f"the tagger at token {at}"
    st.caption(f"Zero each of the {L * H} heads alone, run the rest of the model and read {read} again: the change in "
               "log p of the chosen label. Batched as the token ranking is (bench/sweep.py).")  # fmt: skip
    cached = has_class_sweep(base_key, label) if at is None else has_tag_sweep(base_key, label, at)
    if not (cached or st.button(f"Rank all {L * H} heads", key="exp_sweep", type="primary")):
        return
    with st.spinner(f"Zeroing each of {L * H} heads in turn…"):
        sweep = class_sweep(base_key, base, label) if at is None else tag_sweep(base_key, base, label, at)
    best = rank_heads_by_effect(sweep)[0]
    st.plotly_chart(sweep_heatmap(sweep, "Δ log p of the chosen label when one head is zeroed", selected),
                    key="exp_sweep_map", theme=None, config=CHART_CONFIG)  # fmt: skip
    st.metric(f"Most important: layer {best.layer}, head {best.head}", f"{best.dlogp:+.3f}",
              help="Change in log p of the chosen label when this head alone is zeroed.")  # fmt: skip
    st.button(f"Add L{best.layer}H{best.head} (zeroed) to the experiment", key="exp_add_top", on_click=add,
              args=(make_intervention("zero", best.layer, best.head),))  # fmt: skip
