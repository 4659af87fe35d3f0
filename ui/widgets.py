"""Streamlit pieces the pages share: the token strip, the cut notice, the long-input window selector,
head selection from a chart click, the image-format switch and fixed-decimal tables."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import streamlit as st

from ui.context import PageContext
from ui.shell import SHELL_PAGE, URL_PICKS, picked_position_key, shareable_params
from ui.url import TOKEN_PICKERS
from viz.figures.layout import click_select_config, selected_point, tokens_along_top, width_for_labels
from viz.figures.overview import PHONE_BOX_PX, phone_frame_px
from viz.labels import SPACE_MARK, byte_piece_note, counted, escape_note, joined, markdown_code, token_strip
from viz.views.patterns import (
    WINDOW_MAX,
    Tokens,
    Window,
    clamp_span,
    cut_excerpt,
    cut_position,
    default_window,
    is_long,
    pair_cut,
)


def show_tokens(ctx: PageContext, tokens: Tokens) -> None:
    """How the model split the text: plain text (st.code never interprets markup)."""
    trace = ctx.trace
    if trace is not None and trace.truncated:
        show_cut_notice(trace, len(tokens))
    if is_long(len(tokens)):
        with st.expander(f"The {len(tokens)} tokens as {ctx.model_title} split them"):
            show_token_strip(tokens.raw)
    else:
        show_token_strip(tokens.raw)
    note = f"{counted(len(tokens), 'token')} as {ctx.model_title} split them"
    if any(" " in t for t in tokens.raw):  # only byte-level tokenizers keep the space: WordPiece drops it
        note += (
            f"; {SPACE_MARK} is a space that belongs to the token, so a word start and a word piece are different "
            "tokens"
        )
    if any(t.startswith("##") for t in tokens.raw):
        note += ' ("##" marks a piece that continues the previous word)'
    escapes = escape_note(tokens.raw)  # "\n" drawn for a line break: say so where it is drawn
    st.caption(note + _added_tokens_note(tokens.added) + "." + (f" {escapes}" if escapes else ""))


def _added_tokens_note(added: Sequence[str]) -> str:
    """Which tokens the tokenizer added ('. `[CLS]` and `[SEP]` are added …'), or '': they stand first and last
    in every table, yet are not in the text the reader typed."""
    if not added:
        return ""
    names, verb = joined([markdown_code(t) for t in added]), "is" if len(added) == 1 else "are"
    return f". {names} {verb} added by the tokenizer, not typed: the model saw them around every text it was trained on"


def warn_untrained_masking(ctx: PageContext, what: str = "these patterns") -> None:
    """Say so when the masking asked for is not the one the model was trained with: every layer after the
    first then reads inputs it never saw in training, so its numbers are a what-if, not the model's habit."""
    if ctx.causal == ctx.model_causal:
        return
    if ctx.model_causal:
        said = f"The causal mask is off, but {ctx.model_label} was trained with it"
    else:
        said = f"The causal mask is on, but {ctx.model_label} was trained without it (it reads in both directions)"
    st.warning(f"{said}: {what} come from a pass the model never saw in training.", icon=":material/warning:")


OVERVIEW_SWIPE = ":material/swipe: Swipe the grid sideways to see every layer."
PHONE_KEY_PX = 15  # a key's width on a phone: 45° labels of 12 px text this far apart (10.6 px) leave a gap
PHONE_MAIN_PX = 358  # the main column's width on a 390 px phone
CHART_SWIPE = ":material/swipe: Swipe the chart sideways to see all of it."
SCROLL_HINT = (
    ":material/swipe: On a narrow screen the chart keeps its width: scroll the chart sideways for the difference "
    "panel and the colour scales."
)


@contextmanager
def wide_chart(key: str) -> Iterator[None]:
    """A chart that keeps its width below 1200 px and scrolls sideways there (app.py's wide_chart… rule), under a
    hint to scroll that app.py shows only then: the masking comparison's third panel and colour bars lay off-screen
    at 1024 and 390 px with nothing saying so."""
    with st.container(key=f"scroll_hint_{key}"):
        st.caption(SCROLL_HINT)
    with st.container(key=f"wide_chart_{key}"):
        yield


def overview_swipe_hint() -> None:
    """Above the layer × head overview, on a phone only (app.py's phone_hint… rule): the overview keeps a size there
    that can be tapped and scrolls sideways, and its first screenful ends at layer 5 of 30 with nothing saying so."""
    st.container(key="phone_hint_overview").caption(OVERVIEW_SWIPE)


