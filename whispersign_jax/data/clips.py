"""A split as batching sees it: an index of every clip's length, timing and labels (kept in
memory) and the clips themselves, read one at a time by position.

``InMemoryClips`` holds a list of samples (synthetic, processed, TFDS); a corpus on disk
(``data.corpus``) reads each clip from its shard. Batch plans, bucket lengths and evaluation
order come from the index alone, so only the rows a process feeds are ever read.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from whispersign_jax.data.sample import Sample


@dataclasses.dataclass(frozen=True)
class ClipIndex:
    """Per-clip facts of a split, as columns (N clips, M labels in all)."""

    lengths: np.ndarray  # (N,) int64 frames
    timed: np.ndarray  # (N,) bool: spans are measured gloss timing
    signers: np.ndarray  # (N,) int64, -1 where unknown
    label_offsets: np.ndarray  # (N + 1,) int64: clip i's labels are values[offsets[i]:offsets[i+1]]
    label_values: np.ndarray  # (M,) int64 gloss ids

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def num_labels(self) -> np.ndarray:
        """(N,) int64 glosses per clip."""
        return np.diff(self.label_offsets)

    def labels(self, position: int) -> np.ndarray:
        """(L,) int64 gloss ids of clip ``position``."""
        return self.label_values[self.label_offsets[position] : self.label_offsets[position + 1]]

    def columns(self) -> dict[str, np.ndarray]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    def fingerprint(self) -> str:
        """SHA-256 of the columns: equal for the same clips in the same order."""
        digest = hashlib.sha256()
        for name, column in self.columns().items():
            column = np.ascontiguousarray(column, np.int64)
            digest.update(name.encode())
            digest.update(np.asarray(column.shape, np.int64).tobytes())
            digest.update(column.tobytes())
        return digest.hexdigest()

    @classmethod
    def from_samples(cls, samples: Sequence[Sample]) -> ClipIndex:
        return cls.from_rows(
            [len(s.keypoints) for s in samples], [s.timed for s in samples],
            [s.signer for s in samples], [s.labels for s in samples],
        )  # fmt: skip

    @classmethod
    def from_rows(
        cls,
        lengths: Sequence[int],
        timed: Sequence[bool],
        signers: Sequence[int],
        labels: Sequence[Sequence[int]],
    ) -> ClipIndex:
        """The index of clips given one value (one label sequence) per clip."""
        values = [np.asarray(ids, np.int64).reshape(-1) for ids in labels]
        counts = [len(ids) for ids in values]
        return cls(
            lengths=np.asarray(lengths, np.int64).reshape(-1),
            timed=np.asarray(timed, bool).reshape(-1),
            signers=np.asarray(signers, np.int64).reshape(-1),
            label_offsets=np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64),
            label_values=np.concatenate(values) if values else np.zeros(0, np.int64),
        )

    @classmethod
    def from_columns(cls, columns: dict[str, np.ndarray]) -> ClipIndex:
        fields = {field.name for field in dataclasses.fields(cls)}
        missing = fields - set(columns)
        if missing:
            raise ValueError(f"the clip index lacks the columns {sorted(missing)}")
        index = cls(**{name: np.asarray(columns[name]) for name in fields})
        if len(index.label_offsets) != len(index) + 1 or index.label_offsets[-1] != len(
            index.label_values
        ):
            raise ValueError("the clip index's label offsets do not match its labels")
        return index


class CorruptClipError(ValueError):
    """A clip of a source on disk that cannot be read back (a damaged record)."""


class ClipSource(Protocol):
    """Random access to a split's clips, with their index."""

    index: ClipIndex
    num_joints: int  # joints per frame of every clip

    def __len__(self) -> int: ...

    def __getitem__(self, position: int) -> Sample: ...


class InMemoryClips:
    """A ``ClipSource`` over a list of samples, which must share one joint set."""

    def __init__(self, samples: Sequence[Sample]):
        self.samples = list(samples)
        self.index = ClipIndex.from_samples(self.samples)
        counts = {s.keypoints.shape[1] for s in self.samples}
        if len(counts) > 1:
            raise ValueError(
                f"The samples mix joint counts {sorted(counts)}: every sample of a dataset must "
                "have one joint set (config.data.keypoints)."
            )
        self.num_joints = counts.pop() if counts else 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, position: int) -> Sample:
        return self.samples[position]


def clip_source(clips: ClipSource | Sequence[Sample]) -> ClipSource:
    """``clips`` as a ``ClipSource``: a list of samples is wrapped, a source kept."""
    if hasattr(clips, "index") and hasattr(clips, "num_joints"):
        return clips
    return InMemoryClips(clips)


class PreprocessedClips:
    """``source`` with ``preprocess`` applied to each clip's keypoints as it is read."""

    def __init__(self, source: ClipSource, preprocess: Callable[[np.ndarray], np.ndarray]):
        self.source, self.preprocess = source, preprocess
        self.index, self.num_joints = source.index, source.num_joints

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, position: int) -> Sample:
        sample = self.source[position]
        return dataclasses.replace(sample, keypoints=self.preprocess(sample.keypoints))


def preprocessed(
    clips: ClipSource | Sequence[Sample], preprocess: Callable[[np.ndarray], np.ndarray] | None
) -> ClipSource:
    """``clips`` with ``preprocess`` applied: at once for clips in memory (read many times),
    on each read for a source on disk; unchanged without ``preprocess``."""
    source = clip_source(clips)
    if preprocess is None:
        return source
    if isinstance(source, InMemoryClips):
        return InMemoryClips(
            [dataclasses.replace(s, keypoints=preprocess(s.keypoints)) for s in source.samples]
        )
    return PreprocessedClips(source, preprocess)
