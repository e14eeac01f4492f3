"""Length buckets, padded batches with masks, deterministic training batches, eval batches,
labels that stay true under windows and crops."""

import logging

import numpy as np
import pytest

from whispersign_jax.data import processed
from whispersign_jax.data.augment import AugmentConfig
from whispersign_jax.data.batching import TrainBatches, bucket_length, collate, eval_batches
from whispersign_jax.data.sample import Sample
from whispersign_jax.data.synthetic import SyntheticConfig, generate_sample
from whispersign_jax.keypoints import FPS, assemble_keypoints

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
    ("frames", "expected"),
    [(1, 8), (8, 8), (9, 16), (16, 16), (17, 24), (24, 24), (25, 48), (48, 48), (100, 120)],
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


def test_collate_pads_clips_longer_than_the_largest_bucket_to_a_multiple_of_it():
    long_sample = make_sample(40, [7], seed=3)
    batch = collate([long_sample], batch_size=1, buckets=BUCKETS, max_labels=2)
    assert batch["keypoints"].shape == (1, 48, 42, 7)  # never cropped: its label stays true
    np.testing.assert_array_equal(batch["keypoints"][0, :40], long_sample.keypoints)
    assert batch["frame_mask"].sum() == 40


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


# ---------------------------------------------------------------- labels that stay true
STAGE3 = dict(window_frames=3 * FPS, hop_frames=round(1.5 * FPS))  # 3 s, 1.5 s overlap
DEFAULT_BUCKETS = (64, 128, 192, 256, 384, 512, 768)


def write_processed_clips(root, clips) -> list[Sample]:
    """``clips`` ((seconds, labels), ...) as the processed layout's train split, read back by
    its reader: untimed samples, every gloss spanning the whole clip."""
    (root / "train" / "features").mkdir(parents=True)
    (root / "train" / "labels").mkdir(parents=True)
    for index, (seconds, labels) in enumerate(clips):
        keypoints = make_sample(round(seconds * FPS), labels, seed=index).keypoints
        name = processed.sample_name(index)
        np.save(root / "train" / "features" / name, keypoints, allow_pickle=False)
        np.save(root / "train" / "labels" / name, np.array(labels, np.int64), allow_pickle=False)
    return [sample for _, sample in processed.read_candidates(root, "train")]


def test_stage3_trains_untimed_clips_longer_than_the_window_whole(tmp_path, caplog):
    clips = [(6.0, [4]), (8.0, [7]), (10.0, [3, 1, 3]), (2.0, [9])]
    samples = write_processed_clips(tmp_path, clips)
    assert [s.timed for s in samples] == [False] * 4
    with caplog.at_level(logging.WARNING):
        batches = TrainBatches(samples, 4, DEFAULT_BUCKETS, 8, seed=0, name="stage3", **STAGE3)
    assert batches.trained_whole == 3 and batches.skipped == 0
    assert "stage3: 3 untimed clips trained whole" in caplog.text
    for step in range(3):
        batch = batches[step]
        for row, index in enumerate(batches.chosen(step)):
            seconds, labels = clips[index]
            assert batch["labels"][row][batch["label_mask"][row]].tolist() == labels
            assert batch["frame_mask"][row].sum() == round(seconds * FPS)
        assert batch["keypoints"].shape[1] == 768  # the bucket of the 10 s clip (600 frames)

    augmented = TrainBatches(
        samples, 4, DEFAULT_BUCKETS, 8, seed=0, augmentation=AugmentConfig(), **STAGE3
    )
    for step in range(3):
        batch = augmented[step]
        for row, index in enumerate(augmented.chosen(step)):
            assert batch["labels"][row][batch["label_mask"][row]].tolist() == clips[index][1]


def test_stage3_still_windows_timed_continuous_clips_by_the_over_half_rule():
    config = SyntheticConfig(mode="continuous", num_glosses=6, train_signers=2)
    samples = [generate_sample(config, "train", index) for index in range(8)]
    batches = TrainBatches(samples, 4, DEFAULT_BUCKETS, 8, seed=0, window_frames=90, hop_frames=45)
    assert batches.trained_whole == 0 and batches.cropped == 8  # all longer than 1.5 s
    for step in range(4):
        batch = batches[step]
        assert batch["keypoints"].shape[1] == 128 and (batch["frame_mask"].sum(1) == 90).all()
        for row, index in enumerate(batches.chosen(step)):
            sample, keypoints = samples[index], batch["keypoints"][row, :90]
            start = next(
                t for t in range(len(sample.keypoints) - 89)
                if np.array_equal(sample.keypoints[t : t + 90], keypoints)
            )  # fmt: skip
            spans = sample.spans
            inside = np.minimum(spans[:, 1], start + 90) - np.maximum(spans[:, 0], start)
            expected = sample.labels[inside / (spans[:, 1] - spans[:, 0]) > 0.5]
            assert batch["labels"][row][batch["label_mask"][row]].tolist() == expected.tolist()


