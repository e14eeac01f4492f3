"""The synthetic signers' kinematic hand: named handshapes and forward kinematics that turn
handshape parameters into 21 joints whose bones keep their lengths. NumPy only."""

from __future__ import annotations

import numpy as np

from whispersign_jax import keypoints as kp

# Bone lengths as fractions of the hand length (wrist to middle fingertip). Rows: thumb
# (wrist-CMC, metacarpal, proximal, distal), then index, middle, ring, little (metacarpal,
# proximal, middle, distal phalanx).
DEFAULT_BONES = np.array(
    [
        [0.20, 0.24, 0.18, 0.14],
        [0.40, 0.26, 0.15, 0.12],
        [0.40, 0.28, 0.17, 0.13],
        [0.38, 0.26, 0.16, 0.13],
        [0.35, 0.21, 0.12, 0.11],
    ]
)
_METACARPAL_ANGLES = np.radians([14.0, 2.0, -10.0, -22.0])  # from the hand axis toward the thumb
_SPLAY = np.radians([10.0, 0.0, -9.0, -18.0])  # extra finger angle at full spread


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector, axis=-1, keepdims=True)


_THUMB_BASE = _unit(np.array([0.55, -0.8, -0.25]))
_THUMB_OPEN = _unit(np.array([0.8, -0.55, -0.2]))
_THUMB_OPPOSED = _unit(np.array([-0.25, -0.55, -0.8]))
_THUMB_CURL = np.array([-1.0, 0.3, -0.3])
_PALM_NORMAL = np.array([0.0, 0.0, -1.0])


def _handshape(fingers: list, spread: float, opposition: float, thumb_flex: float) -> np.ndarray:
    """Handshape parameters (15,): MCP/PIP/DIP flexion of index..little (radians), spread,
    thumb opposition and thumb flexion (both in [0, 1])."""
    flexion = np.radians(np.asarray(fingers, dtype=np.float64)).reshape(12)
    return np.concatenate([flexion, [spread, opposition, thumb_flex]])


_STRAIGHT, _CURLED, _HOOKED = (0, 0, 0), (85, 100, 65), (10, 85, 55)
_HALF, _BENT, _LOOSE = (45, 50, 30), (80, 0, 0), (20, 25, 12)
HANDSHAPES = {
    "flat": _handshape([_STRAIGHT] * 4, 0.0, 0.15, 0.1),
    "spread": _handshape([_STRAIGHT] * 4, 1.0, 0.0, 0.0),
    "fist": _handshape([_CURLED] * 4, 0.0, 0.55, 0.7),
    "index": _handshape([_STRAIGHT, _CURLED, _CURLED, _CURLED], 0.2, 0.8, 0.8),
    "v": _handshape([_STRAIGHT, _STRAIGHT, _CURLED, _CURLED], 1.0, 0.8, 0.8),
    "w": _handshape([_STRAIGHT, _STRAIGHT, _STRAIGHT, _CURLED], 1.0, 0.9, 0.9),
    "l": _handshape([_STRAIGHT, _CURLED, _CURLED, _CURLED], 0.2, 0.0, 0.0),
    "y": _handshape([_CURLED, _CURLED, _CURLED, _STRAIGHT], 1.0, 0.0, 0.0),
    "claw": _handshape([_HOOKED] * 4, 1.0, 0.2, 0.5),
    "o": _handshape([_HALF] * 4, 0.0, 1.0, 0.4),
    "bent": _handshape([_BENT] * 4, 0.0, 0.3, 0.1),
}
RELAXED = _handshape([_LOOSE] * 4, 0.3, 0.3, 0.3)


def hand_joints(handshape: np.ndarray, bone_lengths: np.ndarray = DEFAULT_BONES) -> np.ndarray:
    """Forward kinematics of a right hand: `(N, 15)` handshape parameters -> `(N, 21, 3)` joints.

    Hand frame: wrist at the origin, fingers along -y, palm facing -z (the camera), thumb
    toward +x. Units are hand lengths; every bone keeps its length whatever the handshape.
    """
    handshape = np.asarray(handshape, dtype=np.float64)
    count = handshape.shape[0]
    joints = np.zeros((count, kp.JOINTS_PER_HAND, 3))  # (hands, joints, xyz)

    # Index..little: the metacarpal is rigid, the three phalanges flex toward the palm.
    flexion = np.cumsum(handshape[:, :12].reshape(count, 4, 3), axis=2)  # (hands, finger, bone)
    spread = handshape[:, 12]
    knuckles = bone_lengths[1:, 0, None] * np.stack(
        [np.sin(_METACARPAL_ANGLES), -np.cos(_METACARPAL_ANGLES), np.zeros(4)], axis=-1
    )  # (finger, xyz)
    base_angle = 0.5 * _METACARPAL_ANGLES + spread[:, None] * _SPLAY  # (hands, finger)
    base = np.stack([np.sin(base_angle), -np.cos(base_angle), np.zeros_like(base_angle)], -1)
    directions = (
        np.cos(flexion)[..., None] * base[:, :, None, :] + np.sin(flexion)[..., None] * _PALM_NORMAL
    )  # (hands, finger, bone, xyz), unit vectors
    phalanges = np.cumsum(directions * bone_lengths[1:, 1:, None], axis=2)
    fingers = np.concatenate(
        [np.broadcast_to(knuckles[None, :, None], (count, 4, 1, 3)), knuckles[:, None] + phalanges],
        axis=2,
    )  # (hands, finger, joint, xyz)
    joints[:, 5:] = fingers.reshape(count, 16, 3)

    # Thumb: opposition swings the metacarpal across the palm, flexion curls the phalanges.
    opposition, thumb_flex = handshape[:, 13:14], handshape[:, 14:15]
    axis = _unit((1 - opposition) * _THUMB_OPEN + opposition * _THUMB_OPPOSED)  # (hands, xyz)
    curl = _unit(_THUMB_CURL - np.sum(_THUMB_CURL * axis, -1, keepdims=True) * axis)
    angles = thumb_flex * np.radians([0.0, 45.0, 90.0])  # (hands, bone)
    thumb = np.cos(angles)[..., None] * axis[:, None] + np.sin(angles)[..., None] * curl[:, None]
    joints[:, 1] = bone_lengths[0, 0] * _THUMB_BASE
    joints[:, 2:5] = joints[:, 1:2] + np.cumsum(thumb * bone_lengths[0, 1:, None], axis=1)
    return joints
