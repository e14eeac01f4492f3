"""The keypoint contract: joint order, feature layout and their helpers.

This is the one module that knows how a `(frames, 42, 7)` keypoint array is laid out
(docs/design.md, "Data contract"). It imports NumPy only, so the extractor and the data
tools can use it without JAX.
"""

from __future__ import annotations

import numpy as np

FPS = 60
NUM_JOINTS = 42
JOINTS_PER_HAND = 21
NUM_FEATURES = 7

# Hand slots: the signer's anatomical left hand first, then the right hand.
LEFT_HAND = slice(0, 21)
RIGHT_HAND = slice(21, 42)

# Features of each joint: position, velocity per second, hand confidence (0 = hand missing).
XYZ = slice(0, 3)
VELOCITY = slice(3, 6)
CONFIDENCE = 6

# MediaPipe's 21-point hand topology; joint numbers within one hand.
WRIST = 0
THUMB = (1, 2, 3, 4)
INDEX = (5, 6, 7, 8)
MIDDLE = (9, 10, 11, 12)
RING = (13, 14, 15, 16)
LITTLE = (17, 18, 19, 20)
# Parent of each joint (the wrist is the root); every finger chain starts at the wrist.
HAND_PARENTS = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)
# (parent, child) pairs, one per bone.
HAND_BONES = tuple((parent, joint) for joint, parent in enumerate(HAND_PARENTS) if parent >= 0)


