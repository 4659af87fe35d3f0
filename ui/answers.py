"""The Logit lens page's section on an extractive question-answering model's answer, layer by layer (its head read
from every token's embedding after every block); nothing for a model without a question-answering head."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import streamlit as st

from services.answers import answer_logits, answer_logits_of, answer_sweep, has_answer_sweep
from services.interventions import make_intervention
from ui.widgets import show_chart
from viz.figures.answers import answer_figure
from viz.figures.experiments import sweep_heatmap
from viz.labels import markdown_code
from viz.views.answers import answer_rows, answer_sentence, answer_view, answer_window
from viz.views.experiments import SWEEP_MAX_TOKENS, rank_heads_by_effect
from viz.views.lens import LENS_WINDOW
from viz.views.patterns import Tokens


def answer_section(key: Hashable, trace: Any, tokens: Tokens, model_title: str) -> bool:
    """Draw the section where the model has a question-answering head; says whether it did."""
    logits = answer_logits(key, trace)  # None at once for any other model
    if logits is None:
        return False
    st.subheader("The answer, layer by layer")
    view = answer_view(logits, trace)
    if view is None:
        st.info("The token cap left no token of the context to answer from: raise it in the sidebar.")
        return True
    st.caption(answer_sentence(view, model_title, quote=markdown_code))
    window = answer_window(view, LENS_WINDOW)
    shown = "" if window.stop - window.start == view.candidates.size else f" ({LENS_WINDOW} around the answer)"
    st.markdown(f"**After the last block: each context token's p(start) and p(end){shown}**")
    show_chart(answer_figure(view, tokens.plotly, window), "answer_bars")
    st.dataframe(answer_rows(view), hide_index=True, column_config={
        name: st.column_config.NumberColumn(format="%.3f") for name in ("p(start)", "p(end)", "p(start) × p(end)")})
    return True


def answer_sweep_panel(key: Hashable, trace: Any, selected: tuple[int, int], add: Callable[[Any], None]) -> None:
    """Experiments: every head ranked by how much zeroing it alone changes log p(start) + log p(end) of the model's
    answer (after a click; drawn again without one once cached); one click adds the top head to the experiment."""
    if trace.n_tokens > SWEEP_MAX_TOKENS:
        st.info(f"The ranking runs on texts up to {SWEEP_MAX_TOKENS} tokens; this one has {trace.n_tokens}.")
        return
    view = answer_view(answer_logits(key, trace), trace)
    if view is None:
        st.info("The token cap left no token of the context to answer from: raise it in the sidebar.")
        return
    final, answer = view.spans[-1], view.answer_span
    n = len(trace.attention_layers) * trace.n_heads
    st.caption(f"Zero each of the {n} heads alone, run the rest of the model and read its answer again: the change in "
               f"log p(start) + log p(end) of {markdown_code(final.text)}, the model's answer (positions "
               f"{final.start}–{final.end}). Batched as the token ranking is (bench/sweep.py).")  # fmt: skip
    if not (has_answer_sweep(key, *answer) or st.button(f"Rank all {n} heads", key="exp_sweep",
                                                                    type="primary")):  # fmt: skip
        return
    with st.spinner(f"Zeroing each of {n} heads in turn…"):
        sweep = answer_sweep(key, trace, *answer)
    best = rank_heads_by_effect(sweep)[0]
    show_chart(sweep_heatmap(sweep, "Δ log p of the answer's span when one head is zeroed", selected), "exp_sweep_map")
    st.metric(f"Most important: layer {best.layer}, head {best.head}", f"{best.dlogp:+.3f}",
              help="Change in log p(start) + log p(end) of the answer when this head alone is zeroed.")  # fmt: skip
    st.button(f"Add L{best.layer}H{best.head} (zeroed) to the experiment", key="exp_add_top", on_click=add,
              args=(make_intervention("zero", best.layer, best.head),))  # fmt: skip


def answer_compare(key: Hashable, before: Any, after: Any) -> None:
    """Experiments: the model's answer before and after the changes (the span, its p(start) × p(end))."""
    views = [answer_view(answer_logits(key, before), before), answer_view(answer_logits_of(after), after)]
    if views[0] is None or views[1] is None:
        return
    rows = [{"": when, "answer": v.spans[-1].text, "tokens": f"{v.spans[-1].start}–{v.spans[-1].end}",
             "p(start) × p(end)": v.spans[-1].score} for when, v in zip(("before", "after"), views, strict=True)]
    st.dataframe(rows, hide_index=True, column_config={"p(start) × p(end)": st.column_config.NumberColumn(
        format="%.3f")})  # fmt: skip
    same = (rows[0]["tokens"] == rows[1]["tokens"])
    st.caption("The answer is the same span after the changes." if same else "The changes moved the answer to "
               f"another span: {markdown_code(rows[1]['answer'])}.")  # fmt: skip
