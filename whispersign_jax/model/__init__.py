"""Flax modules of WhisperSign and the Whisper weight loader.

Names resolve lazily, so ``whispersign_jax.model.config`` stays importable without JAX.
"""

import importlib

_EXPORTS = {
    "WHISPER_PRESETS": "whispersign_jax.model.config",
    "ModelConfig": "whispersign_jax.model.config",
    "WhisperSign": "whispersign_jax.model.whispersign",
    "init_variables": "whispersign_jax.model.whispersign",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'whispersign_jax.model' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
