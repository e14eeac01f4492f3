"""The built-in synthetic dataset: determinism, splits, the keypoint contract, kinematics."""

import dataclasses
import importlib.util
import pathlib
import time

import numpy as np
import pytest

from whispersign_jax import keypoints as kp
from whispersign_jax.data import synthetic

DEFAULT = synthetic.SyntheticConfig()
SMALL = synthetic.SyntheticConfig(
    num_glosses=6, train_signers=3, val_signers=2, test_signers=2, samples_per_gloss_per_signer=2
)
CONTINUOUS = dataclasses.replace(SMALL, mode="continuous", continuous_samples_per_signer=6)
BASELINE_SCRIPT = pathlib.Path(__file__).parents[2] / "scripts" / "synthetic_baseline.py"


@pytest.fixture(scope="module")
def test_split() -> list[synthetic.Sample]:
    return synthetic.generate_split(DEFAULT, "test")


def _hand_slots(sample: synthetic.Sample):
    return ((kp.LEFT_HAND, sample.keypoints[:, kp.LEFT_HAND]),
            (kp.RIGHT_HAND, sample.keypoints[:, kp.RIGHT_HAND]))  # fmt: skip


def _assert_same(first: synthetic.Sample, second: synthetic.Sample) -> None:
    assert first.keypoints.tobytes() == second.keypoints.tobytes()
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.spans, second.spans)
    assert first.signer == second.signer


def test_names_and_sizes():
    assert synthetic.gloss_names(DEFAULT) == [f"synthetic_{i:02d}" for i in range(20)]
    assert synthetic.gloss_names(dataclasses.replace(DEFAULT, num_glosses=120))[-1] == (
        "synthetic_119"
    )
    sizes = [synthetic.split_size(DEFAULT, split) for split in synthetic.SPLITS]
    assert sizes == [8 * 20 * 5, 2 * 20 * 5, 3 * 20 * 5]
    assert synthetic.split_size(CONTINUOUS, "val") == 2 * 6
    assert len(synthetic.generate_split(SMALL, "test")) == 2 * 6 * 2


def test_bad_split_and_config_are_rejected():
    with pytest.raises(ValueError, match=r"train, val, test.*'dev'"):
        synthetic.generate_sample(DEFAULT, "dev", 0)
    with pytest.raises(ValueError, match="max_glosses >= min_glosses >= 1"):
        synthetic.split_size(dataclasses.replace(DEFAULT, min_glosses=4, max_glosses=3), "train")
    with pytest.raises(ValueError, match="min_glosses=0"):
        synthetic.gloss_names(dataclasses.replace(DEFAULT, min_glosses=0))
    with pytest.raises(ValueError, match="mode must be one of"):
        synthetic.split_size(dataclasses.replace(DEFAULT, mode="streaming"), "train")
    with pytest.raises(IndexError, match="out of range"):
        synthetic.generate_sample(SMALL, "val", synthetic.split_size(SMALL, "val"))


def test_samples_are_deterministic_and_independent_of_other_indices():
    for config in (SMALL, CONTINUOUS):
        split = synthetic.generate_split(config, "val")
        for index in (0, 5, len(split) - 1):
            _assert_same(synthetic.generate_sample(config, "val", index), split[index])
            _assert_same(synthetic.generate_sample(config, "val", index), split[index])
    other_seed = synthetic.generate_sample(dataclasses.replace(SMALL, seed=1), "val", 0)
    this_seed = synthetic.generate_sample(SMALL, "val", 0)
    assert other_seed.keypoints.shape != this_seed.keypoints.shape or not np.array_equal(
        other_seed.keypoints, this_seed.keypoints
    )
    # Neighbouring indices (same signer, same gloss) still differ.
    first, second = (synthetic.generate_sample(SMALL, "train", index) for index in (0, 1))
    assert first.labels[0] == second.labels[0] and first.signer == second.signer
    assert not np.array_equal(first.keypoints[:10], second.keypoints[:10])


def test_splits_have_disjoint_signers():
    signers = {
        split: {sample.signer for sample in synthetic.generate_split(SMALL, split)}
        for split in synthetic.SPLITS
    }
    assert signers == {"train": {0, 1, 2}, "val": {3, 4}, "test": {5, 6}}
    assert [list(synthetic.split_signers(DEFAULT, split)) for split in synthetic.SPLITS] == [
        list(range(8)), [8, 9], [10, 11, 12]
    ]  # fmt: skip


