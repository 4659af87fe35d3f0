"""Errors the engine raises with messages meant to be shown to a user as they are."""


class AttentionCoreError(Exception):
    """Base class: every message is a complete sentence a user can act on."""


class UnknownModelError(AttentionCoreError, ValueError):
    """The model name is neither an embedded model nor an allowed local directory."""


class ModelLoadError(AttentionCoreError, RuntimeError):
    """A weight or tokenizer file is missing, truncated, corrupt or of an unsupported kind."""


class DeviceError(AttentionCoreError, ValueError):
    """The device asked for does not exist here (no CUDA GPU, no Metal) or is not a device name at all."""


class InputError(AttentionCoreError, ValueError):
    """The text cannot be traced (empty, nothing left after tokenization, ...)."""
