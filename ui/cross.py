"""The cross-attention view of two texts for the page context's model, for the pages that draw one (Cross-attention,
Start here's last step): an encoder-decoder's own cross-attention, else one decoder prompt's target × source block."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from services.models import InputError
from services.traces import WRITTEN_TARGET_TOKENS, get_pair, short_trace, written_target
from ui.context import PageContext
from viz.views.cross import EncoderDecoderCross, PromptCross, build_prompt


def cross_view(ctx: PageContext, source: str, target: str) -> EncoderDecoderCross | PromptCross:
    """`source` and `target` through the model: its encoder and decoder (an encoder-decoder), or one prompt holding
    both ("English: … French: …", viz.views.cross.build_prompt) under the sidebar's masking. Raises the engine's
    InputError when a text cannot be traced."""
    if ctx.config.is_encoder_decoder:
        return EncoderDecoderCross(get_pair(ctx.model, source, target))
    prompt, source_span, target_span = build_prompt(source, target)
    return PromptCross(short_trace(ctx.model, prompt, ctx.causal), source_span, target_span)


WRITTEN_KEY = "mech_cross_written"  # the target the model last wrote on the cross-attention page (WrittenTarget)
SOURCE_KEY, TARGET_KEY = "mech_cross_source", "mech_cross_target"


@dataclass(frozen=True)
class WrittenTarget:
    """What the model wrote for a source, kept so the page can say the target box holds it."""

    source: str
    text: str
    token_ids: tuple[int, ...]
    finished: bool
    error: str = ""  # why the model could not write one (the engine's message)


def write_target_button(ctx: PageContext, column: DeltaGenerator) -> None:
    """An encoder-decoder's button that fills the target box with the target the model writes itself for the
    source box's text (services.traces.written_target); its callback runs before the boxes are drawn again."""

    def write() -> None:
        source = str(st.session_state.get(SOURCE_KEY, ""))
        try:
            written = written_target(ctx.model, source)
        except InputError as exc:
            st.session_state[WRITTEN_KEY] = WrittenTarget(source, "", (), False, error=str(exc))  # said under the boxes
            return
        st.session_state[TARGET_KEY] = written.text
        st.session_state[WRITTEN_KEY] = WrittenTarget(source, written.text, written.token_ids, written.finished)

    column.button(
        "Let the model write the target", key="mech_cross_write", on_click=write, icon=":material/edit_note:",
        help=f"{ctx.model_label} writes its own target for the source text: at each step its most likely next "
        f"token (greedy), until its end-of-sequence token or {WRITTEN_TARGET_TOKENS} tokens.",
    )  # fmt: skip


def written_note(pair_decoder_ids: list[int], source: str, target: str) -> str | None:
    """What the page says when the target box holds what the model wrote for this source (None otherwise)."""
    written = st.session_state.get(WRITTEN_KEY)
    if not isinstance(written, WrittenTarget) or written.source != source:
        return None
    if written.error or written.text != target:
        return written.error or None
    n = len(written.token_ids)
    ending = (
        "ending with its end-of-sequence token"
        if written.finished
        else f"not ended after {n} tokens, where the page stops it"
    )
    note = f"The target is the model's own: {n} tokens written greedily (the most likely at each step), {ending}."
    if list(pair_decoder_ids[1:]) != list(written.token_ids):
        note += (
            " Read back, the tokenizer splits that text into other tokens than the ones written; the patterns "
            "below are of the text as the tokenizer splits it."
        )
    return note
