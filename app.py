"""Streamlit shell: page navigation, the shared sidebar (model, device, text, masking, layer/head,
orientation), URL state, and the cached model and traces. Pages render from `st.session_state.ctx`.

Run with `streamlit run app.py` (or `make run`).
"""

from __future__ import annotations

import streamlit as st

from pages.views._common import wait_with_progress
from viz import engine
from viz.cache import TRACES
from viz.context import AppContext, load_examples
from viz.figures.layout import ORIENTATIONS
from viz.mechanism.pages import mechanism_pages
from viz.state import MAX_TEXT_CHARS, PAGES, clamp_layer_head, parse_params, to_params

st.set_page_config(page_title="Attention, visualised", page_icon=":material/visibility:", layout="wide")
# Progress bars jump instead of gliding: the glide is a CSS transition the browser repaints every frame,
# and when browser and engine share a small machine (make run on a laptop) those frames come out of the
# forward pass. (Only a style rule: st.html with nothing but <style> takes no room on the page.)
st.html("<style>[data-testid='stProgress'] * { transition: none !important; }</style>")

PAGE_OBJECTS = {
    "patterns": st.Page(
        "pages/views/patterns.py",
        title="Attention patterns",
        icon=":material/grid_on:",
        url_path="patterns",
        default=True,
    ),
    "masking": st.Page("pages/views/masking.py", title="Scores & masking", icon=":material/block:", url_path="masking"),
    "guide": st.Page("pages/views/guide.py", title="How to read this", icon=":material/menu_book:", url_path="guide"),
}
assert set(PAGE_OBJECTS) == set(PAGES)  # URL validation and navigation must agree on page names
# Every page, by its URL path: the name `page=` carries in a shared link.
ALL_PAGES = {**PAGE_OBJECTS, **{page.url_path: page for page in mechanism_pages()}}
ALL_PAGES["experiments"] = st.Page(
    "pages/views/experiments.py", title="Experiments", icon=":material/science:", url_path="experiments"
)

# The sidebar widgets whose values make the shell state (see the restore step below).
SHELL_WIDGET_KEYS = ("model", "device", "text", "causal", "max_tokens", "layer", "head", "orient")
ORIENT_LABELS = {"rows": "Rows are queries (BertViz, PyTorch)", "cols": "Columns are queries (3Blue1Brown)"}


def cached_trace(model: engine.Model, device: str, text: str, causal: bool, cap: int) -> tuple[tuple, engine.Trace]:
    """(key, trace), from the process-wide trace cache (viz.cache.TRACES: single flight, bounded by bytes).

    The forward pass runs in a background thread; this run draws its progress while it waits, and a
    rerun mid-trace (a click) waits on the same job instead of starting over.
    """
    key = (model.key, device, text, causal, cap)
    job = TRACES.job(key, lambda progress: engine.run_trace(model, text, causal, cap, progress))
    return key, wait_with_progress(job, f"Running {model.name}")


def load_with_progress(name: str, device: str) -> engine.Model:
    """The process-wide model (viz.engine.load), with a progress bar while it loads the first time.

    A model the user asked for (hub id, local folder) that fails to load is dropped from the list and
    the previous model comes back, with the reason shown under *Another model*.
    """
    slot = st.empty()

    def progress(fraction: float, message: str) -> None:
        slot.progress(min(max(fraction, 0.0), 1.0), text=f"Loading {name}: {message}")

    try:
        return engine.load(name, device, progress)
    except engine.AttentionCoreError as exc:
        previous = st.session_state.get("_last_good_model")
        if not engine.is_embedded(name) and previous and previous != name:
            st.session_state._model_error = f"Could not load {name}: {exc}"
            st.session_state._custom_models = [m for m in st.session_state.get("_custom_models", []) if m != name]
            st.session_state._revert_model = previous  # applied before the selectbox exists (next run)
            st.rerun()
        st.error(str(exc))
        st.stop()
        raise  # unreachable: st.stop() raises; keeps type checkers honest
    finally:
        slot.empty()


def set_text(text: str) -> None:
    st.session_state.text = text


def request_model() -> None:
    """The *Load* button: check the typed hub id / folder against the deployment's rules, then select it."""
    ss = st.session_state
    name = str(ss.get("model_request", "")).strip()
    problem = engine.request_problem(name)
    ss._model_error = problem
    if problem is None:
        ss._custom_models = [*(m for m in ss.get("_custom_models", []) if m != name), name]
        ss.model = name  # a callback runs before the script: the selectbox is not drawn yet