def phone_overview_style(pooled_shape: Sequence[int]) -> None:
    """On a phone (640 px and below) the layer × head overview (in the container keyed overview_box) is drawn
    PHONE_BOX_PX wide, in a box that scrolls sideways, so each thumbnail can be seen and tapped; and its red frame is
    redrawn at that size. The frame is a marker sized in px for a desktop's plot, half a thumbnail on a phone, and
    a shape in data units would make every click a new chart (viz.figures.overview). CSS `d` replaces the marker's
    path (a square, as Plotly draws it, centred on the point); a browser without it keeps the desktop's frame."""
    half = phone_frame_px(pooled_shape) / 2
    square = f"M{half},{half}H-{half}V-{half}H{half}Z"
    st.html(
        "<style>@media (max-width: 640px) { .st-key-overview_box { overflow-x: auto; } "
        f".st-key-overview_box [class*='overview_L'] {{ min-width: {PHONE_BOX_PX}px; }} "
        f".st-key-overview_box .scatterlayer .point {{ d: path('{square}'); }} }}</style>"
    )


def show_token_heatmap(figure: Any, key: str, label_px: float = 0.0, **chart_args: Any) -> None:
    """A heatmap with tokens along its top, keyed `key`: on a phone (640 px and below) it keeps `label_px` (at least
    PHONE_KEY_PX) between those labels (or square cells, where its rows are narrower), in a box that scrolls sideways.
    Squeezed into the phone's width, 20 keys had 9 px each and their 45° labels ran into one another; the server does
    not know the screen's width, so the rule says it. (Streamlit draws a chart as wide as its element; the rule finds
    it by `key`, given here once.) `chart_args` go to st.plotly_chart (config, ...)."""
    width = width_for_labels(figure, max(PHONE_KEY_PX, label_px))
    st.html(
        f"<style>@media (max-width: 640px) {{ .st-key-scroll_{key} {{ overflow-x: auto; }} "
        f".st-key-{key} {{ min-width: {width}px; }} }}</style>"
    )
    if width > PHONE_MAIN_PX:  # shown on a phone only (app.py's phone_hint… rule)
        st.container(key=f"phone_hint_{key}").caption(CHART_SWIPE)
    st.container(key=f"scroll_{key}").plotly_chart(figure, key=key, theme=None, **chart_args)


def height_follows_width(figure: Any, key_start: str) -> None:
    """A style giving the overview the height its square thumbnails take at the width it gets in the browser, never
    more than the figure's own (sized for a phone's scrolling box: on a desktop column, 564 px wide at 1024 px, it
    left ~200 px of blank under the grid). Every key of the chart's family."""
    m, (x0, x1), (y0, y1) = figure.layout.margin, figure.layout.xaxis.range, figure.layout.yaxis.range
    fit = f"{m.t + m.b}px + (100cqw - {m.l + m.r}px) * {abs(y1 - y0) / abs(x1 - x0):.6f}"
    at = f".st-key-overview_box [class*='st-key-{key_start}']"
    st.html(  # Streamlit fixes the element's height to the figure's; the chart's follows the element's width (cqw)
        f"<style>{at} {{ container-type: inline-size; height: auto !important; flex: 0 0 auto !important; }} "
        f"{at} [data-testid='stPlotlyChart'] {{ height: min({figure.layout.height}px, {fit}) !important; }}</style>"
    )


def show_token_strip(tokens: Sequence[str]) -> None:
    """How the model split the text, as plain text (st.code never interprets markup), and what a named byte
    piece is when there is one."""
    st.code(token_strip(tokens), language=None, wrap_lines=True)
    note = byte_piece_note(tokens)
    if note is not None:
        st.caption(note)


def page_link(page: Any, label: str | None = None, icon: str | None = None, where: Any = st) -> None:
    """A link to a registry page (app_pages/registry.py) that carries this view's URL fields, as the address bar
    does: clicked, it keeps the session's state either way; copied or opened in a new tab, it opens this view."""
    where.page_link(
        page.path, label=label or page.title, icon=page.icon if icon is None else icon,
        query_params=shareable_params(page.name),
    )  # fmt: skip


def show_chart(fig: Any, key: str) -> None:
    """A figure as the mechanism pages draw them: Plotly's own colours, no Plotly logo in the toolbar; a heatmap with
    tokens along its top as show_token_heatmap draws it."""
    if tokens_along_top(fig):
        show_token_heatmap(fig, key, config={"displaylogo": False})
    else:
        st.plotly_chart(fig, key=key, theme=None, config={"displaylogo": False})


def show_clickable_chart(
    fig: Any, key: str, on_select: Callable[[], None], config: dict | None = None, where: Any = st
) -> None:
    """A figure whose click selects a point (a head), drawn in `where` (a column or slot): Plotly's own colours, and
    no double clicks (`click_select_config`), so quick clicks on two heads each select their head."""
    where.plotly_chart(
        fig, key=key, on_select=on_select, selection_mode="points", theme=None, config=click_select_config(config)
    )


