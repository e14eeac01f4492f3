"""Fixed-shape batches from in-memory samples: length buckets, masks, exact resume.

Training batches are a pure function of ``(seed, step)``: the epoch's permutation comes from
``(seed, epoch)`` and each row's augmentation randomness from ``(seed, epoch, index, row)``, so
a resumed run sees exactly the batches an uninterrupted run would.
``input_pipeline.py`` builds them ahead of the train step on a pool of threads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from whispersign_jax.data import augment
from whispersign_jax.data.sample import Sample
from whispersign_jax.keypoints import NUM_FEATURES, NUM_JOINTS

Batch = dict[str, np.ndarray]


def bucket_length(num_frames: int, buckets: Sequence[int]) -> int:
    """The smallest bucket that holds ``num_frames`` (the largest bucket crops longer clips)."""
    for bucket in sorted(buckets):
        if num_frames <= bucket:
            return bucket
    return max(buckets)


def collate(
    samples: Sequence[Sample], batch_size: int, buckets: Sequence[int], max_labels: int
) -> Batch:
    """Pads samples into one batch; missing rows (a short last batch) have sample_mask 0.

    Returns keypoints (B, T, 42, 7) float32, frame_mask (B, T), labels (B, max_labels) int32,
    label_mask (B, max_labels) and sample_mask (B,), with T the bucket of the longest sample.
    """
    frames = bucket_length(max(len(s.keypoints) for s in samples), buckets)
    return collate_rows(dict(enumerate(samples)), batch_size, frames, max_labels)


def collate_rows(
    samples: Mapping[int, Sample], batch_size: int, frames: int, max_labels: int
) -> Batch:
    """``collate`` with the padded length given and each sample at its row; longer samples
    are cropped to ``frames``."""
    batch = {
        "keypoints": np.zeros((batch_size, frames, NUM_JOINTS, NUM_FEATURES), np.float32),
        "frame_mask": np.zeros((batch_size, frames), bool),
        "labels": np.zeros((batch_size, max_labels), np.int32),
        "label_mask": np.zeros((batch_size, max_labels), bool),
        "sample_mask": np.zeros((batch_size,), bool),
    }
    for row, sample in samples.items():
        length, num_labels = min(len(sample.keypoints), frames), len(sample.labels)
        if num_labels > max_labels:
            raise ValueError(
                f"A sample has {num_labels} glosses but data.max_labels={max_labels}; "
                "raise data.max_labels."
            )
        batch["keypoints"][row, :length] = sample.keypoints[:length]
        batch["frame_mask"][row, :length] = True
        batch["labels"][row, :num_labels] = sample.labels
        batch["label_mask"][row, :num_labels] = True
        batch["sample_mask"][row] = True
    return batch


# Independent random streams of one row of one training batch.
_WINDOW_STREAM, _SPEED_STREAM, _AUGMENT_STREAM, _MASK_STREAM = range(4)


class TrainBatches:
    """Random-access training batches: ``batches[step]`` is a pure function of (seed, step).

    The epoch's permutation comes from ``(seed, epoch)``, every row's randomness from
    ``(seed, epoch, index, row)``. A row's length after cropping and speed change is known
    before it is augmented, so ``batches.rows(step, rows)`` builds only some rows (one
    process's share) of a batch whose padded length is the same on every process.
    Per row: sliding-window crop, augmentation, ``preprocess`` (normalisation), masking.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        batch_size: int,
        buckets: Sequence[int],
        max_labels: int,
        seed: int,
        augmentation: augment.AugmentConfig | None = None,
        window_frames: int | None = None,
        hop_frames: int | None = None,
        preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        if len(samples) < batch_size:
            raise ValueError(
                f"The training split has {len(samples)} samples, fewer than the batch size "
                f"{batch_size}: lower the stage's batch_size."
            )
        self.samples, self.batch_size, self.buckets = samples, batch_size, buckets
        self.max_labels, self.seed = max_labels, seed
        self.augmentation, self.window_frames = augmentation, window_frames
        self.hop_frames = hop_frames or window_frames
        self.preprocess = preprocess
        self.steps_per_epoch = len(samples) // batch_size
        most_labels = max(len(sample.labels) for sample in samples)
        if not window_frames and most_labels > max_labels:  # windows may hold fewer
            raise ValueError(
                f"A training sample has {most_labels} glosses but data.max_labels="
                f"{max_labels}; raise data.max_labels."
            )

    def _rng(self, step: int, row: int, stream: int) -> np.random.Generator:
        epoch, index = divmod(step, self.steps_per_epoch)
        return np.random.default_rng([self.seed, epoch, index, row, stream])

    def chosen(self, step: int) -> np.ndarray:
        """Indices of the samples of batch ``step``, one per row."""
        epoch, index = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.samples))
        return order[index * self.batch_size : (index + 1) * self.batch_size]

    def _planned_frames(self, sample: Sample, step: int, row: int) -> int:
        frames = len(sample.keypoints)
        if self.window_frames:
            frames = min(frames, self.window_frames)
        if self.augmentation:
            speed = augment.draw_speed(self.augmentation, self._rng(step, row, _SPEED_STREAM))
            frames = augment.speed_frames(frames, speed)
        return frames

    def _row(self, sample: Sample, step: int, row: int) -> Sample:
        if self.window_frames:
            rng = self._rng(step, row, _WINDOW_STREAM)
            sample = augment.random_window(sample, self.window_frames, self.hop_frames, rng)
        if self.augmentation:
            speed = augment.draw_speed(self.augmentation, self._rng(step, row, _SPEED_STREAM))
            rng = self._rng(step, row, _AUGMENT_STREAM)
            sample = augment.augment(sample, self.augmentation, rng, speed=speed)
        keypoints = sample.keypoints
        if self.preprocess is not None:
            keypoints = self.preprocess(keypoints)
        if self.augmentation:
            rng = self._rng(step, row, _MASK_STREAM)
            keypoints = augment.mask_features(keypoints, self.augmentation, rng)
        return dataclasses.replace(sample, keypoints=keypoints)

    def rows(self, step: int, rows: Sequence[int]) -> Batch:
        """Batch ``step`` with only ``rows`` filled; the other rows are zero (sample_mask 0)."""
        samples = [self.samples[i] for i in self.chosen(step)]
        frames = bucket_length(
            max(self._planned_frames(s, step, row) for row, s in enumerate(samples)), self.buckets
        )
        built = {row: self._row(samples[row], step, row) for row in rows}
        return collate_rows(built, self.batch_size, frames, self.max_labels)

    def __getitem__(self, step: int) -> Batch:
        return self.rows(step, range(self.batch_size))


def eval_batches(
    samples: Sequence[Sample], batch_size: int, buckets: Sequence[int], max_labels: int
) -> Iterator[tuple[np.ndarray, Batch]]:
    """Batches in order of length (few shapes, little padding) with the sample indices."""
    order = np.argsort([len(s.keypoints) for s in samples], kind="stable")
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        yield indices, collate([samples[i] for i in indices], batch_size, buckets, max_labels)
