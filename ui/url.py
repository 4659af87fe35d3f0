"""Shareable view state ↔ URL query parameters. Pure functions, no Streamlit, so they are testable alone
(ui.shell applies them to the session).

Everything read from a URL is untrusted: unknown values fall back to defaults and produce a
warning sentence the app shows, instead of an exception or a silently different view.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from services.models import DEFAULT_DTYPE  # the weights' dtype a link without `dtype=` asks for
from viz.figures.layout import ORIENTATIONS, Orientation
from viz.labels import markdown_literal
from viz.views.atlas import STATISTIC_LABELS
from viz.views.chapter import step_slug

START_PAGE = "start"  # the page whose step a link carries (`step=`)
DEFAULT_PAGE = START_PAGE
ATLAS_PAGE = "atlas"  # the page whose statistic a link carries (`stat=`), and the corpus of its atlas (`corpus=`)
CORPUS_TAG = re.compile(r"[0-9a-f]{12}")  # an uploaded corpus's atlas, by its content hash (services.atlas)
DEFAULT_TEXT = "a fluffy blue creature roamed the verdant forest"
MAX_TEXT_CHARS = 4000  # the engine cuts long inputs to its token cap anyway; this bounds URL abuse
# Set in a link whose text was too long to carry: without it the recipient silently got the default sentence.
TEXT_OMITTED = "text_omitted"
OMITTED_SECOND = "second"  # TEXT_OMITTED's value when a pair's second text was the one too long

# The token pickers (ui.widgets.token_picker) whose pick a link carries, by page: {URL field: picker key}. The
# value is the picked token's position in the text. A page's new picker gets its field here.
TOKEN_PICKERS: dict[str, dict[str, str]] = {
    "start": {"query": "start_query", "value_query": "start_values_query"},
    "masking": {"query": "masking_query"},
    "inside_head": {"query": "mech_cell_query", "key": "mech_cell_key"},
    "embedding_shifts": {"query": "mech_shift_query"},
    "head_finder": {"query": "mech_find_query"},
    "experiments": {"after": "exp_predict_at", "follow": "exp_position", "tagged": "exp_tag_position"},
    "logit_lens": {"position": "lens_position"},
    "contributions": {"token": "flow_token"},
}
# The fields parse_params reads besides the token pickers'.
_FIELDS = ("model", "text", "second", "layer", "head", "mask", "orient", "page", "step", "stat", "corpus", "end",
           "dtype")  # fmt: skip
MAX_POSITION = 10**6  # far past any token cap; bounds what a link can ask for

_TRUE = {"on", "true", "1", "yes", "causal"}
_FALSE = {"off", "false", "0", "no", "bidirectional"}


@dataclass
class ViewState:
    model: str
    text: str = DEFAULT_TEXT
    second_text: str = ""  # an encoder's second text (a text pair: `second=`), "" for one text
    layer: int = 0
    head: int = 0
    causal: bool | None = None  # None: the model's own masking
    orient: Orientation = "rows"
    page: str = DEFAULT_PAGE
    step: str | None = None  # the Start here page's step (viz.views.chapter), None: its first
    stat: str | None = None  # the Head atlas page's statistic (viz.views.atlas.STATISTIC_LABELS), None: its first
    corpus: str | None = None  # the Head atlas of an uploaded corpus (its tag), None: the default corpus's
    lowest: bool | None = None  # the Head atlas table ranked lowest first (`end=lowest`), None: not said
    warnings: list[str] = field(default_factory=list)
    requested_model: str | None = None  # a hub id / local folder the link names: loaded only if the user says so
    model_notice: str | None = None  # the warning that offers requested_model (also in warnings)
    dtype: str | None = None  # the weights' dtype the link asks for (None: not said); the device decides if it runs
    picks: dict[str, int] = field(default_factory=dict)  # {token picker key: position} on the link's page


def _first(value: str | list[str] | None) -> str | None:
    # Streamlit gives the last value of a repeated key; AppTest may hand lists. Accept both.
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def parse_params(
    params: Mapping[str, str | list[str]],
    model_names: Iterable[str],
    default_model: str,
    pages: Iterable[str],
    requestable: Callable[[str], bool] = lambda _name: False,
    dtypes: Iterable[str] = (DEFAULT_DTYPE,),
    shown_page: str | None = None,
) -> ViewState:
    """Query parameters → a ViewState with every value checked; problems become `warnings`.

    Layer and head are only checked for being non-negative integers here: their upper bounds depend
    on the model, which is loaded later (see `clamp_layer_head`). A model that is not built in but that
    `requestable` accepts (a hub id or an allowed folder) is not loaded from a link: opening a link must
    not start a download. It comes back as `requested_model` for the app to offer. `dtype` must be one of
    `dtypes`; whether this machine's device runs it is decided once the device is known (ui/sidebar.py).
    `shown_page`: the page the address's path opens; `page=` names another, and an unknown one is ignored.
    """
    state = ViewState(model=default_model, page=shown_page or DEFAULT_PAGE)
    value = {name: _first(params.get(name)) for name in _FIELDS}
    if value["model"] is not None:
        _read_model(state, value["model"], list(model_names), default_model, requestable)
    if value["second"] is not None:
        state.second_text = _cut_text(state, value["second"], "second text")
    if value["text"] is not None:
        state.text = _cut_text(state, value["text"], "text")
    elif TEXT_OMITTED in params:
        second = _first(params.get(TEXT_OMITTED)) == OMITTED_SECOND
        state.warnings.append(
            f"This link's {'second text' if second else 'text'} was too long to share in a URL: paste "
            f"{'both texts' if second else 'it'} into the sidebar (a link carries up to {MAX_TEXT_CHARS:,} "
            "characters). The default sentence is shown meanwhile."
        )
    for name in ("layer", "head"):
        if value[name] is not None:
            _read_index(state, name, value[name])
    if value["mask"] is not None:
        _read_mask(state, value["mask"])
    if value["orient"] is not None:
        _read_orient(state, value["orient"])
    if value["page"] is not None:
        _read_page(state, value["page"], set(pages))
    if value["step"] is not None:
        state.step = step_slug(value["step"])
        if state.step is None and state.page == START_PAGE:  # elsewhere the step is not shown: no notice
            shown = markdown_literal(value["step"])
            state.warnings.append(f"Step {shown} in the link is not a step of *Start here*; showing its first step.")
    if value["stat"] is not None:
        _read_stat(state, value["stat"])
    if value["corpus"] is not None:
        _read_corpus(state, value["corpus"])
    if value["end"] is not None:
        _read_end(state, value["end"])
    if value["dtype"] is not None:
        _read_dtype(state, value["dtype"], list(dtypes))
    for name, key in TOKEN_PICKERS.get(state.page, {}).items():
        if (raw := _first(params.get(name))) is not None:
            _read_pick(state, name, key, raw)
    return state


def _read_pick(state: ViewState, name: str, key: str, raw: str) -> None:
    """A picked token's position; whether the text has it is the picker's to say (ui.widgets.token_picker)."""
    if raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_POSITION)) and int(raw) < MAX_POSITION:
        state.picks[key] = int(raw)
    else:
        what = name.replace("_", " ").capitalize()
        state.warnings.append(
            f"{what} token {markdown_literal(raw)} in the link is not a token position; showing the page's own pick."
        )


def _read_corpus(state: ViewState, corpus: str) -> None:
    if CORPUS_TAG.fullmatch(corpus):
        state.corpus = corpus  # whether this server has that atlas is the page's to say
    else:
        shown = markdown_literal(corpus)
        state.warnings.append(f"Corpus {shown} in the link names no atlas; the head atlas shows the default corpus.")


def _read_end(state: ViewState, end: str) -> None:
    if end in ("highest", "lowest"):
        state.lowest = end == "lowest"
    else:
        shown = markdown_literal(end)
        state.warnings.append(f"End {shown} in the link is not highest or lowest; the head atlas ranks highest first.")


def _read_dtype(state: ViewState, dtype: str, dtypes: list[str]) -> None:
    if dtype in dtypes:
        state.dtype = dtype
    else:
        shown = markdown_literal(dtype)
        state.warnings.append(
            f"Weights {shown} in the link are not one of {', '.join(dtypes)}; loading {DEFAULT_DTYPE} weights."
        )


def _read_stat(state: ViewState, stat: str) -> None:
    if stat in STATISTIC_LABELS:
        state.stat = stat
    else:
        shown = markdown_literal(stat)
        state.warnings.append(f"Statistic {shown} in the link is not one of the head atlas's; showing the first.")


def _read_model(state: ViewState, model: str, models: list[str], default: str, requestable: Callable) -> None:
    if model in models:
        state.model = model
    elif requestable(model):
        state.requested_model = model
        state.model_notice = (
            f"The link names the model {markdown_literal(model)}, which is not built in: press **Load** under "
            f"*Another model* in the sidebar to load it. Showing {default!r} meanwhile."
        )
        state.warnings.append(state.model_notice)
    else:
        known = " or ".join(repr(name) for name in models)
        state.warnings.append(
            f"Unknown model {markdown_literal(model)} in the link: a link names a built-in model ({known}) or one "
            f"that *Another model* in the sidebar can load. Showing {default!r} instead."
        )


def _cut_text(state: ViewState, text: str, what: str) -> str:
    """A text from the link (`what`: "text", "second text"), cut to MAX_TEXT_CHARS with a notice."""
    if len(text) > MAX_TEXT_CHARS:
        state.warnings.append(
            f"The {what} in the link was {len(text)} characters; only the first {MAX_TEXT_CHARS} are used."
        )
    return text[:MAX_TEXT_CHARS]


def _read_index(state: ViewState, name: str, raw: str) -> None:
    try:
        value = int(raw)
    except ValueError:
        state.warnings.append(
            f"{name.capitalize()} {markdown_literal(raw)} in the link is not a number; showing {name} 0."
        )
        return
    if value < 0:
        state.warnings.append(f"{name.capitalize()} {value} in the link is out of range; showing {name} 0.")
        return
    setattr(state, name, value)


def _read_mask(state: ViewState, mask: str) -> None:
    if mask.lower() in _TRUE:
        state.causal = True
    elif mask.lower() in _FALSE:
        state.causal = False
    else:
        shown = markdown_literal(mask)
        state.warnings.append(f"Masking {shown} in the link is neither 'on' nor 'off'; using the model's own masking.")


def _read_orient(state: ViewState, orient: str) -> None:
    if orient in ORIENTATIONS:
        state.orient = orient  # type: ignore[assignment]  # checked against ORIENTATIONS
    else:
        shown = markdown_literal(orient)
        state.warnings.append(f"Orientation {shown} in the link is neither 'rows' nor 'cols'; showing rows as queries.")


def _read_page(state: ViewState, page: str, known_pages: set[str]) -> None:
    if page in known_pages:
        state.page = page
    else:
        state.warnings.append(f"Unknown page {markdown_literal(page)} in the link; it is ignored.")


def clamp_layer_head(
    layer: int, head: int, n_layers: int, n_heads: int, model: str, nearest: bool = False,
    attention_layers: Sequence[int] | None = None,
) -> tuple[int, int, list[str]]:  # fmt: skip
    """Bring layer/head inside the model's range; say so when that changed them. Out of range goes to 0 (a link's
    value, which means nothing in this model) or, with `nearest`, to the nearest that exists (a model switch: the
    reader's place in a deeper model, kept as close as this one allows). A hybrid's layer without attention heads
    (not in `attention_layers`) goes to the nearest that has them (the earlier of two as near)."""
    warnings: list[str] = []
    placed = []
    for name, value, count in (("layer", layer, n_layers), ("head", head, n_heads)):
        if not 0 <= value < count:
            shown = min(max(value, 0), count - 1) if nearest else 0
            where = f"({name}s 0–{count - 1}); showing {name} {shown}."
            warnings.append(f"{name.capitalize()} {value} does not exist in {model} {where}")
            value = shown
        placed.append(value)
    if attention_layers and placed[0] not in attention_layers:
        shown = min(attention_layers, key=lambda at: (abs(at - placed[0]), at))
        listed = ", ".join(map(str, attention_layers))
        are = "layers are" if len(attention_layers) > 1 else "layer is"
        warnings.append(f"Layer {placed[0]} of {model} has no attention heads (its attention {are} {listed}); "
                        f"showing layer {shown}.")  # fmt: skip
        placed[0] = shown
    return placed[0], placed[1], warnings


def to_params(
    model: str,
    text: str,
    layer: int,
    head: int,
    causal: bool,
    orient: Orientation,
    page: str,
    step: str | None = None,
    stat: str | None = None,
    dtype: str = DEFAULT_DTYPE,
    corpus: str | None = None,
    picks: Mapping[str, int] | None = None,
    lowest: bool = False,
    second_text: str = "",
) -> dict[str, str]:
    """The shareable subset of the view, as strings for st.query_params.

    A text longer than MAX_TEXT_CHARS is left out: a link could not carry it back (parse_params cuts
    it) and a page of text in the address bar breaks servers' header limits. The app says so, and the link
    carries TEXT_OMITTED instead, for the recipient's app to say so too. The weights'
    dtype is written only when it is not the default float32, so existing links stay as they were. `picks`:
    {token picker key: position}; those of `page`'s pickers (TOKEN_PICKERS) are written. `lowest`: the Head atlas
    table ranked lowest first, written as `end=lowest` (highest first, the default, writes nothing).
    `second_text`: an encoder's second text, written as `second=` when there is one (a long one is left out too).
    """
    params = {
        "model": model,
        "text": text,
        "layer": str(layer),
        "head": str(head),
        "mask": "on" if causal else "off",
        "orient": orient,
        "page": page,
    }
    if step is not None and page == START_PAGE:
        params["step"] = step
    if stat is not None and page == ATLAS_PAGE:
        params["stat"] = stat
    if corpus is not None and page == ATLAS_PAGE:
        params["corpus"] = corpus
    if lowest and page == ATLAS_PAGE:
        params["end"] = "lowest"
    for name, key in TOKEN_PICKERS.get(page, {}).items():
        if picks and key in picks:
            params[name] = str(picks[key])
    if dtype != DEFAULT_DTYPE:
        params["dtype"] = dtype
    if second_text:
        params["second"] = second_text
    if len(text) > MAX_TEXT_CHARS or len(second_text) > MAX_TEXT_CHARS:
        del params["text"]  # a pair is one input: a link with only one of its texts would show another reading
        params.pop("second", None)
        # So the recipient is told, rather than shown the default sentence unawares; which text, when only the second
        # is too long ("1" for the first, as links made before pairs say).
        params[TEXT_OMITTED] = "1" if len(text) > MAX_TEXT_CHARS else OMITTED_SECOND
    return params
