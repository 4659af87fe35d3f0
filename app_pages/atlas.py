"""Head atlas: what every head does across a whole corpus (docs/atlas.md), from the shipped atlas or one
computed here; click a head to open it on the patterns page with its top example."""

from __future__ import annotations

from functools import partial

import streamlit as st

from app_pages.registry import page_named
from services import atlas
from services.traces import derived
from ui.context import page_context
from ui.open_head import follow_open_request, request_open_head, selected_cell, selected_row
from ui.shell import ATLAS_CORPUS, ATLAS_CORPUS_LINKED, ATLAS_LOWEST, ATLAS_STAT, mirror_to_url
from ui.widgets import page_link, show_chart, show_clickable_chart
from viz.figures.atlas import example_figure, head_scatter, profile_figure
from viz.figures.heatmaps import head_heatmap
from viz.figures.mechanism import layer_head_grid
from viz.labels import markdown_literal
from viz.views.atlas import (
    STATISTIC_LABELS,
    STATISTIC_NOTES,
    example_row,
    head_points,
    head_profile,
    ranked_heads,
)
from viz.views.patterns import head_view, is_long, tokens_of
from viz.views.score_terms import score_terms

GRID_KEY, TABLE_KEY, STAT_KEY = "atlas_grid", "atlas_table", "atlas_stat"  # STAT_KEY: the radio
CORPUS_KEY, UPLOAD_KEY = "atlas_corpus", "atlas_upload"  # the corpus picker (an atlas file), the file uploader
PENDING = "_atlas_pending"  # the atlas file a job started here will write: picked once it exists
DEFAULT_CORPUS = atlas.DEFAULT_CORPUS_NAME
STORED = "_atlas_stored"  # (upload's file id, the StoredCorpus or why the file was refused)
RANKED = "_atlas_ranked"  # (layer, head) of each table row, for the table's click callback
SCATTER_KEY, X_KEY, Y_KEY = "atlas_scatter", "atlas_x", "atlas_y"  # the two-statistic scatter and its axes
# The ranking table's columns at fixed widths: auto-sized for the first statistic shown, a table kept its widths when
# the statistic changed, and mean distance's 102.3454 showed as "02.3454". Each fits its header and its longest
# number (14 px digits ~7.5 px, and 16 px of padding): a value up to 1000.0000 (a mean distance in tokens), a query
# count up to 9,999,999 with its separators. With the selection boxes they take ~339 px: the table's column (4/9 of
# the page) is ~350 px wide at 1280 px.
RANKING_COLUMNS = {
    "rank": st.column_config.NumberColumn(width=46),
    "layer": st.column_config.NumberColumn(width=50),
    "head": st.column_config.NumberColumn(width=46),
    "value": st.column_config.NumberColumn(format="%.4f", width=84),
    "queries": st.column_config.NumberColumn(format="localized", width=80),  # "179,011": a count, not a code
}
LOWEST_KEY = "atlas_lowest"  # the table's "Lowest first" toggle: which end of a head's examples a click opens


def _top_text(data: atlas.AtlasData, stat: str, layer: int, head: int) -> str | None:
    found = data.head_examples(stat, layer, head, lowest=bool(st.session_state.get(ATLAS_LOWEST)))
    return found[0]["text"] if found and found[0]["kind"] == "text" else None


def _open_from_grid(data: atlas.AtlasData, stat: str) -> None:
    point = selected_cell(GRID_KEY)
    if point is not None:
        request_open_head(*point, _top_text(data, stat, *point))


def _open_from_scatter(data: atlas.AtlasData, stat: str) -> None:
    point = selected_cell(SCATTER_KEY)
    if point is not None:
        request_open_head(*point, _top_text(data, stat, *point))


def _open_from_table(data: atlas.AtlasData, stat: str) -> None:
    row = selected_row(TABLE_KEY)
    if row is not None:
        layer, head = st.session_state[RANKED][row]
        request_open_head(layer, head, _top_text(data, stat, layer, head))


def _corpus_name(run: atlas.AtlasRun) -> str:
    """The job's corpus for a Markdown sentence: an uploaded file's name is user text, shown literally."""
    return run.corpus_name if run.corpus_name == DEFAULT_CORPUS else markdown_literal(run.corpus_name)


