"""The checks every sample passes before training or a TFDS build: bad ones are skipped and
logged with their origin and reason. NumPy only."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable

import numpy as np

from whispersign_jax.data.sample import Sample
from whispersign_jax.keypoints import validate_keypoints
from whispersign_jax.vocab import Vocabulary

Candidates = Iterable[tuple[str, Sample]]  # (origin: file or entry, sample)


def check_sample(
    sample: Sample, vocabulary: Vocabulary, origin: str, joint_set: str | None = None
) -> Sample:
    """``sample`` with float32 keypoints, or a ValueError naming ``origin`` and the problem:
    the keypoint contract (``keypoints.validate_keypoints``: shape or joint set, values), no
    labels, or labels that are not whole ids of the label map."""
    expected_by = f"config.data.keypoints={joint_set}"
    keypoints = validate_keypoints(sample.keypoints, origin, joint_set, expected_by)
    raw = np.asarray(sample.labels).reshape(-1)
    fractional = raw.dtype.kind == "f" and not np.all(np.isfinite(raw) & (raw == np.round(raw)))
    if raw.dtype.kind not in "iuf" or fractional:
        raise ValueError(f"{origin}: labels {raw.tolist()[:10]} are not whole gloss ids.")
    if raw.size == 0 or raw.min() < 1 or raw.max() > vocabulary.num_glosses:  # before a cast
        raise ValueError(
            f"{origin}: labels {raw.tolist()[:10]} are not gloss ids "
            f"1..{vocabulary.num_glosses} of the label map."
        )
    labels = raw.astype(np.int64)  # (L,)
    return dataclasses.replace(sample, keypoints=keypoints, labels=labels)


def valid_pairs(
    candidates: Candidates, vocabulary: Vocabulary, split: str, joint_set: str | None = None
) -> list[tuple[str, Sample]]:
    """The ``(origin, sample)`` pairs that pass ``check_sample``; the others are logged with
    their origin and reason, and counted."""
    samples, skipped = [], []
    for origin, sample in candidates:
        try:
            samples.append((origin, check_sample(sample, vocabulary, origin, joint_set)))
        except ValueError as error:
            skipped.append(str(error))
    log_skipped(split, skipped, len(samples))
    return samples


def log_skipped(split: str, reasons: list[str], kept: int) -> None:
    """One warning listing the skipped samples of ``split`` with their reasons, if any."""
    if reasons:
        logging.warning(
            "%s: skipped %d of %d samples:\n  %s",
            split, len(reasons), len(reasons) + kept, "\n  ".join(reasons),
        )  # fmt: skip


def keep_valid(
    candidates: Candidates, vocabulary: Vocabulary, split: str, joint_set: str | None = None
) -> list[Sample]:
    """``valid_pairs`` without the origins."""
    return [sample for _, sample in valid_pairs(candidates, vocabulary, split, joint_set)]
