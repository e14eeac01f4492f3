"""Metric writing for training and evaluation, with or without TensorFlow.

``create_writer`` returns CLU's default writer (INFO logs plus TensorBoard event files through
``tf.summary``) where CLU and TensorFlow import, else ``EventFileWriter``, which logs the same
lines and writes the same events with the ``tensorboard`` package alone: scalars as float32
tensor summaries of the scalars plugin, hparams as the hparams plugin's session start, images
as PNG tensor summaries of the images plugin. ``ReportProgress`` logs progress, speed and ETA.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np


class MetricWriter(Protocol):
    """The methods of a CLU ``MetricWriter`` that this project uses."""

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None: ...
    def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None: ...
    def write_hparams(self, hparams: Mapping[str, Any]) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


def create_writer(logdir: str, just_logging: bool = False) -> MetricWriter:
    """CLU's writer where TensorFlow is installed, else ``EventFileWriter``; both log every
    value, and with ``just_logging`` (processes other than the first) only log."""
    try:
        from clu import metric_writers  # imports TensorFlow
    except ImportError:
        return EventFileWriter(None if just_logging else logdir)
    return metric_writers.create_default_writer(logdir, just_logging=just_logging)


class EventFileWriter:
    """TensorBoard event files in ``logdir`` (``None``: INFO logs only) without TensorFlow,
    read back like CLU's: the same tags, steps, values and plugins."""

    def __init__(self, logdir: str | None):
        self._events = None
        if logdir is not None:
            from tensorboard.summary.writer import event_file_writer

            self._events = event_file_writer.EventFileWriter(logdir)

    def _write(self, step: int, tag: str, tensor, metadata) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2

        summary = summary_pb2.Summary()
        summary.value.add(tag=tag, tensor=tensor, metadata=metadata)
        self._events.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        shown = (f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in scalars.items())
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


class ReportProgress:
    """Call after every train step: every ``every_steps`` steps, every ``every_secs`` and at
    the last step, logs steps per second, progress and ETA and writes ``steps_per_sec`` and
    ``uptime`` (what CLU's ``periodic_actions.ReportProgress`` reports). The first call only
    starts the clock, so compilation does not count."""

    def __init__(
        self, num_train_steps: int, writer: MetricWriter, every_steps: int, every_secs=60.0
    ):
        self.num_train_steps, self.writer = num_train_steps, writer
        self.every_steps, self.every_secs = every_steps, every_secs
        self._start = time.monotonic()
        self._previous: tuple[int, float] | None = None  # (step, time) of the last report

    def __call__(self, step: int) -> bool:
        """Reports if due; True if it did."""
        now = time.monotonic()
        if self._previous is None:
            self._previous = (step, now)
            return False
        previous_step, previous_time = self._previous
        due = (
            step % self.every_steps == 0
            or step == self.num_train_steps
            or now - previous_time > self.every_secs
        )
        if step == previous_step or not due:
            return False
        steps_per_sec = (step - previous_step) / (now - previous_time)
        eta = (self.num_train_steps - step) / steps_per_sec
        logging.info(
            "%.1f steps/s, %.1f%% (%d/%d), ETA: %s",
            steps_per_sec,
            100 * step / self.num_train_steps,
            step,
            self.num_train_steps,
            format_seconds(eta),
        )
        self.writer.write_scalars(
            step, {"steps_per_sec": steps_per_sec, "uptime": now - self._start}
        )
        self._previous = (step, now)
        return True


def format_seconds(seconds: float) -> str:
    """123456.7 -> '1d10h17m'."""
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{days}d" if days else "") + (f"{hours}h" if hours else "") + f"{minutes}m"
