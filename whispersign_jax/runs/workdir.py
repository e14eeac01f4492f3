"""One run per workdir, one config per workdir (docs/design.md, "Metrics and workdir").

``WorkdirLock`` holds an exclusive lock on ``<workdir>/.lock`` for the whole run, so a second
run on the same folder fails at once and names the holder; the operating system releases the
lock when the holder exits, however it exits, so a killed run never leaves a stale lock.
``check_config`` refuses a run whose config differs from the one the workdir was trained with
in anything but the fields that only steer a run (``RUN_ONLY_FIELDS``) and the settings of
stages that nothing in the workdir was trained with yet (``untrained_stages``).
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from whispersign_jax import storage
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
# the same, for the fields of every stage
ADDED_STAGE_FIELDS = {"ema_decay": 0.0, "join_share": 0.0, "join_signs": 2}


def with_added_fields(flat: dict[str, Any]) -> dict[str, Any]:
    """A flattened config with every field of ``ADDED_FIELDS`` and ``ADDED_STAGE_FIELDS`` it
    lacks, at the value that gives the old behaviour."""
    stages = {name.split(".")[1] for name in flat if name.startswith("stages.")}
    added = {f"stages.{stage}.{field}": value for stage in stages
             for field, value in ADDED_STAGE_FIELDS.items()}  # fmt: skip
    return {**ADDED_FIELDS, **added, **flat}


class WorkdirInUseError(WhisperSignError, RuntimeError):
    """Another run holds the workdir's lock."""


class UnsafeLockFileError(WhisperSignError):
    """The workdir's lock file is a symbolic link, which locking would write through."""


class ConfigMismatchError(ValueError):
    """The run's config differs from the one the workdir was trained with."""


def open_lock_file(path: Path):
    """``path`` opened for reading and writing, created if missing, untruncated; a symbolic
    link is refused, so locking never writes into a file elsewhere that the link points to."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise UnsafeLockFileError(
            f"{path} is a symbolic link (to {os.readlink(path)}); a workdir's lock file must be "
            "a plain file. Remove the link (the file it points to is left as it is) and rerun."
        ) from None
    return os.fdopen(descriptor, "r+")


class WorkdirLock:
    """Context manager: an exclusive ``flock`` on ``<workdir>/.lock`` with the holder's pid,
    host, start time and command written inside. Cloud storage has no locks: a workdir there
    is not locked (a warning says so), and one run at a time is the user's to keep."""

    def __init__(self, workdir: str | Path):
        self.workdir = workdir
        self.path = Path(workdir) / LOCK_FILE
        self.file = None

    def __enter__(self) -> WorkdirLock:
        if storage.is_remote(self.workdir):
            logging.warning(
                "%s is on cloud storage, which has no file locks: nothing stops a second run "
                "in it; start one run per workdir.",
                self.workdir,
            )
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = open_lock_file(self.path)
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
        file.truncate()  # the lock file itself, never a link's target: see open_lock_file
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


def config_differences(
    saved: dict[str, Any], current: dict[str, Any], untrained: Sequence[str] = ()
) -> list[str]:
    """``field: saved -> current`` for every field that differs, outside ``RUN_ONLY_FIELDS``
    and the settings (``stages.<name>.*``) of the ``untrained`` stages."""

    def run_only(name: str) -> bool:
        if any(name.startswith(f"stages.{stage}.") for stage in untrained):
            return True
        return any(name == field or name.startswith(f"{field}.") for field in RUN_ONLY_FIELDS)

    saved, current = with_added_fields(flatten(saved)), with_added_fields(flatten(current))
    missing = object()
    return [
        f"{name}: {saved.get(name, 'unset')!r} -> {current.get(name, 'unset')!r}"
        for name in sorted(set(saved) | set(current))
        if not run_only(name) and saved.get(name, missing) != current.get(name, missing)
    ]


def has_checkpoints(workdir: str | Path) -> bool:
    """Whether some stage of ``workdir`` saved a checkpoint (``<stage>/checkpoints/*/<step>``)."""
    steps = storage.path(workdir).glob("*/checkpoints/*/*")
    return any(step.name.isdigit() for step in steps)


def untrained_stages(workdir: str | Path, stage_order: Sequence[str]) -> list[str]:
    """The stages at the end of ``stage_order`` that have no checkpoint in ``workdir``, nor
    any stage after them: nothing there was trained with their settings (or, through their
    best, from them), so those may change (a stage moved aside after it diverged trains
    again with a lower ``lr``)."""
    untrained = []
    for stage in reversed(list(stage_order)):
        steps = (storage.path(workdir) / stage).glob("checkpoints/*/*")
        if any(step.name.isdigit() for step in steps):
            break
        untrained.append(stage)
    return untrained


def check_config(workdir: str | Path, config_json: str) -> None:
    """Refuses ``config_json`` (the run's config as JSON) when ``workdir`` was trained with a
    config that differs in a field that shapes the result (``config_differences``). A workdir
    without checkpoints (a start that failed before its first save) takes the new config, and
    so do the settings of stages without checkpoints (``untrained_stages``)."""
    path = storage.path(workdir) / CONFIG_FILE
    if not path.is_file() or not has_checkpoints(workdir):
        return
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(
            f"{path} is unreadable ({error}); it records the config this workdir was trained "
            "with. Restore it, or train in a new --workdir."
        ) from error
    current = json.loads(config_json)
    untrained = untrained_stages(workdir, current.get("stage_order") or ())
    differences = config_differences(saved, current, untrained)
    if differences:
        shown = "; ".join(differences[:8]) + (" ..." if len(differences) > 8 else "")
        raise ConfigMismatchError(
            f"{path.parent} was trained with another config ({len(differences)} fields differ, "
            f"workdir -> this run: {shown}). Train in a new --workdir (start it from this one "
            f"with --config.init_checkpoint={path.parent}/<stage>), or pass the workdir's values."
        )
