"""A model run once over two tokens as it loads, so a config that misdescribes its weights is refused there.

shape_check holds the maps every architecture shares to the config; what else a config can claim is as varied as
the layouts (a norm Falcon's new_decoder_architecture adds, a q/k norm, a gate): a claim the weights do not back
used to load and trip the first trace, a traceback in the app. The pass itself is the one complete list of what a
config makes it read, so it is asked once, on token ids rather than a text (no tokenizer in the way). It runs when a
model is converted, not on a warm load: a converted entry on disk passed it when it was written, and one that fails
it is dropped (an edited config.json is another source fingerprint, so it is converted and checked afresh)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import ModelLoadError

# What a pass trips on where the weights are not what the config says: a tensor it names that is not there
# (KeyError), a width that does not fit (RuntimeError from torch), an index or a value out of range.
UNRUNNABLE = (KeyError, RuntimeError, IndexError, ValueError, ArithmeticError, TypeError)


def refuse_unrunnable(model: Any, forget: Callable[[], None]) -> None:
    """Run `model` (an api.Model) over its first two token ids; where the pass fails, call `forget` (drop the
    converted cache, so the next load converts and runs this again rather than serving the entry unchecked) and raise
    ModelLoadError saying what failed."""
    ids = list(range(min(2, model.config.n_ctx, model.config.d_vocab)))
    name = model.name
    try:
        model.trace_ids(ids)
    except KeyError as exc:
        forget()
        raise ModelLoadError(f"{name}: its config makes the pass read a tensor {exc.args[0]!r} that its weights "
                             "lack: the config does not describe these weights.") from exc  # fmt: skip
    except UNRUNNABLE as exc:
        forget()
        detail = " ".join(str(exc).split())[:200]
        raise ModelLoadError(f"{name} does not run: a first pass over two tokens fails ({type(exc).__name__}: "
                             f"{detail}); its config likely misdescribes its weights.") from exc  # fmt: skip
