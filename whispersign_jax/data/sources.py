"""Loads the train/val/test samples and the vocabulary for ``config.data``."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from whispersign_jax.data import synthetic
from whispersign_jax.data.sample import Sample
from whispersign_jax.keypoints import validate_keypoints
from whispersign_jax.vocab import Vocabulary

SPLITS = ("train", "val", "test")
SOURCES = ("synthetic", "processed")


def synthetic_config(data_config) -> synthetic.SyntheticConfig:
    fields = {f.name for f in dataclasses.fields(synthetic.SyntheticConfig)}
    return synthetic.SyntheticConfig(
        **{k: v for k, v in data_config.synthetic.items() if k in fields}
    )


def load_processed_split(root: Path, split: str, vocabulary: Vocabulary) -> list[Sample]:
    """``<root>/<split>/{features,labels}/sample_XXXXX.npy``; bad files are skipped and
    reported with their reason."""
    features_dir, labels_dir = root / split / "features", root / split / "labels"
    if not features_dir.is_dir():
        raise FileNotFoundError(
            f"{features_dir} does not exist: expected the processed layout "
            "<dir>/{train,val,test}/features/*.npy (see README, 'Data')."
        )
    samples, skipped = [], []
    for feature_path in sorted(features_dir.glob("*.npy")):
        label_path = labels_dir / feature_path.name
        try:
            keypoints = validate_keypoints(
                np.load(feature_path, allow_pickle=False), str(feature_path)
            )
            labels = np.load(label_path, allow_pickle=False).astype(np.int64).reshape(-1)
            if labels.size == 0 or labels.min() < 1 or labels.max() > vocabulary.num_glosses:
                raise ValueError(
                    f"{label_path}: labels {labels.tolist()} are not gloss ids "
                    f"1..{vocabulary.num_glosses} of the label map."
                )
        except (OSError, ValueError) as error:
            skipped.append(f"{feature_path.name}: {error}")
            continue
        spans = np.tile([[0, len(keypoints)]], (len(labels), 1)).astype(np.int64)
        samples.append(Sample(keypoints, labels, spans, signer=-1))
    if skipped:
        logging.warning(
            "%s: skipped %d of %d samples:\n  %s",
            split,
            len(skipped),
            len(skipped) + len(samples),
            "\n  ".join(skipped),
        )
    return samples


def load_splits(data_config) -> tuple[Vocabulary, dict[str, list[Sample]]]:
    """(vocabulary, {"train": [...], "val": [...], "test": [...]}) for ``config.data``."""
    if data_config.source == "synthetic":
        config = synthetic_config(data_config)
        vocabulary = Vocabulary.from_names(synthetic.gloss_names(config))
        return vocabulary, {s: synthetic.generate_split(config, s) for s in SPLITS}
    if data_config.source == "processed":
        root = Path(data_config.dir)
        vocabulary = Vocabulary.load(root / "label_map.json")
        return vocabulary, {s: load_processed_split(root, s, vocabulary) for s in SPLITS}
    raise ValueError(f"config.data.source={data_config.source!r}; choose one of {SOURCES}.")