def compute_velocities(
    xyz: np.ndarray,
    present: np.ndarray,
    fps: float = FPS,
    timestamps: np.ndarray | None = None,
) -> np.ndarray:
    """Per-second velocities of `(T, 42, 3)` positions, never across a missing hand.

    Central differences where both neighbouring frames have the hand, one-sided differences
    where only one has it, and zero where the hand is missing or has no present neighbour.
    `present` is `(T, 2)` bool, one column per hand slot. Frames are `1 / fps` apart unless
    `timestamps` (`(T,)` seconds, increasing) gives their times. Returns float64 `(T, 42, 3)`.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    present = np.asarray(present, dtype=bool)
    num_frames = xyz.shape[0]
    if xyz.shape != (num_frames, NUM_JOINTS, 3) or present.shape != (num_frames, 2):
        raise ValueError(
            f"compute_velocities expects xyz (T, {NUM_JOINTS}, 3) and present (T, 2), "
            f"got {xyz.shape} and {present.shape}"
        )
    hands = xyz.reshape(num_frames, 2, JOINTS_PER_HAND, 3)  # (frames, hands, joints, xyz)
    has_previous = np.zeros_like(present)
    has_previous[1:] = present[1:] & present[:-1]
    has_next = np.zeros_like(present)
    has_next[:-1] = present[:-1] & present[1:]
    previous = np.concatenate([hands[:1], hands[:-1]])  # frame t-1 (frame 0 repeats itself)
    following = np.concatenate([hands[1:], hands[-1:]])  # frame t+1 (last frame repeats)
    upper = np.where(has_next[..., None, None], following, hands)
    lower = np.where(has_previous[..., None, None], previous, hands)
    if timestamps is None:
        steps = np.maximum(has_next.astype(np.float64) + has_previous, 1.0)  # (frames, hands)
        velocity = (upper - lower) * (fps / steps)[..., None, None]
        return velocity.reshape(num_frames, NUM_JOINTS, 3)
    times = np.asarray(timestamps, dtype=np.float64)
    if times.shape != (num_frames,):
        raise ValueError(f"compute_velocities expects timestamps (T,), got {times.shape}")
    times_previous = np.concatenate([times[:1], times[:-1]])[:, None]  # (frames, 1)
    times_next = np.concatenate([times[1:], times[-1:]])[:, None]
    span = np.where(has_next, times_next, times[:, None]) - np.where(
        has_previous, times_previous, times[:, None]
    )  # (frames, hands) seconds between the two frames of each difference
    velocity = (upper - lower) / np.where(span > 0, span, 1.0)[..., None, None]
    return velocity.reshape(num_frames, NUM_JOINTS, 3)


def assemble_keypoints(
    xyz: np.ndarray,
    confidence: np.ndarray,
    fps: float = FPS,
    timestamps: np.ndarray | None = None,
) -> np.ndarray:
    """Builds float32 `(T, 42, 7)` keypoints from `(T, 42, 3)` positions and `(T, 2)` confidence.

    A hand whose confidence is 0 is missing: all seven features of its joints are set to 0.
    Velocities come from the float32 positions as they are stored, with frames `1 / fps` apart
    or at the given `timestamps` (seconds).
    """
    positions = np.asarray(xyz, dtype=np.float32)
    confidence = np.asarray(confidence, dtype=np.float32)
    num_frames = positions.shape[0]
    if positions.shape != (num_frames, NUM_JOINTS, 3) or confidence.shape != (num_frames, 2):
        raise ValueError(
            f"assemble_keypoints expects xyz (T, {NUM_JOINTS}, 3) and confidence (T, 2), "
            f"got {positions.shape} and {confidence.shape}"
        )
    if not np.all((confidence >= 0.0) & (confidence <= 1.0)):
        raise ValueError("assemble_keypoints: confidence must lie in [0, 1] (0 = hand missing)")
    present = confidence > 0.0  # (frames, hands)
    keypoints = np.empty((num_frames, NUM_JOINTS, NUM_FEATURES), np.float32)
    keypoints[..., XYZ] = positions
    keypoints[..., VELOCITY] = compute_velocities(positions, present, fps, timestamps)
    keypoints[..., CONFIDENCE] = np.repeat(confidence, JOINTS_PER_HAND, axis=1)
    keypoints[~np.repeat(present, JOINTS_PER_HAND, axis=1)] = 0.0
    return keypoints


def mirror_hands(keypoints: np.ndarray) -> np.ndarray:
    """Left-right mirror of `(..., 42, 7)` keypoints: swaps the hand slots, x -> 1 - x, vx -> -vx.

    Missing hands stay all zero. Mirroring twice gives the input back (up to float32 rounding
    of `1 - x`).
    """
    keypoints = np.asarray(keypoints)
    if keypoints.shape[-2:] != (NUM_JOINTS, NUM_FEATURES):
        raise ValueError(
            f"mirror_hands expects keypoints (..., {NUM_JOINTS}, {NUM_FEATURES}), "
            f"got {keypoints.shape}"
        )
    mirrored = np.concatenate(
        [keypoints[..., RIGHT_HAND, :], keypoints[..., LEFT_HAND, :]], axis=-2
    )  # (..., joints, features), slots swapped
    present = mirrored[..., CONFIDENCE] > 0
    mirrored[..., 0] = np.where(present, 1 - mirrored[..., 0], 0)
    mirrored[..., VELOCITY.start] = np.where(present, -mirrored[..., VELOCITY.start], 0)
    return mirrored


def validate_keypoints(array: np.ndarray, source: str) -> np.ndarray:
    """Checks that `array` follows the keypoint contract and returns it as float32.

    Raises a ValueError that names `source` (a file, a dataset entry) when the shape is not
    `(T, 42, 7)` with T >= 1 or when a value is NaN or infinite.
    """
    try:
        keypoints = np.asarray(array, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source}: keypoints are not a numeric array ({error})") from error
    expected = f"(frames, {NUM_JOINTS}, {NUM_FEATURES})"
    if keypoints.ndim != 3 or keypoints.shape[1:] != (NUM_JOINTS, NUM_FEATURES):
        raise ValueError(
            f"{source}: keypoints must have shape {expected}, got {keypoints.shape}; "
            "see docs/design.md, 'Data contract', for the joint and feature layout"
        )
    if keypoints.shape[0] < 1:
        raise ValueError(f"{source}: keypoints have no frames, expected shape {expected}")
    finite = np.isfinite(keypoints)
    if not finite.all():
        bad_frames = np.unique(np.nonzero(~finite)[0])
        raise ValueError(
            f"{source}: {np.size(finite) - np.count_nonzero(finite)} NaN or infinite values "
            f"in {bad_frames.size} frame(s), first at frame {bad_frames[0]}; "
            "re-extract the keypoints or drop those frames"
        )
    return keypoints