def model_label(name: str) -> str:
    return engine.MODEL_NAMES.get(name, name)


def save_shell_state() -> None:
    st.session_state._shell_saved = {key: st.session_state[key] for key in SHELL_WIDGET_KEYS if key in st.session_state}


def current_page_name(page: object) -> str:
    for name, obj in ALL_PAGES.items():
        if getattr(obj, "url_path", None) == getattr(page, "url_path", object()):
            return name
    return "patterns"


ss = st.session_state
current = st.navigation(list(ALL_PAGES.values()))
page_name = current_page_name(current)

# ── First run of a session: restore the view from the URL (validated) ─────────────────────────
if "_started" not in ss:
    ss._started = True
    url = parse_params(
        st.query_params.to_dict(),
        engine.MODEL_NAMES,
        engine.DEFAULT_MODEL,
        ALL_PAGES,
        requestable=lambda name: engine.request_problem(name) is None,
    )
    ss.model, ss.text, ss.orient = url.model, url.text, url.orient
    if url.requested_model:
        ss.model_request = url.requested_model  # pre-filled under "Another model"; loads on Load
    ss._url_layer_head = (url.layer, url.head)  # range-checked once the model is loaded
    ss._url_causal = url.causal
    ss._notices = list(url.warnings)
    if "page" in st.query_params and url.page != page_name:
        st.switch_page(ALL_PAGES[url.page])

# A page switch that interrupts a run can leave the browser holding a sidebar widget's *default* (an
# empty text, the mask off) and sending it back on the next rerun, or make Streamlit drop a widget's state
# (streamlit/streamlit#9100). So every run (1) restores a dropped key from a plain copy that Streamlit
# never cleans up and (2) re-assigns each key, which makes Streamlit send the value to the browser.
if "_revert_model" in ss:  # a requested model failed to load: back to the one that worked
    ss.model = ss.pop("_revert_model")
saved = ss.get("_shell_saved", {})
for key in SHELL_WIDGET_KEYS:
    if key in ss:
        ss[key] = ss[key]
    elif key in saved:
        ss[key] = saved[key]
save_shell_state()

# ── Sidebar ───────────────────────────────────────────────────────────────────────────────────
with st.sidebar:
    custom = [m for m in ss.get("_custom_models", []) if not engine.is_embedded(m)]
    if not engine.is_embedded(ss.model) and ss.model not in custom:  # e.g. restored after a page switch
        custom.append(ss.model)
    st.selectbox(
        "Model",
        [*engine.MODEL_NAMES, *custom],
        format_func=model_label,
        key="model",
        on_change=lambda: ss.pop("_model_error", None),  # a new choice: the last refusal is old news
    )
    with st.expander("Another model", expanded=bool(ss.get("_model_error") or ss.get("model_request"))):
        st.text_input(
            "Hugging Face hub id or local folder",
            key="model_request",
            placeholder="openai-community/gpt2",
            help="GPT-2, BERT/RoBERTa, Llama/SmolLM/Qwen2/Mistral and Marian models in Hugging Face format "
            "(config.json, tokenizer.json, safetensors). A hub id downloads those files once (no code, no "
            "pickles); a local folder must lie under a folder the operator allowed ($ATTN_ALLOWED_MODEL_DIRS).",
        )
        st.button("Load", key="model_load", on_click=request_model, icon=":material/download:")
        if ss.get("_model_error"):
            st.error(ss._model_error)
    devices = engine.available_devices()
    if ss.get("device") not in devices:
        ss.device = devices[0]
    st.selectbox("Device", devices, format_func=lambda d: engine.DEVICE_LABELS.get(d, d), key="device")
    st.text_area("Text", key="text", height=90, help="Press Ctrl+Enter (or click outside) to run the model.")
    st.caption("Examples from 3Blue1Brown's chapter")
    for i, example in enumerate(load_examples()):
        st.button(example.text, key=f"example_{i}", on_click=set_text, args=(example.text,), width="stretch")

model = load_with_progress(ss.model, ss.device)
ss._last_good_model = ss.model
for note in model.notes:  # e.g. a damaged weight cache that was detected and rebuilt on this load
    st.sidebar.warning(note)
