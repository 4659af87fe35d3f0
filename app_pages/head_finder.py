"""Head finder: which heads make one token look at others; statistics of every head, click to open it."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages.registry import page_named
from services.repeats import head_finder_statistics
from services.traces import derived, derived_job, set_threads_for, short_trace, short_trace_key
from ui.context import require_trace
from ui.open_head import follow_open_request, request_open_head, selected_cell, selected_row
from ui.progress import wait_with_progress
from ui.widgets import (
    short_headers,
    show_chart,
    show_clickable_chart,
    show_token_strip,
    token_multi_picker,
    token_picker,
)
from viz.figures.heads import focus_heatmap
from viz.figures.layout import orientation_caption
from viz.figures.mechanism import layer_head_grid
from viz.labels import axis_labels, markdown_code, percent, plotly_escape, plotly_tokens
from viz.views.common import display_tokens, model_mask_words
from viz.views.head_focus import focus_span, focus_view
from viz.views.heads import (
    ACROSS_COLUMN,
    ACROSS_MEANING,
    CONTROL_TEXT,
    PREVIOUS_TOKEN_HEAD,
    REPEAT_COLUMNS,
    REPEAT_EXAMPLE,
    REPEAT_MEANINGS,
    STAT_COLUMNS,
    RepeatScores,
    all_patterns,
    asks_control_question,
    control_result,
    default_query_keys,
    head_statistics,
    query_rows,
    rank_heads_by_rows,
    repeat_heading,
    repeat_help,
    repeat_notes,
    repeat_ranking,
    row_to_head,
    statistics_of_row_sums,
    stats_table,
    table_heads,
)
from viz.views.patterns import is_long
from viz.views.score_terms import score_terms

TABLE_KEY = "mech_head_stats"


RANKING_KEY, GRID_KEY = "mech_find_table", "mech_find_grid"
RANKED_HEADS = "_ranked_"  # + a table's key: the (layer, head) of each of its rows, for its click callback
REPEAT_KEYS = {"induction": "mech_find_induction", "duplicate": "mech_find_duplicate"}  # their top-heads tables


def open_from_stats_table(heads: list[tuple[int, int]]) -> None:
    row = selected_row(TABLE_KEY)
    if row is not None and row < len(heads):
        request_open_head(*row_to_head(row, heads))


def open_from_ranking(table: str) -> None:
    """Open the head of the row clicked in the table keyed `table` (its heads are kept under RANKED_HEADS + table)."""
    row = selected_row(table)
    ranked = st.session_state.get(RANKED_HEADS + table, [])
    if row is not None and row < len(ranked):
        request_open_head(*ranked[row])


def use_repeat_example() -> None:
    st.session_state.text = REPEAT_EXAMPLE  # the sidebar's text box: every page now reads the example


def open_from_grid() -> None:
    point = selected_cell(GRID_KEY)
    if point is not None:
        request_open_head(*point)


def show_control(layer: int, head: int, weight_here: float) -> None:
    """The default question ("creature" ← "fluffy", "blue") asked of a control text where a word stands between the
    adjectives and the noun, beside the score of this page's best head (layer, head) there."""
    control = short_trace(ctx.model, CONTROL_TEXT, ctx.causal)
    key = short_trace_key(ctx.model, CONTROL_TEXT, ctx.causal)
    control_patterns = derived(key, "all_patterns", compute=lambda: all_patterns(control))  # not redone each rerun
    control_stats = derived(
        key, "head_statistics", compute=lambda: head_statistics(control_patterns, causal=control.causal)
    )
    result = control_result(control_patterns, control.tokens, layer, head)
    best_there = result.best
    prev_there = float(control_stats["prev"][best_there.layer, best_there.head])
    c_readable = axis_labels(display_tokens(control))[0]
    show_token_strip(display_tokens(control))
    st.caption(
        f"Query {markdown_code(c_readable[result.query])}, keys "
        + " + ".join(markdown_code(c_readable[k]) for k in result.keys)
        + f". Layer {layer}, head {head} puts {percent(result.same_head.weight)} there (against "
        f"{percent(weight_here)} on this page's text); the best head for the control is layer {best_there.layer}, "
        f"head {best_there.head} with {percent(best_there.weight)} (its previous-token share on the control: "
        f"{percent(prev_there, 0)})."
    )


