"""Training-time augmentation of keypoint samples (NumPy, seeded by the caller's rng).

Every augmentation works on any joint set (docs/design.md, "Data contract"): spatial ones move
all present joints, mirroring uses the set's mirror permutation (body and lip points swap
sides with the hands), masking draws over all joints."""

from __future__ import annotations

import dataclasses

import numpy as np

from whispersign_jax import keypoints as kp
from whispersign_jax.data.sample import Sample


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    noise_std: float = 0.002  # Gaussian noise on x, y, z of present hands
    mirror_prob: float = 0.5  # left-right mirroring that swaps the hands (and body sides)
    speed_range: tuple[float, float] = (0.8, 1.25)  # playback speed factors
    scale_range: tuple[float, float] = (0.9, 1.1)  # zoom about the image centre
    rotation_degrees: float = 8.0  # in-plane rotation about the image centre
    shift: float = 0.05  # uniform x, y translation of the whole signer, image units
    time_jitter: float = 0.3  # random shift of each resampled frame, in source frames (< 0.5)
    joint_mask_prob: float = 0.03  # share of joints whose motion features are masked
    time_mask_segments: int = 1  # segments of frames where every joint is dropped
    time_mask_frames: int = 6  # longest masked segment, in frames


def _replace(sample: Sample, keypoints: np.ndarray, spans: np.ndarray | None = None) -> Sample:
    spans = sample.spans if spans is None else spans
    return dataclasses.replace(sample, keypoints=keypoints, spans=spans)


def speed_frames(frames: int, factor: float) -> int:
    """Length of a ``frames``-long clip replayed ``factor`` times faster."""
    return max(2, round(frames / factor))


def change_speed(
    sample: Sample, factor: float, jitter: float = 0.0, rng: np.random.Generator | None = None
) -> Sample:
    """Replays the sample ``factor`` times faster; positions are interpolated only between
    frames where the joint is present, velocities recomputed, spans rescaled. ``jitter`` > 0
    moves each new frame's source time by up to that many source frames (temporal jitter)."""
    frames = len(sample.keypoints)
    new_frames = speed_frames(frames, factor)
    source_time = np.linspace(0, frames - 1, new_frames)  # (new_frames,)
    if jitter > 0:
        source_time += rng.uniform(-jitter, jitter, new_frames)
        source_time = np.clip(np.sort(source_time), 0, frames - 1)
    lower = np.floor(source_time).astype(int)
    upper = np.minimum(lower + 1, frames - 1)
    weight = (source_time - lower)[:, None, None]
    xyz = sample.keypoints[..., kp.XYZ]
    interpolated = (1 - weight) * xyz[lower] + weight * xyz[upper]  # (new_frames, joints, 3)
    confidence = sample.keypoints[..., kp.CONFIDENCE]  # (frames, joints)
    # No motion into gaps: both neighbours must have the joint, except one with (almost) no
    # weight, so a new frame that falls on a source frame keeps the joints that frame has.
    lower_present = (confidence[lower] > 0) | (weight[:, :, 0] > 1 - 1e-6)  # (new_frames, J)
    upper_present = (confidence[upper] > 0) | (weight[:, :, 0] < 1e-6)
    nearest = np.where(weight[:, 0, 0] < 0.5, lower, upper)
    new_confidence = np.where(lower_present & upper_present, confidence[nearest], 0.0)
    new_keypoints = kp.assemble_keypoints(interpolated, new_confidence)
    spans = np.round(sample.spans * (new_frames - 1) / max(frames - 1, 1)).astype(np.int64)
    return _replace(sample, new_keypoints, spans)


def transform_plane(
    sample: Sample, scale: float, degrees: float, shift: tuple[float, float] = (0.0, 0.0)
) -> Sample:
    """Rotates and scales x, y (and their velocities) about the image centre, then shifts."""
    angle = np.deg2rad(degrees)
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rotation = rotation.T.astype(np.float32)  # (2, 2), applied to row vectors
    offset = (0.5 + np.asarray(shift)).astype(np.float32)
    keypoints = np.asarray(sample.keypoints, np.float32).copy()
    present = keypoints[..., kp.CONFIDENCE : kp.CONFIDENCE + 1] > 0  # (T, joints, 1)
    xy = keypoints[..., 0:2] - np.float32(0.5)
    keypoints[..., 0:2] = np.where(present, xy @ rotation + offset, 0.0)
    keypoints[..., 3:5] = keypoints[..., 3:5] @ rotation
    keypoints[..., 2] *= np.float32(scale)
    keypoints[..., 5] *= np.float32(scale)
    return _replace(sample, keypoints)


