"""Metric writing for training and evaluation, without TensorFlow.

``create_writer`` returns an ``EventFileWriter``: TensorBoard event files written with the
``tensorboard`` package alone, read back exactly like CLU's default writer's (tested): scalars
as float32 tensor summaries of the scalars plugin, hparams as the hparams plugin's session
start, images as PNG tensor summaries of the images plugin. Not importing TensorFlow saves
about 3 s and keeps its C++ INFO lines (the oneDNN notice, which ``TF_CPP_MIN_LOG_LEVEL`` no
longer hides) out of the log. ``ReportProgress`` logs a stage's progress, speed and ETA.
"""

from __future__ import annotations

import io
import itertools
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from whispersign_jax import storage


class MetricWriter(Protocol):
    """The methods of a CLU ``MetricWriter`` that this project uses."""

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None: ...
    def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None: ...
    def write_hparams(self, hparams: Mapping[str, Any]) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


def create_writer(logdir: str | None, log_values: bool = True) -> MetricWriter:
    """Event files in ``logdir`` (``None``: none, as on processes other than the first), and
    with ``log_values`` an INFO line per write; training logs its own lines instead."""
    return EventFileWriter(logdir, log_values)


class EventFileWriter:
    """TensorBoard event files in ``logdir`` (``None``: none) without TensorFlow, read back
    like CLU's: the same tags, steps, values and plugins. With ``log_values`` every write is
    also an INFO line, as CLU's ``LoggingWriter`` writes it."""

    def __init__(self, logdir: str | None, log_values: bool = True):
        self._log_values = log_values
        self._events = None if logdir is None else EventFile(logdir)

    def _write(self, step: int, tag: str, tensor, metadata) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2

        summary = summary_pb2.Summary()
        summary.value.add(tag=tag, tensor=tensor, metadata=metadata)
        self._events.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        if self._log_values:
            shown = (
                f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in scalars.items()
            )
            logging.info("[%d] %s", step, ", ".join(sorted(shown)))
        if self._events is None:
            return
        from tensorboard.plugins.scalar import metadata
        from tensorboard.util import tensor_util

        for tag, value in scalars.items():
            tensor = tensor_util.make_tensor_proto(np.float32(value))
            self._write(step, tag, tensor, metadata.create_summary_metadata("", ""))

    def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
        """``images``: (batch, height, width, channels) uint8 each, written as PNG."""
        if self._log_values:
            logging.info("[%d] Got images: %s.", step, {k: v.shape for k, v in images.items()})
        if self._events is None:
            return
        from PIL import Image
        from tensorboard.plugins.image import metadata
        from tensorboard.util import tensor_util

        for tag, batch in images.items():
            batch = batch[None] if batch.ndim == 3 else batch  # (batch, height, width, channels)
            height, width = batch.shape[1:3]
            pngs = [str(width).encode(), str(height).encode()]  # then one PNG per image
            for image in batch:
                png = io.BytesIO()
                Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(png, "PNG")
                pngs.append(png.getvalue())
            tensor = tensor_util.make_tensor_proto(pngs)
            self._write(step, tag, tensor, metadata.create_summary_metadata("", ""))

    def write_hparams(self, hparams: Mapping[str, Any]) -> None:
        if self._log_values:
            logging.info("[Hyperparameters] %s", dict(hparams))
        if self._events is None:
            return
        from tensorboard.compat.proto import event_pb2
        from tensorboard.plugins.hparams import summary_v2

        summary = summary_v2.hparams_pb(dict(hparams))
        self._events.add_event(event_pb2.Event(wall_time=time.time(), step=0, summary=summary))

    def flush(self) -> None:
        if self._events is not None:
            self._events.flush()

    def close(self) -> None:
        if self._events is not None:
            self._events.close()


