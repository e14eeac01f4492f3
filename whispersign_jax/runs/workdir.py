"""One run per workdir, one config per workdir (docs/design.md, "Metrics and workdir").

``WorkdirLock`` holds an exclusive lock on ``<workdir>/.lock`` for the whole run, so a second
run on the same folder fails at once and names the holder; the operating system releases the
lock when the holder exits, however it exits, so a killed run never leaves a stale lock.
``check_config`` refuses a run whose config differs from the one the workdir was trained with
in anything but the fields that only steer a run (``RUN_ONLY_FIELDS``).
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from whispersign_jax.errors import WhisperSignError

CONFIG_FILE = "config.json"
LOCK_FILE = ".lock"
# Fields a rerun may change: which stages it runs and how it logs, checkpoints, feeds and
# spreads the work. Everything else shapes the result, and so must match.
RUN_ONLY_FIELDS = (
    "run_stages",
    "init_checkpoint",
    "compile_cache_dir",
    "log_every_steps",
    "evaluate_test",
    "checkpoint_every_steps",
    "keep_checkpoints",
    "data.parallel_calls",
    "data.prefetch",
    "data.loader",
    "data.grain_workers",
    "data.eval_batch_size",
    "mesh",
    "distributed",
)

# Fields added after workdirs were trained without them, with the value that gives the old
# behaviour: a saved config that lacks one is compared as if it held that value.
ADDED_FIELDS = {"pretrained_revision": ""}


class WorkdirInUseError(WhisperSignError, RuntimeError):
    """Another run holds the workdir's lock."""


class ConfigMismatchError(ValueError):
    """The run's config differs from the one the workdir was trained with."""


class WorkdirLock:
    """Context manager: an exclusive ``flock`` on ``<workdir>/.lock`` with the holder's pid,
    host, start time and command written inside."""

    def __init__(self, workdir: str | Path):
        self.path = Path(workdir) / LOCK_FILE
        self.file = None

    def __enter__(self) -> WorkdirLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = open(self.path, "a+")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "another process"
            file.close()
            raise WorkdirInUseError(
                f"{self.path.parent} is in use by {holder}. Wait for that run to finish (or stop "
                "it), or pass another --workdir."
            ) from None
        file.seek(0)
        file.truncate()
        started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        file.write(
            f"process {os.getpid()} on {socket.gethostname()} since {started} "
            f"({' '.join(sys.argv)})\n"
        )
        file.flush()
        self.file = file
        return self

    def __exit__(self, *exc_info) -> None:
        if self.file is not None:
            fcntl.flock(self.file, fcntl.LOCK_UN)
            self.file.close()
            self.file = None


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``field: saved -> current`` for every field outside ``RUN_ONLY_FIELDS`` that differs."""

    def run_only(name: str) -> bool:
        return any(name == field or name.startswith(f"{field}.") for field in RUN_ONLY_FIELDS)

    saved, current = {**ADDED_FIELDS, **flatten(saved)}, {**ADDED_FIELDS, **flatten(current)}
    missing = object()
    return [
        f"{name}: {saved.get(name, 'unset')!r} -> {current.get(name, 'unset')!r}"
        for name in sorted(set(saved) | set(current))
        if not run_only(name) and saved.get(name, missing) != current.get(name, missing)
    ]


def has_checkpoints(workdir: str | Path) -> bool:
    """Whether some stage of ``workdir`` saved a checkpoint (``<stage>/checkpoints/*/<step>``)."""
    return any(step.name.isdigit() for step in Path(workdir).glob("*/checkpoints/*/*"))


def check_config(workdir: str | Path, config_json: str) -> None:
    """Refuses ``config_json`` (the run's config as JSON) when ``workdir`` was trained with a
    config that differs in a field that shapes the result. A workdir without checkpoints (a
    start that failed before its first save) takes the new config."""
    path = Path(workdir) / CONFIG_FILE
    if not path.is_file() or not has_checkpoints(workdir):
        return
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(
            f"{path} is unreadable ({error}); it records the config this workdir was trained "
            "with. Restore it, or train in a new --workdir."
        ) from error
    differences = config_differences(saved, json.loads(config_json))
    if differences:
        shown = "; ".join(differences[:8]) + (" ..." if len(differences) > 8 else "")
        raise ConfigMismatchError(
            f"{path.parent} was trained with another config ({len(differences)} fields differ, "
            f"workdir -> this run: {shown}). Train in a new --workdir (start it from this one "
            f"with --config.init_checkpoint={path.parent}/<stage>), or pass the workdir's values."
        )