cfg = model.config

with st.sidebar:
    st.divider()
    # The masking default follows the model (decoder: on, encoder: off) unless the URL said otherwise;
    # switching model re-applies the new model's default.
    if ss.get("_causal_for") != ss.model:
        url_causal = ss.pop("_url_causal", None)
        ss.causal = cfg.causal if url_causal is None else url_causal
        ss._causal_for = ss.model
    st.toggle(
        "Causal mask in every layer",
        key="causal",
        help="On: each token attends only to itself and earlier tokens (scores of later keys set to −∞ "
        f"before the softmax). {model.name}'s own masking is {'on' if cfg.causal else 'off'}.",
    )
    if "_url_layer_head" in ss:
        layer, head, notices = clamp_layer_head(*ss.pop("_url_layer_head"), cfg.n_layers, cfg.n_heads, model.name)
        ss.layer, ss.head = layer, head
        ss._notices = ss.get("_notices", []) + notices
    else:
        # A model switch can leave layer/head past the new model's range: clamp quietly (the user did it).
        ss.layer = min(max(int(ss.get("layer", 0)), 0), cfg.n_layers - 1)
        ss.head = min(max(int(ss.get("head", 0)), 0), cfg.n_heads - 1)
    # Token cap: up to the model's limit (4096 for SmolLM2), lowered by $ATTN_MAX_TOKENS on a server.
    cap_limit = engine.token_cap_limit(model.max_tokens)
    if ss.get("_cap_limit") != cap_limit:  # first run, or a model with another limit: its full limit
        ss.max_tokens = cap_limit
        ss._cap_limit = cap_limit
    st.number_input(
        "Token cap",
        min_value=1,
        max_value=cap_limit,
        step=256,
        key="max_tokens",
        help=f"Longer texts are cut to this many tokens (a notice says where). {model.name} takes up to "
        f"{cap_limit}. Long texts are drawn downsampled, with an exact window to zoom into.",
    )
    st.slider("Layer", 0, cfg.n_layers - 1, key="layer")
    st.slider("Head", 0, cfg.n_heads - 1, key="head")
    if ss.get("orient") not in ORIENTATIONS:
        ss.orient = "rows"
    st.radio("Orientation", ORIENTATIONS, format_func=ORIENT_LABELS.get, key="orient")
    st.caption(
        f"{engine.describe(model)}; {cfg.n_layers} layers × {cfg.n_heads} heads, d_head = {cfg.d_head}, "
        f"running on {engine.DEVICE_LABELS.get(model.device.type, str(model.device))}."
    )

save_shell_state()  # now with the masking, layer and head this run settled

for notice in ss.get("_notices", []):
    st.warning(notice, icon=":material/warning:")
ss._notices = []  # shown once, on the view the link opened

# ── Trace ─────────────────────────────────────────────────────────────────────────────────────
trace = None
trace_key = None
message = None
token_cap = int(ss.max_tokens)
if not ss.text.strip():
    message = "The text is empty: type a sentence in the sidebar (or pick an example) to see its attention."
else:
    try:
        trace_key, trace = cached_trace(model, ss.device, ss.text, bool(ss.causal), token_cap)
    except engine.InputError as exc:
        message = str(exc)

ss.ctx = AppContext(
    model_name=model.name,
    model_label=engine.label(model),
    device=model.device.type,
    n_layers=cfg.n_layers,
    n_heads=cfg.n_heads,
    d_head=cfg.d_head,
    model_causal=cfg.causal,
    causal=bool(ss.causal),
    layer=int(ss.layer),
    head=int(ss.head),
    orient=ss.orient,
    trace=trace,
    message=message,
    trace_key=trace_key,
    token_cap=token_cap,
    model_request=ss.model,
)

# ── Mirror the shareable state into the URL (strings only) ───────────────────────────────────
params = to_params(ss.model, ss.text, int(ss.layer), int(ss.head), bool(ss.causal), ss.orient, page_name)
if "text" not in params:
    with st.sidebar:
        st.caption(
            f"This text is over {MAX_TEXT_CHARS} characters, too long for the page address: a shared link "
            "keeps the model, layer, head and masking but not the text."
        )
if st.query_params.to_dict() != params:
    st.query_params.from_dict(params)

current.run()
