"""The shared sidebar: model, device, text and examples (drawn before the model loads), then masking,
token cap, layer, head and orientation (drawn once the model's sizes are known)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import streamlit as st

from services import models, traces
from ui import shell
from ui.context import prose_title
from viz.figures.layout import ORIENTATIONS
from viz.labels import markdown_literal
from viz.views.common import hide_a_word, unknown_sentence
from viz.views.patterns import second_text_at

EXAMPLES_FILE = Path(__file__).resolve().parent.parent / "assets" / "examples.json"
ORIENT_LABELS = {"rows": "Rows are queries (BertViz, PyTorch)", "cols": "Columns are queries (3Blue1Brown)"}

# The mole examples open the mole comparison of the Embedding shifts page, with the chapter's three sentences.
MOLE_WORD = "mole"
MOLE_PAGE = "app_pages/embedding_shifts.py"  # its registry path (ui may not import app_pages)
MOLE_WORD_KEY, MOLE_SENTENCES_KEY = "mech_word", "mech_sentences"  # that page's word and sentences boxes
OPEN_MOLES = "_open_moles"  # a mole example was clicked: switch pages on this run
MOLE_HINT = "_moles_hint"  # the line the Embedding shifts page shows on how to read the comparison
MOLE_HINT_TEXT = (
    "The chapter's three *mole* sentences are loaded into **One word, many meanings** below: each line there is "
    "one pair of sentences, the cosine similarity of *mole*'s embedding in the two, layer by layer (1 = the same "
    "vector); where a line falls, attention has pulled the two meanings apart."
)


@dataclass(frozen=True)
class Example:
    label: str
    text: str


def load_examples(path: Path = EXAMPLES_FILE) -> list[Example]:
    """The one-click example texts (3Blue1Brown's chapter 6 sentences)."""
    return [Example(e["label"], e["text"]) for e in json.loads(path.read_text(encoding="utf-8"))]


def is_mole_example(example: Example) -> bool:
    return example.label.startswith(MOLE_WORD)


def mole_sentences() -> list[str]:
    """The chapter's three mole sentences, from the examples file."""
    return [e.text for e in load_examples() if is_mole_example(e)]


def _set_text(text: str) -> None:
    st.session_state.text = text
    st.session_state.second_text = ""  # an example is one sentence: not read as a pair with an earlier second text
    st.session_state.pop(MOLE_HINT, None)


def open_moles(text: str | None = None) -> None:
    """Button callback (a mole example, or the Start here page's mole step): load the three mole sentences into
    the Embedding shifts page's comparison and go there (the switch happens in `draw_inputs`: a callback can't)."""
    ss = st.session_state
    if text is not None:
        ss.text = text
    ss[MOLE_WORD_KEY] = MOLE_WORD
    ss[MOLE_SENTENCES_KEY] = "\n".join(mole_sentences())
    ss[MOLE_HINT] = MOLE_HINT_TEXT
    ss[OPEN_MOLES] = True


def _request_model() -> None:
    """The *Load* button: check the typed hub id / folder against the deployment's rules, then select it."""
    ss = st.session_state
    name = str(ss.get(shell.MODEL_REQUEST, "")).strip()
    problem = models.request_problem(name)
    ss[shell.MODEL_ERROR] = problem
    if problem is None:
        ss[shell.CUSTOM_MODELS] = [*(m for m in ss.get(shell.CUSTOM_MODELS, []) if m != name), name]
        ss.model = name  # a callback runs before the script: the selectbox is not drawn yet


class InputSlots(NamedTuple):
    """Places under the text box that draw_inputs keeps for what needs the loaded model or its trace."""

    second_text: Any  # the second text's box, drawn by draw_second_text for a model that reads a text pair
    notes: Any  # what the model made of the text (note_unknown_pieces fills it once the trace has run)


def draw_inputs() -> InputSlots:
    """Model (built-in and requested), device, text and the chapter's examples; returns the places under the text
    box that are filled once the model is loaded (InputSlots)."""
    ss = st.session_state
    custom = [m for m in ss.get(shell.CUSTOM_MODELS, []) if not models.is_embedded(m)]
    if not models.is_embedded(ss.model) and ss.model not in custom:  # e.g. restored after a page switch
        custom.append(ss.model)
    st.selectbox(
        "Model",
        [*models.MODEL_NAMES, *custom],
        format_func=models.name_title,  # the name alone fits the box; its kind and shape are in the help
        help="  \n".join(models.MODEL_NAMES.values()),  # one built-in model a line, with its kind and shape
        key="model",
        on_change=lambda: ss.pop(shell.MODEL_ERROR, None),  # a new choice: the last refusal is old news
    )
    with st.expander("Another model", expanded=bool(ss.get(shell.MODEL_ERROR) or ss.get(shell.MODEL_REQUEST))):
        st.text_input(
            "Hub id, local folder, .gguf file or ollama:NAME",
            key=shell.MODEL_REQUEST,
            placeholder="openai-community/gpt2",
            help=models.formats_help(),
        )
        st.button("Load", key="model_load", on_click=_request_model, icon=":material/download:")
        with st.popover("Supported architectures", icon=":material/list:", type="tertiary"):  # too many for a tooltip
            st.markdown(models.formats_list())
        linked = shell.pending_linked_model()
        if linked is not None:
            st.caption(
                f"The link asks for {markdown_literal(linked)}: press Load to fetch it (nothing is downloaded "
                f"until you do). Meanwhile {models.name_title(ss.model)} is shown."
            )
        if ss.get(shell.MODEL_ERROR):
            # The reason quotes what the user typed: a code block shows it as text (in st.error it was Markdown:
            # bold, links, maths), the heading above it is ours.
            st.error("This model cannot be loaded here:", icon=":material/error:")
            reason = ss[shell.MODEL_ERROR]
            st.code(reason if len(reason) <= 600 else reason[:599] + "…", language=None, wrap_lines=True)
    devices = models.available_devices()
    if ss.get("device") not in devices:
        ss.device = devices[0]
    st.selectbox("Device", devices, format_func=lambda d: models.DEVICE_LABELS.get(d, d), key="device")
    _weights_choice()
    st.text_area("Text", key="text", height=90, help="Press Ctrl+Enter (or click outside) to run the model.")
    slots = InputSlots(second_text=st.container(), notes=st.empty())
    st.caption("Examples from 3Blue1Brown's chapter")
    for i, example in enumerate(load_examples()):
        st.button(
            example.text,
            key=f"example_{i}",
            on_click=open_moles if is_mole_example(example) else _set_text,
            args=(example.text,),
            width="stretch",
            help="Opens the mole comparison on the Embedding shifts page" if is_mole_example(example) else None,
        )
    if ss.pop(OPEN_MOLES, False):
        st.switch_page(MOLE_PAGE)
    return slots


def draw_second_text(box: Any, model: models.Model) -> None:
    """The second text's box (InputSlots.second_text), for an encoder whose tokenizer reads a text pair: a
    cross-encoder's passage, an NLI hypothesis, BERT's second sentence. Other models read one text; what was
    typed is kept for when the reader comes back to such a model."""
    ss = st.session_state
    ss[shell.SECOND_TEXT_ON] = models.reads_two_texts(model)
    if ss[shell.SECOND_TEXT_ON]:
        box.text_area(
            "Second text (optional)", key="second_text", height=68, placeholder="Leave empty to read one text",
            help="Read with the text above as a pair, as a cross-encoder or an NLI model reads a query and a passage: "
            "the tokenizer puts it after the first text and a separator, and its tokens get the second segment "
            "embedding.",
        )  # fmt: skip


def note_second_text(box: Any, trace: Any) -> None:
    """Under the second text's box, once the trace has run: where the second text's tokens start."""
    if trace is None or trace.segments is None:
        return
    first = second_text_at(trace)
    if first is None:
        box.caption("Read as a pair, but the token cap left no token of the second text.")
    else:
        box.caption(
            f"Read as a pair: the first text is at positions 0–{first - 1} (with the special tokens around it), the "
            f"second from position {first} on (a dashed orange line on the query × key matrices)."
        )


def note_unknown_pieces(slot: Any, trace: Any) -> None:
    """Under the text box (draw_inputs' slot): the pieces of the text the model's vocabulary lacks, which it reads
    as one unknown token each (MiniLM's [UNK] for an emoji), so a learner knows what the model did not see."""
    said = None if trace is None else unknown_sentence(*traces.unknown_pieces(trace))
    if said is not None:
        slot.warning(said, icon=":material/help:")


def _weights_choice() -> None:
    """Weights: float32 / bfloat16 / float16, offered only on a device where the app runs half precision (CUDA);
    elsewhere float32, and a link asking for half precision says why it did not get it."""
    ss = st.session_state
    choices = models.dtype_choices(ss.device)
    wanted = ss.pop(shell.URL_DTYPE, None)
    if wanted is not None:
        problem = models.dtype_problem(wanted, ss.device)
        if problem is None:
            ss.dtype = wanted
        else:
            ss[shell.NOTICES] = [*ss.get(shell.NOTICES, []), f"The link asks for {wanted} weights, but {problem}"]
    if ss.get("dtype") not in choices:  # first run, or a device that runs float32 only
        ss.dtype = choices[0]
    if len(choices) > 1:
        st.radio(
            "Weights",
            choices,
            key="dtype",
            horizontal=True,
            help="bfloat16 and float16 halve the weights' memory, so a 7–8B model fits one GPU; the forward pass "
            "then runs in that dtype, while scores and the softmax (and so every pattern shown) stay float32.",
        )


def _masking_toggle(model: models.Model) -> None:
    """The masking default follows the model (decoder: on, encoder: off) unless the URL said otherwise;
    switching model re-applies the new model's default."""
    ss, cfg = st.session_state, model.config
    if ss.get(shell.CAUSAL_FOR) != ss.model:
        url_causal = ss.pop(shell.URL_CAUSAL, None)
        ss.causal = cfg.causal if url_causal is None else url_causal
        ss[shell.CAUSAL_FOR] = ss.model
    st.toggle(
        "Causal mask in every layer",
        key="causal",
        help="On: each token attends only to itself and earlier tokens (scores of later keys set to −∞ before the "
        f"softmax). {prose_title(model)}'s own masking is {'on' if cfg.causal else 'off'}.",
    )


def _token_cap(model: models.Model) -> None:
    """Up to the model's limit (4096 for SmolLM2), lowered by $ATTN_MAX_TOKENS on a server."""
    ss = st.session_state
    cap_limit = models.token_cap_limit(model.max_tokens)
    if ss.get(shell.CAP_LIMIT) != cap_limit:  # first run, or a model with another limit: its full limit
        ss.max_tokens = cap_limit
        ss[shell.CAP_LIMIT] = cap_limit
    st.number_input(
        "Token cap",
        min_value=1,
        max_value=cap_limit,
        step=256,
        key="max_tokens",
        help=f"Longer texts are cut to this many tokens (a notice says where). This app traces up to {cap_limit} "
        f"tokens of {prose_title(model)}"
        + (
            f" (its context is {model.config.n_ctx:,}: longer passes take too much time and memory for this app)"
            if model.config.n_ctx > cap_limit
            else ""
        )
        + ". Long texts are drawn downsampled, with an exact window to zoom into.",
    )


def _hybrid_help(cfg) -> str:
    """The layer picker's help on a hybrid: which layers it offers, and what the others do instead."""
    return (f"Only the layers with attention heads: {len(cfg.attention_layers)} of {cfg.n_layers}. The others run "
            f"{cfg.other_mixers_words()} instead, without heads (their residuals are on the Logit lens and "
            "Contribution graph pages).")  # fmt: skip


# A protein model's one-click text (its sidebar note says what it reads): human ubiquitin, 76 residues (UniProt P0CG48)
UBIQUITIN = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"


def draw_view_controls(model: models.Model) -> None:
    """A protein model's example, then masking, token cap, layer, head and orientation for the loaded model, and a
    line describing it."""
    cfg = model.config
    if models.reads_proteins(model):  # the chapter's sentences are all <unk> to it
        st.button("A protein: human ubiquitin (76 residues)", key="example_protein", on_click=_set_text,
                  args=(UBIQUITIN,), width="stretch")  # fmt: skip
    mask = models.mask_token(model)  # a masked-language model: one click asks it to fill in a word
    hidden = None if mask is None else hide_a_word(str(st.session_state.get("text", "")), mask,
                                                   models.reads_proteins(model))  # fmt: skip
    if hidden is not None:
        what = "the middle residue" if models.reads_proteins(model) else "the last word"
        st.button(f"Hide {what} behind `{mask}`", key="example_mask", on_click=_set_text, args=(hidden,),
                  width="stretch", help="The model guesses what the mask hides (Logit lens, Experiments).")  # fmt: skip
    st.divider()
    _masking_toggle(model)
    shell.settle_layer_head(cfg.n_layers, cfg.n_heads, model.name, cfg.attention_layers)
    _token_cap(model)
    if len(cfg.attention_layers) < cfg.n_layers:  # a hybrid: only the layers with heads can be picked
        st.select_slider("Layer", cfg.attention_layers, key="layer", help=_hybrid_help(cfg))
    else:
        st.slider("Layer", 0, cfg.n_layers - 1, key="layer")
    st.slider("Head", 0, cfg.n_heads - 1, key="head")
    if st.session_state.get("orient") not in ORIENTATIONS:
        st.session_state.orient = "rows"
    st.radio("Orientation", ORIENTATIONS, format_func=ORIENT_LABELS.get, key="orient")
    st.caption(
        f"{models.describe(model)}; "  # an encoder-decoder's description already counts both stacks' layers
        + (f"{cfg.n_heads} heads a layer" if cfg.is_encoder_decoder else f"{cfg.n_layers} layers × {cfg.n_heads} heads")
        + f", d_head = {cfg.d_head}, "
        f"running on {models.DEVICE_LABELS.get(model.device.type, str(model.device))}."
    )
    features = cfg.features()  # what its layers add to plain causal softmax attention and an MLP (config.py)
    if features:
        st.caption("Its layers use: " + "; ".join(features) + ".")