def show_cut_notice(trace: Any, n_shown: int) -> None:
    if (pair := pair_cut(trace)) is not None:  # cut from the longer text's end first: no one place to mark
        st.warning(
            f"The two texts have {trace.n_input_tokens} tokens together; the token cap (sidebar) keeps {n_shown}, "
            "cut from the end of the longer text first, as transformers' truncation cuts a pair. The trace reads "
            f"{pair.first_read} of the first text's {pair.first_chars} characters and {pair.second_read} of the "
            f"second's {pair.second_chars}.",
            icon=":material/content_cut:",
        )
        return
    cut = cut_position(trace)
    st.warning(
        f"The text has {trace.n_input_tokens} tokens; the token cap (sidebar) keeps the first {n_shown}. "
        f"It was cut at character {cut} of {len(trace.text)}, marked ⟂ below; the rest is not in this trace.",
        icon=":material/content_cut:",
    )
    st.code(cut_excerpt(trace.text, cut), language=None, wrap_lines=True)


def window_selector(n: int, key_prefix: str = "win") -> Window:
    """Query and key range sliders for the exact window of a long text; shared by the pages.

    The window is kept per text length (a new text resets it to the default: the last 128 queries ×
    the same keys); spans are limited to WINDOW_MAX tokens per side.
    """
    ss = st.session_state
    q_key, k_key, saved_key = f"{key_prefix}_q", f"{key_prefix}_k", f"_{key_prefix}_saved"
    # Widget state does not follow a widget to another page, so the window also lives in a plain
    # session key, (n, q range, k range), restored into the sliders before they are drawn.
    saved = ss.get(saved_key)
    if saved is None or saved[0] != n:
        w = default_window(n)
        saved = ss[saved_key] = (n, (w.q0, w.q1 - 1), (w.k0, w.k1 - 1))
    ss[q_key], ss[k_key] = tuple(saved[1]), tuple(saved[2])

    def remember() -> None:  # on_change runs before the next script run: the user's move wins
        ss[saved_key] = (n, tuple(ss[q_key]), tuple(ss[k_key]))

    c1, c2 = st.columns(2)
    q = c1.slider(
        "Window: queries",
        0,
        n - 1,
        key=q_key,
        on_change=remember,
        help=f"At most {WINDOW_MAX} queries at full resolution.",
    )
    k = c2.slider(
        "Window: keys", 0, n - 1, key=k_key, on_change=remember, help=f"At most {WINDOW_MAX} keys at full resolution."
    )
    q0, q1 = clamp_span(*q, n)
    k0, k1 = clamp_span(*k, n)
    if (q1 - 1, k1 - 1) != (max(q), max(k)):
        st.caption(
            f"The window is limited to {WINDOW_MAX} tokens per side: showing queries {q0}–{q1 - 1}, keys {k0}–{k1 - 1}."
        )
    return Window(q0, q1, k0, k1)


def select_head_from_chart(chart_key: str) -> None:
    """on_select callback: a click on a thumbnail sets layer and head before the next run.

    It runs before the script, so it may set the sidebar sliders' state (a script body may not).
    """
    state = st.session_state.get(chart_key)
    selection = state.get("selection") if hasattr(state, "get") else getattr(state, "selection", None)
    point = selected_point(selection)
    if point is None:
        return
    layer, head = point
    if layer >= 0:
        st.session_state.layer = layer
    st.session_state.head = head
    st.session_state[f"_{_family(chart_key)}_clicked"] = (st.session_state.layer, head)


def _family(chart_key: str) -> str:
    return chart_key.split("_L", 1)[0]


def chart_anchor(family: str, layer: int, head: int) -> tuple[int, int]:
    """The (layer, head) a clickable chart is drawn for: the current one, unless the current one came from a
    click on this very chart, in which case the chart stays as it was drawn (its own selection style shows the
    click). Redrawing it would make a new widget, and quick further clicks on the old one would be lost."""
    ss = st.session_state
    anchor, mine = f"_{family}_anchor", f"_{family}_clicked"
    if anchor not in ss or ss.get(mine) != (layer, head):
        ss[anchor] = (layer, head)
        ss.pop(mine, None)
    return ss[anchor]


def image_format_radio(key: str) -> str:
    """Which format the charts' camera button saves (Plotly renders it in the browser)."""
    return st.radio(
        "Camera button (top right of each chart) saves",
        ["png", "svg"],
        format_func=str.upper,
        horizontal=True,
        key=key,
    )


def fixed_decimals(columns: list[str], fmt: str = "%.4f", width: str | None = None) -> dict[str, Any]:
    """column_config giving these number columns one format (st.dataframe drops trailing zeros: 0.09 next to 0.1906);
    width="small" lets a table of several such columns fit a narrow column of the page."""
    return {name: st.column_config.NumberColumn(format=fmt, width=width) for name in columns}


