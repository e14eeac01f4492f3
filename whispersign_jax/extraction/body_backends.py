"""MediaPipe detectors of hands, pose and face behind one interface: legacy Holistic, and the
Tasks Hand, Pose and Face landmarkers together.

`detect(frame_rgb, timestamp_ms)` returns the frame's `body.BodyDetection`; `close()` releases
MediaPipe. MediaPipe is imported only when a backend is made.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol

import numpy as np

from whispersign_jax.extraction.backends import (
    LEGACY_INSTALL_HINT,
    TasksBackend,
    import_mediapipe,
    tasks_image,
)
from whispersign_jax.extraction.body import BodyDetection
from whispersign_jax.extraction.errors import ExtractionError
from whispersign_jax.extraction.model_file import FACE_MODEL, POSE_MODEL
from whispersign_jax.extraction.slots import HandDetection

# Holistic reports which hand is which, but no score for it.
HOLISTIC_HAND_SCORE = 1.0


class BodyBackend(Protocol):
    name: str
    labels_assume_mirrored: bool  # handedness labels are right for a selfie (mirrored) image

    def detect(self, frame_rgb: np.ndarray, timestamp_ms: int) -> BodyDetection: ...

    def close(self) -> None: ...


def has_legacy_holistic(mediapipe) -> bool:
    """True when this mediapipe still has `mp.solutions.holistic` (versions before 0.10.30)."""
    try:
        return hasattr(importlib.import_module("mediapipe.python.solutions.holistic"), "Holistic")
    except ImportError:
        return hasattr(getattr(mediapipe, "solutions", None), "holistic")


def _points(landmarks, with_visibility: bool = False) -> np.ndarray:
    """MediaPipe landmarks -> `(n, 3)` x, y, z, or `(n, 4)` with the visibility (1 where a
    landmark carries none)."""
    if with_visibility:
        return np.array(
            [
                (p.x, p.y, p.z, 1.0 if getattr(p, "visibility", None) is None else p.visibility)
                for p in landmarks
            ]
        )
    return np.array([(p.x, p.y, p.z) for p in landmarks])


class HolisticBackend:
    """`mp.solutions.holistic.Holistic` in tracking mode (mediapipe < 0.10.30): one person's
    pose (33 points with visibility), face (468) and both hands."""

    name = "legacy"
    # Holistic names each hand from the signer's point of view on an unmirrored image, unlike
    # legacy Hands: on data/samples/signing_clip.mp4 its right hand is the one that
    # Hands labels "Left", the signer's right (tests/extraction/test_real_holistic.py).
    labels_assume_mirrored = False

    def __init__(self):
        mediapipe = import_mediapipe()
        if not has_legacy_holistic(mediapipe):
            raise ExtractionError(
                f"mediapipe {mediapipe.__version__} has no mp.solutions.holistic (removed in "
                f"0.10.30); use --backend tasks, or for the legacy backend {LEGACY_INSTALL_HINT}"
            )
        from mediapipe.python.solutions import holistic

        self._holistic = holistic.Holistic(static_image_mode=False, refine_face_landmarks=False)

    def detect(self, frame_rgb: np.ndarray, timestamp_ms: int) -> BodyDetection:
        del timestamp_ms  # the legacy graph keeps its own clock
        result = self._holistic.process(np.ascontiguousarray(frame_rgb))
        hands = [
            HandDetection(_points(landmarks.landmark), label, HOLISTIC_HAND_SCORE)
            for label, landmarks in (
                ("Left", result.left_hand_landmarks),
                ("Right", result.right_hand_landmarks),
            )
            if landmarks is not None
        ]
        pose, face = result.pose_landmarks, result.face_landmarks
        return BodyDetection(
            hands,
            None if pose is None else _points(pose.landmark, with_visibility=True),  # (33, 4)
            None if face is None else _points(face.landmark),  # (468, 3)
        )

    def close(self) -> None:
        self._holistic.close()


def _video_landmarker(vision, base_options, kind: str, model: Path):
    """A Tasks pose or face landmarker in VIDEO mode for one person (``kind``: pose, face)."""
    landmarker, options, count, model_file = {
        "pose": (vision.PoseLandmarker, vision.PoseLandmarkerOptions, "num_poses", POSE_MODEL),
        "face": (vision.FaceLandmarker, vision.FaceLandmarkerOptions, "num_faces", FACE_MODEL),
    }[kind]
    settings = options(
        base_options=base_options(model_asset_path=str(model)),
        running_mode=vision.RunningMode.VIDEO,
        **{count: 1},
    )
    return _create(landmarker, settings, model, f"{kind} landmarker", model_file.flag)


class TasksBodyBackend:
    """The Tasks HandLandmarker (two hands), PoseLandmarker and, when `face_model` is given,
    FaceLandmarker, all in VIDEO mode on the same frames. Built against the documented API
    (mediapipe 0.10.x to 1.2.2) and tested with fakes; not run on the official model files,
    which cannot be downloaded on the machines it was written on."""

    name = "tasks"
    labels_assume_mirrored = TasksBackend.labels_assume_mirrored

    def __init__(self, hand_model: Path, pose_model: Path, face_model: Path | None = None):
        self._mediapipe = import_mediapipe()
        from mediapipe.tasks.python import BaseOptions, vision

        self._landmarkers: list = []  # closed in order by close()
        try:
            self._hands = TasksBackend(hand_model)
            self._landmarkers.append(self._hands)
            self._pose = _video_landmarker(vision, BaseOptions, "pose", pose_model)
            self._landmarkers.append(self._pose)
            self._face = None
            if face_model is not None:
                self._face = _video_landmarker(vision, BaseOptions, "face", face_model)
                self._landmarkers.append(self._face)
        except BaseException:
            self.close()
            raise

    def detect(self, frame_rgb: np.ndarray, timestamp_ms: int) -> BodyDetection:
        image = tasks_image(self._mediapipe, frame_rgb)
        hands = self._hands.detect_image(image, timestamp_ms)
        poses = self._pose.detect_for_video(image, timestamp_ms).pose_landmarks
        faces = []
        if self._face is not None:
            faces = self._face.detect_for_video(image, timestamp_ms).face_landmarks
        return BodyDetection(
            hands,
            _points(poses[0], with_visibility=True) if poses else None,  # (33, 4)
            _points(faces[0]) if faces else None,  # (478, 3): Face Mesh's 468, then the irises
        )

    def close(self) -> None:
        while self._landmarkers:
            self._landmarkers.pop().close()


def _create(task, options, model_path: Path, description: str, flag: str):
    try:
        return task.create_from_options(options)
    except (RuntimeError, ValueError) as error:
        raise ExtractionError(
            f"{model_path}: MediaPipe cannot load this {description} model ({error}); download "
            f"it again, or pass another with {flag}"
        ) from error
