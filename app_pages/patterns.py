"""Attention patterns: tokens, one head large, every head of the layer, every layer × head, export.

Short texts (≤ FULL_RES_MAX_TOKENS) draw every cell with its own hover. Long texts (up to the token
cap, 4096 by default) draw the head downsampled to block means plus an exact window chosen with two
sliders, and pooled thumbnails; every derived array and figure is cached per trace, so a rerun only
computes what changed.
"""

from __future__ import annotations

import hashlib
from functools import partial

import streamlit as st

from attention_viz.export import view_bytes
from attention_viz.views import build_view
from services.traces import derived, derived_job, set_threads_for
from ui.contacts import contacts_section
from ui.context import require_trace
from ui.figure_memo import memo_figure, memo_in_background
from ui.implicit_weights import implicit_weights_section
from ui.progress import result_in_box
from ui.value_weighted import value_weighted_view
from ui.widgets import (
    chart_anchor,
    image_format_radio,
    overview_swipe_hint,
    phone_overview_style,
    select_head_from_chart,
    show_chart,
    show_clickable_chart,
    show_token_heatmap,
    show_tokens,
    warn_untrained_masking,
    window_selector,
)
from viz.figures.heatmaps import Cells, head_heatmap
from viz.figures.layout import image_config, orientation_caption
from viz.figures.long_text import COLOUR_SCALES, pooled_heatmap, window_heatmap
from viz.figures.overview import layer_small_multiples, overview_mosaic
from viz.figures.sinks import sink_share_bars
from viz.views.common import mask_words
from viz.views.export import export_basename, pattern_csv, pattern_npz, pooled_npz, window_csv
from viz.views.patterns import (
    OVERVIEW_SIZE,
    POOLED_VIEW_SIZE,
    head_view,
    is_long,
    layer_patterns,
    layer_thumbnails,
    overview,
    pooled_view,
    sink_shares,
    tokens_of,
    window_view,
)
from viz.views.score_terms import score_terms
from viz.views.sent_words import sent_formula

ctx = require_trace()
trace = ctx.trace
key = ctx.trace_key
layer, head, orient = ctx.layer, ctx.head, ctx.orient
tokens = derived(key, "tokens", compute=lambda: tokens_of(trace))
n = len(tokens)
long = is_long(n)
set_threads_for(n)
digest = derived(key, "digest", compute=lambda: hashlib.sha1(trace.text.encode("utf-8")).hexdigest()[:10])
mask_word = mask_words(ctx.causal, ctx.config.window(layer))
terms = score_terms(trace)  # what this model's score is (T5 adds a position bias, Gemma 2 soft-caps): hover names it


def overview_job(trace, n: int, progress):
    set_threads_for(n)
    return overview(trace, progress=progress, per_layer=long)


def figure(name: str, *parts: object, build) -> object:
    """A cached figure: rebuilt only when what it shows changes."""
    return memo_figure((name, key, *parts), build)


st.title("Attention patterns")
st.caption(f"{ctx.model_label} · {mask_word} · layer {layer}, head {head}")
show_tokens(ctx, tokens)
warn_untrained_masking(ctx)

fmt = st.session_state.get("img_fmt_patterns", "png")  # the radio is drawn in the export section below


# Beside the layer's heads a short text's heatmap gets ~280 px at 1280: 66 tokens drew 4 × 12 px cells with their key
# labels piled up. Past this many tokens it takes the page's width (a long text has its own layout below).
SIDE_BY_SIDE_MAX_TOKENS = 16


def meta_of(layer: int, head: int) -> dict:
    """Put in each figure's layout.meta: lets tests and the benchmark see what is drawn."""
    return {"tokens": n, "layer": layer, "head": head, "text": digest}


def head_figure(layer: int, head: int) -> object:
    """A short text's head heatmap (cached; safe to build in a background thread: no Streamlit calls)."""

    def build() -> object:
        view = head_view(trace, layer, head)
        return head_heatmap(
            view.pattern, view.scores, view.mask, tokens.plotly, orient, meta=meta_of(layer, head),
            score_label=terms.name, second_text_at=view.second_text_at,
        )  # fmt: skip

    return figure("head", layer, head, orient, build=build)