def add_noise(sample: Sample, std: float, rng: np.random.Generator) -> Sample:
    keypoints = sample.keypoints.copy()
    present = keypoints[..., kp.CONFIDENCE] > 0  # (T, joints)
    noise = rng.standard_normal(keypoints[..., kp.XYZ].shape, dtype=np.float32)
    keypoints[..., kp.XYZ] += np.float32(std) * noise * present[..., None]
    return _replace(sample, keypoints)


def draw_speed(config: AugmentConfig, rng: np.random.Generator) -> float:
    """The speed factor of one sample (drawn from its own stream, so batch shapes are known
    before any augmentation runs)."""
    return float(rng.uniform(*config.speed_range))


def augment(
    sample: Sample, config: AugmentConfig, rng: np.random.Generator, speed: float | None = None
) -> Sample:
    """One random draw of every geometric and temporal augmentation in ``config`` (masking,
    which acts on preprocessed features, is ``mask_features``)."""
    if rng.random() < config.mirror_prob:
        sample = _replace(sample, kp.mirror_joints(sample.keypoints))
    speed = draw_speed(config, rng) if speed is None else speed
    sample = change_speed(sample, speed, config.time_jitter, rng)
    sample = transform_plane(
        sample,
        rng.uniform(*config.scale_range),
        rng.uniform(-config.rotation_degrees, config.rotation_degrees),
        tuple(rng.uniform(-config.shift, config.shift, size=2)),
    )
    return add_noise(sample, config.noise_std, rng)


def mask_features(
    keypoints: np.ndarray, config: AugmentConfig, rng: np.random.Generator
) -> np.ndarray:
    """Joint masking (motion features of random joints set to 0 over the whole clip) and
    time-segment masking (every joint dropped, confidence 0, for a few frames). Applied after
    preprocessing, so a masked value is the feature's training mean."""
    keypoints = keypoints.copy()
    frames = len(keypoints)
    masked_joints = rng.random(keypoints.shape[1]) < config.joint_mask_prob  # (joints,)
    keypoints[:, masked_joints, : kp.CONFIDENCE] = 0.0
    for _ in range(config.time_mask_segments):
        length = int(rng.integers(0, config.time_mask_frames + 1))
        start = int(rng.integers(0, max(frames - length, 0) + 1))
        keypoints[start : start + length] = 0.0
    return keypoints


def window_length(frames, timed, window_frames: int):
    """Length of ``random_window``'s result, known before drawing the window: ``frames``
    and ``timed`` are one clip's, or (N,) arrays of a split's (``clips.ClipIndex``)."""
    return np.where(timed, np.minimum(frames, window_frames), frames)


def random_window(
    sample: Sample, window_frames: int, hop_frames: int, rng: np.random.Generator
) -> Sample:
    """One of the sliding windows a streaming recogniser sees (starts every ``hop_frames``,
    the last one flush with the end); keeps the glosses whose span is mostly inside.

    An untimed sample (``Sample.timed`` False) comes back whole: its spans only say that each
    gloss is somewhere in the clip, so no window is known to hold or to miss a gloss."""
    frames = len(sample.keypoints)
    if frames <= window_frames or not sample.timed:
        return sample
    starts = list(range(0, frames - window_frames + 1, hop_frames))
    if starts[-1] != frames - window_frames:
        starts.append(frames - window_frames)
    start = int(rng.choice(starts))
    end = start + window_frames
    overlap = np.minimum(sample.spans[:, 1], end) - np.maximum(sample.spans[:, 0], start)
    duration = np.maximum(sample.spans[:, 1] - sample.spans[:, 0], 1)
    keep = overlap / duration > 0.5
    spans = np.clip(sample.spans[keep] - start, 0, window_frames)
    return dataclasses.replace(
        sample, keypoints=sample.keypoints[start:end], labels=sample.labels[keep], spans=spans
    )