@st.fragment(run_every=2)
def _job_progress(model) -> None:
    """Redrawn every 2 s on its own (the rest of the app stays usable); the whole page reruns to fill itself
    once the job has ended."""
    run = atlas.running_job(model)
    if run is None or not run.running:
        st.rerun()
    done, total = run.progress() or (0, 1)
    text = f"Computing the atlas of {_corpus_name(run)} on local Ray: {done} of {total} documents"
    st.progress(done / max(total, 1), text=text)
    st.caption("The rest of the app stays usable; this page fills when the job is done.")
    if st.button("Stop the job", icon=":material/stop:", key="atlas_stop"):
        run.stop()
        st.rerun()


def _last_job_notice(run: atlas.AtlasRun) -> None:
    """Why the last job ended without an atlas, if it did: it failed, or it was stopped."""
    if run.error():
        st.error(f"The atlas job on {_corpus_name(run)} failed: {markdown_literal(run.error())}")
    elif run.stopped:
        st.info(f"The atlas job on {_corpus_name(run)} was stopped; no atlas was written.", icon=":material/stop:")


def _running(model) -> bool:
    run = atlas.running_job(model)
    return run is not None and run.running


def _compute_panel(ctx) -> None:
    run = atlas.running_job(ctx.model)
    if run is not None and run.running:
        _job_progress(ctx.model)
        return
    if run is not None and run.corpus_name == DEFAULT_CORPUS:  # an upload's job: its own panel says
        _last_job_notice(run)
    st.info(
        f"No atlas for {ctx.model_label} yet. Computing one runs every head over the default corpus (946 documents, "
        "cut to 256 tokens) on local Ray in the background: minutes on a small model, longer on a large one."
    )
    if st.button("Compute the atlas", icon=":material/play_arrow:", type="primary"):
        atlas.start_atlas(ctx.model)
        st.rerun()


def _own_corpus_panel(ctx) -> None:
    """Upload a corpus and compute this model's atlas over it, in the background like the default one."""
    run = atlas.running_job(ctx.model)
    if run is not None and run.running:
        _job_progress(ctx.model)
        return
    if run is not None and run.corpus_name != DEFAULT_CORPUS:
        _last_job_notice(run)
    if atlas.max_corpus_mb() <= 0:
        st.caption("Uploading a corpus is turned off on this server (a public one, or ATTN_MAX_CORPUS_MB=0).")
        return
    st.caption(
        'A .txt file (one document per line), JSON Lines (a string "text" field on each line) or Parquet (a '
        f'"text" column), up to {atlas.max_corpus_mb():g} MB. Every head runs over each document, cut to the '
        "tokens below, plus the same repeated random sequences as the default atlas for induction. bench/atlas.py "
        "measured about 1.6 documents a second for SmolLM2 (256 tokens) on 2 CPU cores."
    )
    upload = st.file_uploader("Corpus file", type=[s.lstrip(".") for s in atlas.CORPUS_SUFFIXES], key=UPLOAD_KEY)
    if upload is None:
        return
    checked = st.session_state.get(STORED)
    if checked is None or checked[0] != upload.file_id:  # read and check a file once, not on every rerun
        try:
            checked = (upload.file_id, atlas.store_corpus(upload.name, upload.getvalue()))
        except atlas.CorpusError as exc:
            checked = (upload.file_id, str(exc))
        st.session_state[STORED] = checked
    stored = checked[1]
    if isinstance(stored, str):
        st.error("This file cannot be used as a corpus:", icon=":material/error:")
        st.code(stored, language=None, wrap_lines=True)  # it quotes the file's name: shown as text
        return
    c1, c2 = st.columns(2)
    n_docs = c1.number_input(
        f"Documents (the first of {stored.n_documents:,})", 1, stored.n_documents, min(stored.n_documents, 1000),
        key="atlas_own_docs",
    )  # fmt: skip
    longest = max(8, min(ctx.config.n_ctx, 1024))
    cut = c2.number_input("Tokens per document", 8, longest, min(256, longest), key="atlas_own_tokens")
    if st.button("Compute the atlas on this corpus", icon=":material/play_arrow:"):
        started = atlas.start_atlas(ctx.model, stored, max_tokens=int(cut), limit=int(n_docs))
        st.session_state[PENDING] = str(started.out)  # shown when it is done
        st.rerun()