def test_isolated_samples_follow_the_keypoint_contract(test_split):
    missing_frames = 0
    gaps_inside_signs = 0
    for sample in test_split:
        keypoints = kp.validate_keypoints(sample.keypoints, "synthetic test sample")
        assert keypoints.dtype == np.float32 and keypoints.shape[1:] == (42, 7)
        assert 40 <= len(keypoints) <= 130
        assert sample.labels.dtype == np.int64 and sample.labels.shape == (1,)
        assert 1 <= sample.labels[0] <= 20
        for _, hand in _hand_slots(sample):
            confidence = hand[:, 0, kp.CONFIDENCE]  # (frames,)
            assert np.all(hand[..., kp.CONFIDENCE] == confidence[:, None])
            missing = confidence == 0
            assert np.all(hand[missing] == 0)  # a missing hand has all features exactly 0
            assert np.all((confidence[~missing] >= 0.8) & (confidence[~missing] <= 1.0))
            assert np.all(np.abs(hand[~missing][..., :2] - 0.5) < 0.65)  # near the image
            missing_frames += missing.sum()
        dominant = sample.keypoints[:, kp.LEFT_HAND if _left_handed(sample) else kp.RIGHT_HAND]
        start, end = sample.spans[0]
        present = dominant[start:end, 0, kp.CONFIDENCE] > 0
        gaps_inside_signs += present[0] and present[-1] and not present.all()
    assert missing_frames > 0 and gaps_inside_signs > 0


def _left_handed(sample: synthetic.Sample) -> bool:
    return synthetic.signer_profile(DEFAULT, sample.signer).left_handed


def test_velocities_are_finite_differences_of_positions(test_split):
    checked = 0
    for sample in test_split[::10]:
        for _, hand in _hand_slots(sample):
            present = hand[:, 0, kp.CONFIDENCE] > 0
            inner = np.nonzero(present[1:-1] & present[:-2] & present[2:])[0] + 1
            central = (hand[inner + 1, :, kp.XYZ] - hand[inner - 1, :, kp.XYZ]) * (60 / 2)
            np.testing.assert_allclose(hand[inner, :, kp.VELOCITY], central, rtol=1e-4, atol=1e-4)
            checked += inner.size
    assert checked > 500


def test_hand_joints_keep_every_bone_length():
    rng = np.random.default_rng(0)
    names = list(synthetic.HANDSHAPES)
    start = np.stack([synthetic.HANDSHAPES[rng.choice(names)] for _ in range(50)])
    end = np.stack([synthetic.HANDSHAPES[rng.choice(names)] for _ in range(50)])
    shapes = start + rng.uniform(0, 1, size=(50, 1)) * (end - start)  # mid-transition shapes
    joints = synthetic.hand_joints(shapes)
    assert joints.shape == (50, 21, 3)
    for parent, joint in kp.HAND_BONES:
        finger, bone = (joint - 1) // 4, (joint - 1) % 4
        lengths = np.linalg.norm(joints[:, joint] - joints[:, parent], axis=-1)
        np.testing.assert_allclose(lengths, synthetic.DEFAULT_BONES[finger, bone], rtol=1e-12)
    # Handshapes really differ: the fist's fingertips are much closer to the wrist.
    tips = [8, 12, 16, 20]
    flat, fist = synthetic.hand_joints(
        np.stack([synthetic.HANDSHAPES[n] for n in ("flat", "fist")])
    )
    assert (
        np.linalg.norm(fist[tips], axis=-1).max() < 0.6 * np.linalg.norm(flat[tips], axis=-1).min()
    )


