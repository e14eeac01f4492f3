"""The tf.data training input pipeline, the same for every data source.

``tf.data.Dataset.range(start_step, total_steps)`` is mapped through ``TrainBatches.rows``
(sliding-window crop, augmentation, normalisation, masking, length bucket, padding masks) with
a deterministic parallel map and prefetch. A batch is a pure function of ``(seed, step)``, so
a run resumed at any step sees the batches an uninterrupted run would. Each process builds
only its own rows of the global batch (the rows ``sharding.global_batch`` hands to its
devices); the rows of other processes stay zero.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from whispersign_jax.data.batching import Batch, TrainBatches

BATCH_FIELDS = ("keypoints", "frame_mask", "labels", "label_mask", "sample_mask")
_DTYPES = (np.float32, bool, np.int32, bool, bool)


def import_tensorflow():
    """TensorFlow for tf.data only: no GPU (JAX owns the accelerators), few threads."""
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow was already initialised: keep its settings
        pass
    return tf


def process_rows(batch_size: int, process_index: int, process_count: int) -> range:
    """The rows of the global batch that process ``process_index`` feeds to its devices."""
    if batch_size % process_count:
        raise ValueError(
            f"The batch size {batch_size} is not divisible by the {process_count} processes: "
            "choose a batch size that is a multiple of the process count."
        )
    rows = batch_size // process_count
    return range(process_index * rows, (process_index + 1) * rows)


def train_batches(
    batches: TrainBatches,
    start_step: int,
    total_steps: int,
    process_index: int = 0,
    process_count: int = 1,
    parallel_calls: int = 2,
    prefetch: int = 2,
) -> Iterator[Batch]:
    """Training batches of steps ``start_step .. total_steps - 1``, in order."""
    tf = import_tensorflow()
    rows = process_rows(batches.batch_size, process_index, process_count)

    def build(step: np.int64) -> tuple[np.ndarray, ...]:
        batch = batches.rows(int(step), rows)
        return tuple(batch[name] for name in BATCH_FIELDS)

    def to_batch(step):
        values = tf.numpy_function(build, [step], [tf.as_dtype(d) for d in _DTYPES])
        return dict(zip(BATCH_FIELDS, values, strict=True))

    options = tf.data.Options()
    options.deterministic = True
    options.threading.private_threadpool_size = max(parallel_calls, 1)
    dataset = (
        tf.data.Dataset.range(start_step, total_steps)
        .map(to_batch, num_parallel_calls=parallel_calls, deterministic=True)
        .prefetch(prefetch)
        .with_options(options)
    )
    try:
        yield from dataset.as_numpy_iterator()
    except tf.errors.OpError as error:  # a Python error inside ``build``, wrapped by TF
        raise RuntimeError(f"The training input pipeline failed: {error.message}") from None
