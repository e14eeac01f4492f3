"""Does a block of 21 points look like a MediaPipe hand? Checks by bone-length ratios.

Used to verify where a dataset keeps its hands (VOYA_VSL's 535-point frames) before trusting
a believed layout. Every measure is a median over the frames where the block is not all zero,
in the image plane (x, y), relative to the palm length (wrist to middle-finger knuckle), so
it holds for any hand size, position and most viewpoints.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from whispersign_jax import keypoints as kp

_MCP = np.array([finger[0] for finger in (kp.INDEX, kp.MIDDLE, kp.RING, kp.LITTLE)])
_PIP = _MCP + 1
_TIP = _MCP + 3
_BONES = np.array(kp.HAND_BONES)  # (20, 2) parent, child


@dataclasses.dataclass(frozen=True)
class HandFit:
    """Hand-likeness measures of one 21-point block; `fits` says whether all are in range."""

    frames: int  # frames where the block has points
    bone_to_spread: float  # mean bone length / mean distance of all point pairs (hands: small)
    knuckle_gap: float  # spacing of neighbouring knuckles (5-9-13-17) / palm length
    pip_beyond_mcp: float  # share of fingers whose middle joint is further from the wrist
    tip_reach: float  # wrist-to-fingertip / wrist-to-knuckle, mean over the four fingers
    bone_variation: float  # how much bone-length proportions change over frames (rigid: low)

    @property
    def fits(self) -> bool:
        return (
            self.frames > 0
            and self.bone_to_spread < 0.75
            and 0.08 < self.knuckle_gap < 0.6
            and self.pip_beyond_mcp > 0.7
            and self.tip_reach > 0.8
            and self.bone_variation < 0.4
        )

    @property
    def score(self) -> float:
        """Higher is more hand-like; for ranking candidate offsets."""
        if self.frames == 0:
            return -np.inf
        gap_penalty = abs(np.log(max(self.knuckle_gap, 1e-6) / 0.25))
        return (
            self.pip_beyond_mcp
            + min(self.tip_reach, 1.5)
            - self.bone_to_spread
            - gap_penalty
            - 2 * self.bone_variation
        )

    def describe(self) -> str:
        return (
            f"bone/spread {self.bone_to_spread:.2f} (hand < 0.75), knuckle gap "
            f"{self.knuckle_gap:.2f} (0.08-0.6), PIP beyond MCP {self.pip_beyond_mcp:.2f} "
            f"(> 0.7), tip reach {self.tip_reach:.2f} (> 0.8), bone variation "
            f"{self.bone_variation:.2f} (< 0.4) over {self.frames} frames"
        )


def hand_fit(points: np.ndarray) -> HandFit:
    """Measures `(frames, 21, 2 or 3)` points; frames whose points are all zero are ignored.

    Bone variation uses all coordinates given (x, y, z: bone lengths of a tracked hand are
    nearly constant in 3-D); the other measures use x, y.
    """
    points = np.asarray(points, dtype=np.float64)
    points = points[np.any(points != 0, axis=(1, 2)) & np.isfinite(points).all(axis=(1, 2))]
    palm = np.linalg.norm(points[:, kp.MIDDLE[0], :2] - points[:, kp.WRIST, :2], axis=-1)
    points, palm = points[palm > 1e-9], palm[palm > 1e-9]  # (frames, 21, dims), (frames,)
    if len(points) == 0:
        return HandFit(0, np.nan, np.nan, np.nan, np.nan, np.nan)
    xy = points[..., :2]
    lengths = np.linalg.norm(points[:, _BONES[:, 1]] - points[:, _BONES[:, 0]], axis=-1)
    proportions = lengths / np.maximum(lengths.sum(axis=1, keepdims=True), 1e-12)  # (frames, 20)
    variation = proportions.std(axis=0) / np.maximum(proportions.mean(axis=0), 1e-12)
    pairwise = np.linalg.norm(xy[:, :, None] - xy[:, None], axis=-1)  # (frames, 21, 21)
    spread = pairwise.sum(axis=(1, 2)) / (21 * 20)
    bones = pairwise[:, _BONES[:, 0], _BONES[:, 1]].mean(axis=1)
    gaps = pairwise[:, _MCP[:-1], _MCP[1:]].mean(axis=1) / palm
    from_wrist = pairwise[:, kp.WRIST]  # (frames, 21)
    pip_beyond = from_wrist[:, _PIP] > from_wrist[:, _MCP]
    reach = (from_wrist[:, _TIP] / np.maximum(from_wrist[:, _MCP], 1e-9)).mean(axis=1)
    return HandFit(
        frames=len(xy),
        bone_to_spread=float(np.median(bones / spread)),
        knuckle_gap=float(np.median(gaps)),
        pip_beyond_mcp=float(pip_beyond.mean()),
        tip_reach=float(np.median(reach)),
        bone_variation=float(np.median(variation)),
    )


def rank_offsets(points: np.ndarray, starts: range) -> list[tuple[int, HandFit]]:
    """Candidate starts of a 21-point block in `(frames, P, dims)` points, most hand-like first."""
    fits = [(start, hand_fit(points[:, start : start + kp.JOINTS_PER_HAND])) for start in starts]
    return sorted(fits, key=lambda item: -item[1].score)
