"""Orbax checkpoints of one stage: the latest few for resume and the best by validation.

Layout: ``<stage_dir>/checkpoints/{latest,best}/<step>/{model,train,metadata}``: ``model``
holds ``params`` and ``batch_stats`` (what the next stage and inference read), ``train`` the
``step`` and optimizer state (what resuming reads), ``metadata`` is JSON (``record.py``'s
``CheckpointRecord``): the model config, the label map, the stage and its validation metrics,
so that any checkpoint decodes to gloss names on its own, plus a fingerprint of every array.

Every restore checks those fingerprints; a step that cannot be read or does not match them is
corrupt or incomplete, and the restore falls back to the newest intact step with a warning
naming both (``latest`` keeps two steps, ``best`` the last two bests). Training's restore also
moves the damaged steps aside, to ``<folder>/quarantine/<step>-<time>/`` with a note saying why
(``quarantine``), so that it can save those steps again; nothing is ever deleted.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import logging
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from whispersign_jax import storage
from whispersign_jax.errors import WhisperSignError
from whispersign_jax.runs.record import CheckpointRecord


def abstract_like(tree):
    """Shapes, dtypes and shardings of ``tree``: the restore target (any device count).

    Leaves without a sharding (from ``jax.eval_shape``) restore onto this process's first
    device."""
    default = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])

    def abstract(x):
        sharding = getattr(x, "sharding", None) or default
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)

    return jax.tree.map(abstract, tree)


@jax.jit
def _finite_leaves(tree) -> jax.Array:
    floats = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack([jnp.isfinite(x).all() for x in floats]))


def all_finite(tree) -> bool:
    """True when every floating-point value of ``tree`` is finite (one jitted reduction)."""
    return bool(_finite_leaves(tree))


_GOLDEN = 2654435761  # Knuth's multiplicative hash constant


def _fingerprint(x: jax.Array) -> jax.Array:
    """A uint32 hash of an array's bits: sum of its words times position-dependent odd
    weights, mod 2^32. Any change of one word changes it; works on sharded arrays."""
    width = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32}[x.dtype.itemsize]
    words = jax.lax.bitcast_convert_type(x.reshape(-1), width).astype(jnp.uint32)
    positions = jnp.arange(words.size, dtype=jnp.uint32)
    weights = (positions * jnp.uint32(_GOLDEN) + jnp.uint32(0x9E3779B9)) | jnp.uint32(1)
    return jnp.sum(words * weights, dtype=jnp.uint32)


_fingerprints = jax.jit(lambda tree: jax.tree.map(_fingerprint, tree))


def fingerprints(tree) -> dict[str, int]:
    """``{leaf path: uint32 fingerprint}`` of every array of ``tree`` (stored as JSON)."""
    hashed = jax.device_get(_fingerprints(tree))
    return {jax.tree_util.keystr(path): int(h) for path, h in jax.tree.leaves_with_path(hashed)}


class CorruptCheckpointError(WhisperSignError, RuntimeError):
    """A checkpoint step that cannot be read or does not match its fingerprints."""


class _HeldReports:
    """Python's reports of exceptions it cannot raise (``sys.unraisablehook``) and asyncio's
    error log, held as text while a step is read (``reading_quietly``)."""

    def __init__(self):
        self.texts: list[str] = []

    def unraisable(self, report) -> None:  # as Python's own hook words it
        message = report.err_msg or "Exception ignored in"
        where = f"{message}: {report.object!r}\n" if report.object is not None else ""
        lines = traceback.format_exception(report.exc_type, report.exc_value, report.exc_traceback)
        self.texts.append(where + "".join(lines))

    def record(self, record: logging.LogRecord) -> bool:
        self.texts.append(logging.Formatter().format(record) + "\n")
        return False  # held, not logged


@contextlib.contextmanager
def reading_quietly(seconds: float = 0.2):
    """Around one read of a step. When it fails part-way, Orbax's reads of the other arrays
    stay suspended, held by the frames of the error's traceback, and its reads still in flight
    end after its event loop closed; Python would print a traceback for each (``Event loop is
    closed``, ``Exception ignored in <coroutine ...>``, asyncio's ``exception was never
    retrieved``), before and long after the one-line warning or error. Here those reports are
    held from the start of the read; after a failure the traceback's frames let go of the
    reads (its lines stay), which are waited for and collected, and the reports are dropped
    (the caller reports the failure). After a read that succeeds they are printed as usual."""
    held = _HeldReports()
    hook, asyncio_log = sys.unraisablehook, logging.getLogger("asyncio")
    sys.unraisablehook = held.unraisable
    asyncio_log.addFilter(held.record)
    try:
        yield
    except BaseException as error:
        cause, seen = error, set()
        while cause is not None and id(cause) not in seen:  # the error and its causes
            seen.add(id(cause))
            traceback.clear_frames(cause.__traceback__)
            cause = cause.__cause__ or cause.__context__
        time.sleep(seconds)
        gc.collect()
        held.texts.clear()
        raise
    finally:
        sys.unraisablehook = hook
        asyncio_log.removeFilter(held.record)
        sys.stderr.write("".join(held.texts))


def read_step(manager, step: int, model_target, train_target=None):
    """``(model_vars, train_vars or None, metadata)`` of ``step``, verified against its
    fingerprints. ``model_target`` may be a function of the metadata (its model config).
    Raises CorruptCheckpointError (one line) for a step that is unreadable or altered."""
    where = f"{manager.directory}/{step}"

    def unreadable(error: Exception) -> CorruptCheckpointError:
        reason = (str(error).strip().splitlines() or [""])[0][:300]
        return CorruptCheckpointError(f"{where} is unreadable ({type(error).__name__}: {reason})")

    try:
        with reading_quietly():
            metadata = manager.restore(
                step, args=ocp.args.Composite(metadata=ocp.args.JsonRestore())
            ).metadata
    except Exception as error:  # any failure to read a step means it is damaged or partial
        raise unreadable(error) from error
    if callable(model_target):  # may also refuse a checkpoint of another model (ValueError)
        model_target = model_target(metadata)
    items = {"model": ocp.args.StandardRestore(abstract_like(model_target))}
    if train_target is not None:
        items["train"] = ocp.args.StandardRestore(abstract_like(train_target))
    try:
        with reading_quietly():
            restored = manager.restore(step, args=ocp.args.Composite(**items))
    except Exception as error:
        raise unreadable(error) from error
    trees = {"model": restored.model}
    if train_target is not None:
        trees["train"] = restored.train
    expected = (metadata or {}).get("fingerprints") or {}
    for name, tree in trees.items():
        if name not in expected:
            continue  # written before fingerprints existed
        actual = fingerprints(tree)
        altered = sorted(k for k in expected[name] if actual.get(k) != expected[name][k])
        if altered:
            raise CorruptCheckpointError(
                f"{where}: {len(altered)} arrays differ from the fingerprints saved with them "
                f"(first {altered[0]}): the files were altered or damaged"
            )
    return restored.model, trees.get("train"), metadata


def restore_newest_intact(
    manager,
    model_target: Any | Callable[[dict], Any],
    train_target=None,
    quarantine_damaged: bool = False,
) -> tuple[Any, Any, dict] | None:
    """The newest step of ``manager`` that reads and matches its fingerprints; None when the
    manager has no step. Skipped steps get a warning; if none is intact, a
    CorruptCheckpointError lists each. With ``quarantine_damaged`` (training, which will save
    those steps again) the skipped steps are moved aside (``quarantine``)."""
    problems = {}
    for step in sorted(manager.all_steps(), reverse=True):
        try:
            restored = read_step(manager, step, model_target, train_target)
        except CorruptCheckpointError as error:
            logging.warning("%s; trying the checkpoint before it.", error)
            problems[step] = str(error)
            continue
        if problems:
            logging.warning(
                "Using %s/%d: the newer checkpoint(s) are corrupt or incomplete (see above).",
                manager.directory,
                step,
            )
            if quarantine_damaged:
                quarantine(manager, problems, f"The run went on from step {step}.")
        return restored
    if problems:
        raise CorruptCheckpointError(
            f"No intact checkpoint in {manager.directory}: {'; '.join(problems.values())}. "
            "Delete that folder to train this stage again from its start, or restore it from "
            "a backup."
        )
    return None


QUARANTINE = "quarantine"  # <checkpoint folder>/quarantine/<step>-<time>/{<step>/, NOTE}
NOTE = "why.txt"


def quarantine(manager, reasons: dict[int, str], outcome: str) -> None:
    """Moves each step of ``reasons`` (step -> why) out of ``manager``'s folder, whole, to
    ``quarantine/<step>-<UTC time>/<step>`` beside a plain-text note saying why, and warns
    in one line each; ``manager`` then no longer sees them. Process 0 moves; every process
    waits for it, then re-reads its steps."""
    directory = storage.path(str(manager.directory))
    if jax.process_index() == 0:
        moved_at = datetime.datetime.now(datetime.UTC)
        for step, reason in sorted(reasons.items()):
            destination = _free_folder(directory / QUARANTINE, f"{step}-{moved_at:%Y%m%dT%H%M%SZ}")
            destination.mkdir(parents=True)
            (destination / NOTE).write_text(
                f"Step {step} of {directory} was moved here on {moved_at:%Y-%m-%d %H:%M:%S} UTC "
                f"by a training run that could not use it:\n{reason}\n{outcome} Nothing reads "
                "this folder; delete it once you no longer need it.\n"
            )
            storage.move_folder(directory / str(step), destination / str(step))
            logging.warning("Moved step %d of %s to %s (%s says why).", step, directory,
                            destination, NOTE)  # fmt: skip
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(f"quarantine {directory}")
    manager.reload()


def _free_folder(parent: Path, name: str) -> Path:
    """``parent / name``, or ``name-2``, ``name-3`` ... when that exists."""
    candidate, number = parent / name, 1
    while candidate.exists():
        number += 1
        candidate = parent / f"{name}-{number}"
    return candidate


class StageCheckpoints:
    def __init__(self, stage_dir: str | Path, keep_latest: int = 2):
        root = storage.absolute_path(stage_dir) / "checkpoints"
        self.latest = self._manager(root / "latest", keep_latest)
        self.best = self._manager(root / "best", 2)  # the previous best: a fallback

    @staticmethod
    def _manager(directory: Path, keep: int) -> ocp.CheckpointManager:
        options = ocp.CheckpointManagerOptions(
            preservation_policy=ocp.checkpoint_managers.LatestN(keep),
            create=True,
            # Multi-process saves meet at barriers named by step; ``latest`` and ``best`` save
            # the same step, so each manager's barriers carry its own folder.
            multiprocessing_options=ocp.options.MultiprocessingOptions(
                barrier_sync_key_prefix=str(directory)
            ),
        )
        return ocp.CheckpointManager(directory, options=options)

    @staticmethod
    def _save(manager, step: int, model_vars, train_vars, metadata: dict[str, Any]) -> None:
        if not all_finite((model_vars, train_vars)):
            raise FloatingPointError(
                f"Refusing to save step {step} to {manager.directory}: it holds NaN or infinite "
                "values (the train step skips non-finite updates, so this is a bug: please "
                "report it). The earlier checkpoints are intact."
            )
        metadata = {
            **metadata,
            "fingerprints": {"model": fingerprints(model_vars), "train": fingerprints(train_vars)},
        }
        if step in manager.all_steps():  # from before a resume at an earlier step
            reason = (
                f"{manager.directory}/{step} was saved before training went back to an earlier "
                "step (a damaged newer checkpoint, or another machine's numbers)"
            )
            quarantine(manager, {step: reason}, f"Step {step} was saved again in its place.")
        manager.save(
            step,
            args=ocp.args.Composite(
                model=ocp.args.StandardSave(model_vars),
                train=ocp.args.StandardSave(train_vars),
                metadata=ocp.args.JsonSave(metadata),
            ),
            force=True,
        )

    def save_latest(self, step: int, model_vars, train_vars, metadata: dict[str, Any]) -> None:
        self._save(self.latest, step, model_vars, train_vars, metadata)

    def save_best(self, step: int, model_vars, train_vars, metadata: dict[str, Any]) -> None:
        """Waits for the write: a later latest checkpoint must never exist without the best
        one validated before it (a resume would not validate that step again)."""
        self._save(self.best, step, model_vars, train_vars, metadata)
        self.best.wait_until_finished()

    @staticmethod
    def restore(
        manager: ocp.CheckpointManager, model_target, train_target=None, quarantine_damaged=False
    ):
        """(model_vars, train_vars or None, metadata) of the newest intact step, or None if
        there is none. Pass ``train_target=None`` to read only the model (a new stage,
        inference); training passes ``quarantine_damaged`` to move skipped steps aside."""
        return restore_newest_intact(manager, model_target, train_target, quarantine_damaged)

    @staticmethod
    def record(manager: ocp.CheckpointManager, step: int | None = None) -> CheckpointRecord | None:
        """The record of ``step``, or (None) of the newest readable step; None: no such step."""
        if step is not None:
            if step not in manager.all_steps():
                return None
            metadata = manager.restore(
                step, args=ocp.args.Composite(metadata=ocp.args.JsonRestore())
            ).metadata
            return CheckpointRecord.from_json(metadata)
        for step in sorted(manager.all_steps(), reverse=True):
            try:
                metadata = manager.restore(
                    step, args=ocp.args.Composite(metadata=ocp.args.JsonRestore())
                ).metadata
                return CheckpointRecord.from_json(metadata)
            except Exception as error:  # an unreadable step: the one before it decides
                logging.warning(
                    "%s/%d: metadata unreadable (%s); using the step before it.",
                    manager.directory,
                    step,
                    type(error).__name__,
                )
        return None

    def wait(self) -> None:
        self.latest.wait_until_finished()
        self.best.wait_until_finished()

    def close(self) -> None:
        self.latest.close()
        self.best.close()
