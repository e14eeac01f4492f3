"""Per-frame tracks -> `(T, J, 7)` keypoints, resampled from timestamps to a fixed rate.

Tracks are hands (`(T, 2, 21, 3)` with one presence per hand) or the joints of any joint set
(`(T, J, 3)` with one confidence per joint). Resampling never invents motion into a gap: an
output frame gets a hand (a joint) only by interpolating between two consecutive input frames
that both have it (and are close in time), or by taking the one input frame that has it
within half an output period. NumPy only.
"""

from __future__ import annotations

import numpy as np

from whispersign_jax import keypoints as kp

# Two consecutive input frames further apart than this are never interpolated between.
MAX_INTERPOLATION_GAP_S = 0.1


def tracks_to_keypoints(
    positions: np.ndarray,
    presence: np.ndarray,
    timestamps: np.ndarray,
    target_fps: float | None = kp.FPS,
    max_gap_s: float = MAX_INTERPOLATION_GAP_S,
) -> np.ndarray:
    """Builds float32 `(T', J, 7)` keypoints (docs/design.md, "Data contract") from tracks.

    `positions` is `(T, 2, 21, 3)` x, y, z per anatomical hand slot (0 = left, 1 = right) with
    `presence` `(T, 2)` confidence in [0, 1] and 0 where the hand is missing, or `(T, J, 3)`
    joints of a joint set (`keypoints.stack_parts`) with `presence` `(T, J)` per joint;
    `timestamps` `(T,)` strictly increasing seconds. With `target_fps` the frames are
    resampled to that rate starting at the first timestamp; input already on that grid is kept
    1:1. With `target_fps=None` the frames are kept and velocities use the timestamps.
    """
    positions, presence, timestamps = _validated(positions, presence, timestamps)
    if target_fps is not None and not (np.isfinite(target_fps) and target_fps > 0):
        raise ValueError(f"target_fps must be a positive number or None, got {target_fps}")
    num_frames, num_joints = positions.shape[0], positions.shape[1] * positions.shape[2]
    if target_fps is None:
        return kp.assemble_keypoints(
            positions.reshape(num_frames, num_joints, 3), presence, timestamps=timestamps
        )
    output_times = resampling_times(timestamps, target_fps)
    if not _on_grid(timestamps, output_times, target_fps):
        positions, presence = resample(positions, presence, timestamps, output_times, max_gap_s)
    num_output = positions.shape[0]
    return kp.assemble_keypoints(
        positions.reshape(num_output, num_joints, 3), presence, fps=target_fps
    )


def resampling_times(timestamps: np.ndarray, target_fps: float) -> np.ndarray:
    """Output frame times `(T',)`: `1 / target_fps` apart from the first to the last input time.

    The last output frame may lie up to a quarter period after the last input frame, so that
    timestamps rounded to milliseconds still give one output frame per input frame.
    """
    duration = float(timestamps[-1] - timestamps[0])
    num_output = int(np.floor(duration * target_fps + 0.25)) + 1
    return timestamps[0] + np.arange(num_output) / target_fps


def _on_grid(timestamps: np.ndarray, output_times: np.ndarray, target_fps: float) -> bool:
    """True when the input frames already sit on the output grid (within a quarter period)."""
    return output_times.shape == timestamps.shape and bool(
        np.all(np.abs(output_times - timestamps) <= 0.25 / target_fps)
    )


