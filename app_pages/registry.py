"""The one page registry: every page's URL name, title, icon and script, in navigation order.

The frame builds st.navigation from it, and a shared link's `page=` is checked against its names.
Adding a page is one line here plus its script in app_pages/. (The scripts are in app_pages/, not
pages/: Streamlit treats a top-level pages/ folder next to app.py as an old-style multipage folder and
would run its scripts without the frame.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class PageSpec:
    name: str  # the URL path and the `page=` value of a shared link
    title: str
    icon: str
    script: str  # the file in app_pages/
    section: str  # the sidebar group it is listed under

    @property
    def path(self) -> str:
        """The script's path relative to the repository root (what st.Page and AppTest.switch_page take)."""
        return f"app_pages/{self.script}"


PAGES: tuple[PageSpec, ...] = (
    PageSpec("start", "Start here", ":material/school:", "start_here.py", "Learn"),
    PageSpec("guide", "How to read this", ":material/menu_book:", "guide.py", "Learn"),
    PageSpec("patterns", "Attention patterns", ":material/grid_on:", "patterns.py", "One text"),
    PageSpec("text_view", "Text view", ":material/format_color_text:", "text_view.py", "One text"),
    PageSpec("masking", "Scores & masking", ":material/block:", "masking.py", "One text"),
    PageSpec("inside_head", "Inside one head", ":material/account_tree:", "inside_head.py", "One text"),
    PageSpec("embedding_shifts", "Embedding shifts", ":material/open_with:", "embedding_shifts.py", "One text"),
    PageSpec("head_finder", "Head finder", ":material/search:", "head_finder.py", "One text"),
    PageSpec("cross_attention", "Cross-attention", ":material/translate:", "cross_attention.py", "One text"),
    PageSpec("parameters", "Parameters & context", ":material/calculate:", "parameters.py", "One text"),
    PageSpec("experiments", "Experiments", ":material/science:", "experiments.py", "Change the model"),
    PageSpec("logit_lens", "Logit lens", ":material/stacked_line_chart:", "logit_lens.py", "Layer by layer"),
    PageSpec("contributions", "Contribution graph", ":material/hub:", "contribution_graph.py", "Layer by layer"),
    PageSpec("generate", "Generate", ":material/edit_note:", "generate.py", "Layer by layer"),
    PageSpec("atlas", "Head atlas", ":material/travel_explore:", "atlas.py", "Across a corpus"),
)
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(page.section for page in PAGES))  # in navigation order
DEFAULT_PAGE = PAGES[0].name  # "start": the app opens on the chapter's walk-through
PAGE_NAMES: tuple[str, ...] = tuple(page.name for page in PAGES)


def page_named(name: str) -> PageSpec:
    """The page registered under `name` (KeyError otherwise)."""
    for page in PAGES:
        if page.name == name:
            return page
    raise KeyError(name)
