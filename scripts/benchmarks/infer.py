"""The inference suite (``--only infer``): one window through ``Recognizer.recognize``.

``infer.<size>[.bfloat16].<decoder>.{compile_s,p50_ms,p95_ms}``: latency of one 3 s window
(180 frames of the default joint set, batch 1; ``models.random_window``) through
``Recognizer.recognize`` (padding, jitted encoder + decoder, results with names and time
spans) for each size (``--infer_sizes``: ``tiny`` and ``base`` on CPUs, ``base`` on
accelerators), each compute dtype and every decoder, on a random model
(``models.random_model``). ``compile_s`` is its first call; the quantiles are of
``--infer_repeats`` calls after it.
"""

from __future__ import annotations

import concurrent.futures
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from benchmarks.common import p50, p95, progress, timed
from benchmarks.models import random_model, random_window
from whispersign_jax.decoding import DECODERS, DEFAULT_DECODER, DecodeOptions

if TYPE_CHECKING:
    from whispersign_jax.inference.recognizer import Recognizer

STREAM_DECODER = DEFAULT_DECODER  # its base float32 window time feeds the streaming suite


def recognizer(size: str, decoder: str, dtype: str) -> Recognizer:
    """A random ``size`` model (``models.random_model``) with ``decoder`` as a Recognizer."""
    from whispersign_jax.inference.recognizer import Recognizer

    return Recognizer(random_model(size, dtype), DecodeOptions(decoder=decoder))


def infer_prefix(size: str, dtype: str, decoder: str) -> str:
    """``infer.<size>[.<dtype>].<decoder>``: float32 is left unnamed."""
    return f"infer.{size}{'' if dtype == 'float32' else '.' + dtype}.{decoder}"


def benchmark_infer(
    sizes: list[str], dtypes: list[str], repeats: int = 50, workers: int = 1
) -> dict[str, float]:
    """Every (size, dtype, decoder): compiled by its first call (``workers`` at a time), then
    timed over ``repeats`` calls."""
    window = random_window()
    results: dict[str, float] = {}
    programs: list[tuple[str, Callable]] = []  # (key prefix, the recognize call)
    for size in sizes:
        for dtype in dtypes:
            for decoder in DECODERS:
                recognize = functools.partial(recognizer(size, decoder, dtype).recognize, window)
                programs.append((infer_prefix(size, dtype, decoder), recognize))

    def first_call(prefix: str, recognize: Callable) -> None:
        results[f"{prefix}.compile_s"] = timed(recognize)
        progress(f"{prefix}: compiled in {results[f'{prefix}.compile_s']:.1f} s")

    def time_calls(prefix: str, recognize: Callable) -> None:
        times = [timed(recognize) for _ in range(repeats)]
        results[f"{prefix}.p50_ms"] = 1e3 * p50(times)
        results[f"{prefix}.p95_ms"] = 1e3 * p95(times)
        progress(f"{prefix}: p50 {results[f'{prefix}.p50_ms']:.2f} ms")

    if workers <= 1:
        for prefix, recognize in programs:
            first_call(prefix, recognize)
            time_calls(prefix, recognize)
    else:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for future in [pool.submit(first_call, *program) for program in programs]:
                future.result()
        for prefix, recognize in programs:
            time_calls(prefix, recognize)
    suffixes = ("compile_s", "p50_ms", "p95_ms")
    return {
        f"{prefix}.{key}": results[f"{prefix}.{key}"] for prefix, _ in programs for key in suffixes
    }
