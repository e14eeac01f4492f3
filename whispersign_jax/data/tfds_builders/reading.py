"""Reads a prepared TFDS dataset of these builders into memory (array_record or tfrecord)."""

from __future__ import annotations

from collections.abc import Iterator

import tensorflow_datasets as tfds

from whispersign_jax.data import tfds_builders  # registers the builders
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.sample import Sample
from whispersign_jax.keypoints import recorded_joint_set
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


def _candidates(builder, split: str) -> Iterator[tuple[str, Sample]]:
    timed = bool(getattr(builder, "TIMED_SPANS", False))
    for example in _examples(builder, split):
        origin = example["origin"]
        origin = origin.decode() if isinstance(origin, bytes) else str(origin)
        sample = Sample(example["keypoints"], example["labels"], example["spans"],
                        signer=int(example["signer"]), timed=timed)  # fmt: skip
        yield origin, sample


def read_dataset(
    name: str, data_dir: str | None
) -> tuple[Vocabulary, dict[str, Iterator[tuple[str, Sample]]], str]:
    """The vocabulary (from the dataset's metadata), ``(origin, Sample)`` per split and the
    joint set of the keypoints (metadata; datasets built before joint sets hold hands)."""
    builder = load_builder(name, data_dir)
    label_map = builder.info.metadata.get("label_map")
    if not label_map:
        raise ValueError(f"TFDS dataset {name} has no label_map in its metadata; rebuild it.")
    vocabulary = Vocabulary.from_label_map(label_map, source=f"TFDS dataset {name}")
    keypoints = recorded_joint_set(builder.info.metadata.get("keypoints"))
    return vocabulary, {split: _candidates(builder, split) for split in SPLITS}, keypoints