def heads_figure(layer: int, head: int) -> object:
    """The layer's thumbnails with `head` framed (cached; no Streamlit calls either)."""
    thumbs = derived(
        key, "thumbs", layer, compute=lambda: layer_thumbnails(trace, layer) if long else layer_patterns(trace, layer)
    )
    scale = thumbnail_scale()
    return figure(
        "heads",
        layer,
        head,
        orient,
        scale,
        build=lambda: layer_small_multiples(thumbs, head, orient, layer, meta_of(layer, head), scale),
    )


def thumbnail_scale() -> str:
    """The thumbnails' colour scale: a long text's block means take the long views' (long_scale), as on a linear
    scale they are too small to see; a short text's exact weights stay linear."""
    return st.session_state.get("long_scale", next(iter(COLOUR_SCALES))) if long else "linear"


def prefetch_layer(layer: int) -> None:
    """Build the figures of the layer's other heads in one background thread once the page is drawn: a
    click on another thumbnail, the common next step, then finds them ready (~45 ms less per switch)."""
    if long:
        return

    def build_all() -> bool:
        for h in range(ctx.n_heads):
            head_figure(layer, h)
            heads_figure(layer, h)
        return True

    memo_in_background(("prefetch", key, layer, orient), build_all)


def short_head(layer: int, head: int, base: str) -> object:
    """A short text's head: every cell with its own hover. Returns its view (for the export)."""
    view = head_view(trace, layer, head)
    sums = orientation_caption(orient, ctx.config.attn_sinks)
    st.caption(sums + f" Hover a cell for its weight and {terms.described()}.")
    show_token_heatmap(head_figure(layer, head), "head_heatmap", config=image_config(base, fmt))
    if ctx.config.attn_sinks:
        st.caption(
            "The rest of each row goes to this head's attention sink: a learned logit that joins the softmax as a key "
            "without a value, so that weight moves nothing. Per query, the weight it gives the sink:"
        )
        show_chart(sink_share_bars(tokens.plotly, sink_shares(view.pattern)), "sink_shares")
    if st.toggle(f"Colour by what is sent: ‖{sent_formula(ctx.config.attn_output_gate)}‖", key="value_weighted"):
        value_weighted_view(key, trace, layer, head, view.pattern, tokens.plotly, orient)
    return view


def long_scale() -> str:
    """The long views' colour scale. Block means of a long text are small (a query's weight is spread over
    hundreds of keys), so on a linear scale most of the chart is white; log is the default."""
    return st.radio(
        "Colour scale",
        list(COLOUR_SCALES),
        format_func=COLOUR_SCALES.__getitem__,
        horizontal=True,
        key="long_scale",
        help="Hover always gives the real weights; only the colours change. The colour bar names the scale.",
    )


def long_head(layer: int, head: int) -> tuple[object, object, str]:
    """A long text's head, in the panel's column: what the charts below show, the colour scale and the window."""
    pooled = derived(key, "pooled", layer, head, POOLED_VIEW_SIZE, compute=lambda: pooled_view(trace, layer, head))
    st.caption(
        f"{n} tokens: the whole pattern is drawn below as {pooled.size}×{pooled.size} blocks of {pooled.block} "
        "tokens, each the mean weight of its block (computed on the server, block by block). "
        "The red frame is the window drawn exactly under it; move it with the sliders. "
        + orientation_caption(orient, ctx.config.attn_sinks)
    )
    scale = long_scale()
    return pooled, window_selector(n), scale


