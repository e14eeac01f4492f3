"""MediaPipe pose and face landmarks of one frame -> the `pose` and `lips` parts of a joint set.

A body backend (Holistic, or the Tasks Pose + Face + Hand landmarkers) reports each frame as a
`BodyDetection`: the hands as `HandDetection`s (slots are decided by `slots.SlotAssigner`),
MediaPipe Pose's 33 landmarks with their visibility, and Face Mesh's 468 landmarks. Pose and
face points keep MediaPipe's anatomical names; `tracker.BodyTracker` mirrors them for a selfie view.
A part that was not detected is all zeros with confidence 0 (docs/design.md, "Data
contract"). NumPy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from whispersign_jax import keypoints as kp
from whispersign_jax.extraction.slots import HandDetection

POSE_LANDMARKS = 33  # MediaPipe Pose (BlazePose) topology
FACE_LANDMARKS = 468  # Face Mesh; the Tasks FaceLandmarker adds 10 iris points after them


@dataclass(frozen=True)
class BodyDetection:
    """What a body backend found in one frame; None where a part was not detected."""

    hands: Sequence[HandDetection] = ()
    pose: np.ndarray | None = None  # (33, 4) x, y, z, visibility; image units, z relative
    face: np.ndarray | None = None  # (468 or more, 3) x, y, z


def pose_part(pose: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Positions `(13, 3)` and confidence `(13,)` of the joint sets' pose points
    (`keypoints.POSE_POINTS`): the confidence is MediaPipe's visibility clipped to [0, 1]; an
    undetected pose is all zeros."""
    size = len(kp.POSE_POINTS)
    if pose is None:
        return np.zeros((size, 3)), np.zeros(size)
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (POSE_LANDMARKS, 4):
        raise ValueError(f"a pose detection needs (33, 4) landmarks, got {pose.shape}")
    points = pose[list(kp.POSE_POINTS)]  # (points, x y z visibility)
    if not np.all(np.isfinite(points)):
        return np.zeros((size, 3)), np.zeros(size)
    return points[:, :3], np.clip(points[:, 3], 0.0, 1.0)


def lips_part(face: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Positions `(40, 3)` and confidence `(40,)` of the lip points (`keypoints.LIP_POINTS`):
    confidence 1 where a face was detected (Face Mesh gives no per-point score), else all
    zeros."""
    size = len(kp.LIP_POINTS)
    if face is None:
        return np.zeros((size, 3)), np.zeros(size)
    face = np.asarray(face, dtype=np.float64)
    if face.ndim != 2 or face.shape[0] < FACE_LANDMARKS or face.shape[1] != 3:
        raise ValueError(f"a face detection needs (468, 3) landmarks or more, got {face.shape}")
    points = face[list(kp.LIP_POINTS)]  # (points, xyz)
    if not np.all(np.isfinite(points)):
        return np.zeros((size, 3)), np.zeros(size)
    return points, np.ones(size)


def body_parts(detection: BodyDetection) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The `pose` and `lips` parts of one frame, as `keypoints.stack_parts` takes them."""
    return {"pose": pose_part(detection.pose), "lips": lips_part(detection.face)}
