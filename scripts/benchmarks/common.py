"""What every suite shares: progress lines, timing, quantiles, the repository's configs and
the compile-cache counter."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import ml_collections

from whispersign_jax.cli import config_files
from whispersign_jax.inference.streaming import DEFAULT_WINDOW_S
from whispersign_jax.keypoints import FPS

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
SAMPLE_CLIP = REPO / "data" / "samples" / "signing_clip.mp4"
WINDOW_FRAMES = round(DEFAULT_WINDOW_S * FPS)  # one streaming window (3 s at 60 FPS: 180)
STARTED = time.perf_counter()


def progress(message: str) -> None:
    """One line on stderr, at once: a run that is stopped still shows what finished."""
    elapsed = time.perf_counter() - STARTED
    print(f"[benchmark {elapsed:6.1f} s] {message}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], object]) -> float:
    """Seconds that ``fn()`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def p50(values: Iterable[float]) -> float:
    """The middle value (the upper one of an even count)."""
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def p95(values: Iterable[float]) -> float:
    """The value 95% of the way from the smallest to the largest (no interpolation)."""
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))]


def shipped_config(name: str) -> ml_collections.ConfigDict:
    """``get_config()`` of ``configs/<name>.py``, loaded by path as config files load each
    other (``config_files.sibling``)."""
    return config_files.sibling(str(CONFIGS / f"{name}.py"), name).get_config()


def stage_config(stage: str) -> tuple[ml_collections.ConfigDict, ml_collections.ConfigDict]:
    """The run config of ``configs/<stage>.py`` and its stage's row (``config.stages.<stage>``)."""
    config = shipped_config(stage)
    return config, config.stages[stage]


def count_cache_hits() -> dict[str, int]:
    """``compile_cache.hits``: programs loaded from the persistent compilation cache instead
    of compiled, counted as they happen."""
    import jax

    counts = {"compile_cache.hits": 0}

    def listener(event: str, **_) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            counts["compile_cache.hits"] += 1

    jax.monitoring.register_event_listener(listener)
    return counts
