"""Keypoint preprocessing shared by training and inference (NumPy only).

Two steps, each switchable (``config.data.normalize_hands``, ``config.data.standardize``):

1. Hand normalisation: positions relative to one clip-level reference point (the median of
   the present wrists over the whole clip) and divided by the clip's median bone length, so
   camera distance, framing and hand size drop out while where the hands go *during the
   clip* (location relative to the clip's centre, movement path, the two hands' distance)
   stays. A per-frame wrist centring would erase the movement path, so it is not used.
   Pose and lip joints (larger joint sets) get the same centre and scale as the hands: one
   similarity transform per clip, so where a hand is relative to the face or body stays.
2. Standardisation: per-feature mean and std of the present joints of the TRAIN split.

Missing joints stay exactly zero with confidence 0; the confidence feature is never changed.
Any joint set works (docs/design.md, "Data contract"): the hands are always joints 0-41.
The fitted ``Preprocessor`` travels in every checkpoint's metadata (``to_dict``) and is
applied unchanged at inference.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np

from whispersign_jax import keypoints as kp

MIN_BONE_LENGTH = 1e-4  # below this a clip's hands are degenerate: no scaling
MIN_STD = 1e-6
NUM_MOTION_FEATURES = kp.CONFIDENCE  # x, y, z, vx, vy, vz are standardised


def _present_joints(keypoints: np.ndarray) -> np.ndarray:
    """(T, J) bool: joints whose confidence is above 0."""
    return keypoints[..., kp.CONFIDENCE] > 0


def normalize_hands(keypoints: np.ndarray) -> np.ndarray:
    """Clip-level hand-centric, bone-length-scaled ``(T, J, 7)`` keypoints (float32).

    Centre: median of the present wrists' x, y, z over every frame and both hands.
    Scale: median over present hand-frames of the mean 2-D bone length of the hand.
    Every present joint (pose and lips too) moves by the same centre and scale. A clip
    without any present hand is returned unchanged.
    """
    keypoints = np.asarray(keypoints, np.float32)
    frames = keypoints.shape[0]
    hands = keypoints[:, : kp.NUM_JOINTS].reshape(frames, 2, kp.JOINTS_PER_HAND, kp.NUM_FEATURES)
    hand_present = hands[:, :, kp.WRIST, kp.CONFIDENCE] > 0  # (frames, hands)
    if not hand_present.any():
        return keypoints.copy()
    wrists = hands[:, :, kp.WRIST, kp.XYZ][hand_present]  # (present hand-frames, 3)
    centre = np.median(wrists, axis=0)  # (3,)
    parents, children = np.array(kp.HAND_BONES).T
    bones = hands[:, :, children, 0:2] - hands[:, :, parents, 0:2]  # (frames, hands, 20, 2)
    bone_length = np.linalg.norm(bones, axis=-1).mean(axis=-1)[hand_present]  # (present,)
    scale = float(np.median(bone_length))
    if not np.isfinite(scale) or scale < MIN_BONE_LENGTH:
        scale = 1.0
    result = keypoints.copy()
    result[..., kp.XYZ] = (keypoints[..., kp.XYZ] - centre) / scale
    result[..., kp.VELOCITY] = keypoints[..., kp.VELOCITY] / scale
    result[~_present_joints(keypoints)] = 0.0
    return result


@dataclasses.dataclass(frozen=True)
class Preprocessor:
    """Hand normalisation on/off plus standardisation statistics (None: no standardising).

    ``mean`` and ``std`` have one value per motion feature (x, y, z, vx, vy, vz), pooled over
    all present joints (both hands, and pose and lips in larger joint sets), so mirroring
    does not change them.
    """

    normalize_hands: bool = False
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None and len(value) != NUM_MOTION_FEATURES:
                raise ValueError(
                    f"Preprocessor.{name} needs {NUM_MOTION_FEATURES} values (x, y, z, vx, vy, "
                    f"vz), got {len(value)}."
                )
        if (self.mean is None) != (self.std is None):
            raise ValueError("Preprocessor needs both mean and std, or neither.")

    @property
    def standardize(self) -> bool:
        return self.mean is not None

    @property
    def is_identity(self) -> bool:
        return not self.normalize_hands and not self.standardize

    def __call__(self, keypoints: np.ndarray) -> np.ndarray:
        """``(T, J, 7)`` -> ``(T, J, 7)`` float32; missing joints stay exactly zero."""
        keypoints = np.asarray(keypoints, np.float32)
        if self.normalize_hands:
            keypoints = normalize_hands(keypoints)
        if self.standardize:
            mean = np.asarray(self.mean, np.float32)
            std = np.asarray(self.std, np.float32)
            motion = (keypoints[..., :NUM_MOTION_FEATURES] - mean) / std
            present = _present_joints(keypoints)[..., None]  # (T, J, 1)
            keypoints = keypoints.copy()
            keypoints[..., :NUM_MOTION_FEATURES] = np.where(present, motion, 0.0)
        return keypoints

    @classmethod
    def fit(
        cls, clips: Iterable[np.ndarray], normalize_hands: bool, standardize: bool
    ) -> Preprocessor:
        """Statistics over the present joints of ``clips`` (pass the train split only)."""
        if not standardize:
            return cls(normalize_hands=normalize_hands)
        total = np.zeros(NUM_MOTION_FEATURES)
        total_squares = np.zeros(NUM_MOTION_FEATURES)
        count = 0
        hands_only = cls(normalize_hands=normalize_hands)
        for clip in clips:
            clip = hands_only(clip)
            values = clip[_present_joints(clip)][:, :NUM_MOTION_FEATURES].astype(np.float64)
            total += values.sum(axis=0)
            total_squares += np.square(values).sum(axis=0)
            count += len(values)
        if count == 0:
            raise ValueError(
                "Cannot fit standardisation: the training clips have no present hand or other "
                "joint; check the data or set config.data.standardize=False."
            )
        mean = total / count
        std = np.sqrt(np.maximum(total_squares / count - np.square(mean), 0.0))
        std = np.maximum(std, MIN_STD)
        return cls(normalize_hands, tuple(map(float, mean)), tuple(map(float, std)))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict) -> Preprocessor:
        mean, std = fields["mean"], fields["std"]
        return cls(
            normalize_hands=bool(fields["normalize_hands"]),
            mean=None if mean is None else tuple(float(v) for v in mean),
            std=None if std is None else tuple(float(v) for v in std),
        )
