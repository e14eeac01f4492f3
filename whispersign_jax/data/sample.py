"""The in-memory sample that every data source produces."""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Sample:
    """One signed sample: keypoints, gloss ids and where each gloss is signed."""

    keypoints: np.ndarray  # (T, 42, 7) float32 at 60 FPS, docs/design.md "Data contract"
    labels: np.ndarray  # (L,) int64 gloss ids 1..N (0 is the CTC blank)
    spans: np.ndarray  # (L, 2) int64 [start, end) frame of each gloss
    signer: int  # signer id, -1 where the source does not record it
