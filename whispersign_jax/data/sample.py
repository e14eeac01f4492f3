"""The in-memory sample that every data source produces."""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Sample:
    """One signed sample: keypoints, gloss ids and where each gloss is signed.

    ``timed`` says whether ``spans`` are measured gloss timing (the synthetic generator's).
    Sources without timing (the processed layout, the raw formats) give every gloss the whole
    clip and ``timed=False``: a true bound (each gloss is somewhere in the clip, for one gloss
    or several) that says nothing of where, so such a clip is never cut into windows or crops
    that would keep or drop labels by it; it trains whole.
    """

    keypoints: np.ndarray  # (T, J, 7) float32 at 60 FPS, docs/design.md "Data contract"
    labels: np.ndarray  # (L,) int64 gloss ids 1..N (0 is the CTC blank)
    spans: np.ndarray  # (L, 2) int64 [start, end) frame of each gloss
    signer: int  # signer id, -1 where the source does not record it
    timed: bool = False  # spans are measured timing, not the whole clip as a bound


def untimed_sample(keypoints: np.ndarray, labels: np.ndarray) -> Sample:
    """A Sample from a source without gloss timing or signers: every gloss spans the whole
    clip, ``timed`` False, ``signer`` -1."""
    spans = np.tile([[0, len(keypoints)]], (len(labels), 1)).astype(np.int64)  # (L, 2)
    return Sample(keypoints, labels, spans, signer=-1, timed=False)
