"""Fixed-shape batches from in-memory samples: length buckets, masks, exact resume.

Training batches are a pure function of ``(seed, step)``: the epoch's permutation comes from
``(seed, epoch)`` and each row's augmentation randomness from ``(seed, epoch, index, row)``, so
a resumed run sees exactly the batches an uninterrupted run would.
``input_pipeline.py`` builds them ahead of the train step on a pool of threads.

No row is ever cut with labels it may not hold: a timed sample longer than its window (stage
3) or than the largest bucket trains on a window with the glosses mostly inside it; an
untimed one (no gloss timing) trains whole, or is skipped, with a count in the log, when it
is longer than the largest bucket. Evaluation pads a longer clip to a multiple of the
largest bucket instead of cropping it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from whispersign_jax.data import augment, sentences
from whispersign_jax.data.clips import ClipSource, CorruptClipError, clip_source
from whispersign_jax.data.sample import Sample
from whispersign_jax.keypoints import NUM_FEATURES

Batch = dict[str, np.ndarray]


def bucket_length(num_frames: int, buckets: Sequence[int]) -> int:
    """The smallest bucket that holds ``num_frames``; a longer clip gets the smallest multiple
    of the largest bucket that holds it (one more compiled shape, never a crop)."""
    for bucket in sorted(buckets):
        if num_frames <= bucket:
            return bucket
    largest = max(buckets)
    return -(-num_frames // largest) * largest


def collate(
    samples: Sequence[Sample], batch_size: int, buckets: Sequence[int], max_labels: int
) -> Batch:
    """Pads samples into one batch; missing rows (a short last batch) have sample_mask 0.

    Returns keypoints (B, T, J, 7) float32, frame_mask (B, T), labels (B, max_labels) int32,
    label_mask (B, max_labels) and sample_mask (B,), with T the bucket of the longest sample
    and J the samples' joint count.
    """
    frames = bucket_length(max(len(s.keypoints) for s in samples), buckets)
    num_joints = joint_count(samples)
    return collate_rows(dict(enumerate(samples)), batch_size, frames, max_labels, num_joints)


def joint_count(samples: Sequence[Sample]) -> int:
    """The joints per frame shared by all ``samples``; a ValueError if they differ."""
    counts = {s.keypoints.shape[1] for s in samples}
    if len(counts) != 1:
        raise ValueError(
            f"The samples mix joint counts {sorted(counts)}: every sample of a dataset must "
            "have one joint set (config.data.keypoints)."
        )
    return counts.pop()


def collate_rows(
    samples: Mapping[int, Sample], batch_size: int, frames: int, max_labels: int, num_joints: int
) -> Batch:
    """``collate`` with the padded length and joint count given and each sample at its row."""
    batch = {
        "keypoints": np.zeros((batch_size, frames, num_joints, NUM_FEATURES), np.float32),
        "frame_mask": np.zeros((batch_size, frames), bool),
        "labels": np.zeros((batch_size, max_labels), np.int32),
        "label_mask": np.zeros((batch_size, max_labels), bool),
        "sample_mask": np.zeros((batch_size,), bool),
    }
    for row, sample in samples.items():
        length, num_labels = len(sample.keypoints), len(sample.labels)
        if length > frames:  # a crop would keep labels of signs it cut off
            raise ValueError(f"A sample of {length} frames does not fit the padded {frames}.")
        if num_labels > max_labels:
            raise ValueError(
                f"A sample has {num_labels} glosses but data.max_labels={max_labels}; "
                "raise data.max_labels."
            )
        batch["keypoints"][row, :length] = sample.keypoints
        batch["frame_mask"][row, :length] = True
        batch["labels"][row, :num_labels] = sample.labels
        batch["label_mask"][row, :num_labels] = True
        batch["sample_mask"][row] = True
    return batch


# Independent random streams of one row of one training batch.
_WINDOW_STREAM, _SPEED_STREAM, _AUGMENT_STREAM, _MASK_STREAM, _JOIN_STREAM = range(5)


class TrainBatches:
    """Random-access training batches: ``batches[step]`` is a pure function of (seed, step).

    The epoch's permutation comes from ``(seed, epoch)``, every row's randomness from
    ``(seed, epoch, index, row)``. A row's length after cropping and speed change is known
    before it is augmented, so ``batches.rows(step, rows)`` builds only some rows (one
    process's share) of a batch whose padded length is the same on every process.
    Per row: joining, sliding-window crop, augmentation, ``preprocess`` (normalisation),
    masking.

    With ``join_share`` > 0, that share of the batches (drawn per step) are short sentences:
    each row joins its clip with ``join_signs - 1`` others drawn from the whole split, in a
    random order, with the transitions of ``sentences.SentencePlan`` between them and the
    glosses of all (``sentences.join_samples``). A row whose sentence would not fit the
    largest bucket or ``max_labels`` stays its own clip.

    Rows fit the largest bucket without a blind crop: a timed sample longer than the window
    (or, without windows, than the largest bucket) is cut to a window whose glosses are those
    mostly inside (``augment.random_window``); an untimed one trains whole, and is skipped
    when longer than the largest bucket; a speed change that would make a row longer than the
    largest bucket is slowed down to fit it. The counts are logged once, under ``name``.
    """

    def __init__(
        self,
        samples: ClipSource | Sequence[Sample],
        batch_size: int,
        buckets: Sequence[int],
        max_labels: int,
        seed: int,
        augmentation: augment.AugmentConfig | None = None,
        window_frames: int | None = None,
        hop_frames: int | None = None,
        preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
        name: str = "training",
        join_share: float = 0.0,
        join_signs: int = 2,
    ):
        if not 0.0 <= join_share <= 1.0:
            raise ValueError(f"join_share is a share of batches in [0, 1], got {join_share}.")
        if join_share and join_signs < 2:
            raise ValueError(f"join_signs must be >= 2 to join clips, got {join_signs}.")
        self.join_share, self.join_signs = join_share, join_signs
        self.source = clip_source(samples)
        index = self.source.index
        self.largest = max(buckets)
        if window_frames and window_frames <= self.largest:
            self.crop_frames, self.hop_frames = window_frames, hop_frames or window_frames
        else:  # no windows (or windows longer than the largest bucket): crops of the bucket
            self.crop_frames, self.hop_frames = self.largest, max(self.largest // 2, 1)
        # (N,) frames of each clip after its window crop, known before it is read
        lengths = augment.window_length(index.lengths, index.timed, self.crop_frames)
        fits = lengths <= self.largest
        self.kept = np.flatnonzero(fits)  # positions in the source of the clips that train
        self.window_lengths = lengths
        self.skipped = len(index) - len(self.kept)  # untimed and longer than the largest bucket
        longer = index.lengths > self.crop_frames
        self.trained_whole = int(np.sum(fits & ~index.timed & longer))
        self.cropped = int(np.sum(fits & index.timed & longer))
        self._log_counts(name, len(index), int(index.lengths.max(initial=0)))
        if len(self.kept) < batch_size:
            raise ValueError(
                f"The training split has {len(self.kept)} samples"
                + (f" ({self.skipped} more skipped, see the warning)" if self.skipped else "")
                + f", fewer than the batch size {batch_size}: lower the stage's batch_size."
            )
        self.batch_size, self.buckets = batch_size, buckets
        self.num_joints = self.source.num_joints
        self.max_labels, self.seed = max_labels, seed
        self.augmentation = augmentation
        self.preprocess = preprocess
        self.name, self.unreadable, self._lock = name, 0, threading.Lock()
        self._orders: dict[int, np.ndarray] = {}  # epoch -> its order (_epoch_order)
        self.steps_per_epoch = len(self.kept) // batch_size
        whole = fits & (lengths == index.lengths)  # crops may hold fewer labels
        most_labels = int(index.num_labels[whole].max(initial=0))
        if most_labels > max_labels:
            raise ValueError(
                f"A training sample has {most_labels} glosses but data.max_labels="
                f"{max_labels}; raise data.max_labels."
            )

    def _log_counts(self, name: str, total: int, longest: int) -> None:
        if self.skipped:
            logging.warning(
                "%s: %d of %d training clips skipped: longer than the largest bucket (%d "
                "frames) and without gloss timing, so no crop of them is known to hold its "
                "glosses. Add a bucket of %d frames to config.data.buckets to train on them.",
                name, self.skipped, total, self.largest, longest,
            )  # fmt: skip
        if self.trained_whole:
            logging.warning(
                "%s: %d untimed clips trained whole: longer than the %d-frame window, without "
                "gloss timing to window them by (padded up to %d frames, config.data.buckets).",
                name, self.trained_whole, self.crop_frames, self.largest,
            )  # fmt: skip
        if self.cropped and self.crop_frames == self.largest:
            logging.warning(
                "%s: %d timed clips longer than the largest bucket (%d frames) train on windows "
                "of it, keeping the glosses mostly inside; add a larger bucket to "
                "config.data.buckets to train them whole.",
                name, self.cropped, self.largest,
            )  # fmt: skip

    def _rng(self, step: int, row: int, stream: int) -> np.random.Generator:
        epoch, index = divmod(step, self.steps_per_epoch)
        return np.random.default_rng([self.seed, epoch, index, row, stream])

    def _epoch_order(self, epoch: int) -> np.ndarray:
        """(kept clips,) source positions in epoch ``epoch``'s order, computed once per epoch
        (the threads building batches share it; the two newest epochs are kept)."""
        with self._lock:
            order = self._orders.get(epoch)
            if order is None:
                rng = np.random.default_rng([self.seed, epoch])
                order = self.kept[rng.permutation(len(self.kept))]
                self._orders = {e: o for e, o in self._orders.items() if e >= epoch - 1}
                self._orders[epoch] = order
            return order

    def chosen(self, step: int) -> np.ndarray:
        """Source positions of the clips of batch ``step``, one per row."""
        epoch, index = divmod(step, self.steps_per_epoch)
        return self._epoch_order(epoch)[index * self.batch_size : (index + 1) * self.batch_size]

    def _speed(self, frames: int, step: int, row: int) -> float:
        """The row's speed factor, raised where the row would outgrow the largest bucket."""
        speed = augment.draw_speed(self.augmentation, self._rng(step, row, _SPEED_STREAM))
        if augment.speed_frames(frames, speed) > self.largest:
            speed = frames / self.largest
        return speed

    def row_clips(self, step: int, row: int) -> tuple[np.ndarray, np.ndarray]:
        """Source positions ``(P,)`` of the clips that row ``row`` of batch ``step`` joins in
        order (just its own clip when the batch joins none) and the ``(P - 1,)`` transition
        frames between them; a pure function of (seed, step, row) and the index."""
        own = self.chosen(step)[row : row + 1]
        if not self._batch_joins(step):
            return own, np.zeros(0, np.int64)
        rng = self._rng(step, row, _JOIN_STREAM)
        others = self.kept[rng.integers(len(self.kept), size=self.join_signs - 1)]
        parts = np.insert(others, int(rng.integers(self.join_signs)), own[0])  # (P,)
        shortest, longest = sentences.transition_frames(sentences.SentencePlan())
        gaps = rng.integers(shortest, longest + 1, size=self.join_signs - 1)  # (P - 1,)
        if self._joined_length(parts, gaps) > self.largest or (
            self.source.index.num_labels[parts].sum() > self.max_labels
        ):
            return own, np.zeros(0, np.int64)
        return parts, gaps

    def _batch_joins(self, step: int) -> bool:
        """Whether batch ``step`` is one of the ``join_share`` that join clips (drawn from the
        stream of row ``batch_size``, past the batch's own rows)."""
        if not self.join_share:
            return False
        return bool(self._rng(step, self.batch_size, _JOIN_STREAM).random() < self.join_share)

    def _joined_length(self, parts: np.ndarray, gaps: np.ndarray) -> int:
        """Frames of the joined clips ``parts`` after the window crop."""
        index = self.source.index
        timed = sentences.joined_is_timed(index.timed[parts], index.num_labels[parts])
        frames = int(index.lengths[parts].sum() + gaps.sum())
        return int(augment.window_length(frames, timed, self.crop_frames))

    def _planned_frames(self, step: int, row: int) -> int:
        parts, gaps = self.row_clips(step, row)
        if len(parts) == 1:
            frames = int(self.window_lengths[parts[0]])
        else:
            frames = self._joined_length(parts, gaps)
        if self.augmentation:
            frames = augment.speed_frames(frames, self._speed(frames, step, row))
        return frames

    def row_sample(self, step: int, row: int) -> Sample:
        """Row ``row`` of batch ``step`` as a Sample, with its labels' spans in its frames."""
        parts, gaps = self.row_clips(step, row)
        sample = self.source[int(parts[0])]
        if len(parts) > 1:
            joined = [sample] + [self.source[int(p)] for p in parts[1:]]
            sample = sentences.join_samples(joined, [int(g) for g in gaps])
        rng = self._rng(step, row, _WINDOW_STREAM)
        sample = augment.random_window(sample, self.crop_frames, self.hop_frames, rng)
        if self.augmentation:
            speed = self._speed(len(sample.keypoints), step, row)
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
        frames = bucket_length(
            max(self._planned_frames(step, row) for row in range(self.batch_size)), self.buckets
        )
        built = {}
        for row in rows:
            try:
                built[row] = self.row_sample(step, row)
            except CorruptClipError as error:  # the row stays empty (sample_mask 0)
                self._count_unreadable(error)
        return collate_rows(built, self.batch_size, frames, self.max_labels, self.num_joints)

    def __getstate__(self) -> dict:  # Grain's worker processes get a copy without the lock
        return {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_orders")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.Lock(), _orders={})

    def _count_unreadable(self, error: CorruptClipError) -> None:
        with self._lock:
            self.unreadable += 1
            logging.warning(
                "%s: a training clip cannot be read and its row is left empty (%d so far): %s",
                self.name, self.unreadable, error,
            )  # fmt: skip

    def __getitem__(self, step: int) -> Batch:
        return self.rows(step, range(self.batch_size))


def eval_batches(
    samples: ClipSource | Sequence[Sample],
    batch_size: int,
    buckets: Sequence[int],
    max_labels: int,
    rows: Sequence[int] | None = None,
) -> Iterator[tuple[np.ndarray, Batch]]:
    """Batches in order of length (few shapes, little padding) with the clips' positions; a
    clip longer than the largest bucket is padded to a multiple of it, never cropped; one that
    cannot be read (a damaged shard) is logged and its row left empty. With
    ``rows`` (one process's share, ``input_pipeline.process_rows``) only those rows are read
    and filled; the padded length is the same on every process (it comes from the index)."""
    source = clip_source(samples)
    lengths = source.index.lengths
    longer = int(np.sum(lengths > max(buckets)))
    if longer:
        logging.info(
            "%d of %d evaluation clips are longer than the largest bucket (%d frames): padded "
            "to a multiple of it (config.data.buckets), not cropped.",
            longer, len(lengths), max(buckets),
        )  # fmt: skip
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        frames = bucket_length(int(lengths[indices].max()), buckets)
        filled = range(len(indices)) if rows is None else [r for r in rows if r < len(indices)]
        built = {}
        for row in filled:
            try:
                built[row] = source[int(indices[row])]
            except CorruptClipError as error:  # left empty (sample_mask 0), not scored
                logging.warning("evaluation: a clip cannot be read and is left out: %s", error)
        yield indices, collate_rows(built, batch_size, frames, max_labels, source.num_joints)
