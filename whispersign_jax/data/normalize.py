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


def _present_joints(keypoints):
    """(T, J) bool: joints whose confidence is above 0."""
    return keypoints[..., kp.CONFIDENCE] > 0


def masked_median(values, mask, xp=np):
    """The median over axis 0 of the rows of ``values`` (n, ...) where ``mask`` (n,) holds,
    as ``np.median`` gives it (the mean of the two middle values for an even count); inf
    when no row is selected. Sorting, not boolean indexing: also traceable by ``jax.numpy``."""
    selected = mask.reshape(mask.shape + (1,) * (values.ndim - 1))
    ordered = xp.sort(xp.where(selected, values, np.inf), axis=0)  # unselected rows last
    count = xp.sum(mask.astype(np.int32))
    lower = ordered[xp.maximum((count - 1) // 2, 0)]
    upper = ordered[count // 2]
    return (lower + upper) / 2


def normalize_hands(keypoints, xp=np):
    """Clip-level hand-centric, bone-length-scaled ``(T, J, 7)`` keypoints (float32).

    Centre: median of the present wrists' x, y, z over every frame and both hands.
    Scale: median over present hand-frames of the mean 2-D bone length of the hand.
    Every present joint (pose and lips too) moves by the same centre and scale. A clip
    without any present hand is returned unchanged. NumPy or ``jax.numpy`` (``xp``).
    """
    keypoints = xp.asarray(keypoints, np.float32)
    frames = keypoints.shape[0]
    hands = keypoints[:, : kp.NUM_JOINTS].reshape(frames, 2, kp.JOINTS_PER_HAND, kp.NUM_FEATURES)
    hand_present = (hands[:, :, kp.WRIST, kp.CONFIDENCE] > 0).reshape(-1)  # (frames * hands,)
    any_hand = xp.any(hand_present)
    wrists = hands[:, :, kp.WRIST, kp.XYZ].reshape(-1, 3)  # (frames * hands, 3)
    centre = xp.where(any_hand, masked_median(wrists, hand_present, xp), 0.0)  # (3,)
    parents, children = np.array(kp.HAND_BONES).T
    bones = hands[:, :, children, 0:2] - hands[:, :, parents, 0:2]  # (frames, hands, 20, 2)
    bone_length = xp.sqrt(xp.sum(xp.square(bones), axis=-1)).mean(axis=-1)  # (frames, hands)
    scale = masked_median(bone_length.reshape(-1), hand_present, xp)
    usable = any_hand & xp.isfinite(scale) & (scale >= MIN_BONE_LENGTH)
    scale = xp.where(usable, scale, 1.0).astype(np.float32)
    normalized = xp.concatenate(
        [
            (keypoints[..., kp.XYZ] - centre) / scale,
            keypoints[..., kp.VELOCITY] / scale,
            keypoints[..., kp.CONFIDENCE :],
        ],
        axis=-1,
    )  # (frames, joints, 7)
    return xp.where(_present_joints(keypoints)[..., None], normalized, 0.0).astype(np.float32)


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

    def __call__(self, keypoints, xp=np):
        """``(T, J, 7)`` -> ``(T, J, 7)`` float32; missing joints stay exactly zero. NumPy or
        ``jax.numpy`` (``xp``): the browser's feature graph runs this method."""
        keypoints = xp.asarray(keypoints, np.float32)
        if self.normalize_hands:
            keypoints = normalize_hands(keypoints, xp)
        if self.standardize:
            mean = np.asarray(self.mean, np.float32)
            std = np.asarray(self.std, np.float32)
            motion = (keypoints[..., :NUM_MOTION_FEATURES] - mean) / std
            present = _present_joints(keypoints)[..., None]  # (T, J, 1)
            keypoints = xp.concatenate(
                [xp.where(present, motion, 0.0), keypoints[..., NUM_MOTION_FEATURES:]], axis=-1
            )
        return keypoints

    @classmethod
    def fit(
        cls, clips: Iterable[np.ndarray], normalize_hands: bool, standardize: bool
    ) -> Preprocessor:
        """Statistics over the present joints of ``clips`` (pass the train split only)."""
        if not standardize:
            return cls(normalize_hands=normalize_hands)
        sums = FeatureSums()
        hands_only = cls(normalize_hands=normalize_hands)
        for clip in clips:
            sums.add(hands_only(clip))
        return sums.preprocessor(normalize_hands)

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


@dataclasses.dataclass
class FeatureSums:
    """Running sums of the motion features over present joints: what standardisation needs,
    gathered one clip at a time (bounded memory) and mergeable (parallel writers)."""

    count: int = 0
    total: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(NUM_MOTION_FEATURES))
    total_squares: np.ndarray = dataclasses.field(
        default_factory=lambda: np.zeros(NUM_MOTION_FEATURES)
    )

    def add(self, keypoints: np.ndarray) -> None:
        """Adds the present joints of one ``(T, J, 7)`` clip, already hand-normalised where
        the statistics are meant for hand-normalised inputs."""
        values = keypoints[_present_joints(keypoints)][:, :NUM_MOTION_FEATURES]
        values = values.astype(np.float64)  # (present joints, 6)
        self.total += values.sum(axis=0)
        self.total_squares += np.square(values).sum(axis=0)
        self.count += len(values)

    def merge(self, other: FeatureSums) -> FeatureSums:
        return FeatureSums(
            self.count + other.count,
            self.total + other.total,
            self.total_squares + other.total_squares,
        )

    def preprocessor(self, normalize_hands: bool) -> Preprocessor:
        """The standardising ``Preprocessor`` of these sums; a ValueError without joints."""
        if self.count == 0:
            raise ValueError(
                "Cannot fit standardisation: the training clips have no present hand or other "
                "joint; check the data or set config.data.standardize=False."
            )
        mean = self.total / self.count
        std = np.sqrt(np.maximum(self.total_squares / self.count - np.square(mean), 0.0))
        std = np.maximum(std, MIN_STD)
        return Preprocessor(normalize_hands, tuple(map(float, mean)), tuple(map(float, std)))

    def to_dict(self) -> dict:
        """Exact JSON (floats round-trip through ``repr``)."""
        return {
            "count": self.count,
            "total": [float(v) for v in self.total],
            "total_squares": [float(v) for v in self.total_squares],
        }

    @classmethod
    def from_dict(cls, fields: dict) -> FeatureSums:
        return cls(
            int(fields["count"]),
            np.asarray(fields["total"], np.float64),
            np.asarray(fields["total_squares"], np.float64),
        )
