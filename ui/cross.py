"""The cross-attention view of two texts for the page context's model, for the pages that draw one (Cross-attention,
Start here's last step): an encoder-decoder's own cross-attention, else one decoder prompt's target × source block."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from services.models import InputError
from services.traces import WRITTEN_TARGET_TOKENS, Languages, get_pair, short_trace, written_target
from ui.context import PageContext
from viz.views.cross import EncoderDecoderCross, PromptCross, build_prompt


def cross_view(ctx: PageContext, source: str, target: str) -> EncoderDecoderCross | PromptCross:
    """`source` and `target` through the model: its encoder and decoder (an encoder-decoder), or one prompt holding
    both ("English: … French: …", viz.views.cross.build_prompt) under the sidebar's masking. Raises the engine's
    InputError when a text cannot be traced."""
    if ctx.config.is_encoder_decoder:
        return EncoderDecoderCross(get_pair(ctx.model, source, target, chosen_languages(ctx)))
    prompt, source_span, target_span = build_prompt(source, target)
    return PromptCross(short_trace(ctx.model, prompt, ctx.causal), source_span, target_span)


WRITTEN_KEY = "mech_cross_written"  # the target the model last wrote on the cross-attention page (WrittenTarget)
SOURCE_KEY, TARGET_KEY = "mech_cross_source", "mech_cross_target"
SOURCE_LANGUAGE_KEY, TARGET_LANGUAGE_KEY = "mech_cross_source_language", "mech_cross_target_language"
# French in NLLB-200's, mBART-50's and M2M100's language tokens: the pages' default target text is French
FRENCH = ("fra_Latn", "fr_XX", "__fr__")


def chosen_languages(ctx: PageContext) -> Languages:
    """A translation model's (NLLB-200, mBART-50) source and target language tokens: the pickers' choice, else the
    one its tokenizer marks texts with for the source, and French (else that one) for the target; (None, None) for
    models without languages."""
    languages, default = ctx.model.languages, ctx.model.default_language
    if not languages:
        return None, None
    source, target = st.session_state.get(SOURCE_LANGUAGE_KEY), st.session_state.get(TARGET_LANGUAGE_KEY)
    french = next((code for code in FRENCH if code in languages), default)
    return source if source in languages else default, target if target in languages else french


def language_pickers(ctx: PageContext, source_column: DeltaGenerator, target_column: DeltaGenerator) -> None:
    """A translation model's pickers of the source's language and of the language its decoder is told to write."""
    languages = ctx.model.languages
    if not languages:
        return
    source, target = chosen_languages(ctx)
    source_column.selectbox(
        "Source language", languages, index=languages.index(source), key=SOURCE_LANGUAGE_KEY,
        help=f"{ctx.model_label} reads the source's language from this token, put first in the source.",
    )  # fmt: skip
    target_column.selectbox(
        "Target language", languages, index=languages.index(target), key=TARGET_LANGUAGE_KEY,
        help="The decoder's first token after its start token: the language it is told to write (as "
        "transformers' forced_bos_token_id).",
    )  # fmt: skip


@dataclass(frozen=True)
class WrittenTarget:
    """What the model wrote for a source, kept so the page can say the target box holds it."""

    source: str
    text: str
    token_ids: tuple[int, ...]
    finished: bool
    error: str = ""  # why the model could not write one (the engine's message)
    languages: Languages = (None, None)  # the source's and target's language tokens it was written with


def write_target_button(ctx: PageContext, column: DeltaGenerator) -> None:
    """An encoder-decoder's button that fills the target box with the target the model writes itself for the
    source box's text (services.traces.written_target); its callback runs before the boxes are drawn again."""

    def write() -> None:
        source, languages = str(st.session_state.get(SOURCE_KEY, "")), chosen_languages(ctx)
        try:
            written = written_target(ctx.model, source, languages)
        except InputError as exc:  # said under the boxes
            st.session_state[WRITTEN_KEY] = WrittenTarget(source, "", (), False, str(exc), languages)
            return
        st.session_state[TARGET_KEY] = written.text
        st.session_state[WRITTEN_KEY] = WrittenTarget(
            source, written.text, written.token_ids, written.finished, languages=languages
        )

    column.button(
        "Let the model write the target", key="mech_cross_write", on_click=write, icon=":material/edit_note:",
        help=f"{ctx.model_label} writes its own target for the source text: at each step its most likely next "
        f"token (greedy), until its end-of-sequence token or {WRITTEN_TARGET_TOKENS} tokens.",
    )  # fmt: skip


def written_note(pair_decoder_ids: list[int], source: str, target: str, languages: Languages) -> str | None:
    """What the page says when the target box holds what the model wrote for this source, in these languages (None
    otherwise)."""
    written = st.session_state.get(WRITTEN_KEY)
    if not isinstance(written, WrittenTarget) or written.source != source or written.languages != languages:
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