def right_aligned(columns: Sequence[str]) -> dict[str, Any]:
    """column_config for columns of numbers written as text (exact counts past int64, sizes, shares): aligned right,
    as number columns are, so their digits line up (st.dataframe aligns text left)."""
    return {name: st.column_config.TextColumn(alignment="right") for name in columns}


def short_headers(headers: Mapping[str, tuple[str | None, str]], fmt: str = "%.4f") -> dict[str, Any]:
    """column_config for number columns shown under a short header with their full meaning in its tooltip:
    {column: (header, meaning)} (None: the column's own name). For a table that must fit a narrow column, where
    long headers pushed the columns a section is about out of sight."""
    column = st.column_config.NumberColumn
    return {name: column(label, format=fmt, help=meaning) for name, (label, meaning) in headers.items()}


def labels_digest(labels: Sequence[str]) -> str:
    """A short digest of what a select box offers, for its key: a box whose options change becomes a new box."""
    return hashlib.sha1("\x00".join(labels).encode("utf-8")).hexdigest()[:12]


def _still_there(picked: Sequence[str], labels: Sequence[str]) -> list[int]:
    """The positions whose label ("3: ␣creature": position and token) is one picked before."""
    wanted = set(picked)
    return [i for i, label in enumerate(labels) if label in wanted]


def token_picker(label: str, labels: Sequence[str], default: int, key: str, where: Any = st, first: int = 0) -> int:
    """A position picked by its label ("3: ␣creature", from viz.labels.readable_token_labels); `labels` name the
    text's positions `first`, `first` + 1, … (a window of a long text), and the index into them is returned.

    The widget's key carries a digest of the labels, so a new text gives a new widget listing the new tokens
    (with a fixed key the browser kept showing the last text's labels). The pick survives a text change only
    where the same token stands at the same position; otherwise the page's default is picked. A shared link's
    position (ui/url.py TOKEN_PICKERS) is picked once, when the text has it; the pick goes back into the address.
    """
    memory = _picked_key(key)
    kept = _still_there(st.session_state.get(memory, []), labels)
    index = kept[0] if kept else min(max(default, 0), len(labels) - 1)
    linked = st.session_state.get(URL_PICKS, {}).pop(key, None)
    if linked is not None and first <= linked < first + len(labels):
        index = linked - first
    elif linked is not None:
        where.warning(
            f"{label}: the link picks token {linked}, which this list does not hold (positions {first}–"
            f"{first + len(labels) - 1}); showing {first + index}.",
            icon=":material/warning:",
        )
    widget = f"{key}_{labels_digest(labels)}"
    if linked is not None:
        st.session_state.pop(widget, None)  # the link's pick wins over a widget already drawn for this text
    picked = int(where.selectbox(label, range(len(labels)), index=index, format_func=labels.__getitem__, key=widget))
    st.session_state[memory] = [labels[picked]]
    _mirror_pick(key, first + picked)
    return picked


def _mirror_pick(key: str, position: int) -> None:
    """Keep the picked position for links to this page, and in the address bar when the picker is on the page shown
    (the frame writes the address before the page runs, so a new pick is written here)."""
    st.session_state[picked_position_key(key)] = position
    page = st.session_state.get(SHELL_PAGE)
    for name, picker in TOKEN_PICKERS.get(page, {}).items():
        if picker == key and st.query_params.get(name) != str(position):
            st.query_params[name] = str(position)


def _picked_key(key: str) -> str:
    """Where the token pickers keep the labels last picked in picker `key` (they follow the text by them)."""
    return f"_{key}_picked"


def hand_pick_to(key: str, label: str, position: int) -> None:
    """Have the token picker `key` of another page open on `label` ("3: ␣creature", at `position`), as if picked
    there: a step that looks at one query hands it to the page its Go deeper link opens (that picker follows it only
    while the label names the same token at the same position), and the link carries it."""
    st.session_state[_picked_key(key)] = [label]
    st.session_state[picked_position_key(key)] = position


def token_multi_picker(
    label: str, labels: Sequence[str], default: Sequence[int], key: str, where: Any = st
) -> list[int]:
    """Several positions picked by their labels; follows the text like `token_picker`: the picks that still name
    the same token at the same position, or the page's default when none does (an empty pick on a new text only
    asked the user to pick again)."""
    kept = _still_there(st.session_state.get(_picked_key(key)) or [], labels) or list(default)
    picked = where.multiselect(
        label, range(len(labels)), default=kept, format_func=labels.__getitem__, key=f"{key}_{labels_digest(labels)}"
    )
    st.session_state[_picked_key(key)] = [labels[int(i)] for i in picked]
    return [int(i) for i in picked]
