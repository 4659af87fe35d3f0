"""The Logit lens page's section on what a protein model expects at each residue (its masked-language-model head's
log p of every amino acid there), with the residues whose own amino acid it finds least likely; nothing for a model
that reads no proteins or has no such head."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from functools import partial
from typing import Any

import streamlit as st

from services.lens import AMINO_ACIDS, residue_logprobs
from ui.widgets import show_token_heatmap
from viz.figures.residues import residue_heatmap
from viz.views.export import residues_csv
from viz.views.residues import residue_sentence, residue_view, surprising_rows


def residues_section(key: Hashable, trace: Any, tokens: Sequence[str], model_title: str, model_name: str) -> None:
    """Draw the section where the model is a protein model with its head and the text has residues."""
    found = residue_logprobs(key, trace)  # None at once for any other model
    if found is None:
        return
    logp, positions = found
    view = residue_view(logp, AMINO_ACIDS, tokens, positions)
    st.subheader("What the model expects at each residue")
    st.caption(residue_sentence(view, model_title) + " Hover a cell for its probability; put `<mask>` in place of a "
               "residue to see what the model fills in there without seeing it.")  # fmt: skip
    show_token_heatmap(residue_heatmap(view), "residue_map")
    if view.surprising:
        st.dataframe(surprising_rows(view), hide_index=True, column_config={
            "p(own)": st.column_config.NumberColumn(format="%.3g"),  # 6.1e-05: unlikely, not impossible
            "p(expected)": st.column_config.NumberColumn(format="%.3g")})  # fmt: skip
    st.download_button(
        "Every residue's 20 log-probabilities as CSV", partial(residues_csv, view),
        file_name=f"residues_{model_name}.csv", mime="text/csv", icon=":material/table:", on_click="ignore",
    )  # fmt: skip
