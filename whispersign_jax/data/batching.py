"""Fixed-shape batches from in-memory samples: length buckets, masks, exact resume.

Training batches are a pure function of ``(seed, step)``: the epoch's permutation comes from
``(seed, epoch)`` and the augmentation randomness from ``(seed, step)``, so a resumed run sees
exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

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
    batch = {
        "keypoints": np.zeros((batch_size, frames, NUM_JOINTS, NUM_FEATURES), np.float32),
        "frame_mask": np.zeros((batch_size, frames), bool),
        "labels": np.zeros((batch_size, max_labels), np.int32),
        "label_mask": np.zeros((batch_size, max_labels), bool),
        "sample_mask": np.zeros((batch_size,), bool),
    }
    for row, sample in enumerate(samples):
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


class TrainBatches:
    """Random-access training batches: ``batches[step]`` is deterministic for a seed."""

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
        self.steps_per_epoch = len(samples) // batch_size

    def __getitem__(self, step: int) -> Batch:
        epoch, index = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.samples))
        rng = np.random.default_rng([self.seed, epoch, index, 1])
        chosen = order[index * self.batch_size : (index + 1) * self.batch_size]
        samples = [self.samples[i] for i in chosen]
        if self.window_frames:
            samples = [
                augment.random_window(s, self.window_frames, self.hop_frames, rng) for s in samples
            ]
        if self.augmentation:
            samples = [augment.augment(s, self.augmentation, rng) for s in samples]
        return collate(samples, self.batch_size, self.buckets, self.max_labels)


def eval_batches(
    samples: Sequence[Sample], batch_size: int, buckets: Sequence[int], max_labels: int
) -> Iterator[tuple[np.ndarray, Batch]]:
    """Batches in order of length (few shapes, little padding) with the sample indices."""
    order = np.argsort([len(s.keypoints) for s in samples], kind="stable")
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        yield indices, collate([samples[i] for i in indices], batch_size, buckets, max_labels)