def show_focus(layer: int, head: int, query: int, keys: list[int]) -> None:
    """The best head's pattern around the query, in the sidebar's orientation (issue 19, defect 6)."""
    start, stop = focus_span(n, query, keys)
    view = derived(
        ctx.trace_key, "focus", layer, head, start, stop, compute=lambda: focus_view(trace, layer, head, start, stop)
    )
    outside = [k for k in keys if not start <= k < stop]
    st.markdown(f"**Layer {layer}, head {head} around the query** (tokens {start}–{stop - 1})")
    st.caption(
        orientation_caption(ctx.orient, ctx.config.attn_sinks)
        + " The query's "
        + ("row" if ctx.orient == "rows" else "column")
        + " is framed in red; red circles mark the chosen keys."
        + (
            f" {len(outside)} chosen key(s) lie outside these {stop - start} tokens (the ranking counts them): "
            + ", ".join(markdown_code(readable[k]) for k in outside)
            if outside
            else ""
        )
    )
    tokens = plotly_tokens(display_tokens(trace))
    label = score_terms(trace).name  # what this model's score is (T5: q·k + position bias)
    show_chart(focus_heatmap(view, tokens, query, keys, ctx.orient, "", label), "mech_find_focus")  # titled above


def show_repeats(repeats: RepeatScores) -> None:
    """The heads that follow this text's repeats: its induction and duplicate-token heads, or why there are none."""
    st.subheader("Induction and duplicate-token heads of this text")
    st.caption(
        "  \n".join(REPEAT_MEANINGS[key] for key in REPEAT_COLUMNS)
        + "  \nThe head atlas uses the same definitions over a whole corpus (induction there on repeated random "
        "words): a head high here and there does this in general, not only on your text."
    )
    notes = repeat_notes(repeats, trace)
    for note in notes:
        st.info(note, icon=":material/info:")
    if len(repeats.shown) < len(REPEAT_COLUMNS):
        st.button("Try a text that repeats a phrase", on_click=use_repeat_example, key="mech_find_repeat_example")
    columns = st.columns(2)
    for key, where in zip(repeats.shown, columns, strict=False):
        rows = repeat_ranking(repeats, key)
        st.session_state[RANKED_HEADS + REPEAT_KEYS[key]] = [(row["layer"], row["head"]) for row in rows]
        with where:
            st.markdown(f"**{repeat_heading(repeats, key)}**")
            st.dataframe(
                rows,
                hide_index=True,
                width="stretch",
                column_config={  # layer and head at their own width: "small" (75 px) cut the score at 1024 px
                    REPEAT_COLUMNS[key]: st.column_config.NumberColumn(format="%.3f", help=repeat_help(repeats, key)),
                },
                key=REPEAT_KEYS[key],
                on_select=lambda table=REPEAT_KEYS[key]: open_from_ranking(table),
                selection_mode="single-row",
            )
    if repeats.shown:
        st.caption("Click a row to open that head on the Attention patterns page.")


follow_open_request(page_named("patterns").path)
st.title("Head finder")
ctx = require_trace()
trace = ctx.trace
readable, labels = axis_labels(display_tokens(trace))
n = trace.n_tokens
L, H = trace.n_layers, trace.n_heads
set_threads_for(n)
# Per head, over this text: entropy, previous- and first-token share, distance, and the duplicate-token and
# induction share over the text's repeats (the head atlas's definitions). One pass over each layer's patterns, a
# chunk of query rows at a time (all the patterns of a 1,000-token text would be 1 GB), cached with the trace.
stats_job = derived_job(
    ctx.trace_key, "head_finder_statistics", compute=lambda progress: head_finder_statistics(trace, progress)
)


def text_statistics() -> tuple[dict, RepeatScores]:
    """The head statistics and the repeats' scores of this text (waiting for stats_job with a progress bar)."""
    row_sums, repeat_statistics = wait_with_progress(stats_job, "Head statistics over the whole text")
    return statistics_of_row_sums(row_sums, n, trace.causal), RepeatScores(*repeat_statistics)


