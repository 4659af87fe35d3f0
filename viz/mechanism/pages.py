"""The mechanism pages, for app.py's st.navigation (one list, so registering them is a one-line edit)."""

from __future__ import annotations

import streamlit as st

# Page scripts live in pages/mechanism/, not pages/: Streamlit treats top-level pages/*.py as an old-style
# (v1) multipage folder and would run them without app.py (see pages/__init__.py).
MECHANISM_PAGES: dict[str, tuple[str, str, str]] = {
    "inside_head": ("Inside one head", ":material/account_tree:", "pages/mechanism/inside_head.py"),
    "embedding_shifts": ("Embedding shifts", ":material/open_with:", "pages/mechanism/embedding_shifts.py"),
    "head_finder": ("Head finder", ":material/search:", "pages/mechanism/head_finder.py"),
    "cross_attention": ("Cross-attention", ":material/translate:", "pages/mechanism/cross_attention.py"),
    "parameters": ("Parameters & context", ":material/calculate:", "pages/mechanism/parameters.py"),
}


def mechanism_pages() -> list[st.Page]:
    return [
        st.Page(path, title=title, icon=icon, url_path=name) for name, (title, icon, path) in MECHANISM_PAGES.items()
    ]
