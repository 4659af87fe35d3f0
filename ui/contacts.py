"""The patterns page's section on a protein model's contacts predicted from its attention (ESM's contact head): the
map, its words and the likeliest long-range pairs; nothing for a model without a contact head."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import streamlit as st

from services.lens import contacts
from ui.widgets import show_token_heatmap
from viz.figures.contacts import contact_heatmap
from viz.views.contacts import LONG_RANGE, contact_rows, contact_sentence, contact_view


def contacts_section(key: Hashable, trace: Any, tokens: Sequence[str], model_title: str) -> None:
    """Draw the section where the model has a contact head and the text at least two residues."""
    found = contacts(key, trace)  # None at once without either
    if found is None:
        return
    view = contact_view(found, tokens)
    st.subheader("Contacts predicted from attention")
    st.caption(contact_sentence(view, model_title) + " Each pattern comes from the pass drawn above (its masking "
               "included); hover a cell for the pair and its probability; red frames: the likeliest pairs at least "
               f"{LONG_RANGE} residues apart.")  # fmt: skip
    show_token_heatmap(contact_heatmap(view), "contact_map")
    if view.top:
        st.dataframe(contact_rows(view), hide_index=True, column_config={
            "probability": st.column_config.NumberColumn(format="%.3f")})  # fmt: skip
