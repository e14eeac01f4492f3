"""Train/val/test split by recording: all samples of one recording land in the same split."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from whispersign_jax.data.contract import SPLIT_FRACTIONS, SPLIT_SEED, SPLITS
from whispersign_jax.data.prepare.common import SourceSample


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.shape != (3,) or (fractions < 0).any() or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(
            f"split fractions {tuple(fractions.tolist())} must be three non-negative numbers "
            "(train, val, test) that sum to 1, e.g. " + ",".join(map(str, SPLIT_FRACTIONS))
        )
    return fractions


def split_by_recording(
    samples: Sequence[SourceSample],
    fractions: Sequence[float] = SPLIT_FRACTIONS,
    seed: int = SPLIT_SEED,
) -> dict[str, list[SourceSample]]:
    """{"train", "val", "test"} -> samples, each recording wholly in one split.

    Recordings are grouped by gloss (a recording under several labels by the first in sorted
    order), so every gloss with enough recordings appears in every split; groups and the
    recordings in them are shuffled with `seed` and dealt out in that order, each recording to
    the split furthest below its share of samples. Deterministic for a seed; the sample order
    inside each split follows the input order.
    """
    fractions = _check_fractions(fractions)
    by_recording: dict[str, list[int]] = defaultdict(list)
    for index, sample in enumerate(samples):
        by_recording[sample.recording].append(index)
    recordings = sorted(by_recording)
    rng = np.random.default_rng(seed)
    rng.shuffle(recordings)
    strata: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for recording in recordings:
        stratum = min(samples[i].glosses for i in by_recording[recording])
        strata[stratum].append(recording)
    stratum_order = sorted(strata)
    rng.shuffle(stratum_order)

    assigned = np.zeros(3)  # samples dealt to each split so far
    split_of: dict[str, int] = {}
    for stratum in stratum_order:
        for recording in strata[stratum]:
            size = len(by_recording[recording])
            deficit = fractions * (assigned.sum() + size) - assigned  # (3,)
            deficit[fractions == 0] = -np.inf
            split = int(np.argmax(deficit))
            split_of[recording] = split
            assigned[split] += size
    splits: dict[str, list[SourceSample]] = {name: [] for name in SPLITS}
    for sample in samples:
        splits[SPLITS[split_of[sample.recording]]].append(sample)
    return splits
