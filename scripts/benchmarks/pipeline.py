"""The input pipeline suite (``--only pipeline``): training batches alone, no train step.

``pipeline.*``: ``input_pipeline.train_batches`` as stage 3 of ``configs/stage3.py`` feeds
it (its sliding windows, 3 s with 1.5 s overlap; the data config's buckets, label cap,
augmentations, normalisation, worker threads and prefetch) on continuous synthetic clips,
at batch 16 (``--batch``):

- ``frames_per_s``: valid frames delivered per second of wall time;
- ``batches_per_s``;
- ``frames_per_cpu_s``: per second of this process's CPU time, all threads (the figure that
  does not depend on what else runs on a shared machine).
"""

from __future__ import annotations

import time

from benchmarks.common import stage_config
from whispersign_jax.keypoints import FPS

STAGE = "stage3"  # trains on sliding windows
WARMUP_BATCHES = 10  # thread start, first batches


def benchmark_pipeline(batch: int = 16, steps: int = 200) -> dict[str, float]:
    """Throughput of ``input_pipeline.train_batches`` over ``steps`` batches of ``batch``."""
    from whispersign_jax.data import augment, input_pipeline, synthetic
    from whispersign_jax.data.batching import TrainBatches
    from whispersign_jax.data.normalize import Preprocessor

    config, stage = stage_config(STAGE)
    data = config.data
    clips = synthetic.SyntheticConfig(
        mode="continuous", train_signers=4, continuous_samples_per_signer=16
    )
    samples = synthetic.generate_split(clips, "train")  # 64 clips of 2-6 glosses
    preprocessor = Preprocessor.fit(
        [s.keypoints for s in samples], data.normalize_hands, data.standardize
    )
    batches = TrainBatches(
        samples,
        batch,
        buckets=data.buckets,
        max_labels=data.max_labels,
        seed=config.seed,
        augmentation=augment.AugmentConfig(**data.augment) if data.augment_enabled else None,
        window_frames=round(stage.window_seconds * FPS),
        hop_frames=round((stage.window_seconds - stage.overlap_seconds) * FPS),
        preprocess=preprocessor,
    )
    pipeline = input_pipeline.train_batches(
        batches,
        0,
        steps + WARMUP_BATCHES,
        parallel_calls=data.parallel_calls,
        prefetch=data.prefetch,
    )
    for _ in range(WARMUP_BATCHES):
        next(pipeline)
    start, cpu_start, frames = time.perf_counter(), time.process_time(), 0
    for host_batch in pipeline:
        frames += int(host_batch["frame_mask"].sum())
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "pipeline.frames_per_s": frames / elapsed,
        "pipeline.batches_per_s": steps / elapsed,
        "pipeline.frames_per_cpu_s": frames / cpu,
    }
