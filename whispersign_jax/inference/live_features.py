"""The features of one streaming window, from the hand tracks of the camera frames around it.

This is the Python recogniser's chain for one window, as one array function: the tracks are
resampled to the 60 FPS grid (``extraction.tracks.resample``), assembled into ``(T, 42, 7)``
keypoints with velocities (``keypoints``) and preprocessed (``data.normalize.Preprocessor``).
It runs on NumPy or ``jax.numpy`` (``xp``); the browser page runs it as ``features.onnx``,
exported from this very code (``export.web``), so the page and the Python path share one
definition of the features. Windows see one grid frame of context on each side, so the
velocities at their edges are those of the whole stream. Hands only (the ``hands`` set).
"""

from __future__ import annotations

import numpy as np

from whispersign_jax import keypoints as kp
from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.extraction.tracks import MAX_INTERPOLATION_GAP_S, resample

CONTEXT_FRAMES = 1  # grid frames of context on each side of a window


def window_features(
    positions,
    presence,
    times,
    grid_times,
    grid_valid,
    preprocessor: Preprocessor,
    max_gap_s: float = MAX_INTERPOLATION_GAP_S,
    xp=np,
):
    """Keypoints and model input of one window of ``W`` frames.

    ``positions`` ``(C, 2, 21, 3)`` hands per camera frame in anatomical slots, ``presence``
    ``(C, 2)`` (0 = no hand), ``times`` ``(C,)`` increasing seconds; unused rows are absent
    frames (presence 0) at later times. ``grid_times`` ``(W + 2,)``: the times of the window's
    60 FPS frames with one frame of context before and after; ``grid_valid`` ``(W + 2,)``:
    which of them the stream has (the grid runs from the first camera frame to the last).
    Returns ``keypoints`` ``(W, 42, 7)`` float32, as ``extract`` makes them, and ``features``
    ``(W, 42, 7)``, what the encoder takes.
    """
    hands, hand_presence = resample(positions, presence, times, grid_times, max_gap_s, xp)
    hand_presence = xp.where(grid_valid[:, None], hand_presence, 0.0)  # (W + 2, 2)
    frames = grid_times.shape[0]
    wide = np.float64 if xp is np else np.float32  # NumPy's velocities are float64 (keypoints)
    xyz = hands.reshape(frames, kp.NUM_JOINTS, 3).astype(np.float32)  # (W + 2, 42, 3)
    confidence = xp.repeat(hand_presence.astype(np.float32), kp.JOINTS_PER_HAND, axis=1)
    present = confidence > 0  # (W + 2, 42)
    xyz = xp.where(present[..., None], xyz, 0.0)
    velocities = kp.velocities_at_fps(xyz.astype(wide), present, kp.FPS, xp)
    keypoints = kp.keypoint_features(xyz, confidence, velocities, xp).astype(np.float32)
    keypoints = keypoints[CONTEXT_FRAMES:-CONTEXT_FRAMES]  # (W, 42, 7)
    return keypoints, preprocessor(keypoints, xp)