def long_charts(layer: int, head: int, base: str, pooled: object, window: object, scale: str) -> object:
    """The block means and the exact window of a long text's head, each at the page's full width (in the
    panel's column the window was ~245 px wide and the block means narrower still at 1024 px)."""
    meta = meta_of(layer, head)
    pooled_fig = figure(
        "pooled",
        layer,
        head,
        orient,
        window,
        scale,
        build=lambda: pooled_heatmap(
            pooled.pooled, pooled.block, n, tokens.plotly, orient, window.as_tuple(), meta=meta, scale=scale
        ),
    )
    st.plotly_chart(pooled_fig, key="head_heatmap", config=image_config(f"{base}_downsampled", fmt), theme=None)
    wview = window_view(trace, layer, head, window, tokens)
    rows, cols = wview.labels()
    st.subheader(f"Exact window: queries {window.q0}–{window.q1 - 1} × keys {window.k0}–{window.k1 - 1}")
    st.caption(
        "Each query's weights are normalised over all its keys, so a window's row sums to the share of "
        "attention that falls inside it (in the hover). Drag on the chart to zoom; double-click to reset."
    )
    cells = Cells(rows, cols, window.q0, window.k0)
    window_fig = figure(
        "window",
        layer,
        head,
        orient,
        window,
        scale,
        build=lambda: window_heatmap(
            wview.pattern,
            wview.scores,
            cells,
            orient,
            row_share=wview.row_share,
            meta=meta,
            scale=scale,
            score_label=terms.name,
        ),
    )
    st.plotly_chart(window_fig, key="head_window", config=image_config(f"{base}_window", fmt), theme=None)
    return wview


def layer_heads(layer: int, head: int, base: str) -> None:
    """Every head of the layer as thumbnails; a click selects one."""
    st.subheader(f"All {ctx.n_heads} heads of layer {layer}")
    st.caption(
        "Click a head to select it (red frame: the selected head)."
        + (" Thumbnails are block means, on the colour scale picked beside them." if long else "")
    )
    # The key carries the selection so the chart is rebuilt (and its old click cleared) when it changes.
    heads_key = f"heads_L{layer}_H{head}"
    show_clickable_chart(
        heads_figure(layer, head),
        heads_key,
        partial(select_head_from_chart, heads_key),
        image_config(f"{base}_layer", fmt),
    )


def head_file(fmt: str) -> bytes:
    """The head as the notebook and `attention-viz export` draw it (the same figure builders): a vector SVG
    whose token labels are text, or one HTML file that opens offline and stays interactive. Built on click;
    the buttons do not rerun the page, which would replace the file the browser is about to fetch."""
    view = build_view(ctx.trace, "head", ctx.layer, ctx.head, ctx.orient)
    return view_bytes(view, fmt, f"{ctx.model_name} · layer {ctx.layer}, head {ctx.head}")


def export_short(view: object, base: str) -> None:
    sums = "rows sum to 1 less the head's sink share" if ctx.config.attn_sinks else "rows sum to 1"
    st.caption(
        f"Data files always have one row per query ({sums}), whatever the orientation on screen; the SVG and "
        "HTML files draw the head as shown. Files are built when you click."
    )
    c1, c2, c3, c4 = st.columns(4)
    c1.download_button(
        "Pattern as CSV", pattern_csv(view), file_name=f"{base}.csv", mime="text/csv", icon=":material/table:"
    )
    c2.download_button(
        "Pattern as NPZ",
        pattern_npz(view, ctx.model_name),
        file_name=f"{base}.npz",
        mime="application/octet-stream",
        icon=":material/download:",
    )
    c3.download_button(
        "Head as SVG", partial(head_file, "svg"), file_name=f"{base}.svg", mime="image/svg+xml",
        icon=":material/image:", on_click="ignore",
    )  # fmt: skip
    c4.download_button(
        "Head as HTML", partial(head_file, "html"), file_name=f"{base}.html", mime="text/html",
        icon=":material/html:", on_click="ignore",
    )  # fmt: skip
    image_format_radio("img_fmt_patterns")


def export_long(pooled: object, wview: object, base: str) -> None:
    st.caption(
        "Long texts export the exact window (one row per query; a row sums to the share of its weight inside the "
        "window) and, in the NPZ, the block means of the whole pattern. Files are built when you click."
    )
    c1, c2, c3 = st.columns([1, 1, 2])
    c1.download_button(
        "Window as CSV",
        partial(window_csv, wview),
        file_name=f"{base}_window.csv",
        mime="text/csv",
        icon=":material/table:",
        on_click="ignore",  # a rerun on click would replace the file the browser is about to fetch
    )
    c2.download_button(
        "Blocks + window as NPZ",
        partial(pooled_npz, pooled, wview, tokens, ctx.model_name),
        file_name=f"{base}_long.npz",
        mime="application/octet-stream",
        icon=":material/download:",
        on_click="ignore",
    )
    with c3:
        image_format_radio("img_fmt_patterns")


