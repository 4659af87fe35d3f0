"""The Experiments page's panels for a sequence classifier (app_pages/experiments.py draws the page): its verdict and
a label to follow, each label's score before and after an experiment, and the heads ranked by how much zeroing each
alone lowers log p of that label (the engine's sweep read through the classifier: attention_core/classify.py)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import streamlit as st

from services.interventions import make_intervention
from services.lens import class_log_scores_of, class_sweep, class_verdict, class_verdict_of, has_class_sweep
from ui.widgets import fixed_decimals, labels_digest
from viz.figures.experiments import sweep_heatmap
from viz.views.classes import class_sentence, class_view
from viz.views.experiments import SWEEP_MAX_TOKENS, rank_heads_by_effect

CHART_CONFIG = {"displaylogo": False}


def class_choice(base_key: Hashable, base: Any, model_title: str) -> int | None:
    """The classifier's verdict in words and the label the panels below follow (default: the verdict); None for a
    model without a classification head."""
    found = class_verdict(base_key, base)
    if found is None:
        return None
    view = class_view(*found)
    st.caption(class_sentence(view, model_title))
    where, _ = st.columns([2, 3])  # a label is short: a full-width box read as a text field
    return int(where.selectbox("Label (for Δ log p and the head ranking)", range(len(view.labels)), index=view.verdict,
                               format_func=view.labels.__getitem__, key=f"exp_label_{labels_digest(view.labels)}"))


def class_compare(base_key: Hashable, base: Any, after: Any, label: int) -> None:
    """Each label's score before and after the experiment, and the chosen label's change."""
    before, labels, problem = class_verdict(base_key, base)
    now = class_verdict_of(after)[0]  # `after` is the cached experiment's trace; its verdict is one small matrix
    change = float(class_log_scores_of(after)[label] - class_log_scores_of(base)[label])  # the engine's log scores
    what = "Δ log p of the chosen label" if problem != "regression" else "Δ score of the chosen label"
    st.metric(what, f"{change:+.3f}", help="Natural log. Negative: the changed heads were helping the model choose it.")
    table = [{"label": name, "before": float(before[-1, i]), "after": float(now[-1, i])} for i, name in
             enumerate(labels)]  # fmt: skip
    st.dataframe(table, hide_index=True, key="exp_class_table", column_config=fixed_decimals(["before", "after"]))


def class_sweep_panel(
    base_key: Hashable, base: Any, label: int, selected: tuple[int, int], add: Callable[[Any], None]
) -> None:
    """Every head ranked by how much zeroing it alone changes log p of `label` (after a click; drawn again without
    one once cached); one click adds the top head to the experiment."""
    if base.n_tokens > SWEEP_MAX_TOKENS:
        st.info(f"The ranking runs on texts up to {SWEEP_MAX_TOKENS} tokens; this one has {base.n_tokens}.")
        return
    L, H = len(base.attention_layers), base.n_heads
    st.caption(f"Zero each of the {L * H} heads alone, run the rest of the model and read the classifier again: the "
               "change in log p of the chosen label. Batched as the token ranking is (bench/sweep.py).")  # fmt: skip
    if not (has_class_sweep(base_key, label) or st.button(f"Rank all {L * H} heads", key="exp_sweep", type="primary")):
        return
    with st.spinner(f"Zeroing each of {L * H} heads in turn…"):
        sweep = class_sweep(base_key, base, label)
    best = rank_heads_by_effect(sweep)[0]
    st.plotly_chart(sweep_heatmap(sweep, "Δ log p of the chosen label when one head is zeroed", selected),
                    key="exp_sweep_map", theme=None, config=CHART_CONFIG)  # fmt: skip
    st.metric(f"Most important: layer {best.layer}, head {best.head}", f"{best.dlogp:+.3f}",
              help="Change in log p of the chosen label when this head alone is zeroed.")  # fmt: skip
    st.button(f"Add L{best.layer}H{best.head} (zeroed) to the experiment", key="exp_add_top", on_click=add,
              args=(make_intervention("zero", best.layer, best.head),))  # fmt: skip
