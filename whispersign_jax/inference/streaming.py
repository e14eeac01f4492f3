"""Live recognition: a sliding-window recogniser fed frame by frame, merged by emission time.

Windows of ``window_s`` seconds start every ``hop = window_s - overlap_s`` seconds. Each
window owns the emissions whose time (the middle of the gloss's CTC span) falls in one stretch
of it, ``hop`` long, that ends ``lookahead_s`` before the window does: by default the middle
of its overlap with the next window, so the stretch is the window's centre. So every moment
of the stream belongs to exactly one window, away from that window's edges: a gloss is
emitted once, a repeated sign (two emissions at different times) is kept, and a sign cut off
at one window's edge is owned by the window that sees it whole. A gloss is committed when its
window is complete, ``lookahead_s`` to ``lookahead_s + hop`` after its emission time: a short
lookahead with a short hop emits sooner, with less of what follows the sign in view.
Windows place the same gloss a few frames apart: each window also looks
``dedupe_s`` back across its boundary, and a gloss already committed by the previous window
less than ``dedupe_s`` away is dropped as the same emission; nothing is committed before the
last committed gloss. ``min_confidence`` smooths out weak, isolated spikes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Protocol

import numpy as np

from whispersign_jax.decoding.result import Recognition, RecognizedGloss
from whispersign_jax.keypoints import FPS, NUM_FEATURES, has_hand

DEFAULT_WINDOW_S = 3.0
DEFAULT_OVERLAP = 0.5  # fraction of the window shared with the next one
DEFAULT_LOOKAHEAD_S = None  # the middle of the overlap
DEFAULT_DEDUPE_S = 0.3
DEFAULT_MIN_CONFIDENCE = 0.0  # keep every gloss


class WindowRecognizer(Protocol):
    def recognize(self, keypoints: np.ndarray) -> Recognition: ...


@dataclasses.dataclass(frozen=True)
class WindowPlan:
    """Window, hop, overlap and lookahead in frames (60 FPS)."""

    window: int
    hop: int
    lookahead: int  # frames between the end of a window's own stretch and the window's end

    @classmethod
    def from_seconds(
        cls, window_s: float, overlap: float, lookahead_s: float | None = None
    ) -> WindowPlan:
        """``overlap`` is the fraction of the window shared by consecutive windows, in [0, 1);
        ``lookahead_s`` lies in [0, the overlap in seconds] (None: half the overlap)."""
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}.")
        if not 0.0 <= overlap < 1.0:
            raise ValueError(f"overlap must be a fraction in [0, 1), got {overlap}.")
        window = max(1, round(window_s * FPS))
        hop = max(1, round(window * (1.0 - overlap)))
        shared = window - hop
        if lookahead_s is None:
            return cls(window, hop, shared - shared // 2)
        lookahead = round(lookahead_s * FPS)
        if not 0 <= lookahead <= shared:
            raise ValueError(
                f"lookahead_s must lie in [0, {shared / FPS:g}] s, the windows' overlap "
                f"(window_s={window_s:g}, overlap={overlap:g}); got {lookahead_s:g}."
            )
        return cls(window, hop, lookahead)

    @property
    def overlap(self) -> int:
        return self.window - self.hop

    def boundary(self, index: int) -> int:
        """First frame owned by window ``index`` (>= 1): ``lookahead`` before the end of the
        previous window (by default the middle of their overlap)."""
        return index * self.hop + self.overlap - self.lookahead


def own_emissions(
    glosses: Iterable[RecognizedGloss], lower: float, upper: float
) -> list[RecognizedGloss]:
    """The glosses (stream frames) whose emission frame lies in ``[lower, upper)``."""
    return [g for g in glosses if lower <= 0.5 * (g.start_frame + g.end_frame) < upper]


def is_duplicate(gloss: RecognizedGloss, committed: list[RecognizedGloss], frames: int) -> bool:
    """The same gloss, emitted by another window less than ``frames`` away in time."""
    centre = 0.5 * (gloss.start_frame + gloss.end_frame)
    return any(
        c.id == gloss.id and abs(0.5 * (c.start_frame + c.end_frame) - centre) < frames
        for c in committed[-4:]
    )


class StreamingRecognizer:
    """Feed frames with ``push``; it returns glosses as soon as a window commits them.

    ``flush`` at the end of the stream recognises the tail. Glosses carry stream-relative
    frames and seconds (``start_s``, ``end_s``).
    """

    def __init__(
        self,
        recognizer: WindowRecognizer,
        window_s: float = DEFAULT_WINDOW_S,
        overlap: float = DEFAULT_OVERLAP,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        dedupe_s: float = DEFAULT_DEDUPE_S,
        lookahead_s: float | None = DEFAULT_LOOKAHEAD_S,
    ):
        self.recognizer = recognizer
        self.plan = WindowPlan.from_seconds(window_s, overlap, lookahead_s)
        self.min_confidence = min_confidence
        self.dedupe_frames = dedupe_s * FPS
        self.buffer = np.zeros((0, 0, NUM_FEATURES), np.float32)  # (frames, joints, 7)
        self.buffer_start = 0  # stream frame of buffer[0]
        self.next_window = 0
        self.committed: list[RecognizedGloss] = []

    @property
    def frames_seen(self) -> int:
        return self.buffer_start + len(self.buffer)

    def push(self, frames: np.ndarray) -> list[RecognizedGloss]:
        """Appends ``(J, 7)`` or ``(n, J, 7)`` frames (any joint set, the same throughout the
        stream); returns newly committed glosses."""
        frames = np.asarray(frames, np.float32)
        frames = frames.reshape(-1, *frames.shape[-2:])  # (n, joints, 7)
        if self.frames_seen == 0:
            self.buffer = self.buffer.reshape(0, *frames.shape[1:])
        if frames.shape[1:] != self.buffer.shape[1:]:
            raise ValueError(
                f"StreamingRecognizer.push: frames of shape {frames.shape[1:]} after frames of "
                f"{self.buffer.shape[1:]}; a stream keeps one joint set."
            )
        self.buffer = np.concatenate([self.buffer, frames])
        new = []
        while self.frames_seen >= self.next_window * self.plan.hop + self.plan.window:
            start = self.next_window * self.plan.hop
            upper = self.plan.boundary(self.next_window + 1)
            new += self._commit(start, start + self.plan.window, upper)
            self.next_window += 1
            self._trim()
        return new

    def flush(self) -> list[RecognizedGloss]:
        """Recognises the stream's last window and commits everything not yet owned."""
        if self.frames_seen == 0:
            return []
        start = max(self.buffer_start, self.frames_seen - self.plan.window)
        new = self._commit(start, self.frames_seen, np.inf)
        self.next_window = np.inf  # nothing more to commit
        return new

    def run(self, keypoints: np.ndarray) -> list[RecognizedGloss]:
        """The whole stream at once: every frame pushed, then flushed."""
        return self.push(keypoints) + self.flush()

    def _commit(self, start: int, end: int, upper: float) -> list[RecognizedGloss]:
        # Reach back by the dedupe distance: an emission that this window places just before
        # the boundary, and the previous window just after it, is still committed once.
        # Nothing goes before the last committed gloss: a live stream never goes back.
        lower = -np.inf
        if self.next_window > 0:
            lower = self.plan.boundary(self.next_window) - self.dedupe_frames
        if self.committed:
            last = self.committed[-1]
            lower = max(lower, 0.5 * (last.start_frame + last.end_frame) + 1)
        window = self.buffer[start - self.buffer_start : end - self.buffer_start]
        if not has_hand(window):  # nobody signing: nothing to recognise (nor to refuse)
            return []
        recognition = self.recognizer.recognize(window)
        glosses = [g.shifted(start) for g in recognition.glosses]
        new = []
        for gloss in own_emissions(glosses, lower, upper):
            if gloss.confidence < self.min_confidence:
                continue
            if is_duplicate(gloss, self.committed, self.dedupe_frames):
                continue
            self.committed.append(gloss)
            new.append(gloss)
        return new

    def _trim(self) -> None:
        """Drops frames that neither the next window nor a final flush reads."""
        keep_from = min(self.next_window * self.plan.hop, self.frames_seen - self.plan.window)
        if keep_from > self.buffer_start:
            self.buffer = self.buffer[keep_from - self.buffer_start :]
            self.buffer_start = keep_from
