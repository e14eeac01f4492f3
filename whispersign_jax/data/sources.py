"""Loads the train/val/test samples and the vocabulary for ``config.data``."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from whispersign_jax.data import synthetic
from whispersign_jax.data.sample import Sample
from whispersign_jax.keypoints import validate_keypoints
from whispersign_jax.vocab import Vocabulary

SPLITS = ("train", "val", "test")
SOURCES = ("synthetic", "processed", "tfds")


def synthetic_config(data_config) -> synthetic.SyntheticConfig:
    fields = {f.name for f in dataclasses.fields(synthetic.SyntheticConfig)}
    return synthetic.SyntheticConfig(
        **{k: v for k, v in data_config.synthetic.items() if k in fields}
    )


def check_sample(sample: Sample, vocabulary: Vocabulary, origin: str) -> Sample:
    """``sample`` with float32 keypoints, or a ValueError naming ``origin`` and the problem:
    NaN/inf, a wrong shape, no frames, no labels or labels outside the label map."""
    keypoints = validate_keypoints(sample.keypoints, origin)
    labels = np.asarray(sample.labels).astype(np.int64).reshape(-1)
    if labels.size == 0 or labels.min() < 1 or labels.max() > vocabulary.num_glosses:
        raise ValueError(
            f"{origin}: labels {labels.tolist()} are not gloss ids "
            f"1..{vocabulary.num_glosses} of the label map."
        )
    return dataclasses.replace(sample, keypoints=keypoints, labels=labels)


def valid_pairs(
    candidates: Iterable[tuple[str, Sample]], vocabulary: Vocabulary, split: str
) -> list[tuple[str, Sample]]:
    """The ``(origin, sample)`` pairs that pass ``check_sample``; the others are logged with
    their origin and reason, and counted."""
    samples, skipped = [], []
    for origin, sample in candidates:
        try:
            samples.append((origin, check_sample(sample, vocabulary, origin)))
        except ValueError as error:
            skipped.append(str(error))
    if skipped:
        logging.warning(
            "%s: skipped %d of %d samples:\n  %s",
            split,
            len(skipped),
            len(skipped) + len(samples),
            "\n  ".join(skipped),
        )
    return samples


def keep_valid(
    candidates: Iterable[tuple[str, Sample]], vocabulary: Vocabulary, split: str
) -> list[Sample]:
    """``valid_pairs`` without the origins."""
    return [sample for _, sample in valid_pairs(candidates, vocabulary, split)]


def processed_candidates(root: Path, split: str) -> Iterator[tuple[str, Sample]]:
    features_dir, labels_dir = root / split / "features", root / split / "labels"
    if not features_dir.is_dir():
        raise FileNotFoundError(
            f"{features_dir} does not exist: expected the processed layout "
            "<dir>/{train,val,test}/features/*.npy (see README, 'Data')."
        )
    empty = np.zeros((0,), np.int64)
    for feature_path in sorted(features_dir.glob("*.npy")):
        label_path = labels_dir / feature_path.name
        try:
            keypoints = np.load(feature_path, allow_pickle=False)
            labels = np.load(label_path, allow_pickle=False).reshape(-1)
        except (OSError, ValueError) as error:
            keypoints, labels = np.zeros((0, 0), np.float32), empty
            yield f"{feature_path} ({error})", Sample(keypoints, labels, empty, signer=-1)
            continue
        spans = np.tile([[0, len(keypoints)]], (labels.size, 1)).astype(np.int64)
        yield str(feature_path), Sample(keypoints, labels, spans, signer=-1)


def _synthetic_candidates(config: synthetic.SyntheticConfig, split: str):
    for index, sample in enumerate(synthetic.generate_split(config, split)):
        yield f"synthetic {split} sample {index}", sample


def load_processed_split(root: Path, split: str, vocabulary: Vocabulary) -> list[Sample]:
    """``<root>/<split>/{features,labels}/sample_XXXXX.npy``; bad files are skipped and
    reported with their reason."""
    return keep_valid(processed_candidates(root, split), vocabulary, split)


def load_tfds_splits(data_config) -> tuple[Vocabulary, dict[str, list[Sample]]]:
    """A prepared TFDS dataset (``config.data.name``, ``config.data.tfds_dir``) in memory."""
    from whispersign_jax.data.tfds_builders import reading

    vocabulary, candidates = reading.read_dataset(data_config.name, data_config.tfds_dir or None)
    return vocabulary, {s: keep_valid(candidates[s], vocabulary, s) for s in SPLITS}


def load_splits(data_config) -> tuple[Vocabulary, dict[str, list[Sample]]]:
    """(vocabulary, {"train": [...], "val": [...], "test": [...]}) for ``config.data``."""
    if data_config.source == "synthetic":
        config = synthetic_config(data_config)
        vocabulary = Vocabulary.from_names(synthetic.gloss_names(config))
        return vocabulary, {
            s: keep_valid(_synthetic_candidates(config, s), vocabulary, s) for s in SPLITS
        }
    if data_config.source == "processed":
        if not data_config.dir:
            raise ValueError("config.data.source='processed' needs --config.data.dir=DIR.")
        root = Path(data_config.dir)
        vocabulary = Vocabulary.load(root / "label_map.json")
        return vocabulary, {s: load_processed_split(root, s, vocabulary) for s in SPLITS}
    if data_config.source == "tfds":
        if not data_config.name:
            raise ValueError(
                "config.data.source='tfds' needs --config.data.name=NAME (a builder of "
                "whispersign_jax/data/tfds_builders, e.g. whispersign_processed)."
            )
        return load_tfds_splits(data_config)
    raise ValueError(f"config.data.source={data_config.source!r}; choose one of {SOURCES}.")
