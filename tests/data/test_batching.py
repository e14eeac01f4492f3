"""Length buckets, padded batches with masks, deterministic training batches, eval batches."""

import numpy as np
import pytest

from whispersign_jax.data.augment import AugmentConfig
from whispersign_jax.data.batching import TrainBatches, bucket_length, collate, eval_batches
from whispersign_jax.data.sample import Sample
from whispersign_jax.keypoints import assemble_keypoints

BUCKETS = (8, 16, 24)


def make_sample(frames: int, labels, seed: int = 0) -> Sample:
    """A sample whose keypoints are random but never zero where the hand is present."""
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(0.1, 0.9, size=(frames, 42, 3))
    confidence = np.full((frames, 2), 0.9)
    confidence[::3, 1] = 0.0  # the right hand drops out now and then
    labels = np.asarray(labels, np.int64)
    spans = np.stack([np.arange(len(labels)), np.arange(len(labels)) + 1], axis=1)
    return Sample(assemble_keypoints(xyz, confidence), labels, spans.astype(np.int64), signer=0)


def identify(batch) -> list[int]:
    """The first label of each real row (the tests give every sample a distinct one)."""
    return [int(label) for label in batch["labels"][batch["sample_mask"], 0]]


@pytest.mark.parametrize(
    ("frames", "expected"), [(1, 8), (8, 8), (9, 16), (16, 16), (17, 24), (24, 24), (100, 24)]
)
def test_bucket_length_is_the_smallest_bucket_that_fits(frames, expected):
    assert bucket_length(frames, BUCKETS) == expected
    assert bucket_length(frames, (24, 8, 16)) == expected  # bucket order does not matter


def test_collate_shapes_masks_and_padding():
    samples = [make_sample(5, [1, 2, 3], seed=1), make_sample(11, [4], seed=2)]
    batch = collate(samples, batch_size=4, buckets=BUCKETS, max_labels=5)
    assert batch["keypoints"].shape == (4, 16, 42, 7)  # bucket of the longest sample (11)
    assert batch["keypoints"].dtype == np.float32
    assert batch["frame_mask"].shape == (4, 16)
    assert batch["labels"].shape == (4, 5) and batch["labels"].dtype == np.int32
    assert batch["label_mask"].shape == (4, 5) and batch["sample_mask"].shape == (4,)

    np.testing.assert_array_equal(batch["frame_mask"].sum(axis=1), [5, 11, 0, 0])
    np.testing.assert_array_equal(batch["frame_mask"][0], np.arange(16) < 5)
    np.testing.assert_array_equal(batch["sample_mask"], [True, True, False, False])
    np.testing.assert_array_equal(
        batch["labels"], [[1, 2, 3, 0, 0], [4, 0, 0, 0, 0]] + [[0] * 5] * 2
    )
    np.testing.assert_array_equal(batch["label_mask"].sum(axis=1), [3, 1, 0, 0])

    np.testing.assert_array_equal(batch["keypoints"][0, :5], samples[0].keypoints)
    np.testing.assert_array_equal(batch["keypoints"][1, :11], samples[1].keypoints)
    assert not batch["keypoints"][0, 5:].any()  # padded frames
    assert not batch["keypoints"][1, 11:].any()
    assert not batch["keypoints"][2:].any()  # missing rows
    assert batch["keypoints"][0, :5].any()


def test_collate_rejects_too_many_labels_naming_the_setting():
    with pytest.raises(ValueError, match=r"data\.max_labels") as error:
        collate([make_sample(6, [1, 2, 3, 4])], batch_size=2, buckets=BUCKETS, max_labels=3)
    assert "4 glosses" in str(error.value)


def test_collate_crops_clips_longer_than_the_largest_bucket():
    long_sample = make_sample(40, [7], seed=3)
    batch = collate([long_sample], batch_size=1, buckets=BUCKETS, max_labels=2)
    assert batch["keypoints"].shape == (1, 24, 42, 7)
    np.testing.assert_array_equal(batch["keypoints"][0], long_sample.keypoints[:24])
    assert batch["frame_mask"].all()


def distinct_samples(count: int) -> list[Sample]:
    """Sample i has label i + 1 and 4 + i % 13 frames."""
    return [make_sample(4 + index % 13, [index + 1], seed=index) for index in range(count)]


def test_train_batches_are_a_pure_function_of_seed_and_step():
    samples = distinct_samples(12)
    config = AugmentConfig()
    make = lambda seed: TrainBatches(samples, 4, BUCKETS, 2, seed=seed, augmentation=config)
    first, again = make(seed=5), make(seed=5)
    for step in (0, 1, 4, 7):
        one, two = first[step], again[step]
        assert one.keys() == two.keys()
        for name in one:
            np.testing.assert_array_equal(one[name], two[name], err_msg=f"{name} at step {step}")
    # Random access: asking out of order gives the same batch as in order.
    np.testing.assert_array_equal(first[1]["keypoints"], again[1]["keypoints"])

    assert identify(first[0]) != identify(first[1])  # a different step, different samples
    # Two epochs draw different permutations and different augmentations.
    assert not np.array_equal(first[0]["keypoints"], first[3]["keypoints"])
    assert not np.array_equal(first[0]["keypoints"], make(seed=6)[0]["keypoints"])


def test_train_batches_visit_every_sample_once_per_epoch():
    samples = distinct_samples(10)
    batches = TrainBatches(samples, batch_size=3, buckets=BUCKETS, max_labels=2, seed=0)
    assert batches.steps_per_epoch == 3  # the last incomplete batch is dropped
    orders = []
    for epoch in range(3):
        seen = []
        for index in range(batches.steps_per_epoch):
            batch = batches[epoch * batches.steps_per_epoch + index]
            assert batch["sample_mask"].all()
            seen += identify(batch)
        assert len(seen) == len(set(seen)) == 9
        assert set(seen) <= set(range(1, 11))
        orders.append(seen)
    assert orders[0] != orders[1]  # a fresh permutation each epoch

    exact = TrainBatches(samples[:8], batch_size=4, buckets=BUCKETS, max_labels=2, seed=1)
    seen = identify(exact[0]) + identify(exact[1])
    assert sorted(seen) == list(range(1, 9))
    # Without augmentation a batch holds the samples' own keypoints.
    batch = exact[0]
    for row, label in enumerate(batch["labels"][:, 0]):
        original = samples[label - 1].keypoints
        np.testing.assert_array_equal(batch["keypoints"][row, : len(original)], original)


def test_train_batches_refuse_a_batch_larger_than_the_split():
    with pytest.raises(ValueError, match=r"3 samples, fewer than the batch size 4.*batch_size"):
        TrainBatches(distinct_samples(3), batch_size=4, buckets=BUCKETS, max_labels=2, seed=0)


def test_eval_batches_yield_every_sample_once_with_masks():
    samples = distinct_samples(11)
    seen, shapes = [], set()
    for indices, batch in eval_batches(samples, batch_size=4, buckets=BUCKETS, max_labels=2):
        assert batch["labels"].shape[0] == 4
        np.testing.assert_array_equal(batch["sample_mask"], np.arange(4) < len(indices))
        for row, index in enumerate(indices):
            assert batch["labels"][row, 0] == index + 1  # the row is sample `index`
            assert batch["frame_mask"][row].sum() == len(samples[index].keypoints)
        shapes.add(batch["keypoints"].shape[1])
        seen += [int(index) for index in indices]
    assert sorted(seen) == list(range(11))
    lengths = [len(samples[index].keypoints) for index in seen]
    assert lengths == sorted(lengths)  # shortest first: little padding
    assert shapes <= set(BUCKETS)
