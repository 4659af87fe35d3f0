"""Shell state: every session key the frame uses, restoring the view from a shared link, keeping the
sidebar's widget state across page switches, and mirroring the shareable state into the URL.

Every key the frame keeps in st.session_state is named here (pages keep their own widget keys, each
prefixed by its page). Shareable state (model, text, layer, head, masking, orientation, page) also lives
in st.query_params, so a link restores the view.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import streamlit as st

from services import models
from ui.url import (
    ATLAS_PAGE,
    MAX_TEXT_CHARS,
    OMITTED_SECOND,
    START_PAGE,
    TEXT_OMITTED,
    TOKEN_PICKERS,
    clamp_layer_head,
    parse_params,
    to_params,
)
from viz.labels import markdown_code

# The sidebar widgets whose values make the shell state, in the order they are drawn.
SHELL_KEYS = ("model", "device", "dtype", "text", "second_text", "causal", "max_tokens", "layer", "head", "orient")
# The frame's own keys (never widgets):
STARTED = "_started"  # the first run of a session has read the URL
SAVED = "_shell_saved"  # a plain copy of the shell widgets' values (see keep_shell_state)
NOTICES = "_notices"  # warnings about the link, shown once on the view it opened
URL_LAYER_HEAD = "_url_layer_head"  # the link's layer and head, range-checked once the model is loaded
URL_CAUSAL = "_url_causal"  # the link's masking, applied once the model is known
URL_DTYPE = "_url_dtype"  # the link's weight dtype, applied once the device is known (ui/sidebar.py)
CAUSAL_FOR = "_causal_for"  # the model whose default masking the toggle holds
LAYER_HEAD_FOR = "_layer_head_for"  # the model whose layer and head ranges the sliders were drawn with
LAYER_HEAD_BY_MODEL = "_layer_head_by_model"  # {model: (layer, head)} where the reader left each model
CAP_LIMIT = "_cap_limit"  # the token cap's upper limit the number input was drawn with
LAST_GOOD_MODEL = "_last_good_model"  # the model that loaded last: where a failed load goes back to
REVERT_MODEL = "_revert_model"  # set when a requested model failed: the selectbox goes back to it
CUSTOM_MODELS = "_custom_models"  # hub ids / folders the user loaded, listed after the built-in models
MODEL_ERROR = "_model_error"  # why the last requested model was refused, shown under "Another model"
MODEL_REQUEST = "model_request"  # the "Another model" text input
LINKED_MODEL = "_linked_model"  # (hub id or folder a link named, the model shown meanwhile) until the user decides
LINKED_NOTICE = "_linked_notice"  # the link's notice offering that model: stale once the user has decided
ATLAS_STAT = "atlas_stat_choice"  # the Head atlas page's statistic (a plain key, like STEP)
ATLAS_CORPUS = "atlas_corpus_choice"  # the tag of the uploaded corpus whose atlas it shows; None: the default one
ATLAS_LOWEST = "atlas_lowest_choice"  # the Head atlas table ranked lowest first (a plain key, like ATLAS_STAT)
ATLAS_CORPUS_LINKED = "_atlas_corpus_linked"  # set when ATLAS_CORPUS came from a link: the page says if it is missing
STEP = "start_step"  # the Start here page's step (a plain key, not a widget's: it outlives page switches)
SHELL_PAGE = "_shell_page"  # the page the last run showed: the first run on another page re-sends the sidebar
SECOND_TEXT_ON = "_second_text_on"  # the model reads a text pair: the second text box is drawn, the URL carries it
CACHE_OWNER = "_cache_owner"  # this session's name for the result cache's pin on its trace (ui/context.py)
URL_PICKS = "_url_picks"  # {token picker key: position} from the link, until each picker has checked it


def picked_position_key(picker: str) -> str:
    """Where token picker `picker` keeps the position it last picked (the value its URL field carries)."""
    return f"_{picker}_at"


def restore_from_url(page_names: Collection[str], current_page: str) -> str | None:
    """On a session's first run, set the shell state from the (validated) URL. Returns the page the link
    names when it is not the one being shown, else None."""
    ss = st.session_state
    if STARTED in ss:
        return None
    ss[STARTED] = True
    url = parse_params(
        st.query_params.to_dict(),
        models.MODEL_NAMES,
        models.DEFAULT_MODEL,
        page_names,
        requestable=lambda name: models.request_problem(name) is None,
        dtypes=models.DTYPES,
        shown_page=current_page,
    )
    ss.model, ss.text, ss.second_text, ss.orient = url.model, url.text, url.second_text, url.orient
    if url.requested_model:
        ss[MODEL_REQUEST] = url.requested_model  # pre-filled under "Another model"; loads on Load
        ss[LINKED_MODEL] = (url.requested_model, url.model)
        ss[LINKED_NOTICE] = url.model_notice
    ss[URL_LAYER_HEAD] = (url.layer, url.head)
    ss[URL_CAUSAL] = url.causal
    if url.dtype is not None:
        ss[URL_DTYPE] = url.dtype
    ss[NOTICES] = list(url.warnings)
    if url.step is not None:
        ss[STEP] = url.step
    if url.stat is not None:
        ss[ATLAS_STAT] = url.stat
    if url.corpus is not None:
        ss[ATLAS_CORPUS], ss[ATLAS_CORPUS_LINKED] = url.corpus, True
    if url.lowest is not None:
        ss[ATLAS_LOWEST] = url.lowest
    ss[URL_PICKS] = dict(url.picks)  # each picker checks its own against the text (ui.widgets.token_picker)
    for picker, position in url.picks.items():
        ss[picked_position_key(picker)] = position  # so the address keeps it until the page has drawn the picker
    return url.page if url.page != current_page else None


def keep_shell_state(page_name: str) -> None:
    """Keep the sidebar's values across page switches.

    A page switch that interrupts a run can leave the browser holding a sidebar widget's *default* (an
    empty text, the mask off) and sending it back on the next rerun, or make Streamlit drop a widget's
    state (streamlit/streamlit#9100). So every run restores a dropped key from a plain copy that Streamlit
    never cleans up, and the first run on another page re-assigns each key, which makes Streamlit send the
    value to the browser.

    Only then: a re-assigned widget value is sent back with "set this value" on, so re-assigning on every
    run echoed each slider value back to the browser while the user was still moving it; an echo that
    arrived after the next key press put the slider back one step and that press was lost (issue 19,
    defect 11: sixteen quick presses of → on Layer ended at 15).
    """
    ss = st.session_state
    if REVERT_MODEL in ss:  # a requested model failed to load: back to the one that worked
        ss.model = ss.pop(REVERT_MODEL)
    saved = ss.get(SAVED, {})
    new_page = ss.get(SHELL_PAGE) != page_name
    ss[SHELL_PAGE] = page_name
    for key in SHELL_KEYS:
        if key not in ss:
            if key in saved:
                ss[key] = saved[key]
        elif new_page:
            ss[key] = ss[key]
    save_shell_state()


def save_shell_state() -> None:
    st.session_state[SAVED] = {key: st.session_state[key] for key in SHELL_KEYS if key in st.session_state}


def settle_layer_head(
    n_layers: int, n_heads: int, model_name: str, attention_layers: Sequence[int] | None = None
) -> None:
    """Layer and head inside the model's range: a link's values with a notice; after a model switch, the layer
    and head last shown on that model, or the old ones brought into range, with a notice when that moved them. A
    hybrid's layer is one of its `attention_layers` (url.clamp_layer_head)."""
    ss = st.session_state
    left = ss.get(LAYER_HEAD_FOR)
    new_ranges = left != model_name
    ss[LAYER_HEAD_FOR] = model_name
    heads_in = attention_layers if attention_layers is not None and len(attention_layers) < n_layers else None
    if URL_LAYER_HEAD in ss:
        layer, head, notices = clamp_layer_head(*ss.pop(URL_LAYER_HEAD), n_layers, n_heads, _shown(model_name),
                                                attention_layers=heads_in)  # fmt: skip
        ss.layer, ss.head = layer, head
        ss[NOTICES] = ss.get(NOTICES, []) + notices
        return
    places = ss.setdefault(LAYER_HEAD_BY_MODEL, {})
    if new_ranges and left is not None:  # a switch: the sliders still hold where the reader left the old model
        places[left] = (int(ss.get("layer", 0)), int(ss.get("head", 0)))
        if model_name in places:  # back to a model seen before: its own layer and head (within its range)
            ss.layer, ss.head = places[model_name]
        else:
            layer, head, moved = clamp_layer_head(
                int(ss.get("layer", 0)), int(ss.get("head", 0)), n_layers, n_heads, _shown(model_name), nearest=True,
                attention_layers=heads_in,
            )  # fmt: skip
            ss.layer, ss.head = layer, head
            ss[NOTICES] = ss.get(NOTICES, []) + moved
    # Assigned when out of range, and once after a model switch even when in range: Streamlit resets a keyed
    # slider whose maximum changed to its minimum unless the value is set again. Not on every run: an
    # assignment echoes the value to the browser's slider, which the user may have moved on since (see
    # keep_shell_state).
    for key, top in (("layer", n_layers - 1), ("head", n_heads - 1)):
        value = min(max(int(ss.get(key, 0)), 0), top)
        if new_ranges or ss.get(key) != value:
            ss[key] = value
    if heads_in and ss.layer not in heads_in:  # a hybrid opened on a layer without heads (the default 0, say)
        ss.layer, _, moved = clamp_layer_head(ss.layer, 0, n_layers, n_heads, _shown(model_name),
                                              attention_layers=heads_in)  # fmt: skip
        ss[NOTICES] = ss.get(NOTICES, []) + moved


def _shown(model_name: str) -> str:
    """The model as the sidebar names it; a typed folder or hub id as a code span (it is user text)."""
    shown = models.name_title(model_name)
    return shown if models.is_embedded(model_name) else markdown_code(shown)


def show_notices() -> None:
    """The link's warnings, once, on the view the link opened; not the one offering a linked model once that is
    decided (a Load click can stop the first run before it shows them)."""
    ss = st.session_state
    stale = ss.pop(LINKED_NOTICE, None) if pending_linked_model() is None else None
    for notice in ss.get(NOTICES, []):
        if notice != stale:
            st.warning(notice, icon=":material/warning:")
    ss[NOTICES] = []


def shareable_params(page_name: str) -> dict[str, str]:
    """The URL fields of this session's view shown on `page_name`: what the address bar holds there, and what a
    link to that page carries (so a copied link opens the same view in a fresh session)."""
    ss = st.session_state
    step = ss.get(STEP) if page_name == START_PAGE else None
    stat = ss.get(ATLAS_STAT) if page_name == ATLAS_PAGE else None
    corpus = ss.get(ATLAS_CORPUS) if page_name == ATLAS_PAGE else None
    lowest = bool(ss.get(ATLAS_LOWEST)) and page_name == ATLAS_PAGE
    dtype = ss.get("dtype", models.DEFAULT_DTYPE)
    pickers = TOKEN_PICKERS.get(page_name, {}).values()
    picks = {key: ss[picked_position_key(key)] for key in pickers if picked_position_key(key) in ss}
    second = ss.get("second_text", "") if ss.get(SECOND_TEXT_ON) else ""  # a decoder reads one text: none to share
    params = to_params(
        ss.model, ss.text, int(ss.layer), int(ss.head), bool(ss.causal), ss.orient, page_name, step, stat, dtype,
        corpus, picks, lowest, second,
    )  # fmt: skip
    linked = pending_linked_model()
    if linked is not None:  # not loaded yet: a copy of the address must ask for it again, not for the stand-in
        params["model"] = linked
    return params


def pending_linked_model() -> str | None:
    """The hub id or folder a link named, while the user has neither loaded it nor chosen another model (the box
    still holds it, the stand-in model is still shown); None otherwise."""
    ss = st.session_state
    linked, stand_in = ss.get(LINKED_MODEL, (None, None))
    if linked is None or ss.get("model") != stand_in or ss.get(MODEL_REQUEST) != linked:
        ss.pop(LINKED_MODEL, None)  # decided: loaded, another model chosen, or the box edited
        return None
    return linked


def mirror_to_url(page_name: str) -> Mapping[str, str]:
    """Write the shareable state into the address bar (strings only); returns what was written."""
    params = shareable_params(page_name)
    if "text" not in params:
        second = params.get(TEXT_OMITTED) == OMITTED_SECOND  # a pair's second text was the one too long
        st.sidebar.caption(
            f"{'The second text' if second else 'This text'} is over {MAX_TEXT_CHARS} characters, too long for the "
            f"page address: a shared link keeps the model, layer, head and masking but not the "
            f"{'texts' if second else 'text'}."
        )
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)
    return params
