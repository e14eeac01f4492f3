"""Reading video frames with their timestamps through OpenCV (imported only when needed)."""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from whispersign_jax.extraction.errors import ExtractionError

# Used when a container reports neither usable timestamps nor a frame rate.
FALLBACK_FPS = 30.0


def import_cv2():
    """The cv2 module, or an ExtractionError that says how to install it."""
    try:
        return importlib.import_module("cv2")
    except ImportError as error:
        raise ExtractionError(
            f"OpenCV is not installed ({error}); video extraction needs it: "
            'pip install opencv-python-headless mediapipe (pinned: pip install -e ".[video]")'
        ) from error


class VideoReader:
    """Frames of one video file as RGB uint8 `(H, W, 3)` with times in seconds."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise ExtractionError(f"{self.path}: no such video file; check the path")
        cv2 = import_cv2()
        self._cv2 = cv2
        self._capture = cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            self._capture.release()
            raise ExtractionError(
                f"{self.path}: OpenCV cannot open this file as a video (corrupt, truncated or "
                "an unsupported codec); re-encode it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4"
            )
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if math.isfinite(fps) and 0 < fps < 1000 else None

    def frames(self) -> Iterator[tuple[np.ndarray, float]]:
        """Yields `(frame_rgb, time_s)`; times are strictly increasing.

        Times come from the container (CAP_PROP_POS_MSEC) and fall back to the frame index
        over the frame rate where the container gives none or repeats one.
        """
        cv2 = self._cv2
        period = 1.0 / (self.fps or FALLBACK_FPS)
        previous = -math.inf  # no frame yet
        while True:
            ok, frame_bgr = self._capture.read()
            if not ok or frame_bgr is None:
                return
            previous = next_frame_time(self._capture.get(cv2.CAP_PROP_POS_MSEC), previous, period)
            yield cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB), previous  # (height, width, rgb)

    def close(self) -> None:
        self._capture.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def next_frame_time(container_ms: float, previous_s: float, period_s: float) -> float:
    """The container's time of a frame when it is usable and later than the previous frame's,
    else the previous frame's time plus one frame period."""
    time_s = container_ms / 1000.0
    if not math.isfinite(previous_s):
        return time_s if math.isfinite(time_s) and time_s >= 0 else 0.0
    if math.isfinite(time_s) and time_s > previous_s:
        return time_s
    return previous_s + period_s
