"""Loads the train/val/test samples and the vocabulary for ``config.data``: ``source`` says
where training reads them (the synthetic generator, the processed layout or a TFDS dataset)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from whispersign_jax.data import processed, synthetic
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.sample import Sample
from whispersign_jax.data.validation import keep_valid
from whispersign_jax.vocab import Vocabulary

SOURCES = ("synthetic", "processed", "tfds")


def synthetic_config(data_config) -> synthetic.SyntheticConfig:
    fields = {f.name for f in dataclasses.fields(synthetic.SyntheticConfig)}
    return synthetic.SyntheticConfig(
        **{k: v for k, v in data_config.synthetic.items() if k in fields}
    )


def _synthetic_candidates(config: synthetic.SyntheticConfig, split: str):
    for index, sample in enumerate(synthetic.generate_split(config, split)):
        yield f"synthetic {split} sample {index}", sample


def load_processed_split(root: Path, split: str, vocabulary: Vocabulary) -> list[Sample]:
    """``<root>/<split>/{features,labels}/sample_XXXXX.npy``; bad files are skipped and
    reported with their reason."""
    return keep_valid(processed.read_candidates(root, split), vocabulary, split)


def load_tfds_splits(data_config) -> tuple[Vocabulary, dict[str, list[Sample]]]:
    """A prepared TFDS dataset (``config.data.name``, ``config.data.tfds_dir``) in memory."""
    try:
        import tensorflow  # noqa: F401  (TFDS builders and datasets need it)
    except ImportError as error:
        raise ImportError(
            "config.data.source='tfds' needs TensorFlow and tensorflow-datasets, and TensorFlow "
            f"does not import here ({error}). Without TensorFlow, train on the processed "
            "layout: `python scripts/prepare_vsl_data.py --format NAME --data_dir RAW "
            "--output_dir DIR` (or whispersign-prepare) writes it from the raw dataset; pass "
            "--config.data.source=processed --config.data.dir=DIR "
            "(or --config.data.source=synthetic for the built-in data)."
        ) from error
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
        vocabulary = processed.load_vocabulary(root)
        return vocabulary, {s: load_processed_split(root, s, vocabulary) for s in SPLITS}
    if data_config.source == "tfds":
        if not data_config.name:
            raise ValueError(
                "config.data.source='tfds' needs --config.data.name=NAME (a builder of "
                "whispersign_jax/data/tfds_builders, e.g. whispersign_processed)."
            )
        return load_tfds_splits(data_config)
    raise ValueError(f"config.data.source={data_config.source!r}; choose one of {SOURCES}.")