def test_sample_bone_lengths_are_the_signers_own(test_split):
    for sample in test_split[::25]:
        profile = synthetic.signer_profile(DEFAULT, sample.signer)
        for _, hand in _hand_slots(sample):
            present = hand[:, 0, kp.CONFIDENCE] > 0
            if present.sum() < 10:
                continue
            xyz = hand[present][..., kp.XYZ].astype(np.float64)
            xyz[..., 1] /= synthetic.IMAGE_ASPECT  # back to image-width units
            for parent, joint in kp.HAND_BONES:
                expected = profile.hand_length * profile.scale
                expected *= profile.bone_lengths[(joint - 1) // 4, (joint - 1) % 4]
                if expected < 0.2 * profile.hand_length:
                    continue  # short phalanges drown in the tracking noise
                lengths = np.linalg.norm(xyz[:, joint] - xyz[:, parent], axis=-1)
                assert abs(np.median(lengths) / expected - 1) < 0.06
                assert np.percentile(np.abs(lengths / expected - 1), 90) < 0.25


def test_left_handed_signers_sign_with_the_left_hand(test_split):
    for split in synthetic.SPLITS:
        handedness = [
            synthetic.signer_profile(DEFAULT, signer).left_handed
            for signer in synthetic.split_signers(DEFAULT, split)
        ]
        assert any(handedness) and not all(handedness)
    one_handed = [i + 1 for i, g in enumerate(synthetic.vocabulary(DEFAULT)) if g.hands == "one"]
    for signer in synthetic.split_signers(DEFAULT, "test"):
        travel = np.zeros(2)  # per slot: how far the wrist moves about while signing
        for sample in test_split:
            if sample.signer != signer or sample.labels[0] not in one_handed:
                continue
            wrists = sample.keypoints[slice(*sample.spans[0]), [0, 21]]  # (frames, 2, 7)
            for slot in range(2):
                present = wrists[:, slot, kp.CONFIDENCE] > 0
                if present.sum() > 1:
                    travel[slot] += wrists[present, slot, :2].std(axis=0).sum()
        left, right = travel
        if synthetic.signer_profile(DEFAULT, signer).left_handed:
            assert left > 5 * right, (signer, left, right)
        else:
            assert right > 5 * left, (signer, left, right)


def test_isolated_spans_leave_rest_around_the_sign(test_split):
    for sample in test_split:
        (start, end), frames = sample.spans[0], len(sample.keypoints)
        assert sample.spans.dtype == np.int64 and sample.spans.shape == (1, 2)
        assert 0 < start < end < frames
        assert 30 <= end - start <= 90  # 0.5 to 1.5 s at 60 frames per second


def test_continuous_samples_chain_glosses_with_ordered_spans():
    config = dataclasses.replace(CONTINUOUS, min_glosses=2, max_glosses=4)
    samples = synthetic.generate_split(config, "train")
    lengths = [len(sample.labels) for sample in samples]
    assert min(lengths) >= 2 and max(lengths) <= 4 and len(set(lengths)) > 1
    for sample in samples:
        assert np.all((sample.labels >= 1) & (sample.labels <= 6))
        assert np.all(sample.labels[1:] != sample.labels[:-1])
        assert sample.spans.shape == (len(sample.labels), 2)
        starts, ends = sample.spans[:, 0], sample.spans[:, 1]
        assert starts[0] > 0 and ends[-1] < len(sample.keypoints) and np.all(starts < ends)
        assert np.all(ends[:-1] < starts[1:])  # transitions between glosses
        assert len(sample.keypoints) > 70 * len(sample.labels) / 2


def test_gloss_pairs_are_time_reverses_of_each_other():
    glosses = synthetic.vocabulary(DEFAULT)
    assert len(glosses) == 20 and len(set(glosses)) == 20
    for first, second in zip(glosses[0::2], glosses[1::2], strict=True):
        assert second == dataclasses.replace(first, reverse=True)
        # Played backwards it must look different: a direction, or a handshape change.
        assert first.movement not in ("tap", "shake", "hold") or len(set(first.handshapes)) == 2
    assert {gloss.hands for gloss in glosses} == {"one", "symmetric", "base"}


def test_default_train_split_generates_quickly():
    started = time.perf_counter()
    samples = [synthetic.generate_sample(DEFAULT, "train", index) for index in range(0, 800, 4)]
    assert time.perf_counter() - started < 5.0  # about 0.5 s on one core
    assert len(samples) == 200


def test_time_average_baseline_is_weak_but_above_chance():
    spec = importlib.util.spec_from_file_location("synthetic_baseline", BASELINE_SCRIPT)
    baseline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(baseline)
    result = baseline.nearest_class_mean_baseline(DEFAULT)
    assert result["train_samples"] == 800 and result["test_samples"] == 300
    assert result["chance"] == 0.05
    assert 2 * result["chance"] < result["test_accuracy"] < 0.6
