"""Train/val/test split by recording: all samples of one recording land in the same split.

The assignment needs only light metadata per recording (its stratum and sample count,
``RecordingTally``), so a streaming writer or a Beam launcher assigns splits without holding
a clip; ``split_by_recording`` is the in-memory form over whole samples.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from whispersign_jax.data.contract import SPLIT_FRACTIONS, SPLIT_SEED, SPLITS
from whispersign_jax.data.prepare.common import SourceSample


@dataclasses.dataclass(frozen=True)
class RecordingFacts:
    """What the split assignment knows of one recording."""

    stratum: tuple[str, ...]  # the smallest gloss tuple among its samples
    samples: int


class RecordingTally:
    """Recording -> ``RecordingFacts``, gathered one sample at a time."""

    def __init__(self) -> None:
        self.facts: dict[str, RecordingFacts] = {}

    def add(self, recording: str, glosses: Sequence[str]) -> None:
        glosses = tuple(glosses)
        known = self.facts.get(recording)
        if known is None:
            self.facts[recording] = RecordingFacts(glosses, 1)
        else:
            self.facts[recording] = RecordingFacts(min(known.stratum, glosses), known.samples + 1)

    @classmethod
    def of(cls, items: Iterable[tuple[str, Sequence[str]]]) -> RecordingTally:
        """The tally of ``(recording, glosses)`` pairs, one per sample."""
        tally = cls()
        for recording, glosses in items:
            tally.add(recording, glosses)
        return tally


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.shape != (3,) or (fractions < 0).any() or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(
            f"split fractions {tuple(fractions.tolist())} must be three non-negative numbers "
            "(train, val, test) that sum to 1, e.g. " + ",".join(map(str, SPLIT_FRACTIONS))
        )
    return fractions


def assign_splits(
    recordings: Mapping[str, RecordingFacts],
    fractions: Sequence[float] = SPLIT_FRACTIONS,
    seed: int = SPLIT_SEED,
) -> dict[str, str]:
    """Recording -> split name ("train", "val" or "test").

    Recordings are grouped by stratum (their first gloss tuple in sorted order), so every
    gloss with enough recordings appears in every split; groups and the recordings in them are
    shuffled with `seed` and dealt out in that order, each recording to the split furthest
    below its share of samples. Deterministic for a seed and independent of the order of
    `recordings`.
    """
    fractions = _check_fractions(fractions)
    order = sorted(recordings)
    rng = np.random.default_rng(seed)
    rng.shuffle(order)
    strata: dict[tuple[str, ...], list[str]] = {}
    for recording in order:
        strata.setdefault(recordings[recording].stratum, []).append(recording)
    stratum_order = sorted(strata)
    rng.shuffle(stratum_order)

    assigned = np.zeros(3)  # samples dealt to each split so far
    split_of: dict[str, str] = {}
    for stratum in stratum_order:
        for recording in strata[stratum]:
            size = recordings[recording].samples
            deficit = fractions * (assigned.sum() + size) - assigned  # (3,)
            deficit[fractions == 0] = -np.inf
            split = int(np.argmax(deficit))
            split_of[recording] = SPLITS[split]
            assigned[split] += size
    return split_of


def split_by_recording(
    samples: Sequence[SourceSample],
    fractions: Sequence[float] = SPLIT_FRACTIONS,
    seed: int = SPLIT_SEED,
) -> dict[str, list[SourceSample]]:
    """{"train", "val", "test"} -> samples, each recording wholly in one split
    (``assign_splits``); the sample order inside each split follows the input order."""
    tally = RecordingTally.of((sample.recording, sample.glosses) for sample in samples)
    split_of = assign_splits(tally.facts, fractions, seed)
    splits: dict[str, list[SourceSample]] = {name: [] for name in SPLITS}
    for sample in samples:
        splits[split_of[sample.recording]].append(sample)
    return splits