def _pick_atlas(choices: list[atlas.AtlasChoice]) -> atlas.AtlasChoice:
    """The corpus whose atlas the page shows: a just-computed one once it is there, else the reader's pick, else
    the link's (`corpus=`, kept in ATLAS_CORPUS); the pick goes back into the link."""
    ss = st.session_state
    by_path = {str(c.path): c for c in choices}
    by_tag = {c.tag: str(c.path) for c in choices}
    if ss.get(PENDING) in by_path:
        ss[CORPUS_KEY] = ss.pop(PENDING)
    linked = ss.pop(ATLAS_CORPUS_LINKED, False)  # a corpus another model's page picked is not worth a notice
    if ss.get(CORPUS_KEY) not in by_path:
        wanted = ss.get(ATLAS_CORPUS)
        if linked and wanted is not None and wanted not in by_tag:
            st.warning(
                f"This server has no atlas of the corpus {markdown_literal(wanted)} that the link names for this "
                "model; showing the default corpus's.",
                icon=":material/warning:",
            )
        ss[CORPUS_KEY] = by_tag.get(wanted, str(choices[0].path))
    picked = by_path[ss[CORPUS_KEY]]
    if len(choices) > 1:
        picked = by_path[st.selectbox("Corpus", list(by_path), format_func=lambda p: by_path[p].label, key=CORPUS_KEY)]
    if ss.get(ATLAS_CORPUS) != picked.tag:
        ss[ATLAS_CORPUS] = picked.tag
        mirror_to_url(page_named("atlas").name)  # the frame wrote the link before this page picked
    return picked


follow_open_request(page_named("patterns").path)
st.title("Head atlas")
ctx = page_context()
choices = atlas.atlas_choices(ctx.model)
if not choices:
    _compute_panel(ctx)  # with the progress of a running job, whichever corpus it is on
    if not _running(ctx.model):
        with st.expander("Or compute it on your own corpus"):
            _own_corpus_panel(ctx)
    st.stop()
chosen = _pick_atlas(choices)
data = atlas.load_atlas(chosen.path)
s = data.settings
corpus = markdown_literal(chosen.corpus) if chosen.uploaded else chosen.corpus  # an uploaded one's name: user text
st.caption(
    f"{ctx.model_label} over {chosen.n_documents} documents of {corpus} (each cut to {s.get('max_tokens')} tokens) and "
    f"{s.get('induction_sequences')} repeated random sequences (period {s.get('induction_period')}, seed "
    f"{s.get('seed')}); every value is a mean over all qualifying queries "
    "of all documents (docs/atlas.md). Click a head to open it on the patterns page with its top example."
)
if data.outdated:
    st.warning(
        "This atlas was computed before self, mean distance and duplicate token changed definition (they now leave "
        "out the query that sees only itself, and the first token's copy: docs/atlas.md); those three statistics "
        "follow the old definitions. Compute it again for today's.",
        icon=":material/history:",
    )
if not chosen.uploaded:
    made_of = ", ".join(
        f"{c.source} ({c.n_documents} documents, {c.n_chars:,} characters)" for c in atlas.corpus_sources()
    )
    st.caption(
        f"The default corpus: {made_of}; sources and licences in assets/corpus/SOURCES.md. Corpus sha256 "
        f"{str(s.get('corpus_sha256', '?'))[:12]}…; the job ran {s.get('runner', '?')}, {s.get('seconds', '?')} s."
    )
with st.expander("Your own corpus", expanded=_running(ctx.model)):
    _own_corpus_panel(ctx)
if st.session_state.get(STAT_KEY) not in data.statistics:  # first visit, or a page switch dropped it
    st.session_state[STAT_KEY] = st.session_state.get(ATLAS_STAT) or "previous_token"
stat = st.radio(
    "Statistic",
    data.statistics,
    format_func=STATISTIC_LABELS.get,
    horizontal=True,
    key=STAT_KEY,
    on_change=lambda: st.session_state.update({ATLAS_STAT: st.session_state[STAT_KEY]}),  # into the link
)
st.caption(STATISTIC_NOTES[stat])
si = data.statistics.index(stat)
left, right = st.columns([5, 4])  # the right one holds the ranking table whole (RANKING_COLUMNS)
with left:
    show_clickable_chart(
        layer_head_grid(data.values[si], STATISTIC_LABELS[stat], stat.replace("_", " "), (ctx.layer, ctx.head)),
        GRID_KEY, lambda: _open_from_grid(data, stat),
    )  # fmt: skip
