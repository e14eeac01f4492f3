"""Log lines around the compilations a run would otherwise wait through in silence.

The first call of a jitted step with batch shapes it has not seen compiles it (20-35 s for a
base-size train step on CPU, or a load from the persistent cache): ``FirstCompiles`` logs
``compiling the stage2 train step (first run of these shapes: ...)...`` before that call and
``compiled in 12.3 s`` once its result is ready; a first run that fails on a program loaded
from the persistent cache names the cache (``compile_cache.naming_the_cache``). Later calls go
straight through.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax

from whispersign_jax.cli import compile_cache


class FirstCompiles:
    """The jitted steps of one stage, each wrapped by ``wrap``; ``seconds`` totals their first
    runs, which the ETA leaves out (``metric_writers.ReportProgress``)."""

    def __init__(self, stage_name: str):
        self.stage_name = stage_name
        self.seconds = 0.0
        self._seen: set[tuple] = set()

    def wrap(self, step: Callable, what: str) -> Callable:
        """``step(..., batch)`` that logs and times its first run for each set of ``batch``
        shapes (the batch is the last argument; the others keep their shapes in a stage)."""

        def logged(*args: Any) -> Any:
            batch = args[-1]
            key = (what, *((name, value.shape, value.dtype) for name, value in batch.items()))
            if key in self._seen:
                return step(*args)
            self._seen.add(key)
            logging.info(
                "compiling the %s %s (first run of these shapes: %s)...",
                self.stage_name,
                what,
                describe_batch(batch),
            )
            start = time.perf_counter()
            with compile_cache.naming_the_cache(f"{self.stage_name} {what}"):
                result = jax.block_until_ready(step(*args))
            seconds = time.perf_counter() - start
            self.seconds += seconds
            logging.info("%s %s compiled in %.1f s", self.stage_name, what, seconds)
            return result

        return logged


def describe_batch(batch: Mapping[str, Any]) -> str:
    """``batch 16 x 160 frames`` from its keypoints (batch, frames, joints, features)."""
    size, frames = batch["keypoints"].shape[:2]
    return f"batch {size} x {frames} frames"
