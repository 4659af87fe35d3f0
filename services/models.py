"""The loaded models: one shared, read-only model per (name, device) per process, the devices this
machine has, which models a deployment may load, and how the app names and describes them.

Services are the app's only door into attention_core (and so torch); pages hold a model only as an opaque
handle to pass back to services.traces."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import torch

from attention_core import (
    DEFAULT_MODEL,
    MODEL_NAMES,
    AttentionCoreError,
    InputError,
    Model,
    ModelLoadError,
    Trace,
    UnknownModelError,
    load_model,
)
from attention_core.dtypes import DTYPES as ENGINE_DTYPES
from attention_core.loading.gguf import SUPPORTED as GGUF_ARCHITECTURES
from attention_core.loading.hf_adapters import supported_model_types
from attention_core.loading.hub import looks_like_hub_id
from attention_core.loading.safetensors_hf import DECODERS as QUANTISATIONS
from attention_core.policy import check_model_request
from services.arch_labels import ARCH_LABELS

# Views that draw every (query, key) cell with its own hover text (the mechanism pages) cap their own
# traces here: n² strings per figure. The shell's pages draw long inputs downsampled plus an exact
# window instead, so they go up to the model's limit (see token_cap_limit).
APP_MAX_TOKENS = 128

# The shell's token cap: the sidebar's "Token cap" is bounded by min(this, the model's max_tokens).
# Operators lower it with the environment variable ATTN_MAX_TOKENS (e.g. on a small shared server).
DEFAULT_TOKEN_CAP = 4096
MAX_TOKENS_ENV = "ATTN_MAX_TOKENS"

DEVICE_LABELS = {"cpu": "CPU", "cuda": "CUDA (NVIDIA GPU)", "mps": "MPS (Apple GPU)"}

# The weights' dtype. The app offers half precision on CUDA only: there it halves a model's memory (a 7–8B
# model fits one GPU) at full speed, while on the CPU bfloat16 is slower than float32 and float16 is refused
# by the engine (attention_core/dtypes.py); MPS is left at float32 until someone can test it.
DTYPES = tuple(ENGINE_DTYPES)  # the engine's names: "float32", "bfloat16", "float16"
DEFAULT_DTYPE = "float32"
HALF_DEVICES = ("cuda",)

__all__ = [
    "APP_MAX_TOKENS",
    "DEFAULT_TOKEN_CAP",
    "DEFAULT_MODEL",
    "DEVICE_LABELS",
    "DEFAULT_DTYPE",
    "DTYPES",
    "MODEL_NAMES",
    "AttentionCoreError",
    "InputError",
    "Model",
    "ModelLoadError",
    "Trace",
    "UnknownModelError",
    "available_devices",
    "describe",
    "dtype_choices",
    "dtype_problem",
    "is_embedded",
    "label",
    "load",
    "name_title",
    "request_problem",
    "title",
    "token_cap_limit",
]


def available_devices() -> list[str]:
    """Devices this machine can run the engine on, fastest first (the engine's own preference order)."""
    devices = []
    if torch.cuda.is_available():
        devices.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    devices.append("cpu")
    return devices


_models: dict[tuple[str, str, str], Model] = {}
_models_lock = threading.Lock()


def dtype_choices(device: str) -> list[str]:
    """The weight dtypes the app offers on `device`: half precision on CUDA only, float32 everywhere."""
    return list(DTYPES) if device in HALF_DEVICES else [DEFAULT_DTYPE]


def dtype_problem(dtype: str, device: str) -> str | None:
    """Why the app would not load weights in `dtype` on `device` (a message for the user), or None."""
    if dtype not in DTYPES:
        return f"Unknown weight dtype {dtype!r}: use one of {', '.join(DTYPES)}."
    if dtype not in dtype_choices(device):
        where = DEVICE_LABELS.get(device, device)
        return f"{dtype} weights need a CUDA GPU here; on the {where} the weights are float32."
    return None


def is_loaded(name: str, device: str, dtype: str = DEFAULT_DTYPE) -> bool:
    return (name, device, dtype) in _models


def load(
    name: str, device: str, progress: Callable[[float, str], None] | None = None, dtype: str = DEFAULT_DTYPE,
    served: bool = True,
) -> Model:  # fmt: skip
    """One shared, read-only model per (name, device, dtype) per process; half precision on CUDA only.

    `served`: the name came through a served app (a text box, a link), so the deployment's rules apply
    (attention_core.policy). The CLI and attention_viz.load pass False: they run as their caller, who can
    read the files already, as with attention_core.load_model.

    Not st.cache_resource: Streamlit records the elements a cached function draws and replays them
    on later hits, and refuses a progress bar drawn into a placeholder made outside the function
    (CacheReplayClosureError). A plain dict under a lock gives the same once-per-process load, and
    the progress callback can draw freely. The cache is bounded by the model × device × dtype choices.
    """
    problem = dtype_problem(dtype, device)
    if problem is not None:
        raise ModelLoadError(problem)
    key = (name, device, dtype)
    # A served app loads only what the deployment allows ($ATTN_PUBLIC, $ATTN_ALLOWED_MODEL_DIRS):
    # a name from session state or a link never reaches the file system unchecked.
    source = check_model_request(name) if served else name
    with _models_lock:  # a second session asking mid-load waits instead of loading again
        if key not in _models:
            _models[key] = load_model(source, device=device, dtype=dtype, progress=progress)
        return _models[key]




def formats_help() -> str:
    """What *Another model* reads, in a few sentences (the tooltip must fit a window: the names are in
    formats_list, which the sidebar shows beside the box)."""
    quantised = ", ".join(f"`{q}`" for q in QUANTISATIONS if q != "mxfp4")
    return (
        "A Hugging Face folder or hub id (config.json, safetensors, and tokenizer.json or a slow tokenizer's "
        f"vocab.txt, vocab.json + merges.txt or a SentencePiece model) of one of {len(supported_model_types())} "
        "model types, or a GGUF file from llama.cpp or LM Studio, or a model in Ollama's store as "
        f"`ollama:NAME[:TAG]`, of one of {len(GGUF_ARCHITECTURES)} architectures (*Supported architectures* lists "
        "them). "
        f"Checkpoints quantised by {quantised} are decoded to float32, as are GPT-OSS's MXFP4 experts. "
        "A hub id downloads those files once (no code, no pickles); a local file or folder, and Ollama's store, "
        "must lie under a folder the operator allowed ($ATTN_ALLOWED_MODEL_DIRS)."
    )


def formats_list() -> str:
    """Every config.json model_type and GGUF architecture the engine has an adapter for, from its own tables (so the
    list cannot fall behind them), as Markdown."""
    hf_types = ", ".join(f"`{t}`" for t in supported_model_types())
    gguf_archs = ", ".join(f"`{a}`" for a in GGUF_ARCHITECTURES)
    return (f"**Hugging Face model types:** {hf_types}\n\n**GGUF architectures** (docs/gguf.md lists the "
            f"quantisations): {gguf_archs}")  # fmt: skip


PROTEIN_ARCHS = ("esm", "esmc")  # the protein language models: a token per amino acid


def mask_token(model: Model) -> str | None:
    """The token a masked-language model fills in ("[MASK]", "<mask>"), or None for any other model."""
    return model.tokenizer.mask_token if model.config.masked_lm else None


def reads_two_texts(model: Model) -> bool:
    """Whether the model reads a text pair (an encoder whose tokenizer has a pair template): the sidebar's second
    text box."""
    return model.reads_two_texts


def reads_proteins(model: Model) -> bool:
    """Whether the model reads protein sequences (one token per amino acid) rather than text: ESM's and ESM C's."""
    return model.config.arch in PROTEIN_ARCHS


def is_embedded(name: str) -> bool:
    return name in MODEL_NAMES


SHOWN_NAME_CHARS = 80  # a refusal quotes the name it was given, cut to this (a 3,000-character name filled the box)


def shown_name(name: str) -> str:
    """A model name as a message quotes it: cut to SHOWN_NAME_CHARS."""
    return name if len(name) <= SHOWN_NAME_CHARS else name[: SHOWN_NAME_CHARS - 1] + "…"


def request_problem(name: str) -> str | None:
    """Why this deployment would not load `name` (a hub id, a local folder or .gguf, an ollama: name), or None.
    Plain text (the sidebar shows it as text, not Markdown), quoting the name cut to SHOWN_NAME_CHARS."""
    name = name.strip()
    if not name:
        return (
            "Type a Hugging Face hub id (owner/name, e.g. openai-community/gpt2), a local model folder or .gguf "
            "file, or an Ollama model as ollama:NAME[:TAG]."
        )
    try:
        check_model_request(name)
    except AttentionCoreError as exc:
        return str(exc).replace(repr(name), repr(shown_name(name)))
    return None


def label(model: Model) -> str:
    """How the app names a model: the built-in description, or the folder / hub name with its shape."""
    if model.name in MODEL_NAMES:
        return MODEL_NAMES[model.name]
    cfg = model.config
    layers = (
        f"{cfg.n_layers} encoder + {cfg.n_decoder_layers} decoder layers"
        if cfg.is_encoder_decoder
        else f"{cfg.n_layers} layers"
    )
    if len(cfg.attention_layers) < cfg.n_layers:  # a hybrid: heads in its attention layers alone
        layers += f" ({len(cfg.attention_layers)} with attention)"
    return f"{model.name} ({ARCH_LABELS.get(cfg.arch, cfg.arch)}, {layers} × {cfg.n_heads} heads)"


def title(model: Model) -> str:
    """The model's name as a reader knows it: a built-in's own name ("SmolLM2-135M-Instruct"), else the folder or
    hub name it was loaded from. (model.name is the registry key that URLs and file names use.)"""
    return name_title(model.name)


def name_title(name: str) -> str:
    """`title` for a model not loaded yet, by what the sidebar was given: a built-in's own name, a local folder or
    file by its last part (the box is ~31 characters wide, and a long path lost its folder's name), a hub id
    (owner/name) or an Ollama name whole."""
    if name in MODEL_NAMES:
        return MODEL_NAMES[name].split(" (")[0]
    if name.startswith("ollama:") or looks_like_hub_id(name):  # a hub id starts with a letter or digit, a path not
        return name
    return Path(name).expanduser().name or name


def describe(model: Model) -> str:
    """One line for the sidebar: architecture, exact parameter count and the weights' size in their dtype."""
    cfg = model.config
    total = model.parameter_counts()["total"]
    arch = ARCH_LABELS.get(cfg.arch, cfg.arch)
    if cfg.is_encoder_decoder:
        arch += f" ({cfg.n_layers} encoder + {cfg.n_decoder_layers} decoder layers)"
    size = f"{total / 1e9:.2f} B" if total >= 1e9 else f"{total / 1e6:.1f} M"
    dtype = str(model.dtype).removeprefix("torch.")
    gib = total * model.dtype.itemsize / 2**30
    return f"{arch} · {size} parameters ({total:,}), {gib:.2f} GiB in {dtype}"


def token_cap_limit(model_max_tokens: int, environ: dict[str, str] | None = None) -> int:
    """The largest token cap the app offers: the model's limit, lowered by $ATTN_MAX_TOKENS if set."""
    env = os.environ if environ is None else environ
    limit = min(DEFAULT_TOKEN_CAP, model_max_tokens)
    raw = env.get(MAX_TOKENS_ENV, "").strip()
    if raw:
        try:
            limit = min(limit, max(1, int(raw)))
        except ValueError:
            pass  # a malformed operator setting must not take the app down; the model's limit stands
    return limit
