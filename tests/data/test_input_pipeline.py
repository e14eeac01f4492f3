"""The training input pipeline: bitwise the batches of TrainBatches whatever the threads and
prefetch, resumable at any step, per-process rows, no TensorFlow."""

import dataclasses
import subprocess
import sys
import threading

import numpy as np
import pytest

from whispersign_jax.data import input_pipeline
from whispersign_jax.data.augment import AugmentConfig
from whispersign_jax.data.batching import TrainBatches
from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.data.synthetic import SyntheticConfig, generate_split

BUCKETS = (64, 128, 192)


@pytest.fixture(scope="module")
def train_batches() -> TrainBatches:
    config = SyntheticConfig(num_glosses=4, train_signers=2, samples_per_gloss_per_signer=2)
    samples = generate_split(config, "train")  # 16 samples
    preprocessor = Preprocessor.fit([s.keypoints for s in samples], True, True)
    return TrainBatches(samples, 4, BUCKETS, 2, seed=3, augmentation=AugmentConfig(),
                        window_frames=80, hop_frames=40, preprocess=preprocessor)  # fmt: skip


def assert_batches_equal(one, two, message=""):
    assert one.keys() == two.keys()
    for name in one:
        np.testing.assert_array_equal(one[name], two[name], err_msg=f"{name} {message}")


def test_pipeline_matches_random_access_batches_and_resumes_at_any_step(train_batches):
    straight = list(input_pipeline.train_batches(train_batches, 0, 10))
    assert len(straight) == 10
    for step, batch in enumerate(straight):
        assert_batches_equal(batch, train_batches[step], f"at step {step}")
        assert batch["keypoints"].shape[1] in BUCKETS
        assert np.isfinite(batch["keypoints"]).all()
    resumed = list(input_pipeline.train_batches(train_batches, 6, 10, parallel_calls=1))
    for step, batch in zip(range(6, 10), resumed, strict=True):
        assert_batches_equal(batch, straight[step], f"resumed at step {step}")
    assert not np.array_equal(straight[0]["keypoints"], straight[4]["keypoints"])  # epoch 2


def test_each_process_builds_only_its_rows_of_the_same_global_batch(train_batches):
    full = train_batches[5]
    parts = [
        next(input_pipeline.train_batches(train_batches, 5, 6, process_index=i, process_count=2))
        for i in range(2)
    ]
    for index, part in enumerate(parts):
        rows = input_pipeline.process_rows(4, index, 2)
        assert list(rows) == [2 * index, 2 * index + 1]
        assert part["keypoints"].shape == full["keypoints"].shape  # same padded length
        for name in full:
            np.testing.assert_array_equal(part[name][rows], full[name][rows], err_msg=name)
        others = [row for row in range(4) if row not in rows]
        assert not part["keypoints"][others].any() and not part["sample_mask"][others].any()
    with pytest.raises(ValueError, match="multiple of the process count"):
        input_pipeline.process_rows(4, 0, 3)


def test_errors_inside_the_pipeline_surface_with_their_message(train_batches):
    samples = train_batches.source.samples
    with pytest.raises(ValueError, match=r"2 glosses but data\.max_labels=1"):
        TrainBatches([*samples[:3], with_two_labels(samples[3])], 4, BUCKETS, max_labels=1, seed=0)

    def broken(keypoints):
        raise ValueError("clip 7 is broken")

    batches = TrainBatches(samples, 4, BUCKETS, 2, seed=0, preprocess=broken)
    with pytest.raises(RuntimeError, match=r"input pipeline failed.*clip 7 is broken"):
        next(input_pipeline.train_batches(batches, 0, 2))


def with_two_labels(sample):
    return dataclasses.replace(sample, labels=np.array([1, 2]), spans=np.array([[0, 5], [5, 9]]))


@pytest.mark.parametrize(("parallel_calls", "prefetch"), [(1, 0), (3, 1), (4, 4)])
def test_threads_and_prefetch_change_nothing_but_speed(train_batches, parallel_calls, prefetch):
    pipeline = input_pipeline.train_batches(
        train_batches, 2, 9, parallel_calls=parallel_calls, prefetch=prefetch
    )
    for step, batch in zip(range(2, 9), pipeline, strict=True):
        assert_batches_equal(batch, train_batches[step], f"at step {step}")


def test_closing_the_pipeline_stops_its_threads(train_batches):
    built = []

    class Counting(TrainBatches):
        def rows(self, step, rows):
            built.append(step)
            return super().rows(step, rows)

    batches = Counting(train_batches.source.samples, 4, BUCKETS, 2, seed=3)
    pipeline = input_pipeline.train_batches(batches, 0, 1000, parallel_calls=2, prefetch=2)
    next(pipeline)
    assert any(t.name.startswith("train_batches") for t in threading.enumerate())
    pipeline.close()
    assert not any(t.name.startswith("train_batches") for t in threading.enumerate())
    assert len(built) <= 1 + 2 + 2  # the step consumed, then at most threads + prefetch ahead


def test_data_modules_import_no_tensorflow():
    code = (
        "import sys; import whispersign_jax.data.input_pipeline, whispersign_jax.data.sources, "
        "whispersign_jax.data.normalize, whispersign_jax.data.batching; "
        "print('tensorflow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
