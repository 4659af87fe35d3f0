"""The generation service: `model.generate` through the one result cache, keyed by everything that changes
the text (model, device, prompt, length, temperature, seed, interventions). Sampling is seeded, so equal keys
mean equal generations, and a shared link reproduces one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attention_core import Intervention, Model, Trace
from attention_core.generation import Generation
from services.cache import RESULTS

__all__ = ["MAX_NEW_TOKENS", "Generation", "can_generate", "candidate_arrays", "generation_key", "get_generation"]

MAX_NEW_TOKENS = 100  # the app's limit: each token is one step through every layer


def can_generate(model: Model) -> bool:
    """Decoders continue a text; encoders (MiniLM) and encoder-decoders do not (here)."""
    cfg = model.config
    return cfg.has_lm_head and cfg.causal and not cfg.is_encoder_decoder


def generation_key(
    model: Model, text: str, n_new: int, temperature: float, seed: int, interventions: Sequence[Intervention] = (),
    token_cap: int | None = None,
) -> tuple:  # fmt: skip
    return ("generation", model.key, model.device.type, text, int(n_new), float(temperature), int(seed),
            tuple(interventions), token_cap)  # fmt: skip


def get_generation(
    model: Model, text: str, n_new: int, temperature: float = 0.0, seed: int = 0,
    interventions: Sequence[Intervention] = (), prompt_trace: Trace | None = None, token_cap: int | None = None,
) -> Generation:  # fmt: skip
    """The continuation of `text` (cached), read up to `token_cap` tokens as every page reads it. Raises
    attention_core.InputError for bad requests. `prompt_trace` (the shell's trace of the text) saves running the
    prompt again when it is a plain causal trace of exactly the prompt's tokens; it does not change the result,
    so it is not part of the key."""
    cap = None if token_cap is None else int(token_cap)
    key = generation_key(model, text, n_new, temperature, seed, interventions, cap)
    ivs = tuple(interventions)
    return RESULTS.get(
        key,
        lambda _progress: model.generate(
            text, int(n_new), float(temperature), int(seed), ivs, top_k=10, prompt_trace=prompt_trace, max_tokens=cap
        ),
    )


def candidate_arrays(gen: Generation) -> tuple[np.ndarray, np.ndarray]:
    """([n_new, k] ids, [n_new, k] probabilities) of each step's most likely tokens, as numpy."""
    return gen.top_ids.numpy(), gen.top_probs.numpy().astype(np.float64)
