"""The Logit lens page's section on a sequence classifier's verdict, layer by layer (its head read from the first
token's embedding after every block); nothing for a model without a classification head."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import streamlit as st

from services.lens import class_verdict
from viz.figures.classes import class_track_figure
from viz.views.classes import class_sentence, class_view


def classifier_section(key: Hashable, trace: Any, model_title: str) -> bool:
    """Draw the section where the model has a classification head; says whether it did."""
    found = class_verdict(key, trace)  # None at once for any other model
    if found is None:
        return False
    view = class_view(*found)
    st.subheader("The classifier's verdict, layer by layer")
    st.caption(class_sentence(view, model_title, pair=trace.segments is not None))
    st.plotly_chart(class_track_figure(view), key="class_track", theme=None)
    st.dataframe([{"label": label, "score": float(view.scores[-1, i])} for i, label in enumerate(view.labels)],
                 hide_index=True, column_config={"score": st.column_config.NumberColumn(format="%.4f")})  # fmt: skip
    return True
