"""Reads a prepared TFDS dataset of these builders: an ArrayRecord dataset by random access
(``TfdsSplit``: the clip index in memory, each clip read when a batch needs it), a TFRecord one
into memory."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from whispersign_jax.data import tfds_builders  # registers the builders
from whispersign_jax.data.clips import ClipIndex
from whispersign_jax.data.sample import Sample
from whispersign_jax.data.validation import check_sample, keep_valid, log_skipped
from whispersign_jax.keypoints import joint_set, recorded_joint_set
from whispersign_jax.vocab import Vocabulary


def load_builder(name: str, data_dir: str | None) -> tfds.core.DatasetBuilder:
    """The prepared builder ``name`` (``NAME`` or ``NAME/CONFIG``); a clear error if it has
    not been built in ``data_dir`` (default: ~/tensorflow_datasets)."""
    try:
        builder = tfds.builder(name, data_dir=data_dir, try_gcs=False)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise ValueError(
            f"config.data.name={name!r} is not a TFDS builder of this project; choose one of "
            f"{', '.join(b.name for b in tfds_builders.BUILDERS)}."
        ) from error
    if not builder.is_prepared():
        raise FileNotFoundError(
            f"TFDS dataset {name} is not prepared under {builder.data_dir}: build it with "
            f"`python -m whispersign_jax.data.tfds_builders.build --name {name} "
            "--manual_dir DIR` (and the same --data_dir as config.data.tfds_dir)."
        )
    return builder


def _examples(builder: tfds.core.DatasetBuilder, split: str) -> Iterator[dict]:
    if builder.info.file_format == tfds.core.FileFormat.ARRAY_RECORD:
        source = builder.as_data_source(split)
        for index in range(len(source)):
            yield source[index]
    else:
        yield from tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))


def _candidate(example: dict, timed: bool) -> tuple[str, Sample]:
    origin = example["origin"]
    origin = origin.decode() if isinstance(origin, bytes) else str(origin)
    sample = Sample(example["keypoints"], example["labels"], example["spans"],
                    signer=int(example["signer"]), timed=timed)  # fmt: skip
    return origin, sample


def _candidates(builder, split: str) -> Iterator[tuple[str, Sample]]:
    timed = bool(getattr(builder, "TIMED_SPANS", False))
    for example in _examples(builder, split):
        yield _candidate(example, timed)


class TfdsSplit:
    """One split of an ArrayRecord TFDS dataset, read by position (``tfds.data_source``).

    Its clip index comes from one pass over the split (examples that fail
    ``validation.check_sample`` are left out and logged), cached beside the dataset in
    ``whispersign-index-<split>.npz`` so later runs start without the pass."""

    def __init__(self, builder, split: str, vocabulary: Vocabulary, keypoints: str):
        self.source = builder.as_data_source(split)
        self.timed = bool(getattr(builder, "TIMED_SPANS", False))
        self.vocabulary, self.keypoints = vocabulary, keypoints
        self.num_joints = joint_set(keypoints).num_joints
        key = f"{builder.info.full_name} {len(self.source)} {keypoints} {vocabulary.label_map()}"
        cache = Path(builder.data_dir) / f"whispersign-index-{split}.npz"
        cached = _cached_index(cache, key)
        if cached is None:
            cached = self._build_index(split)
            _save_index(cache, key, *cached)
        self.positions, self.index = cached

    def _build_index(self, split: str) -> tuple[np.ndarray, ClipIndex]:
        positions, rows, reasons = [], [], []
        for position in range(len(self.source)):
            origin, sample = _candidate(self.source[position], self.timed)
            try:
                sample = check_sample(sample, self.vocabulary, origin, self.keypoints)
            except ValueError as error:
                reasons.append(str(error))
                continue
            positions.append(position)  # the index keeps no keypoints: memory stays small
            rows.append((len(sample.keypoints), sample.timed, sample.signer, sample.labels))
        log_skipped(split, reasons, len(positions))
        return np.asarray(positions, np.int64), ClipIndex.from_rows(*zip(*rows, strict=True))

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, position: int) -> Sample:
        example = self.source[int(self.positions[position])]
        _, sample = _candidate(example, self.timed)
        return dataclasses.replace(sample, keypoints=np.asarray(sample.keypoints, np.float32))

    def __iter__(self) -> Iterator[Sample]:
        return (self[i] for i in range(len(self)))


def _cached_index(path: Path, key: str) -> tuple[np.ndarray, ClipIndex] | None:
    """The index cached at ``path`` for ``key``; None when absent, stale or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as columns:
            if str(columns["key"]) != key:
                return None
            return columns["positions"], ClipIndex.from_columns(dict(columns))
    except (OSError, ValueError, KeyError):
        return None


def _save_index(path: Path, key: str, positions: np.ndarray, index: ClipIndex) -> None:
    """Caches the index; a folder that cannot be written (read-only, remote) is left alone."""
    try:
        with open(path, "wb") as f:
            np.savez(f, key=np.asarray(key), positions=positions, **index.columns())
    except OSError:
        pass


def read_dataset(
    name: str, data_dir: str | None
) -> tuple[Vocabulary, tfds.core.DatasetBuilder, str]:
    """The vocabulary (from the dataset's metadata), the prepared builder and the joint set
    of the keypoints (metadata; datasets built before joint sets hold hands)."""
    builder = load_builder(name, data_dir)
    label_map = builder.info.metadata.get("label_map")
    if not label_map:
        raise ValueError(f"TFDS dataset {name} has no label_map in its metadata; rebuild it.")
    vocabulary = Vocabulary.from_label_map(label_map, source=f"TFDS dataset {name}")
    keypoints = recorded_joint_set(builder.info.metadata.get("keypoints"))
    return vocabulary, builder, keypoints


def read_split(builder, split: str, vocabulary: Vocabulary, keypoints: str):
    """Split ``split``'s valid samples: a ``TfdsSplit`` (random access) for an ArrayRecord
    dataset, else a list in memory."""
    if builder.info.file_format == tfds.core.FileFormat.ARRAY_RECORD:
        return TfdsSplit(builder, split, vocabulary, keypoints)
    return keep_valid(_candidates(builder, split), vocabulary, split, keypoints)