SHARE_PREV, SHARE_FIRST = "previous-token share", "first-token share"  # over the queries after the first
SHORT_HEADERS = {"entropy": "entropy (bits)", "prev": "previous", "first": "first", "distance": "distance",
                 "induction": "induction", "duplicate": "duplicate"}  # fmt: skip
# Said under both tables that show these shares, which a one-token text cannot have.
NO_PREVIOUS = (
    " With one token there is no previous token and no query after the first: those columns are empty (None)."
    if n == 1
    else ""
)


def ranking_columns(per_key: list[str]) -> dict:
    """The ranking table's columns: short headers that fit beside the grid at 1024-1280 px (a narrow column cut
    "previous-token share" to "previous-tol"), each with its full meaning as the header's tooltip."""
    on_each = "The query's attention weight on this key alone."
    return {
        "layer": st.column_config.NumberColumn(width="small"),
        "head": st.column_config.NumberColumn(width="small"),
    } | short_headers({
        "weight on keys": ("on keys", "The query's attention weight on all the chosen keys together."),
        **{name: (None, on_each) for name in per_key},
        SHARE_PREV: (
            "prev. token",
            "Previous-token share: each query's weight on the token just before it, averaged over the whole text "
            "(every query but the first).",
        ),
        SHARE_FIRST: (
            "first token",
            "First-token share: each query's weight on the first token (often an attention sink), averaged over "
            "the whole text but the first query, which under the causal mask can only look at itself.",
        ),
    })  # fmt: skip


windows = [ctx.config.window(layer) for layer in range(ctx.config.n_layers)]
st.caption(f"{ctx.model_label} · {model_mask_words(ctx.causal, windows)}")
if is_long(n):
    with st.expander(f"The {n} tokens as {ctx.model_title} split them"):
        show_token_strip(display_tokens(trace))
else:
    show_token_strip(display_tokens(trace))
st.subheader("Which heads make one token look at others?")
default_q, default_keys = default_query_keys(trace.tokens, trace.offsets)
c1, c2 = st.columns([1, 2])
query = token_picker("Query token (the one looking)", readable, default_q, "mech_find_query", where=c1)
keys = token_multi_picker("Key tokens (looked at)", readable, default_keys, "mech_find_keys", where=c2)
if not keys:
    st.info("Pick at least one key token.")