def resample(
    positions,
    presence,
    timestamps,
    output_times,
    max_gap_s: float = MAX_INTERPOLATION_GAP_S,
    xp=np,
):
    """Linear interpolation per slot (a hand, or one joint) between present neighbours;
    missing elsewhere. `positions` `(T, slots, points, 3)`, `presence` `(T, slots)`,
    `timestamps` `(T,)` increasing, `output_times` `(T',)` `1 / fps` apart. Array code for
    NumPy or `jax.numpy` (`xp`) alike: the browser's feature graph runs this function on
    camera frames (padded with absent frames at later times)."""
    num_frames = timestamps.shape[0]
    if num_frames == 1:
        return positions.copy(), presence.copy()
    target_period = output_times[1] - output_times[0] if output_times.shape[0] > 1 else np.inf
    # Input frames around each output time: left <= t < right (the last pair at the end).
    if xp is np:
        after = np.searchsorted(timestamps, output_times, side="right")
    else:  # comparisons only: no loop in the exported graph
        after = xp.searchsorted(timestamps, output_times, side="right", method="compare_all")
    left = xp.clip(after - 1, 0, num_frames - 2)  # (frames_out,)
    right = left + 1
    span = timestamps[right] - timestamps[left]
    weight = xp.clip((output_times - timestamps[left]) / span, 0.0, 1.0)  # (frames_out,)
    present = presence > 0  # (frames, slots)

    interpolate = present[left] & present[right] & (span <= max_gap_s)[:, None]
    # Otherwise take a single present neighbour that is within half an output period.
    tolerance = 0.5 * xp.minimum(target_period, max_gap_s) + 1e-9
    near_left = present[left] & (output_times - timestamps[left] <= tolerance)[:, None]
    near_right = present[right] & (timestamps[right] - output_times <= tolerance)[:, None]
    right_is_closer = (weight > 0.5)[:, None]
    take_right = ~interpolate & near_right & (right_is_closer | ~near_left)
    take_left = ~interpolate & ~take_right & near_left
    weights = xp.where(interpolate, weight[:, None], take_right.astype(positions.dtype))
    keep = interpolate | take_left | take_right  # (frames_out, slots)

    blend = weights[..., None, None]  # (frames_out, slots, 1, 1)
    new_positions = (1 - blend) * positions[left] + blend * positions[right]
    new_presence = (1 - weights) * presence[left] + weights * presence[right]
    new_positions = xp.where(keep[..., None, None], new_positions, 0.0)
    new_presence = xp.where(keep, new_presence, 0.0)
    return new_positions, new_presence  # (frames_out, slots, points, 3), (frames_out, slots)


def _validated(
    positions: np.ndarray, presence: np.ndarray, timestamps: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checks shapes and values; returns float64 copies of the three arrays, positions as
    `(T, slots, points, 3)` (joints of a joint set: one point per slot)."""
    positions = np.asarray(positions, dtype=np.float64)
    presence = np.asarray(presence, dtype=np.float64)
    timestamps = np.asarray(timestamps, dtype=np.float64)
    num_frames = timestamps.shape[0] if timestamps.ndim == 1 else -1
    if positions.ndim == 3 and kp.joint_set_for(positions.shape[1]) is not None:
        positions = positions[:, :, None, :]  # (frames, joints, 1, xyz)
    slots = positions.shape[1] if positions.ndim == 4 else 2
    hands = (num_frames, 2, kp.JOINTS_PER_HAND, 3)
    joints = (num_frames, slots, 1, 3)
    if (
        timestamps.ndim != 1
        or positions.shape not in (hands, joints)
        or presence.shape != (num_frames, slots)
    ):
        raise ValueError(
            "tracks_to_keypoints expects positions (T, 2, 21, 3) with presence (T, 2), or "
            "(T, J, 3) with presence (T, J) for a joint set, and timestamps (T,), got "
            f"{positions.shape}, {presence.shape} and {timestamps.shape}"
        )
    if num_frames == 0:
        raise ValueError("tracks_to_keypoints: no frames (T == 0); the video has no frames")
    for name, array in (
        ("positions", positions),
        ("presence", presence),
        ("timestamps", timestamps),
    ):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"tracks_to_keypoints: {name} contain NaN or infinite values")
    if np.any(np.diff(timestamps) <= 0):
        first = int(np.argmax(np.diff(timestamps) <= 0)) + 1
        raise ValueError(
            "tracks_to_keypoints: timestamps must be strictly increasing, frame "
            f"{first} is at {timestamps[first]:.6f} s after {timestamps[first - 1]:.6f} s"
        )
    if np.any((presence < 0) | (presence > 1)):
        raise ValueError("tracks_to_keypoints: presence must lie in [0, 1] (0 = missing)")
    return positions, presence, timestamps