with right:
    if LOWEST_KEY not in st.session_state:  # first visit, or a page switch dropped it
        st.session_state[LOWEST_KEY] = bool(st.session_state.get(ATLAS_LOWEST))
    lowest = st.toggle(
        "Lowest first", key=LOWEST_KEY, help="Rank 1 = the lowest value (entropy: most focused)",
        on_change=lambda: st.session_state.update({ATLAS_LOWEST: st.session_state[LOWEST_KEY]}),  # into the link
    )  # fmt: skip
    ranked = ranked_heads(data.values[si], data.n_queries[si], top=20, lowest_first=lowest)
    st.session_state[RANKED] = [(r.layer, r.head) for r in ranked]
    st.container(key="atlas_ranking").dataframe(  # keyed for the browser test (a table has no key of its own)
        [{"rank": r.rank, "layer": r.layer, "head": r.head, "value": r.value, "queries": r.n_queries} for r in ranked],
        hide_index=True, key=TABLE_KEY, on_select=lambda: _open_from_table(data, stat), selection_mode="single-row",
        column_config=RANKING_COLUMNS,
    )  # fmt: skip
    name = f"atlas_{ctx.model_name}" + (f"_corpus_{chosen.tag}" if chosen.tag else "")
    d1, d2 = st.columns(2)
    d1.download_button(
        "Atlas as CSV", partial(atlas.atlas_csv, chosen.path), file_name=f"{name}.csv", mime="text/csv",
        icon=":material/table:", on_click="ignore",
    )  # fmt: skip
    d2.download_button(
        "Atlas as Parquet", chosen.path.read_bytes, file_name=f"{name}.parquet",
        mime="application/octet-stream", icon=":material/download:", on_click="ignore",
        help="Every statistic of every head, with the run's settings in the file's metadata (docs/atlas.md).",
    )  # fmt: skip

st.markdown("**Two statistics, every head** (click a head to open it on the patterns page)")
for axis_key, first in ((X_KEY, "previous_token"), (Y_KEY, "induction")):  # first visit, or dropped by a switch
    if st.session_state.get(axis_key) not in data.statistics:
        st.session_state[axis_key] = first if first in data.statistics else data.statistics[0]
c1, c2 = st.columns(2)
x_stat = c1.selectbox("Across", data.statistics, format_func=STATISTIC_LABELS.get, key=X_KEY)
y_stat = c2.selectbox("Up", data.statistics, format_func=STATISTIC_LABELS.get, key=Y_KEY)
show_clickable_chart(
    head_scatter(head_points(data.values, data.statistics, x_stat, y_stat), STATISTIC_LABELS[x_stat],
                 STATISTIC_LABELS[y_stat], (ctx.layer, ctx.head)),
    SCATTER_KEY, lambda: _open_from_scatter(data, x_stat),
)  # fmt: skip
st.subheader(f"Layer {ctx.layer}, head {ctx.head} (the sidebar's head)")
standings = head_profile(data.values, data.statistics, ctx.layer, ctx.head)
st.caption("Red: this head; grey: every head of the model. Hover for the value and its rank.")
show_chart(profile_figure(standings, STATISTIC_LABELS), "atlas_profile")
end = "lowest" if lowest and data.has_lowest else "highest"  # the table's order, where the atlas has both ends
st.markdown(
    f"**Examples for {STATISTIC_LABELS[stat]}**: the head's {end}-value queries over the corpus, as the table ranks "
    "(the query is outlined, the key the value is about dotted; shading = the query's weight on each key)"
)
if lowest and not data.has_lowest:
    st.caption("This atlas kept only each head's highest-value examples (it was computed before the lowest were "
               "kept): compute it again for the lowest.")  # fmt: skip
for i, example in enumerate(data.head_examples(stat, ctx.layer, ctx.head, lowest=end == "lowest")):
    row = example_row(example, atlas.example_document(ctx.model, example, int(data.settings["max_tokens"])))
    st.caption(row.caption)
    show_chart(example_figure(row), f"atlas_example_{i}")
if ctx.trace is not None and not is_long(ctx.trace.n_tokens):
    st.markdown("**On your text** (the sidebar's text; the same head's pattern in this forward pass)")
    trace, orient = ctx.trace, st.session_state.get("orient", "rows")
    view = derived(
        ctx.trace_key, "head_view", ctx.layer, ctx.head, compute=lambda: head_view(trace, ctx.layer, ctx.head)
    )
    tokens = tokens_of(trace)
    label = score_terms(trace).name  # what this model's score is (T5: q·k + position bias)
    figure = head_heatmap(view.pattern, view.scores, view.mask, tokens.plotly, orient, score_label=label)
    show_chart(figure, "atlas_on_text")
elif ctx.trace is not None:
    page_link(page_named("patterns"), "This head on your (long) text: the patterns page", icon="🔎")