else:
    hidden = [k for k in keys if ctx.causal and k > query]
    if hidden:
        st.warning(
            "With the causal mask a query cannot look at later tokens; these keys always get weight 0: "
            + ", ".join(markdown_code(readable[k]) for k in hidden)
        )
    rows = derived(ctx.trace_key, "query_rows", query, compute=lambda: query_rows(trace, query))  # [L, H, n_k]
    hits = rank_heads_by_rows(rows, keys)
    best = hits[0]
    stats, _ = text_statistics()
    key_names = " + ".join(markdown_code(readable[k]) for k in keys)  # tokens are user text: never Markdown
    st.metric(
        f"Best head: layer {best.layer}, head {best.head}",
        percent(best.weight),
        help="The query's attention weight on the chosen keys together, in the best head.",
    )
    st.caption(
        f"of the attention of {markdown_code(readable[query])} goes to {key_names} "
        f"in layer {best.layer}, head {best.head}."
    )
    best_prev = float(stats["prev"][best.layer, best.head])
    # The control text asks one fixed question; for any other its numbers would measure different tokens.
    has_control = asks_control_question(trace.tokens, query, keys)
    if best_prev > PREVIOUS_TOKEN_HEAD:
        st.warning(
            f"Careful: across this text, layer {best.layer}, head {best.head} puts on average {percent(best_prev, 0)} "
            "of each query's weight on the token just before it: a previous-token head. Its score here may only "
            "say that a chosen key sits right before the query. "
            + (
                "The control below moves the adjectives one word away."
                if has_control
                else "(The page's control sentence, with a word between the adjectives and the noun, answers only the "
                "default question, “creature” ← “fluffy” + “blue”, so it is not shown for this one.)"
            ),
            icon=":material/warning:",
        )
    over_half = sum(h.weight > 0.5 for h in hits)
    st.caption(
        f"{over_half} of {len(hits)} heads put more than half of this query's attention on these keys. Beside each "
        "head, its previous-token and first-token share over the text (every query but the first): a high "
        "previous-token share means the head "
        "mostly looks one token back, whatever the tokens are." + NO_PREVIOUS
    )
    grid = np.full((L, H), np.nan)  # NaN stays where a hybrid's layer has no heads
    for h in hits:
        grid[h.layer, h.head] = h.weight
    c1, c2 = st.columns([5, 2])  # the ranking table has up to 7 columns; the grid needs ~250 px
    with c1:
        st.session_state[RANKED_HEADS + RANKING_KEY] = [(h.layer, h.head) for h in hits[:20]]
        st.dataframe(
            [
                {"layer": h.layer, "head": h.head, "weight on keys": h.weight}
                | {f"→ {readable[k]}": w for k, w in zip(keys, h.per_key, strict=True)}
                | {
                    SHARE_PREV: float(stats["prev"][h.layer, h.head]),
                    SHARE_FIRST: float(stats["first"][h.layer, h.head]),
                }
                for h in hits[:20]
            ],
            hide_index=True,
            width="stretch",
            column_config=ranking_columns([f"→ {readable[k]}" for k in keys]),
            key=RANKING_KEY,
            on_select=lambda: open_from_ranking(RANKING_KEY),
            selection_mode="single-row",
        )
    with c2:
        title = f"{plotly_escape(readable[query])} → the keys, every head"
        show_clickable_chart(layer_head_grid(grid, title, "weight", (best.layer, best.head)), GRID_KEY, open_from_grid)
    st.caption("Click a row of the table or a cell of the grid to open that head on the Attention patterns page.")
    show_focus(best.layer, best.head, query, keys)

    if has_control:
        with st.expander(
            "Control: the adjectives one word away from the noun", expanded=best_prev > PREVIOUS_TOKEN_HEAD
        ):
            show_control(best.layer, best.head, best.weight)

stats, repeats = text_statistics()
st.subheader("Every head at a glance")
st.caption(
    # Each query's weights, not "each row": with columns as queries (the sidebar's orientation) a row is a key.
    "Averaged over this text's queries: entropy of each query's weights in bits (0 = all weight on one key, "
    "log₂ of the keys it sees = even; the head atlas divides it by log₂ of the keys a query sees, 0 to 1), the "
    "weight on the previous token and on the first token (often an 'attention sink'; both over the queries after "
    "the first), "
    "and the mean distance |i − j| of the keys, weighted by attention (entropy and distance over "
    + ("the queries after the first, which sees only itself" if trace.causal else "every query")
    + ", as in the head atlas)"
    + (
        "; where the text repeats tokens, the induction and duplicate-token share (over the queries that repeat an "
        "earlier token: see below)"
        if repeats.shown
        else ""
    )
    + ("; for the text pair, each query's weight on the other text" if "across" in repeats.values else "")
    + ". Click a column header to sort; click a row to open that head on the Attention patterns page."
    + NO_PREVIOUS
)
st.dataframe(
    stats_table(stats, repeats),
    hide_index=True,
    width="stretch",
    height=420,
    key=TABLE_KEY,
    on_select=lambda: open_from_stats_table(table_heads(stats)),
    selection_mode="single-row",
    # Short headers, the full name in each one's tooltip: with the repeat columns the table was 814 px wide in a
    # 562 px column at 1024 px, and scrolled sideways to "mean distan…".
    column_config={"layer": st.column_config.NumberColumn(width=52), "head": st.column_config.NumberColumn(width=52)}
    | short_headers({label: (SHORT_HEADERS[key], label) for key, label in STAT_COLUMNS.items()}, "%.3f")
    | short_headers({label: (SHORT_HEADERS[key], repeat_help(repeats, key)) for key, label in REPEAT_COLUMNS.items()},
                    "%.3f")
    | short_headers({ACROSS_COLUMN: ("other text", ACROSS_MEANING)}, "%.3f"),
)  # fmt: skip
show_repeats(repeats)
