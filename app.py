"""The frame: page navigation, the shared sidebar, the model, the shell's trace and the URL. Pages render
from the one page context it leaves in st.session_state (ui.context).

Run with `streamlit run app.py` (or `make run`).
"""

from __future__ import annotations

from pathlib import Path

# Streamlit imports pandas the first time a page shows a table: 0.6 s on an idle machine, 1.3 s while the browser
# draws (py-spy), paid by whichever page a reader opens first. Imported with the frame, it comes with the first
# run, which loads the model anyway.
import pandas  # noqa: F401
import streamlit as st

from app_pages.registry import DEFAULT_PAGE, PAGE_NAMES, PAGES, SECTIONS
from ui import shell, sidebar
from ui.context import build_page_context
from ui.plotly_clicks import make_clicks_land
from ui.progress import load_with_progress

FAVICON = Path(__file__).resolve().parent / "assets" / "favicon.png"
# The favicon is a file of ours: a Material icon or an emoji would be fetched from the network (fails offline).
st.set_page_config(page_title="Attention, visualised", page_icon=str(FAVICON), layout="wide")
# Progress bars jump instead of gliding: the glide is a CSS transition the browser repaints every frame,
# and when browser and engine share a small machine (make run on a laptop) those frames come out of the
# forward pass. (Only a style rule: st.html with nothing but <style> takes no room on the page.)
st.html("<style>[data-testid='stProgress'] * { transition: none !important; }</style>")
# Layout on smaller screens (issue 19, defect 12). At 1024 px the sidebar leaves ~620 px, so charts that sit side by
# side stack: the patterns page's heatmap was 320 px wide beside the layer's heads, and the half-width charts of the
# other pages piled their token labels on one another and lost their titles at both edges
# (tests/browser/test_chart_text_fits_browser.py). The three-panel mask comparison (the masking page, Start here's
# step 7), in a container keyed wide_chart…, keeps the width its labels need and scrolls sideways, under a hint to
# scroll (keyed scroll_hint…, hidden from 1201 px on: ui.widgets.wide_chart). Button columns
# take the width their labels need instead of cutting them ("Pattern as …"); and on a phone headings drop their
# link-to-heading icon (shown on hover, which a phone has not), which wrapped to an empty second line, and a
# phone_hint… caption shows (the layer × head overview scrolls sideways there: ui.widgets.phone_overview_style). A
# touch screen has no hover, so Plotly and Streamlit show every chart's and table's toolbar all the time; there each
# gets a band of its own above its chart or table (a margin: Streamlit fixes the element's height, so a padding
# took the band out of the chart), where they had covered a phone's narrow charts' titles and the element above.
st.html(
    """<style>
@media (max-width: 1200px) {
  [data-testid='stHorizontalBlock']:has([data-testid='stPlotlyChart']) { flex-wrap: wrap; }
  [data-testid='stHorizontalBlock']:has([data-testid='stPlotlyChart']) > [data-testid='stColumn'] {
    flex: 1 1 100%; min-width: 100%; }
  [class*='st-key-wide_chart'] { overflow-x: auto; }
  [class*='st-key-wide_chart'] > [data-testid='stElementContainer']:has([data-testid='stPlotlyChart']) {
    min-width: 760px; }
}
@media (min-width: 1201px) { [class*='st-key-scroll_hint'] { display: none; } }
@media (min-width: 641px) { [class*='st-key-phone_hint'] { display: none; } }
[data-testid='stHorizontalBlock']:has(.stDownloadButton, .stButton) { flex-wrap: wrap; }
[data-testid='stColumn']:has(.stDownloadButton, .stButton) { min-width: fit-content; }
@media (max-width: 640px) {
  [data-testid='stMain'] [data-testid='stHeaderActionElements'] { display: none; }
}
@media (hover: none) {
  [data-testid='stElementContainer']:has(> [data-testid='stFullScreenFrame'] > [data-testid='stPlotlyChart']) {
    margin-top: 26px; overflow: visible; }
  [data-testid='stPlotlyChart'] .js-plotly-plot { overflow: visible !important; }
  .js-plotly-plot .plotly .modebar-container { top: -26px !important; }
  [data-testid='stElementContainer']:has(> [data-testid='stFullScreenFrame'] > [data-testid='stDataFrame']) {
    margin-top: 30px; }
}
</style>"""
)
make_clicks_land()  # a quick click on a chart selects the point clicked, not the one passed on the way

# The default page is served at "/" but still reserves its url_path, and Streamlit answers that path with "Page not
# found"; so it reserves "home", and a hidden page at /start (every other page's name is its path) hands over to it.
HOME = "home"
st_pages = {
    p.name: st.Page(p.path, title=p.title, icon=p.icon, url_path=HOME if p.name == DEFAULT_PAGE else p.name,
                    default=p.name == DEFAULT_PAGE)
    for p in PAGES
}  # fmt: skip
# Grouped and always expanded: with 14 pages Streamlit would otherwise hide the last ones behind "View more".
sections = {section: [st_pages[p.name] for p in PAGES if p.section == section] for section in SECTIONS}
home_alias = st.Page(
    lambda: None, title=st_pages[DEFAULT_PAGE].title, url_path=DEFAULT_PAGE, visibility="hidden"
)  # never runs: the frame hands /start over below, before any model or trace work
sections[SECTIONS[0]].append(home_alias)
current = st.navigation(sections, expanded=True)
page_name = next((name for name, page in st_pages.items() if page.url_path == current.url_path), DEFAULT_PAGE)
ss = st.session_state

linked_page = shell.restore_from_url(PAGE_NAMES, current_page=page_name)
if linked_page is not None:
    st.switch_page(st_pages[linked_page])
if current.url_path == home_alias.url_path:  # /start, once the link's state is in the session
    st.switch_page(st_pages[DEFAULT_PAGE])
shell.keep_shell_state(page_name)

with st.sidebar:
    slots = sidebar.draw_inputs()  # places under the text box, filled once the model is loaded and has run
model = load_with_progress(ss.model, ss.device, ss.dtype)
ss[shell.LAST_GOOD_MODEL] = ss.model
for note in model.notes:  # e.g. a damaged weight cache that was detected and rebuilt on this load
    st.sidebar.warning(note)
with st.sidebar:
    sidebar.draw_second_text(slots.second_text, model)
    sidebar.draw_view_controls(model)
shell.save_shell_state()  # now with the masking, layer and head this run settled
shell.show_notices()

context = build_page_context(model)  # runs the shell's trace of the sidebar's text, with progress
sidebar.note_unknown_pieces(slots.notes, context.trace)
sidebar.note_second_text(slots.second_text, context.trace)
shell.mirror_to_url(page_name)
current.run()
