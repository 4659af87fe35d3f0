"""The trace service: the app's one way to run the model. Plain traces, traces with interventions,
encoder-decoder pairs, ablation sweeps and anything derived from a trace all go through the one
bytes-bounded, single-flight cache in services.cache (RESULTS).

A key names everything that changes a result: the model's weights (`model.key`), the device, the text
(and an encoder's second text), the masking, the token cap and the interventions. The forward pass is
deterministic, so equal keys mean equal traces, even after a trace was evicted and computed again. Derived
results (a pooled overview, a view model) are cached in their trace's group: they leave the cache together
with it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from attention_core import GreedyTarget, Intervention, Model, PairTrace, Trace
from attention_core.backend import set_threads_for
from attention_core.tokenizer import PAIR_JOIN
from services.cache import RESULTS, Job, Progress
from services.models import APP_MAX_TOKENS

__all__ = [
    "WRITTEN_TARGET_TOKENS",
    "derived",
    "derived_job",
    "is_derived",
    "get_pair",
    "get_sweep",
    "get_trace",
    "pair_key",
    "has_sweep",
    "input_texts",
    "pin_trace",
    "set_threads_for",
    "short_cap",
    "short_trace",
    "short_trace_key",
    "trace_job",
    "trace_key",
    "unknown_pieces",
    "written_target",
]


def trace_key(
    model: Model, text: str, causal: bool | None, cap: int, interventions: Sequence[Intervention] = (),
    second_text: str | None = None,
) -> tuple:  # fmt: skip
    """What identifies a trace: (model, device, text, masking, cap, interventions, an encoder's second text)."""
    return ("trace", model.key, model.device.type, text, causal, int(cap), tuple(interventions), second_text)


def _run(
    model: Model, text: str, causal: bool | None, cap: int, ivs: tuple, progress: Progress | None,
    second_text: str | None = None,
) -> Trace:  # fmt: skip
    both = text if second_text is None else text + PAIR_JOIN + second_text  # a pair's token count, near enough
    set_threads_for(len(model.tokenizer.encode(both, cap).ids))
    return model.trace(
        text, causal=causal, max_tokens=cap, interventions=ivs, progress=progress, second_text=second_text
    )


def trace_job(
    model: Model, text: str, causal: bool | None, cap: int, interventions: Sequence[Intervention] = (),
    second_text: str | None = None,
) -> Job:  # fmt: skip
    """The trace as a background job (its `key` is `trace_key(...)`): the caller draws its progress while
    it waits, and a rerun mid-trace waits on the same job instead of starting another."""
    ivs = tuple(interventions)
    key = trace_key(model, text, causal, cap, ivs, second_text)
    return RESULTS.job(key, lambda progress: _run(model, text, causal, cap, ivs, progress, second_text))


def get_trace(
    model: Model, text: str, causal: bool | None, cap: int, interventions: Sequence[Intervention] = (),
    second_text: str | None = None,
) -> Trace:  # fmt: skip
    """The trace, computed in this thread if it is not cached. Raises attention_core.InputError."""
    ivs = tuple(interventions)
    key = trace_key(model, text, causal, cap, ivs, second_text)
    return RESULTS.get(key, lambda _progress: _run(model, text, causal, cap, ivs, None, second_text))


def input_texts(trace: Trace) -> tuple[str, str | None]:
    """The text and the second text (None for one text) that `trace` was run on: what `get_trace` takes to run it
    again (with interventions, under another cap)."""
    return (trace.text, None) if trace.segments is None else trace.segments.texts(trace.text)


def pin_trace(owner: Hashable, key: Hashable) -> None:
    """`owner` (a browser session) is showing the trace under `key`: keep it, and what was derived from it, while
    the owner's pages compute their own traces beside it (services.cache.JobCache.pin)."""
    RESULTS.pin(owner, key)


def short_cap(model: Model) -> int:
    """The cap of the traces that views drawing every cell with its own hover run for themselves."""
    return min(APP_MAX_TOKENS, model.max_tokens)


def short_trace(model: Model, text: str, causal: bool | None = None, second_text: str | None = None) -> Trace:
    """A page's own trace of a short text (the mole sentences, a prompt, a text pair), capped at `short_cap`."""
    return get_trace(model, text, causal, short_cap(model), second_text=second_text)


def short_trace_key(model: Model, text: str, causal: bool | None = None, second_text: str | None = None) -> tuple:
    """The key of `short_trace(model, text, causal, second_text)`: what results derived from it are cached under."""
    return trace_key(model, text, causal, short_cap(model), second_text=second_text)


Languages = tuple[str | None, str | None]  # a translation model's source and target language tokens (None: default)


def pair_key(model: Model, source: str, target: str, languages: Languages = (None, None)) -> tuple:
    """The cache key of get_pair's trace: what a result derived from that pair is kept under (services.lens)."""
    return ("pair", model.key, model.device.type, source, target, short_cap(model), languages)


def get_pair(model: Model, source: str, target: str, languages: Languages = (None, None)) -> PairTrace:
    """An encoder-decoder's trace of a source and a target text (short cap), each marked with its language where
    the model has `languages`. Raises InputError."""
    cap = short_cap(model)
    run = lambda _progress: model.trace_pair(source, target, cap, *languages)  # noqa: E731
    return RESULTS.get(pair_key(model, source, target, languages), run)


def classifier_pass_key(model: Model, text: str, second_text: str | None) -> tuple:
    """The cache key of get_classifier_pass's trace (what a result derived from it is kept under)."""
    return ("classifier_pass", model.key, model.device.type, text, second_text, short_cap(model))


def get_classifier_pass(model: Model, text: str, second_text: str | None) -> PairTrace:
    """BART's classifier's own pass over the sidebar's text (and second text) as a PairTrace (short cap): the
    encoder over the text, the decoder over it shifted right (Model.trace_classifier_pass). Raises InputError."""
    run = lambda _progress: model.trace_classifier_pass(text, second_text, short_cap(model))  # noqa: E731
    return RESULTS.get(classifier_pass_key(model, text, second_text), run)


WRITTEN_TARGET_TOKENS = 64  # the most tokens an encoder-decoder writes for the cross-attention page


def written_target(model: Model, source: str, languages: Languages = (None, None)) -> GreedyTarget:
    """The target an encoder-decoder writes itself for `source` (greedy; at most WRITTEN_TARGET_TOKENS, and within
    the short cap and the decoder's positions), in the target language where the model has `languages`. Raises
    InputError."""
    cap = short_cap(model)
    n = min(WRITTEN_TARGET_TOKENS, min(cap, model.config.decoder_positions) - 1)  # LED's decoder: fewer positions
    key = ("written_target", model.key, model.device.type, source, cap, n, languages)
    return RESULTS.get(key, lambda _progress: model.greedy_target(source, n, cap, *languages))


def _sweep_key(base_key: Hashable, target_id: int, mode: str, position: int, trace: Trace | None) -> tuple:
    """The sweep's key, its position counted from the end (-1: the last), so -1 and n - 1 are one entry."""
    if trace is not None:
        position = range(trace.n_tokens)[position] - trace.n_tokens  # IndexError outside -n..n-1
    elif position >= 0:
        raise ValueError("a position counted from the start needs the trace to be placed")
    return ("sweep", base_key, int(target_id), mode, int(position))


def get_sweep(base_key: Hashable, trace: Trace, target_id: int, mode: str = "zero", position: int = -1) -> np.ndarray:
    """[n_layers, n_heads] change in log p(target_id) after the token at `position` (default: the last) when each
    head alone is ablated (the engine's batched sweep over a clean trace, float64), cached with that trace.
    -1 and n - 1 are one entry."""

    def compute(_progress: Progress) -> np.ndarray:
        return sweep_of(trace, target_id, mode, position)

    return RESULTS.get(_sweep_key(base_key, target_id, mode, position, trace), compute, group=base_key)


def sweep_of(trace: Trace, target_id: int, mode: str = "zero", position: int = -1) -> np.ndarray:
    """get_sweep's array, uncached (the notebook's)."""
    return trace.ablation_sweep(int(target_id), position=int(position), mode=mode).numpy().astype(np.float64)


def has_sweep(
    base_key: Hashable, target_id: int, mode: str = "zero", position: int = -1, trace: Trace | None = None
) -> bool:
    """Whether `get_sweep` has that sweep cached; `trace` (the one swept) places a position counted from the start
    (without it only a negative position, counted from the end, can be placed: ValueError)."""
    return _sweep_key(base_key, target_id, mode, position, trace) in RESULTS


def derived(base_key: Hashable, name: str, *params: Hashable, compute: Callable[[], Any]) -> Any:
    """Something computed from the trace `base_key` names (a view model, a pooled array), computed in this
    thread once and cached with that trace."""
    return RESULTS.get((name, base_key, *params), lambda _progress: compute(), group=base_key)


def is_derived(base_key: Hashable, name: str, *params: Hashable) -> bool:
    """Whether `derived` has that result cached (a page draws it again without a click)."""
    return (name, base_key, *params) in RESULTS


def derived_job(base_key: Hashable, name: str, *params: Hashable, compute: Callable[[Progress], Any]) -> Job:
    """Like `derived`, as a background job with progress (e.g. pooling every head of a long text)."""
    return RESULTS.job((name, base_key, *params), compute, group=base_key)


def unknown_pieces(trace: Trace) -> tuple[list[str], str]:
    """(the pieces of the text the model's vocabulary lacks, in order, each read as one unknown token; that token's
    name, "[UNK]" or "<unk>"). Nothing for a byte-level vocabulary, which lacks nothing; a typed "[UNK]" is not one."""
    unk = trace.context.tokenizer.unk_id
    if unk is None:
        return [], ""
    name = trace.decode_token(unk)
    pieces = [trace.text[a:b] for i, (a, b) in zip(trace.token_ids, trace.offsets, strict=True) if i == unk and b > a]
    return [piece for piece in pieces if piece != name], name