class EventFile:
    """One TensorBoard event file in ``logdir``, named and framed as the ``tensorboard``
    package's ``EventFileWriter`` does, written without it: that one opens files through
    TensorFlow wherever TensorFlow is installed. Each write reaches the file at once, so
    TensorBoard follows a run live and a killed run keeps what it wrote."""

    _uids = itertools.count()

    def __init__(self, logdir: str):
        from tensorboard.compat.proto import event_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter

        folder = storage.path(logdir)  # a local folder, or cloud storage through epath
        folder.mkdir(parents=True, exist_ok=True)
        host, pid, uid = socket.gethostname(), os.getpid(), next(self._uids)
        name = f"events.out.tfevents.{int(time.time()):010d}.{host}.{pid}.{uid}"
        self._file = (folder / name).open("wb")
        self._records = RecordWriter(self._file)
        self.add_event(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

    def add_event(self, event) -> None:
        self._records.write(event.SerializeToString())
        self._file.flush()

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class ReportProgress:
    """Call after every train step, with the scalars of the logging window that ends there if
    any. Logs one line (``name``, step, percentage, ETA, then the scalars or, without them, the
    speed) whenever scalars come, every ``every_steps`` steps, after ``every_secs`` without a
    line, and at the last step; and writes ``steps_per_sec`` and ``uptime`` to the event files
    (what CLU's ``periodic_actions.ReportProgress`` writes).

    The ETA is the stage's remaining steps at its average speed so far, validation included;
    the seconds of ``excluded_seconds()`` (one-off compilations) are left out. With
    ``may_stop_early`` (early stopping on) it is a bound: "ETA at most ...". The first call only
    starts the clock, so the first step's compilation does not count.
    """

    def __init__(
        self,
        num_train_steps: int,
        writer: MetricWriter,
        every_steps: int,
        every_secs: float = 60.0,
        name: str = "",
        excluded_seconds: Callable[[], float] = lambda: 0.0,
        may_stop_early: bool = False,
    ):
        self.num_train_steps, self.writer, self.name = num_train_steps, writer, name
        self.every_steps, self.every_secs = every_steps, every_secs
        self.excluded_seconds, self.may_stop_early = excluded_seconds, may_stop_early
        self._start: tuple[int, float, float] | None = None  # step, time, excluded seconds
        self._previous: tuple[int, float] | None = None  # (step, time) of the last report

    def __call__(self, step: int, scalars: Mapping[str, float] | None = None) -> bool:
        """Reports if due; True if it did."""
        now = time.monotonic()
        if self._start is None:
            self._start = (step, now, self.excluded_seconds())
            self._previous = (step, now)
            if scalars:
                logging.info("%s: %s", self._position(step, None), format_scalars(scalars))
            return bool(scalars)
        previous_step, previous_time = self._previous
        due = (
            scalars is not None
            or step % self.every_steps == 0
            or step == self.num_train_steps
            or now - previous_time > self.every_secs
        )
        if step == previous_step or not due:
            return False
        steps_per_sec = (step - previous_step) / (now - previous_time)
        shown = format_scalars(scalars) if scalars else f"{steps_per_sec:.1f} steps/s"
        logging.info("%s: %s", self._position(step, self.eta_seconds(step, now)), shown)
        self.writer.write_scalars(
            step, {"steps_per_sec": steps_per_sec, "uptime": now - self._start[1]}
        )
        self._previous = (step, now)
        return True

    def eta_seconds(self, step: int, now: float) -> float | None:
        """Seconds to the stage's last step at the average speed since the clock started
        (compilations excluded); None before there is a speed."""
        start_step, start_time, excluded = self._start
        working = now - start_time - (self.excluded_seconds() - excluded)
        if step <= start_step or working <= 0:
            return None
        return (self.num_train_steps - step) * working / (step - start_step)

    def _position(self, step: int, eta: float | None) -> str:
        """``stage2 step 40/300 (13%, ETA 3 min 20 s)``."""
        where = f"{self.name} step {step}/{self.num_train_steps} "
        where += f"({100 * step / self.num_train_steps:.0f}%"
        if eta is not None and step < self.num_train_steps:
            where += f", ETA {'at most ' if self.may_stop_early else ''}{format_duration(eta)}"
        return where.lstrip() + ")"


def format_scalars(scalars: Mapping[str, Any]) -> str:
    """``{"loss/total": 0.12345, "frames_per_s": 15442.4}`` -> ``loss/total=0.1235,
    frames_per_s=15442``: tags as in TensorBoard, four significant digits, in the given order."""

    def shown(value: Any) -> str:
        if isinstance(value, float) and math.isfinite(value) and abs(value) >= 1000:
            return f"{value:.0f}"
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    return ", ".join(f"{key}={shown(value)}" for key, value in scalars.items())


def format_duration(seconds: float) -> str:
    """A duration as a person reads it: ``12 s``, ``3 min 20 s``, ``2 h 05 min``, ``1 d 10 h``
    (rounded up to whole seconds, so a remaining fraction never reads ``0 s``)."""
    total = math.ceil(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
