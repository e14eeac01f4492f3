"""Frame-by-frame hand tracking into anatomical slots, for videos and live cameras."""

from __future__ import annotations

import os

import numpy as np

from whispersign_jax.extraction import model_file
from whispersign_jax.extraction.backends import (
    BACKENDS,
    LEGACY_INSTALL_HINT,
    HandBackend,
    LegacyBackend,
    TasksBackend,
    has_legacy_hands,
    import_mediapipe,
)
from whispersign_jax.extraction.errors import ExtractionError
from whispersign_jax.extraction.slots import SlotAssigner


class HandTracker:
    """Tracks both hands frame by frame; a context manager that closes MediaPipe on exit.

    `track(frame_rgb, timestamp_s)` takes RGB uint8 `(H, W, 3)` frames in time order and
    returns positions `(2, 21, 3)` and presence `(2,)` in anatomical slots (0 left, 1 right).
    """

    def __init__(self, backend: HandBackend, mirrored: bool = False):
        self.backend = backend
        self.backend_name = backend.name
        self._slots = SlotAssigner(mirrored, backend.labels_assume_mirrored)
        self._last_ms: int | None = None

    def track(self, frame_rgb: np.ndarray, timestamp_s: float) -> tuple[np.ndarray, np.ndarray]:
        frame_rgb = np.asarray(frame_rgb)
        if frame_rgb.dtype != np.uint8 or frame_rgb.ndim != 3 or frame_rgb.shape[-1] != 3:
            raise ValueError(
                f"track expects an RGB uint8 frame (H, W, 3), got {frame_rgb.dtype} "
                f"{frame_rgb.shape}"
            )
        detections = self.backend.detect(frame_rgb, self._next_timestamp_ms(timestamp_s))
        return self._slots.assign(detections)

    def _next_timestamp_ms(self, timestamp_s: float) -> int:
        """MediaPipe's VIDEO mode needs strictly increasing whole milliseconds."""
        milliseconds = round(timestamp_s * 1000)
        if self._last_ms is not None and milliseconds <= self._last_ms:
            milliseconds = self._last_ms + 1  # repeated or rounded-together container times
        self._last_ms = milliseconds
        return milliseconds

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> HandTracker:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def open_hand_tracker(
    backend: str = "auto",
    *,
    mirrored: bool = False,
    model_path: str | os.PathLike | None = None,
) -> HandTracker:
    """A HandTracker on the chosen backend.

    `auto` takes the Tasks HandLandmarker when its model file is at hand (`model_path` or the
    cache), else the legacy `mp.solutions.hands` when installed, else Tasks with a download.
    """
    if backend not in BACKENDS:
        raise ExtractionError(f"--backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend == "legacy":
        return HandTracker(LegacyBackend(), mirrored)
    if backend == "tasks":
        return HandTracker(TasksBackend(model_file.ensure_model(model_path)), mirrored)
    mediapipe = import_mediapipe()
    if model_path is None and model_file.available_model() is None and has_legacy_hands(mediapipe):
        return HandTracker(LegacyBackend(), mirrored)
    try:
        return HandTracker(TasksBackend(model_file.ensure_model(model_path)), mirrored)
    except ExtractionError as error:
        if has_legacy_hands(mediapipe):
            raise  # the model file given or cached is the problem; the message says which
        raise ExtractionError(
            f"No hand tracking backend is usable. tasks: {error} legacy: needs mediapipe "
            f"0.10.21 or older (installed: {mediapipe.__version__}); {LEGACY_INSTALL_HINT}."
        ) from error
