"""The training input pipeline, the same for every data source and host (NumPy and threads).

Steps ``start_step .. total_steps - 1`` are built by ``TrainBatches.rows`` (sliding-window
crop, augmentation, normalisation, masking, length bucket, padding masks) on a pool of
``parallel_calls`` threads, up to ``parallel_calls + prefetch`` steps ahead of the consumer,
and handed over in step order. NumPy releases the GIL in its array work, so the threads overlap
with each other and with the jitted train step. A batch is a pure function of ``(seed, step)``,
so a run resumed at any step sees the batches an uninterrupted run would, whatever the number
of threads. Each process builds only its own rows of the global batch (the rows
``sharding.global_batch`` hands to its devices); the rows of other processes stay zero.

``grain_batches`` builds the same batches with Grain (``config.data.loader="grain"``): in
``grain_workers`` worker processes, which pays once a corpus's reads and augmentation outgrow
the threads of one Python process (docs/scaling.md).
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Iterator
from concurrent import futures

from whispersign_jax.data.batching import Batch, TrainBatches


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
    """Training batches of steps ``start_step .. total_steps - 1``, in order.

    ``parallel_calls`` threads build batches, at most ``parallel_calls + prefetch`` steps
    ahead; closing the iterator cancels the steps not yet started.
    """
    rows = process_rows(batches.batch_size, process_index, process_count)
    workers = max(parallel_calls, 1)
    steps = iter(range(start_step, total_steps))
    with futures.ThreadPoolExecutor(workers, thread_name_prefix="train_batches") as pool:
        pending: collections.deque[tuple[int, futures.Future]] = collections.deque()

        def submit_next() -> None:
            step = next(steps, None)
            if step is not None:
                pending.append((step, pool.submit(batches.rows, step, rows)))

        for _ in range(workers + max(prefetch, 0)):
            submit_next()
        try:
            while pending:
                step, future = pending.popleft()
                submit_next()
                try:
                    batch = future.result()
                except Exception as error:
                    raise RuntimeError(
                        f"The training input pipeline failed at step {step}: {error}"
                    ) from error
                yield batch
        finally:
            for _, future in pending:
                future.cancel()


def _build_rows(batches: TrainBatches, rows: range, step: int) -> Batch:
    return batches.rows(step, rows)


def grain_batches(
    batches: TrainBatches,
    start_step: int,
    total_steps: int,
    process_index: int = 0,
    process_count: int = 1,
    workers: int = 2,
    prefetch: int = 2,
) -> Iterator[Batch]:
    """``train_batches`` built by Grain: steps ``start_step .. total_steps - 1`` in order,
    each by ``TrainBatches.rows`` in one of ``workers`` processes (0: threads of this one),
    ``prefetch`` batches buffered per worker. The batches are the same as ``train_batches``'."""
    import grain
    from absl import flags

    if not flags.FLAGS.is_parsed():  # Grain reads its absl flags; outside a command: defaults
        flags.FLAGS.mark_as_parsed()
    rows = process_rows(batches.batch_size, process_index, process_count)
    steps = grain.MapDataset.range(start_step, total_steps)
    dataset = steps.map(functools.partial(_build_rows, batches, rows))
    read = grain.ReadOptions(num_threads=max(prefetch, 1), prefetch_buffer_size=max(prefetch, 1))
    iterable = dataset.to_iter_dataset(read)
    if workers > 0:
        options = grain.MultiprocessingOptions(workers, per_worker_buffer_size=max(prefetch, 1))
        iterable = iterable.mp_prefetch(options)
    step = start_step
    try:
        for batch in iterable:
            yield batch
            step += 1
    except Exception as error:
        raise RuntimeError(f"The training input pipeline failed at step {step}: {error}") from error
