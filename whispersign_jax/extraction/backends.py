"""MediaPipe hand detectors behind one interface: the Tasks HandLandmarker and legacy Hands.

`detect(frame_rgb, timestamp_ms)` returns the frame's `HandDetection`s; `close()` releases
MediaPipe's graph. MediaPipe is imported only when a backend is made.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol

import numpy as np

from whispersign_jax.extraction.errors import ExtractionError
from whispersign_jax.extraction.slots import HandDetection

BACKENDS = ("auto", "tasks", "legacy")
INSTALL_HINT = 'pip install "opencv-python-headless==5.0.0.93" "mediapipe==1.2.2"'
LEGACY_INSTALL_HINT = (
    "python scripts/legacy_env.py .venvs/mediapipe-legacy in a checkout of this project, which "
    'builds a separate environment with "mediapipe==0.10.21" (it needs numpy<2 and protobuf<5) and '
    "prints its python to run the extractor with (PYTHONPATH=<this project>)"
)


class HandBackend(Protocol):
    name: str
    labels_assume_mirrored: bool  # handedness labels are right for a selfie (mirrored) image

    def detect(self, frame_rgb: np.ndarray, timestamp_ms: int) -> list[HandDetection]: ...

    def close(self) -> None: ...


def import_mediapipe():
    """The mediapipe module, or an ExtractionError that says how to install it."""
    try:
        return importlib.import_module("mediapipe")
    except ImportError as error:
        raise ExtractionError(
            f"MediaPipe cannot be imported ({error}). Install it with {INSTALL_HINT} "
            f'(or pip install -e ".[video]"), or for the legacy backend {LEGACY_INSTALL_HINT}.'
        ) from error


def has_legacy_hands(mediapipe) -> bool:
    """True when this mediapipe still has `mp.solutions.hands` (versions before 0.10.30)."""
    try:
        return hasattr(importlib.import_module("mediapipe.python.solutions.hands"), "Hands")
    except ImportError:
        return hasattr(getattr(mediapipe, "solutions", None), "hands")


def tasks_image(mediapipe, frame_rgb: np.ndarray):
    """An RGB uint8 `(H, W, 3)` frame as the `mp.Image` that Tasks landmarkers take."""
    return mediapipe.Image(
        image_format=mediapipe.ImageFormat.SRGB, data=np.ascontiguousarray(frame_rgb)
    )


class TasksBackend:
    """`mediapipe.tasks` HandLandmarker in VIDEO mode with two hands."""

    name = "tasks"
    # Unlike the legacy solution, HandLandmarker labels each hand as it appears in the image:
    # measured on data/samples/signing_clip.mp4 with mediapipe 0.10.5 to 1.2.2.
    labels_assume_mirrored = False

    def __init__(self, model_path: Path, num_hands: int = 2):
        self._mediapipe = import_mediapipe()
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model_path)),
            running_mode=vision.RunningMode.VIDEO,
            num_hands=num_hands,
        )
        try:
            self._landmarker = vision.HandLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as error:
            raise ExtractionError(
                f"{model_path}: MediaPipe cannot load this hand landmarker model ({error}); "
                "download it again (see --hand_model in docs/data.md)"
            ) from error

    def detect(self, frame_rgb: np.ndarray, timestamp_ms: int) -> list[HandDetection]:
        return self.detect_image(tasks_image(self._mediapipe, frame_rgb), timestamp_ms)

    def detect_image(self, image, timestamp_ms: int) -> list[HandDetection]:
        """`detect` of a frame already wrapped as an `mp.Image` (shared with other tasks)."""
        result = self._landmarker.detect_for_video(image, timestamp_ms)
        return [
            HandDetection(
                np.array([(point.x, point.y, point.z) for point in landmarks]),  # (21, 3)
                categories[0].category_name,
                float(categories[0].score),
            )
            for landmarks, categories in zip(result.hand_landmarks, result.handedness, strict=True)
        ]

    def close(self) -> None:
        self._landmarker.close()


class LegacyBackend:
    """`mp.solutions.hands.Hands` in tracking mode with two hands (mediapipe < 0.10.30)."""

    name = "legacy"
    labels_assume_mirrored = True  # documented and measured (fixtures/README.md)

    def __init__(self, num_hands: int = 2):
        mediapipe = import_mediapipe()
        if not has_legacy_hands(mediapipe):
            raise ExtractionError(
                f"mediapipe {mediapipe.__version__} has no mp.solutions (removed in 0.10.30); "
                f"use --backend tasks, or for the legacy backend {LEGACY_INSTALL_HINT}"
            )
        from mediapipe.python.solutions import hands

        self._hands = hands.Hands(static_image_mode=False, max_num_hands=num_hands)

    def detect(self, frame_rgb: np.ndarray, timestamp_ms: int) -> list[HandDetection]:
        del timestamp_ms  # the legacy graph keeps its own clock
        result = self._hands.process(np.ascontiguousarray(frame_rgb))
        if not result.multi_hand_landmarks:
            return []
        return [
            HandDetection(
                np.array([(point.x, point.y, point.z) for point in landmarks.landmark]),
                handedness.classification[0].label,
                float(handedness.classification[0].score),
            )
            for landmarks, handedness in zip(
                result.multi_hand_landmarks, result.multi_handedness, strict=True
            )
        ]

    def close(self) -> None:
        self._hands.close()
