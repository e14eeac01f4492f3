"""JAX's persistent compilation cache: compiled XLA programs kept on disk, so that the next
run of the same program (same model, shapes, JAX version and device) loads it instead of
compiling again (docs/benchmarks.md, "Compile time").

Importing this module imports no JAX; ``enable`` does.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "WHISPERSIGN_COMPILE_CACHE"  # overrides DEFAULT_DIR; "" turns the cache off
DEFAULT_DIR = "~/.cache/whispersign_jax/xla"


def default_directory() -> str:
    """``$WHISPERSIGN_COMPILE_CACHE`` when set (``""``: off), else ``DEFAULT_DIR``."""
    return os.environ.get(ENV_VAR, DEFAULT_DIR)


def enable(directory: str | None = None) -> str | None:
    """Turns the cache on in ``directory`` (``None``: ``default_directory()``; ``""``: leaves
    it off) for every program compiled from now on, however short its compilation. Call it
    before the first compilation: JAX decides once per process whether it uses the cache.
    Returns the directory used, or None."""
    if directory is None:
        directory = default_directory()
    if not directory:
        return None
    import jax

    path = str(Path(directory).expanduser())
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
