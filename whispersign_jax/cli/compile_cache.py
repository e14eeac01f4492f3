"""JAX's persistent compilation cache: compiled XLA programs kept on disk, so that the next
run of the same program (same model, shapes, JAX version and device) loads it instead of
compiling again (docs/benchmarks.md, "Compile time").

A program loaded from the cache that does not fit the one asked for (an entry damaged, or
copied under another program's key) fails in JAX with a message that does not mention the
cache; ``naming_the_cache`` turns such a failure into a ``CompileCacheError`` that names the
folder and what to do.

Importing this module imports no JAX; ``enable`` does.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from whispersign_jax.errors import WhisperSignError, one_line

ENV_VAR = "WHISPERSIGN_COMPILE_CACHE"  # overrides DEFAULT_DIR; "" turns the cache off
DEFAULT_DIR = "~/.cache/whispersign_jax/xla"
HIT_EVENT = "/jax/compilation_cache/cache_hits"  # JAX's event for a program loaded from it


class CompileCacheError(WhisperSignError):
    """A program failed as it was loaded from the persistent compilation cache."""


class _Loads:
    """The folder in use and how many programs this process has loaded from it."""

    directory: str | None = None
    count = 0

    @classmethod
    def listen(cls, event: str, **_) -> None:
        if event == HIT_EVENT:
            cls.count += 1


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
    if _Loads.directory is None:
        jax.monitoring.register_event_listener(_Loads.listen)
    _Loads.directory = path
    return path


def _not_the_cache(error: Exception) -> bool:
    """Failures of running a program, which a program from the cache meets like any other:
    a non-finite check, running out of memory."""
    return isinstance(error, FloatingPointError | MemoryError) or (
        "RESOURCE_EXHAUSTED" in str(error)
    )


@contextlib.contextmanager
def naming_the_cache(what: str) -> Iterator[None]:
    """Runs the first call of a jitted function (``what`` names it in the message): when it
    fails after loading a program from the cache, a ``CompileCacheError`` naming the cache
    folder and what to do replaces the error (JAX's own message says nothing of the cache)."""
    loaded = _Loads.count
    try:
        yield
    except Exception as error:
        if _Loads.directory is None or _Loads.count == loaded or _not_the_cache(error):
            raise
        raise CompileCacheError(
            f"the {what} failed on its first run, with its compiled program loaded from the "
            f"compilation cache {_Loads.directory} ({type(error).__name__}: {one_line(error)}). "
            "An entry there that is damaged or stored under another program's key does this: "
            "delete that folder (or the entry) and rerun; compile_cache_dir='' (or "
            f"{ENV_VAR}='') runs without the cache"
        ) from error
