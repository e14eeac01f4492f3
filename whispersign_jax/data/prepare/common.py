"""Types every dataset reader returns, and the frame checks all of them share.

NumPy only: preparation runs in a light environment without JAX or TensorFlow.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator

import numpy as np

from whispersign_jax import keypoints as kp
from whispersign_jax.vocab import RESERVED_NAMES

HAND_POINTS = (2, kp.JOINTS_PER_HAND, 3)  # (hands, joints, xyz) of one frame of hand tracks


@dataclasses.dataclass(frozen=True)
class SourceSample:
    """One prepared clip."""

    keypoints: np.ndarray  # float32 (T, J, 7) at 60 FPS, docs/design.md "Data contract"
    glosses: tuple[str, ...]  # gloss names (isolated datasets: one)
    recording: str  # group id: samples sharing it always land in one split
    origin: str  # file/entry it came from, for messages


@dataclasses.dataclass
class SourceResult:
    """What a reader produced: the samples, and every skipped entry with its reason."""

    samples: list[SourceSample] = dataclasses.field(default_factory=list)
    failures: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (origin, reason)

    def skip(self, origin: str, reason: str) -> None:
        self.failures.append((str(origin), str(reason)))

    def summary(self) -> str:
        """`"318 ok, 2 skipped (2 x no hand detected in any of its N frames; ...)"`."""
        handless = Counter(
            " ".join(sample.glosses) for sample in self.samples if not kp.has_hand(sample.keypoints)
        )
        return summary_text(len(self.samples), self.failures, handless)


def collect_samples(
    samples: Callable[..., Iterator[SourceSample]], data_dir, **options
) -> SourceResult:
    """Every sample of the reader `samples(data_dir, result, **options)`, which yields them
    one at a time and skips bad entries into `result`."""
    result = SourceResult()
    result.samples = list(samples(data_dir, result, **options))
    return result


def summary_text(kept: int, failures: list[tuple[str, str]], handless: Counter) -> str:
    """A preparation's summary line: `kept` clips, the `failures` counted by kind, and the
    kept clips without any hand counted by gloss (``handless``)."""
    text = f"{kept} ok, {len(failures)} skipped"
    if failures:
        kinds = Counter(reason_kind(origin, reason) for origin, reason in failures)
        text += " (" + "; ".join(f"{n} x {kind}" for kind, n in kinds.most_common()) + ")"
    if handless:
        shown = ", ".join(f"{n} x {gloss!r}" for gloss, n in handless.most_common(5))
        text += (
            f"; {handless.total()} of the kept clips show no hand in any frame ({shown}): "
            "kept as labelled (a 'nothing' class), check them if that is not meant"
        )
    return text


def unusable_gloss(origin: str, glosses: tuple[str, ...]) -> str | None:
    """Why a sample of `glosses` cannot enter the label map (a name the vocabulary reserves for
    its special tokens, or an empty name), with the fix; None when it can."""
    reserved = [gloss for gloss in glosses if gloss in RESERVED_NAMES]
    if reserved:
        return (
            f"{origin}: gloss {reserved[0]!r} is reserved for a special token of the "
            f"label map ({', '.join(RESERVED_NAMES)}); rename its folder or label (e.g. "
            f"{reserved[0].strip('<>')!r}) to prepare it"
        )
    if not all(glosses):
        return f"{origin}: empty gloss name; give it a label"
    return None


def skip_unusable_glosses(result: SourceResult) -> SourceResult:
    """Moves the samples whose gloss cannot enter the label map (``unusable_gloss``) to the
    skipped entries."""
    kept = []
    for sample in result.samples:
        reason = unusable_gloss(sample.origin, sample.glosses)
        if reason is None:
            kept.append(sample)
        else:
            result.skip(sample.origin, reason)
    result.samples = kept
    return result


def reason_kind(origin: str, reason: str) -> str:
    """A failure reason without its file name and numbers, to count alike failures together."""
    reason = reason.split("\n")[0]
    if reason.startswith(origin):
        reason = reason[len(origin) :].lstrip(": ")
    reason = re.sub(r"\d+(\.\d+)?", "N", reason)
    return reason if len(reason) <= 70 else reason[:69] + "…"


def clean_gloss(name: str) -> str:
    """Gloss names compare equal however the text was typed: Unicode NFC, single spaces.

    Vietnamese labels arrive both composed and decomposed (``"chào"`` is 4 or 5 code points).
    """
    return " ".join(unicodedata.normalize("NFC", str(name)).split())


def hand_presence(positions: np.ndarray) -> np.ndarray:
    """`(T, 2, 21, 3)` hand points -> `(T, 2)` bool: a hand whose points are all 0 is missing."""
    return np.any(np.asarray(positions) != 0, axis=(2, 3))


def joint_tracks(
    joint_set: str, parts: dict[str, tuple[np.ndarray, np.ndarray]], mirrored: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Per-part tracks (`keypoints.stack_parts`) -> `(T, J, 3)` positions and `(T, J)`
    confidence of `joint_set`. A mirrored (selfie) recording names every side from the wrong
    point of view: each joint trades with its mirror joint (hands, body sides, lip sides)."""
    positions, confidence = kp.stack_parts(joint_set, parts)
    if mirrored:
        mirror = list(kp.joint_set(joint_set).mirror)
        positions, confidence = positions[:, mirror], confidence[:, mirror]
    return positions, confidence


