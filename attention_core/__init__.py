"""attention_core: a small PyTorch engine that runs real pretrained transformers and exposes every
intermediate of attention. No Streamlit or Plotly here.

    from attention_core import load_model
    model = load_model("smollm2-135m")
    trace = model.trace("a fluffy blue creature roamed the verdant forest")
    trace.pattern(layer=3, head=0)
"""

from .api import DEFAULT_MAX_TOKENS, Model, load_model
from .config import ModelConfig
from .context import PassContext
from .errors import AttentionCoreError, InputError, ModelLoadError, UnknownModelError
from .interventions import Intervention, ablate_head, ablate_layer, force_pattern, temperature
from .registry import DEFAULT_MODEL, MODEL_NAMES
from .seq2seq import GreedyTarget, PairTrace
from .steps import HeadSteps
from .trace import Trace

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MODEL",
    "MODEL_NAMES",
    "AttentionCoreError",
    "HeadSteps",
    "InputError",
    "Intervention",
    "ablate_head",
    "ablate_layer",
    "force_pattern",
    "temperature",
    "Model",
    "GreedyTarget",
    "PairTrace",
    "PassContext",
    "ModelConfig",
    "ModelLoadError",
    "Trace",
    "UnknownModelError",
    "load_model",
]
