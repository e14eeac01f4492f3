"""Sentences joined from isolated clips: continuous signing made of real signs, whose sign
boundaries are known (the continuous-signing benchmark, ``scripts/continuous_benchmark.py``).

A sentence is 2-6 clips of one split in a seeded random order with a short transition
between consecutive clips: positions move linearly from the last frame of one clip to the
first of the next; a joint missing at either end stays missing through the transition;
velocities are computed again over the whole sentence. Each gloss's span is its clip's frames.
A plan with ``max_pause_s`` also puts up to that many seconds without hands (all-zero
frames, what extraction gives when nobody is in view) before the first sign and after the
last, as a live stream has around a sentence. NumPy only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from whispersign_jax.data.sample import Sample
from whispersign_jax.keypoints import CONFIDENCE, FPS, XYZ, compute_velocities, keypoint_features

ORIGIN_SEPARATOR = " + "  # between the origins of a sentence's clips


@dataclasses.dataclass(frozen=True)
class SentencePlan:
    """How sentences are drawn: signs per sentence, transition length and the hand-less
    pause before and after the sentence (uniform ranges, inclusive)."""

    min_signs: int = 2
    max_signs: int = 6
    min_transition_s: float = 0.1
    max_transition_s: float = 0.3
    max_pause_s: float = 0.0  # 0: the sentence starts and ends with a sign

    def __post_init__(self) -> None:
        if not 1 <= self.min_signs <= self.max_signs:
            raise ValueError(
                f"signs per sentence: need 1 <= min_signs <= max_signs, got "
                f"{self.min_signs} and {self.max_signs}."
            )
        if not 0.0 <= self.min_transition_s <= self.max_transition_s:
            raise ValueError(
                f"transition: need 0 <= min_transition_s <= max_transition_s, got "
                f"{self.min_transition_s} and {self.max_transition_s}."
            )
        if self.max_pause_s < 0:
            raise ValueError(f"max_pause_s must be >= 0 seconds, got {self.max_pause_s}.")


@dataclasses.dataclass(frozen=True)
class JoinedSentence:
    """One sentence: what the processed writer needs (``processed.PreparedClip``) and the
    span of each sign."""

    keypoints: np.ndarray  # (T, J, 7) float32 at 60 FPS
    glosses: tuple[str, ...]
    spans: np.ndarray  # (L, 2) int64 [start, end) frames of each sign's own clip
    recording: str
    origin: str  # the joined clips' origins, ORIGIN_SEPARATOR between them


def transition(last: np.ndarray, first: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(frames, J, 3)`` and confidence ``(frames, J)`` moving from frame ``last``
    ``(J, 7)`` to frame ``first`` ``(J, 7)``, both excluded; a joint missing in either stays
    missing (confidence 0, position 0)."""
    steps = (np.arange(1, frames + 1, dtype=np.float32) / (frames + 1))[:, None, None]
    positions = (1.0 - steps) * last[None, :, XYZ] + steps * first[None, :, XYZ]
    confidence = (1.0 - steps[..., 0]) * last[None, :, CONFIDENCE] + steps[..., 0] * first[
        None, :, CONFIDENCE
    ]
    both = (last[:, CONFIDENCE] > 0) & (first[:, CONFIDENCE] > 0)  # (J,)
    confidence = np.where(both[None], confidence, 0.0)
    return np.where(both[None, :, None], positions, 0.0), confidence