def head_panel(layer: int, head: int) -> None:
    """The selected head large, its layer's heads, and the export: everything a head switch changes."""
    base = export_basename(ctx.model_name, layer, head, ctx.causal)
    if long or n <= SIDE_BY_SIDE_MAX_TOKENS:
        left, right = st.columns([3, 2], gap="medium")
    else:  # the heatmap takes the page's width; the layer's heads go below it
        left = right = st.container()
    with left:
        st.subheader(f"Layer {layer}, head {head}")
        if long:
            pooled, window, scale = long_head(layer, head)
        else:
            view = short_head(layer, head, base)
    with right:
        layer_heads(layer, head, base)
    if long:
        st.markdown(f"**Layer {layer}, head {head}: the whole pattern in blocks of {pooled.block} tokens**")
        wview = long_charts(layer, head, base, pooled, window, scale)
    st.subheader("Export the selected pattern")
    if long:
        export_long(pooled, wview, base)
    else:
        export_short(view, base)


@st.fragment
def head_panel_fragment() -> None:
    """A click on a thumbnail in this panel reruns only the panel, so the new head is drawn without
    waiting for the sidebar, the token strip and the overview; the whole app then reruns once to bring
    those (sliders, link, overview frame) up to date. On a full run the panel shows the shell's choice."""
    ss = st.session_state
    full_run = ss.pop("_patterns_full_run", False)
    if full_run:
        head_panel(layer, head)
        return
    picked_layer = min(max(int(ss.get("layer", layer)), 0), ctx.n_layers - 1)
    picked_head = min(max(int(ss.get("head", head)), 0), ctx.n_heads - 1)
    head_panel(picked_layer, picked_head)
    st.rerun(scope="app")


st.session_state._patterns_full_run = True
head_panel_fragment()

st.subheader(f"Every layer × head ({ctx.n_layers} × {ctx.n_heads})")
blank = [layer for layer in range(ctx.n_layers) if not ctx.config.attends(layer)]  # a hybrid's other layers
st.caption(
    "Each thumbnail is one head's pattern, averaged over blocks of tokens for long texts (then on the colour "
    "scale picked above). Click one to select that layer and head."
    + (f" Layers {', '.join(map(str, blank))} run {ctx.config.other_mixers_words()} instead of attention, without "
       "heads: their columns are blank." if blank else "")
)  # fmt: skip
ov_layer, ov_head = chart_anchor("overview", layer, head)  # as drawn while its own clicks come in (defect 11)
overview_key = f"overview_L{ov_layer}_H{ov_head}"
overview_swipe_hint()
box = st.container(key="overview_box")  # the box scrolls sideways on a phone (app.py's style)
# Started only now, after the head panel: on two cores, pooling beside the panel's work and the browser's
# drawing made both slower (measured at 4096 tokens: the overview done 1.8 s later than in sequence).
job = derived_job(key, "overview", OVERVIEW_SIZE, compute=lambda progress: overview_job(trace, n, progress))
slot, pooled_all = result_in_box(job, "Pooling every head for the overview", box)  # never blanked by a rerun
phone_overview_style(pooled_all.shape)
show_clickable_chart(
    figure(
        "overview",
        ov_layer,
        ov_head,
        orient,
        thumbnail_scale(),
        build=lambda: overview_mosaic(
            pooled_all, (ov_layer, ov_head), orient, meta_of(ov_layer, ov_head), thumbnail_scale()
        ),
    ),
    overview_key,
    partial(select_head_from_chart, overview_key),
    image_config(f"{ctx.model_name}_overview", fmt),
    where=slot,
)

implicit_weights_section(key, trace, tokens.plotly, orient)  # a hybrid's scan and delta-rule layers
contacts_section(key, trace, tokens.raw, ctx.model_title)  # a protein model's contacts from its attention (ESM's)
prefetch_layer(layer)  # last: the page is drawn by now
