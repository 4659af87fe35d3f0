"""Start here: 3Blue1Brown's chapter 6 in its order, on the model and the text the sidebar holds.

One step at a time (viz.views.chapter.STEPS): a few sentences in the chapter's words, the step's live view
drawn by the same view models and figure builders as the deeper pages, links to those pages, and Back/Next.
The step is a plain session key (ui.shell.STEP) mirrored into the link as `step=`. Every view reads the
shell's trace (a text past FULL_RES_MAX_TOKENS is walked through on its first tokens, a cached short trace),
and what a step derives from it is cached with it (services.traces.derived), so stepping computes little.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st

from app_pages.registry import page_named
from services.models import InputError
from services.sizes import GPT3_PRESET, GPT3_TOTAL, breakdown
from services.traces import derived, derived_job, short_trace, short_trace_key
from ui.context import require_trace
from ui.cross import cross_view
from ui.progress import result_in_box
from ui.shell import STEP
from ui.sidebar import MOLE_WORD, mole_sentences, open_moles
from ui.widgets import (
    fixed_decimals,
    hand_pick_to,
    height_follows_width,
    overview_swipe_hint,
    page_link,
    phone_overview_style,
    right_aligned,
    select_head_from_chart,
    show_chart,
    show_clickable_chart,
    show_token_heatmap,
    show_token_strip,
    show_tokens,
    token_picker,
    warn_untrained_masking,
    wide_chart,
)
from viz.figures.heatmaps import head_heatmap, mask_comparison, scores_heatmap
from viz.figures.layout import orientation_caption
from viz.figures.mechanism import context_growth, matrix_heatmap
from viz.figures.overview import layer_small_multiples, overview_mosaic
from viz.figures.shifts import layer_lines
from viz.labels import axis_labels, counted, plotly_escape
from viz.views.chapter import SLUGS, STEPS, facts_of, step_index, step_named, step_text
from viz.views.chapter_notes import latent_keys_note, long_text_notice, prompt_cross_caption, shared_keys_note
from viz.views.chapter_tables import softmax_rows, weighted_values
from viz.views.cross import DEFAULT_SOURCE, DEFAULT_TARGET, block_axis_labels
from viz.views.head_window import qk_titles
from viz.views.heads import default_query_keys
from viz.views.norm_words import first_block_input
from viz.views.patterns import OVERVIEW_SIZE, head_view, is_long, layer_patterns, overview, tokens_of
from viz.views.score_terms import score_terms
from viz.views.sent_words import GATE_NOTE, value_up
from viz.views.shifts import pairwise_cosines, word_trace
from viz.views.sizes import context_lengths, pattern_bytes, sublayer_words

ss = st.session_state
MASKED_NOTE = " Masked sources ({}) add nothing and have no row."
OUTLINE = "start_outline"  # the chapter outline's widget key (the step itself lives in ui.shell.STEP)
SOFTMAX_ALL_ROWS_MAX = 40  # the softmax table shows every key up to this many (~1,400 px); past it, it scrolls

ctx = require_trace()
trace, key = ctx.trace, ctx.trace_key
long_text = is_long(trace.n_tokens)
if long_text:  # every view here draws each cell: walk through the text's first tokens instead
    shell = (ctx.model, ctx.text, ctx.causal, ctx.second_text)  # the shell's trace, short: a text pair stays a pair
    trace, key = short_trace(*shell), short_trace_key(*shell)
tokens = derived(key, "tokens", compute=lambda: tokens_of(trace))
readable, labels = axis_labels(tokens.raw)
layer, head, orient = ctx.layer, ctx.head, ctx.orient
score_name = score_terms(trace).name  # "scaled score", or what T5's and Gemma 2's scores are
facts = facts_of(ctx, len(tokens), ctx.trace.n_input_tokens, ctx.trace.n_tokens)
index = step_index(ss.get(STEP))
step = STEPS[index]
ss[STEP] = step.slug


def move(delta: int) -> None:
    """Back/Next (a callback runs before the script, so the frame mirrors the new step into the link)."""
    ss[STEP] = SLUGS[min(max(step_index(ss.get(STEP)) + delta, 0), len(SLUGS) - 1)]


def jump() -> None:
    if ss.get(OUTLINE) in SLUGS:
        ss[STEP] = ss[OUTLINE]


def head_steps(at_layer: int) -> object:
    """Every intermediate of one head (E, Q, K, …, Δe), from the engine, cached with the trace."""
    return derived(key, "head_steps", at_layer, head, compute=lambda: trace.head_steps(at_layer, head))


def one_head() -> object:
    return derived(key, "head_view", layer, head, compute=lambda: head_view(trace, layer, head))


def draw_tokens() -> None:
    if long_text:
        show_token_strip(tokens.raw)
        st.caption(f"The first {len(tokens)} tokens of {trace.n_input_tokens}.")
    else:
        show_tokens(ctx, tokens)


def draw_embeddings() -> None:
    s = head_steps(0)
    how, said = first_block_input(s)
    show_chart(
        matrix_heatmap(s.E, f"E entering layer 0 ({how})  [{s.n} × {s.d_model}]", labels, None, "dimension", "token"),
        "start_E",
    )
    if said:
        st.caption(said)


def draw_query_key() -> None:
    s = head_steps(layer)
    rope = "after" if s.uses_rope else ""
    titles = qk_titles(s, s.n, rope)  # Q = E·W_Q, or latent attention's products (DeepSeek)
    c1, c2 = st.columns(2)
    with c1:
        show_chart(matrix_heatmap(s.q, titles["Q"], labels, None, "d_head", "query"), "start_Q")
    with c2:
        show_chart(matrix_heatmap(s.k, titles["K"], labels, None, "d_head", "key"), "start_K")
    cfg = ctx.config
    note = shared_keys_note(head, s.n_heads, s.n_kv_heads) or latent_keys_note(
        s.q_input is not None, cfg.kv_latent_rank, cfg.rotary_dim or 0
    )
    if note:
        st.caption(note)


def draw_dot_products() -> None:
    view = one_head()
    masked = f" Grey cells marked −∞ are masked (see {step_named('masking')})." if not view.mask.all() else ""
    st.caption(orientation_caption(orient).split(". ")[0] + "." + masked)
    figure = scores_heatmap(view.scores, view.mask, tokens.plotly, orient, score_label=score_name,
                            second_text_at=view.second_text_at)  # fmt: skip
    show_token_heatmap(figure, "start_scores")


def draw_softmax() -> None:
    view = one_head()
    default_q, _ = default_query_keys(tokens.raw, trace.offsets)
    q = token_picker("Query token", readable, default_q, "start_query")
    hand_pick_to("mech_cell_query", readable[q], q)  # Inside one head (Go deeper) opens on this query
    row = view.pattern[q]
    top = int(row.argmax())
    st.caption(
        f"Layer {layer}, head {head}: query {readable[q]} puts {row[top]:.1%} of its weight on {readable[top]}; "
        f"its weights sum to {row.sum():.4f}."
        + (
            f" −Infinity: a key it may not see (see {step_named('masking')})."
            if not view.mask[q].all()
            else " Here no key is masked: the softmax sees these scores as they are."
        )
    )
    st.container(key="start_softmax").dataframe(  # the key names the table's box (a read-only table has none)
        softmax_rows(view.scores[q], view.mask[q], row, tokens.readable, score_name),
        hide_index=True,
        width="stretch",
        height="content" if len(row) <= SOFTMAX_ALL_ROWS_MAX else "auto",  # every key in view, up to a screenful
        column_config=fixed_decimals([score_name, "score the softmax sees", "weight"]),
    )


def draw_pattern() -> None:
    view = one_head()
    st.caption(orientation_caption(orient, ctx.config.attn_sinks))
    figure = head_heatmap(view.pattern, view.scores, view.mask, tokens.plotly, orient, score_label=score_name,
                          second_text_at=view.second_text_at)  # fmt: skip
    show_token_heatmap(figure, "start_pattern")


def draw_masking() -> None:
    view = one_head()
    st.caption(orientation_caption(orient, ctx.config.attn_sinks))
    if len(tokens) == 1:  # the comparison is still drawn: one cell, the same with and without
        st.caption("With one token there is nothing to mask: its only key is itself.")
    figure = mask_comparison(view.pattern_masked, view.pattern_unmasked, tokens.plotly, orient,
                             second_text_at=view.second_text_at)  # fmt: skip
    with wide_chart("start_masking"):
        st.plotly_chart(figure, key="start_masking", theme=None)


def draw_values() -> None:
    s = head_steps(layer)
    gated = s.gate is not None  # AFMoE: z is gated per query before W_O, so every source's part carries the gate
    title = f"Δe = ({'(A·V) ⊙ G' if gated else 'A·V'})·W_O[head {head}]  [{s.n} × {s.d_model}]"
    show_chart(matrix_heatmap(s.delta, title, labels, None, "dimension", "token"), "start_delta")
    st.markdown("**One token's row, added up**: each source's value vector times the query's weight on it."
                + (f" {GATE_NOTE}" if gated else ""))  # fmt: skip
    q = token_picker("Query token", readable, default_query_keys(tokens.raw, trace.offsets)[0], "start_values_query")
    values = s.v if s.gate is None else s.v * s.gate[q]  # (n, d_head): g_q ⊙ v_j in a gated head
    parts = weighted_values(values, s.W_O, s.pattern[q], s.mask[q], q)
    names = [f"{w:.3f} × {value_up(gated, f'v({labels[j]})', 'g')}"
             for j, w in zip(parts.sources, parts.weights, strict=True)]  # fmt: skip
    rows = [parts.rows]
    if parts.rest is not None:
        names.append(f"the other {parts.n_rest} sources, weight {parts.rest_weight:.3f}")
        rows.append(parts.rest[None, :])
    figure = matrix_heatmap(
        np.vstack([*rows, parts.delta[None, :]]),
        f"Δe of {labels[q]} = Σ_j A[{q}, j]·({value_up(gated, gate='g')}) ({counted(parts.n_seen, 'source')})",
        [*names, f"= Δe of {labels[q]}"],
        None,
        "dimension",
        row_bands=len(names),  # a line above the sum
    )
    show_chart(figure, "start_delta_sum")
    error = float(np.abs(parts.delta - s.delta[q]).max())
    st.caption(
        f"The bottom row is the sum of the rows above it and equals row {q} of the Δe above "
        + (f"to within {error:.1g}" if error else "exactly")
        + ". A source with a small weight adds a faint row, "
        "however large its value vector." + ("" if s.mask[q].all() else MASKED_NOTE.format(masked_sources(layer)))
    )


def masked_sources(at: int) -> str:
    """What the mask leaves out in layer `at`: later tokens, and keys past a sliding window where it has one."""
    later = "later tokens" if trace.causal else ""
    window = f"keys outside its {trace.window(at)}-token window" if trace.window(at) is not None else ""
    return "; ".join(filter(None, (later, window)))


def draw_heads() -> None:
    thumbs = derived(key, "thumbs", layer, compute=lambda: layer_patterns(trace, layer))
    chart_key = f"start_heads_L{layer}_H{head}"
    show_clickable_chart(
        layer_small_multiples(thumbs, head, orient, layer), chart_key, partial(select_head_from_chart, chart_key)
    )


def draw_layers() -> None:
    overview_swipe_hint()
    box = st.container(key="overview_box")  # on a phone it scrolls sideways, as the patterns page's (app.py)
    job = derived_job(key, "overview", OVERVIEW_SIZE, compute=lambda progress: overview(trace, progress=progress))
    slot, pooled = result_in_box(job, "Pooling every head", box)  # a click's rerun keeps the drawn one meanwhile
    chart_key = f"start_overview_L{layer}_H{head}"
    figure = overview_mosaic(pooled, (layer, head), orient)
    height_follows_width(figure, "start_overview_L")
    phone_overview_style(pooled.shape)
    show_clickable_chart(figure, chart_key, partial(select_head_from_chart, chart_key), where=slot)
    st.markdown(  # under the grid, from the head the run was drawn for: a click's rerun names the head clicked
        f"**Layer {layer}, head {head} is selected** (framed in red): the pages under *Go deeper* open on it. "
        "Click a thumbnail to select another head, or move *Layer* and *Head* in the sidebar."
    )


def draw_moles() -> None:
    words = [word_trace(short_trace(ctx.model, text, ctx.causal), MOLE_WORD) for text in mole_sentences()]
    words = [w for w in words if w is not None]
    names = [plotly_escape(w.text) for w in words]
    series = {f"{names[a]}  ↔  {names[b]}": v for (a, b), v in pairwise_cosines(words).items()}
    show_chart(
        layer_lines(series, f"Cosine similarity of “{MOLE_WORD}” between sentences", "cosine similarity"), "start_moles"
    )
    if any(w.right_context_hidden for w in words):
        st.caption(
            f"{facts.model} reads left to right: in *one mole of carbon dioxide* the words that tell the meaning "
            "come after *mole* and cannot reach it."
        )
    st.button("Open the mole comparison", key="start_open_moles", on_click=open_moles, icon=":material/compare_arrows:")


def draw_context() -> None:
    cfg = ctx.config
    lengths = context_lengths(cfg.n_ctx)
    fp16 = [pattern_bytes(cfg.attention_sublayers, cfg.n_heads, n, 2) for n in lengths]
    fp32 = [pattern_bytes(cfg.attention_sublayers, cfg.n_heads, n, 4) for n in lengths]
    show_chart(
        context_growth(lengths, fp16, fp32, f"All attention patterns of {ctx.model_title_plain}"), "start_context"
    )


def draw_parameters() -> None:
    cfg = ctx.config
    blocks = cfg.attention_sublayers  # an encoder-decoder's decoder layers hold two (self and cross)
    b = breakdown(cfg.d_model, cfg.d_head, cfg.n_heads, blocks)
    st.dataframe(
        b.rows(), hide_index=True, width="stretch", column_config=right_aligned(b.COUNT_COLUMNS), key="start_params"
    )
    gpt3 = breakdown(**GPT3_PRESET).total
    sublayers = (
        f" (its {sublayer_words(cfg.n_layers, cfg.n_decoder_layers)}; 'all layers' counts them all)"
        if cfg.is_encoder_decoder
        else ""
    )
    st.caption(
        f"{facts.model}: {b.total:,} attention parameters by this count{sublayers}. GPT-3: {gpt3:,} of {GPT3_TOTAL:,} "
        f"({gpt3 / GPT3_TOTAL:.1%})."
        + (
            f" {facts.model} shares each key and value-down map among {cfg.n_heads // cfg.n_kv_heads} query heads "
            "(grouped-query attention), so it stores fewer: exact counts on the deeper page."
            if cfg.n_kv_heads != cfg.n_heads
            else ""
        )
    )


def draw_cross_attention() -> None:
    try:
        cross = cross_view(ctx, DEFAULT_SOURCE, DEFAULT_TARGET)
    except InputError as exc:
        st.info(str(exc))
        return
    at_layer, at_head = min(layer, cross.n_layers - 1), min(head, cross.n_heads - 1)
    block = cross.block(at_layer, at_head)
    rows, cols = block_axis_labels(cross, block)
    title = f"Layer {at_layer}, head {at_head}: French queries × English keys  [{len(rows)} × {len(cols)}]"
    show_chart(
        matrix_heatmap(block.pattern, title, rows, cols, "key (English)", "query (French)", kind="weight"),
        "start_cross",
    )
    if not ctx.config.is_encoder_decoder:  # a block of self-attention rows: they do not sum to 1 here
        shares = np.asarray(block.pattern, dtype=np.float64).sum(axis=1)
        st.caption(prompt_cross_caption(shares.min(), shares.max(), cross.trace.causal))


DRAW = {
    "tokens": draw_tokens,
    "embeddings": draw_embeddings,
    "query-key": draw_query_key,
    "dot-products": draw_dot_products,
    "softmax": draw_softmax,
    "pattern": draw_pattern,
    "masking": draw_masking,
    "values": draw_values,
    "heads": draw_heads,
    "layers": draw_layers,
    "moles": draw_moles,
    "context": draw_context,
    "parameters": draw_parameters,
    "cross-attention": draw_cross_attention,
}


def navigation(where: str) -> None:
    """Back, where we are, Next."""
    c1, c2, c3 = st.columns([1, 3, 1], vertical_alignment="center")
    c1.button(
        "Back",
        key=f"start_back_{where}",
        on_click=move,
        args=(-1,),
        disabled=index == 0,
        icon=":material/arrow_back:",
        width="stretch",
    )
    c2.caption(
        f"Step {index + 1} of {len(STEPS)}" + (f" · next: {STEPS[index + 1].title}" if index + 1 < len(STEPS) else "")
    )
    c3.button(
        "Next",
        key=f"start_next_{where}",
        on_click=move,
        args=(1,),
        disabled=index == len(STEPS) - 1,
        icon=":material/arrow_forward:",
        width="stretch",
        type="primary",
    )


st.title("Start here")
st.caption(
    f"3Blue1Brown's *Attention in transformers* (Deep Learning, chapter 6), step by step, on {ctx.model_label} "
    "and the text in the sidebar: every number below is the model's own. Change the model, the text, the layer "
    "or the head in the sidebar and the steps follow."
)
# Said once for every step: each one (the moles too) reads a pass under the sidebar's masking.
warn_untrained_masking(ctx, "the numbers in these steps")
if long_text:
    notice = long_text_notice(ctx.trace.n_input_tokens, ctx.trace.n_tokens, trace.n_tokens, trace.causal)
    st.info(notice, icon=":material/content_cut:")
ss[OUTLINE] = step.slug
st.pills(
    "The chapter's steps",
    SLUGS,
    format_func=lambda s: STEPS[step_index(s)].title,
    key=OUTLINE,
    on_change=jump,
    label_visibility="collapsed",
)
st.header(f"{index + 1} · {step.title}")
st.markdown(step_text(step.slug, facts))
DRAW[step.slug]()
for name in step.deeper:
    page = page_named(name)
    label = "Every page, in one list: " if name == "guide" else "Go deeper: "
    page_link(page, label + page.title)
navigation("bottom")
