"""Runs slow per-file jobs (video extraction) in worker processes with a progress bar, and
writes the failures file of a preparation run."""

from __future__ import annotations

import concurrent.futures
import csv
import io
import multiprocessing
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from whispersign_jax.storage import is_remote

FAILURES_FILE = "failures.csv"


def progress(items, description: str, unit: str, total: int | None = None):
    """`items` with a tqdm progress bar on a terminal; plain `items` where tqdm is absent
    (a light extraction environment)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=description, unit=unit, total=total, disable=None)


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def describe_error(error: BaseException) -> str:
    """An error as a failure reason: its message, and its type where that is not obvious."""
    if isinstance(error, (ValueError, OSError)):
        return str(error)
    return f"{type(error).__name__}: {error}"


def run_jobs(
    function: Callable[[Any], Any],
    jobs: Sequence[Any],
    workers: int | None = None,
    description: str = "files",
) -> list[tuple[Any, str | None]]:
    """`function(job)` for every job -> `[(result, None) or (None, reason)]` in job order.

    `workers > 1` runs the jobs in that many processes; each process calls `function` itself,
    so it opens its own extractor. A job that raises is reported with its reason and the run
    goes on. `function` must be a module-level function (it is sent to the workers by name).
    """
    workers = default_workers() if workers is None else int(workers)
    outcomes: list[tuple[Any, str | None]] = [(None, "not run")] * len(jobs)
    if workers <= 1 or len(jobs) <= 1:
        for index, job in progress(enumerate(jobs), description, "file", len(jobs)):
            try:
                outcomes[index] = (function(job), None)
            except Exception as error:  # reported and skipped, the run goes on
                outcomes[index] = (None, describe_error(error))
    else:
        spawn = multiprocessing.get_context("spawn")  # fresh interpreters: no forked threads
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=spawn) as pool:
            futures = {pool.submit(function, job): index for index, job in enumerate(jobs)}
            done = concurrent.futures.as_completed(futures)
            for future in progress(done, description, "file", len(jobs)):
                try:
                    outcomes[futures[future]] = (future.result(), None)
                except Exception as error:  # includes a worker process that died
                    outcomes[futures[future]] = (None, describe_error(error))
    return outcomes


def write_failures(failures: Sequence[tuple[str, str]], output_dir: str | Path) -> Path:
    """`<output_dir>/failures.csv` with one `origin, reason` row per skipped entry; a
    `gs://` (or other remote) `output_dir` is written through etils.epath."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["origin", "reason"])
    writer.writerows(failures)
    if is_remote(output_dir):
        from etils import epath

        path = epath.Path(output_dir) / FAILURES_FILE
    else:
        path = Path(output_dir) / FAILURES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.getvalue(), encoding="utf-8")
    return path
