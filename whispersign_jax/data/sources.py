"""Loads the train/val/test samples and the vocabulary for ``config.data``: ``source`` says
where training reads them (the synthetic generator, the processed layout, a corpus on disk or a
TFDS dataset), ``keypoints`` which joint set they must hold (a dataset of another set is
refused). A corpus stays on disk: its splits are ``ClipSource``s that read clips on demand;
the other sources are lists of samples in memory."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from whispersign_jax.data import processed, synthetic
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.corpus.reader import Corpus, CorpusSplit
from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.data.sample import Sample
from whispersign_jax.data.validation import keep_valid
from whispersign_jax.keypoints import DEFAULT_JOINT_SET, joint_set, recorded_joint_set
from whispersign_jax.vocab import Vocabulary

SOURCES = ("synthetic", "processed", "corpus", "tfds")
LOADERS = ("threads", "grain")  # config.data.loader: who builds the training batches


class DataSettingsError(ValueError):
    """``config.data`` names no dataset, or names one without where it is: one line for the
    user, naming the settings to pass."""


def check_data_settings(data_config) -> None:
    """Stops a run whose ``config.data`` names no usable dataset, before anything is built."""
    source = data_config.source
    loader = data_config.get("loader", "threads")
    if loader not in LOADERS:
        raise DataSettingsError(
            f"config.data.loader={loader!r}; choose one of {', '.join(LOADERS)}."
        )
    if not source:
        raise DataSettingsError(
            "config.data names no dataset: pass --config.data.source=processed "
            "--config.data.dir=DIR (a folder written by whispersign-prepare) or "
            "--config.data.source=tfds --config.data.name=NAME; to try the model on the "
            "built-in synthetic signs, use --config=configs/demo.py."
        )
    if source not in SOURCES:
        raise DataSettingsError(
            f"config.data.source={source!r}; choose one of {', '.join(SOURCES)}."
        )
    if source in ("processed", "corpus") and not data_config.dir:
        raise DataSettingsError(
            f"config.data.source={source!r} needs --config.data.dir=DIR (a folder written by "
            "whispersign-prepare)."
        )
    if source == "tfds" and not data_config.name:
        raise DataSettingsError(
            "config.data.source='tfds' needs --config.data.name=NAME (a builder of "
            "whispersign_jax/data/tfds_builders, e.g. whispersign_processed)."
        )


def synthetic_config(data_config) -> synthetic.SyntheticConfig:
    fields = {f.name for f in dataclasses.fields(synthetic.SyntheticConfig)}
    return synthetic.SyntheticConfig(
        **{k: v for k, v in data_config.synthetic.items() if k in fields}
    )


def _synthetic_candidates(config: synthetic.SyntheticConfig, split: str):
    for index, sample in enumerate(synthetic.generate_split(config, split)):
        yield f"synthetic {split} sample {index}", sample


def load_processed_split(
    root: Path, split: str, vocabulary: Vocabulary, keypoints: str | None = None
) -> list[Sample]:
    """``<root>/<split>/{features,labels}/sample_XXXXX.npy``; bad files (and, given
    ``keypoints``, files of another joint set) are skipped and reported with their reason."""
    return keep_valid(processed.read_candidates(root, split), vocabulary, split, keypoints)


def config_joint_set(data_config) -> str:
    """``config.data.keypoints``, checked (configs written before joint sets mean hands)."""
    return recorded_joint_set(data_config.get("keypoints"))


def load_tfds_splits(data_config) -> tuple[Vocabulary, dict[str, Sequence[Sample]]]:
    """A prepared TFDS dataset (``config.data.name``, ``config.data.tfds_dir``): read by
    position from disk (ArrayRecord, how ``tfds_builders.build`` writes), else in memory."""
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

    vocabulary, builder, keypoints = reading.read_dataset(
        data_config.name, data_config.tfds_dir or None
    )
    expected = config_joint_set(data_config)
    if keypoints != expected:
        raise ValueError(
            f"TFDS dataset {data_config.name} holds {joint_set(keypoints).describe()} keypoints "
            f"but config.data.keypoints={expected!r}: pass --config.data.keypoints={keypoints}, "
            f"or build and use the dataset's {expected} config (--config.data.name=NAME/"
            f"{expected})."
        )
    return vocabulary, {s: reading.read_split(builder, s, vocabulary, keypoints) for s in SPLITS}


def load_corpus_splits(data_config) -> tuple[Vocabulary, dict[str, CorpusSplit]]:
    """A corpus (``data.corpus``) at ``config.data.dir``: its index in memory, clips on disk."""
    corpus = Corpus(data_config.dir)
    expected = config_joint_set(data_config)
    if corpus.joint_set != expected:
        raise ValueError(
            f"{data_config.dir} holds {joint_set(corpus.joint_set).describe()} keypoints but "
            f"config.data.keypoints={expected!r}: pass --config.data.keypoints="
            f"{corpus.joint_set}, or prepare the corpus again with --joint_set {expected}."
        )
    return corpus.vocabulary, {split: corpus.split(split) for split in SPLITS}


def fit_preprocessor(data_config, train) -> Preprocessor:
    """The preprocessing fitted on the train split (``Preprocessor.fit``); a corpus brings
    the sums it gathered while it was written, so its clips are not read again."""
    normalize, standardize = data_config.normalize_hands, data_config.standardize
    sums = getattr(train, "feature_sums", None)
    if standardize and sums is not None:
        return sums(normalize).preprocessor(normalize)
    return Preprocessor.fit((sample.keypoints for sample in train), normalize, standardize)


def load_splits(data_config) -> tuple[Vocabulary, dict[str, Sequence[Sample]]]:
    """(vocabulary, {"train": [...], "val": [...], "test": [...]}) for ``config.data``."""
    check_data_settings(data_config)
    keypoints = config_joint_set(data_config)
    if data_config.source == "synthetic":
        if keypoints != DEFAULT_JOINT_SET:
            raise ValueError(
                f"config.data.source='synthetic' generates hands only, not "
                f"config.data.keypoints={keypoints!r}: set --config.data.keypoints=hands, or "
                "train on a dataset prepared with scripts/prepare_vsl_data.py --joint_set "
                f"{keypoints} (config.data.source=processed)."
            )
        config = synthetic_config(data_config)
        vocabulary = Vocabulary.from_names(synthetic.gloss_names(config))
        return vocabulary, {
            s: keep_valid(_synthetic_candidates(config, s), vocabulary, s) for s in SPLITS
        }
    if data_config.source == "processed":
        root = Path(data_config.dir)
        processed.require_joint_set(root, keypoints)
        vocabulary = processed.load_vocabulary(root)
        return vocabulary, {s: load_processed_split(root, s, vocabulary, keypoints) for s in SPLITS}
    if data_config.source == "corpus":
        return load_corpus_splits(data_config)
    return load_tfds_splits(data_config)  # source == "tfds"
