"""What a recogniser takes (no JAX): one checked clip of raw keypoints, padded into a batch of
one. Shared by ``recognize.Recognizer`` and the exported models' ``ExportedRecognizer``."""

from __future__ import annotations

import numpy as np

from whispersign_jax import keypoints


def checked_clip(
    clip: np.ndarray, source: str, joint_set: str, model: str, max_frames: int, advice: str
) -> np.ndarray:
    """``clip`` as float32 ``(T, J, 7)`` after the data contract's checks (joints of
    ``joint_set``, a hand in some frame); a ValueError naming ``source`` and ``model`` (who
    expects the joints) otherwise, or when it is longer than ``max_frames`` (``advice`` says
    what to do then)."""
    clip = keypoints.validate_keypoints(
        clip, source, joint_set, expected_by=model, require_hand=True
    )
    if len(clip) > max_frames:
        raise ValueError(
            f"{source}: {len(clip)} frames, more than the {max_frames} "
            f"({max_frames / keypoints.FPS:.0f} s) that {model} takes; {advice}."
        )
    return clip


def padded_batch(clip: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """A preprocessed clip (T, J, 7) zero-padded to ``frames``: keypoints (1, frames, J, 7)
    float32 and frame_mask (1, frames) bool."""
    batch = np.zeros((1, frames, *clip.shape[1:]), np.float32)  # (1, frames, joints, 7)
    batch[0, : len(clip)] = clip
    return batch, np.arange(frames)[None, :] < len(clip)