def join_clips(clips: Sequence[np.ndarray], gaps: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """``(keypoints (T, J, 7), spans (L, 2))`` of ``clips`` (each ``(T_i, J, 7)``) joined with
    ``gaps[i]`` transition frames between clip i and clip i + 1."""
    if len(gaps) != len(clips) - 1:
        raise ValueError(
            f"join_clips: {len(clips)} clips need {len(clips) - 1} gaps, got {len(gaps)}"
        )
    positions, confidence, spans, start = [], [], [], 0
    for index, clip in enumerate(clips):
        if index:
            moving, present = transition(clips[index - 1][-1], clip[0], gaps[index - 1])
            positions.append(moving)
            confidence.append(present)
            start += gaps[index - 1]
        positions.append(clip[..., XYZ])
        confidence.append(clip[..., CONFIDENCE])
        spans.append((start, start + len(clip)))
        start += len(clip)
    xyz = np.concatenate(positions).astype(np.float32)  # (T, J, 3)
    present = np.concatenate(confidence).astype(np.float32)  # (T, J)
    velocities = compute_velocities(xyz, present > 0, FPS)
    keypoints = keypoint_features(xyz, present, velocities).astype(np.float32)  # (T, J, 7)
    return keypoints, np.asarray(spans, np.int64)


def join_samples(samples: Sequence[Sample], gaps: Sequence[int]) -> Sample:
    """One Sample of ``samples`` joined as ``join_clips`` joins clips, their labels in order.

    Each gloss's span is its own sample's span moved into the joined frames; the result is
    ``timed`` when every part is timed or holds one gloss (whose span is then its whole clip,
    which is where that sign is), and its signer is the parts' when they share one."""
    keypoints, clip_spans = join_clips([s.keypoints for s in samples], gaps)
    spans = [s.spans + start for s, (start, _) in zip(samples, clip_spans, strict=True)]
    signers = {s.signer for s in samples}
    return Sample(
        keypoints=keypoints,  # (T, J, 7)
        labels=np.concatenate([s.labels for s in samples]).astype(np.int64),  # (L,)
        spans=np.concatenate(spans).astype(np.int64),  # (L, 2)
        signer=signers.pop() if len(signers) == 1 else -1,
        timed=joined_is_timed([s.timed for s in samples], [len(s.labels) for s in samples]),
    )


def joined_is_timed(timed: Sequence[bool], num_labels: Sequence[int]) -> bool:
    """Whether joining parts (each ``timed`` or not, with ``num_labels`` glosses) gives a
    timed sentence: every part is timed or holds one gloss (spanning its whole clip)."""
    return bool(np.all(np.asarray(timed, bool) | (np.asarray(num_labels) == 1)))


def transition_frames(plan: SentencePlan) -> tuple[int, int]:
    """The plan's shortest and longest transition, in frames at 60 FPS."""
    return round(plan.min_transition_s * FPS), round(plan.max_transition_s * FPS)


def add_pauses(
    keypoints: np.ndarray, spans: np.ndarray, before: int, after: int
) -> tuple[np.ndarray, np.ndarray]:
    """``keypoints`` ``(T, J, 7)`` between ``before`` and ``after`` all-zero frames (no
    hands), and ``spans`` ``(L, 2)`` moved with them."""
    joints = keypoints.shape[1:]
    padded = np.concatenate(
        [np.zeros((before, *joints), np.float32), keypoints, np.zeros((after, *joints), np.float32)]
    )  # (before + T + after, J, 7)
    return padded, spans + before


def draw_sentences(
    clips: Sequence, count: int, plan: SentencePlan, seed: int, name: str
) -> list[JoinedSentence]:
    """``count`` sentences of ``clips`` (objects with ``keypoints``, ``glosses`` of one gloss
    and ``origin``: one split's isolated clips); no clip appears twice in one sentence.
    ``name`` prefixes each sentence's recording (``<name>-<index>``)."""
    if len(clips) < plan.min_signs:
        raise ValueError(
            f"{name}: {len(clips)} clips cannot make sentences of at least {plan.min_signs} signs."
        )
    rng = np.random.default_rng(seed)
    sentences = []
    for index in range(count):
        signs = int(rng.integers(plan.min_signs, min(plan.max_signs, len(clips)) + 1))
        chosen = [clips[i] for i in rng.choice(len(clips), size=signs, replace=False)]
        gap_range = transition_frames(plan)
        gaps = [int(g) for g in rng.integers(gap_range[0], gap_range[1] + 1, size=signs - 1)]
        keypoints, spans = join_clips([c.keypoints for c in chosen], gaps)
        if plan.max_pause_s > 0:  # drawn only then: plans without pauses keep their sentences
            before, after = rng.integers(0, round(plan.max_pause_s * FPS) + 1, size=2)
            keypoints, spans = add_pauses(keypoints, spans, int(before), int(after))
        sentences.append(
            JoinedSentence(
                keypoints,
                tuple(gloss for c in chosen for gloss in c.glosses),
                spans,
                f"{name}-{index:05d}",
                ORIGIN_SEPARATOR.join(c.origin for c in chosen),
            )
        )
    return sentences