def test_untimed_clips_longer_than_the_largest_bucket_are_skipped_with_a_count(caplog):
    untimed = [make_sample(10, [index + 1], seed=index) for index in range(4)]
    untimed.append(make_sample(30, [9, 8], seed=9))  # longer than the largest bucket (24)
    with caplog.at_level(logging.WARNING):
        batches = TrainBatches(untimed, 2, BUCKETS, 2, seed=0, name="stage2")
    assert batches.skipped == 1 and len(batches.kept) == 4 and batches.steps_per_epoch == 2
    assert "stage2: 1 of 5 training clips skipped" in caplog.text
    assert "config.data.buckets" in caplog.text
    seen = [label for step in range(4) for label in identify(batches[step])]
    assert 9 not in seen and sorted(set(seen)) == [1, 2, 3, 4]
    with pytest.raises(ValueError, match=r"2 samples \(1 more skipped.*batch_size"):
        TrainBatches(untimed[2:], 3, BUCKETS, 2, seed=0)


def test_timed_clips_longer_than_the_largest_bucket_train_on_windows_of_it(caplog):
    frames = 40
    spans = np.array([[0, 10], [10, 20], [20, 30], [30, 40]], np.int64)
    long_sample = Sample(make_sample(frames, [1]).keypoints, np.array([5, 6, 7, 8]), spans,
                         signer=0, timed=True)  # fmt: skip
    samples = [long_sample] + [make_sample(8, [index + 1], seed=index) for index in range(3)]
    with caplog.at_level(logging.WARNING):
        batches = TrainBatches(samples, 4, BUCKETS, 4, seed=0, name="stage1")
    assert batches.cropped == 1 and batches.skipped == 0
    assert "stage1: 1 timed clips longer than the largest bucket (24 frames)" in caplog.text
    windows = {}
    for step in range(12):
        batch = batches[step]
        row = int(np.flatnonzero(batches.chosen(step) == 0)[0])
        assert batch["frame_mask"][row].sum() == 24
        start = next(t for t in range(17) if np.array_equal(
            batch["keypoints"][row, :24], long_sample.keypoints[t : t + 24]))  # fmt: skip
        windows[start] = batch["labels"][row][batch["label_mask"][row]].tolist()
    # Windows of 24 frames on a 12-frame hop: [0, 24), [12, 36), [16, 40).
    assert windows == {0: [5, 6], 12: [6, 7, 8], 16: [7, 8]}  # [30, 40): 6 of 10 inside


def test_a_speed_change_never_makes_a_row_outgrow_the_largest_bucket():
    samples = [make_sample(22, [index + 1], seed=index) for index in range(4)]
    slow = AugmentConfig(speed_range=(0.8, 0.8))  # 22 frames would become 28 > 24
    batches = TrainBatches(samples, 4, BUCKETS, 2, seed=0, augmentation=slow)
    batch = batches[0]
    assert batch["keypoints"].shape[1] == 24
    np.testing.assert_array_equal(batch["frame_mask"].sum(axis=1), [24] * 4)
    assert sorted(identify(batch)) == [1, 2, 3, 4]


def test_stage3_refuses_untimed_clips_with_more_glosses_than_max_labels_up_front():
    samples = [make_sample(200, [1, 2, 3], seed=index) for index in range(2)]
    with pytest.raises(ValueError, match=r"3 glosses but data\.max_labels=2"):
        TrainBatches(samples, 2, DEFAULT_BUCKETS, 2, seed=0, **STAGE3)


def test_no_training_row_has_a_label_whose_span_lies_outside_its_frames(tmp_path):
    untimed = write_processed_clips(
        tmp_path, [(6.0, [4]), (8.0, [7]), (10.0, [3, 1, 3]), (1.0, [2]), (14.0, [5])]
    )
    config = SyntheticConfig(mode="continuous", num_glosses=6, train_signers=2)
    timed = [generate_sample(config, "train", index) for index in range(11)]
    for options in ({}, STAGE3):
        batches = TrainBatches(untimed + timed, 4, DEFAULT_BUCKETS, 8, seed=1,
                               augmentation=AugmentConfig(), **options)  # fmt: skip
        assert batches.skipped == 1  # the 14 s untimed clip (840 frames > 768)
        for step in range(2 * batches.steps_per_epoch):
            for row in range(4):
                sample = batches.row_sample(step, row)
                frames = len(sample.keypoints)
                assert frames <= 768 and len(sample.spans) == len(sample.labels)
                assert (sample.spans[:, 0] >= 0).all() and (sample.spans[:, 1] <= frames).all()
                assert (sample.spans[:, 1] > sample.spans[:, 0]).all()  # inside its frames
                if not sample.timed:  # untimed: whole, every gloss kept
                    source = batches.source[batches.chosen(step)[row]]
                    np.testing.assert_array_equal(sample.labels, source.labels)