def check_tracks(positions: np.ndarray, presence: np.ndarray, origin: str) -> None:
    """Raises a ValueError naming `origin` for wrong shapes, too few frames or NaN/inf values.

    Tracks are hands `(T, 2, 21, 3)` with presence `(T, 2)`, or the joints of a joint set
    `(T, J, 3)` with confidence `(T, J)` (`joint_tracks`)."""
    positions, presence = np.asarray(positions), np.asarray(presence)
    joints = positions.ndim == 3 and kp.joint_set_for(positions.shape[1]) is not None
    if not joints and (positions.ndim != 4 or positions.shape[1:] != HAND_POINTS):
        raise ValueError(
            f"{origin}: tracks must be hands (frames, 2, 21, 3) or the joints of a joint set "
            f"(frames, J, 3), got {positions.shape}"
        )
    if presence.shape != positions.shape[:2]:
        raise ValueError(f"{origin}: presence {presence.shape} does not match {positions.shape}")
    frames = positions.shape[0]
    if frames < 2:
        raise ValueError(
            f"{origin}: {frames} frame(s); a clip needs at least 2 frames to have motion"
        )
    point_axes = tuple(range(1, positions.ndim))
    finite = np.isfinite(positions).all(axis=point_axes) & np.isfinite(presence).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(
            f"{origin}: NaN or infinite values in {bad.size} of {frames} frames, first at frame "
            f"{bad[0]}; re-extract this file or remove it"
        )


def tracks_to_sample_keypoints(
    positions: np.ndarray,
    presence: np.ndarray,
    fps: float,
    target_fps: float,
    origin: str,
) -> np.ndarray:
    """Tracks recorded at a fixed `fps` -> float32 `(T', J, 7)` keypoints at `target_fps`.

    `positions` `(T, 2, 21, 3)` in the anatomical slot order (left, right) with `presence`
    `(T, 2)`, the hand confidence in [0, 1] and 0 where a hand is missing; or `(T, J, 3)` and
    `(T, J)` per joint of a joint set (`joint_tracks`). Consecutive frames are interpolated
    between at any `fps`; a missing frame is never bridged.
    """
    from whispersign_jax.extraction.tracks import MAX_INTERPOLATION_GAP_S, tracks_to_keypoints

    check_tracks(positions, presence, origin)
    if not fps > 0:
        raise ValueError(f"{origin}: frame rate {fps} must be positive")
    timestamps = np.arange(len(positions), dtype=np.float64) / fps  # (T,) seconds
    presence = np.asarray(presence)
    present = presence.reshape(presence.shape + (1,) * (np.ndim(positions) - 2)) > 0
    positions = np.where(present, positions, 0.0)
    keypoints = tracks_to_keypoints(
        np.asarray(positions, np.float64),
        np.asarray(presence, np.float32),
        timestamps,
        target_fps=target_fps,
        max_gap_s=max(MAX_INTERPOLATION_GAP_S, 1.5 / fps),  # (1, 2) frame periods
    )
    return kp.validate_keypoints(keypoints, origin)
