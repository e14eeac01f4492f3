"""Keypoint augmentations: speed change, in-plane rotation and scale, sliding windows."""

import numpy as np
import pytest

from whispersign_jax import keypoints as kp
from whispersign_jax.data import augment
from whispersign_jax.data.sample import Sample, untimed_sample
from whispersign_jax.data.synthetic import SyntheticConfig, generate_sample


def linear_motion_sample(frames: int, right_present: np.ndarray | None = None) -> Sample:
    """Joints at random positions moving with constant random velocity (per frame)."""
    rng = np.random.default_rng(0)
    start = rng.uniform(0.3, 0.7, size=(1, 42, 3))
    per_frame = rng.uniform(-0.004, 0.004, size=(1, 42, 3))
    xyz = start + per_frame * np.arange(frames)[:, None, None]  # (frames, joints, xyz)
    confidence = np.full((frames, 2), 0.9)
    if right_present is not None:
        confidence[:, 1] = np.where(right_present, 0.8, 0.0)
    spans = np.array([[2, 12], [15, 30], [31, frames]], np.int64)
    keypoints = kp.assemble_keypoints(xyz, confidence)
    return Sample(keypoints, np.array([1, 2, 3]), spans, signer=0, timed=True)


def hand_present(keypoints: np.ndarray) -> np.ndarray:
    """(T, 2) confidence > 0 per hand slot."""
    return keypoints[:, [0, 21], kp.CONFIDENCE] > 0


def assert_missing_hands_are_zero(keypoints: np.ndarray) -> None:
    for hand, joints in enumerate((kp.LEFT_HAND, kp.RIGHT_HAND)):
        missing = ~hand_present(keypoints)[:, hand]
        assert not keypoints[missing][:, joints].any(), f"hand {hand} missing but not zero"
        # Confidence is per hand: equal over its 21 joints.
        confidence = keypoints[:, joints, kp.CONFIDENCE]
        np.testing.assert_array_equal(confidence, confidence[:, :1].repeat(21, axis=1))


# ---------------------------------------------------------------- change_speed
def test_change_speed_by_two_halves_length_and_rescales_spans():
    sample = linear_motion_sample(41)
    faster = augment.change_speed(sample, 2.0)
    assert abs(len(faster.keypoints) - 41 / 2) <= 1
    assert faster.keypoints.shape[1:] == (42, 7) and faster.keypoints.dtype == np.float32
    new_frames = len(faster.keypoints)
    expected = np.round(sample.spans * (new_frames - 1) / 40)
    np.testing.assert_array_equal(faster.spans, expected)
    np.testing.assert_allclose(faster.spans, sample.spans * new_frames / 41, atol=1)
    np.testing.assert_array_equal(faster.labels, sample.labels)
    assert faster.spans.dtype == np.int64

    slower = augment.change_speed(sample, 0.5)
    assert abs(len(slower.keypoints) - 82) <= 1


def test_change_speed_interpolates_positions_and_recomputes_velocities():
    sample = linear_motion_sample(41)
    faster = augment.change_speed(sample, 2.0)
    frames = len(faster.keypoints)
    xyz = faster.keypoints[..., kp.XYZ]
    # Linear motion stays linear: each new frame lies on the source trajectory.
    source_time = np.linspace(0, 40, frames)
    start, end = sample.keypoints[0, :, kp.XYZ], sample.keypoints[-1, :, kp.XYZ]
    expected = start + (end - start) * (source_time / 40)[:, None, None]
    np.testing.assert_allclose(xyz, expected, atol=1e-5)

    velocity = faster.keypoints[..., kp.VELOCITY]
    central = (xyz[2:] - xyz[:-2]) * kp.FPS / 2  # (frames - 2, joints, xyz)
    np.testing.assert_allclose(velocity[1:-1], central, atol=1e-4)
    np.testing.assert_allclose(velocity[0], (xyz[1] - xyz[0]) * kp.FPS, atol=1e-4)
    np.testing.assert_allclose(velocity[-1], (xyz[-1] - xyz[-2]) * kp.FPS, atol=1e-4)
    # Twice the speed: twice the source velocity (the source spans 40 frames, this one fewer).
    np.testing.assert_allclose(
        velocity[frames // 2], sample.keypoints[20, :, kp.VELOCITY] * 40 / (frames - 1), atol=1e-4
    )


def test_change_speed_keeps_a_missing_hand_missing():
    sample = linear_motion_sample(30, right_present=np.zeros(30, bool))
    for factor in (0.7, 1.0, 1.3, 2.0):
        result = augment.change_speed(sample, factor).keypoints
        assert not result[:, kp.RIGHT_HAND].any(), factor
        assert (result[:, kp.LEFT_HAND, kp.CONFIDENCE] > 0).all(), factor
        assert_missing_hands_are_zero(result)


def test_change_speed_never_interpolates_across_a_gap():
    present = np.ones(40, bool)
    present[10:20] = False
    sample = linear_motion_sample(40, right_present=present)
    for factor in (0.6, 1.5, 2.0):
        result = augment.change_speed(sample, factor).keypoints
        assert_missing_hands_are_zero(result)
        frames = len(result)
        source_time = np.linspace(0, 39, frames)
        right = hand_present(result)[:, 1]
        # Every output frame that draws on a missing source frame has no right hand.
        touches_gap = (np.ceil(source_time) >= 10) & (np.floor(source_time) <= 19)
        assert not right[touches_gap].any(), factor
        assert right[~touches_gap].all(), factor
        # Velocities: finite differences where the hand is present on consecutive frames.
        xyz = result[:, kp.RIGHT_HAND, kp.XYZ]
        velocity = result[:, kp.RIGHT_HAND, kp.VELOCITY]
        for t in range(1, frames - 1):
            if right[t - 1] and right[t] and right[t + 1]:
                np.testing.assert_allclose(velocity[t], (xyz[t + 1] - xyz[t - 1]) * 30, atol=1e-4)
            elif right[t] and right[t + 1] and not right[t - 1]:
                np.testing.assert_allclose(velocity[t], (xyz[t + 1] - xyz[t]) * 60, atol=1e-4)


def test_change_speed_by_one_is_the_identity():
    present = np.ones(30, bool)
    present[8:12] = False
    sample = linear_motion_sample(30, right_present=present)
    same = augment.change_speed(sample, 1.0)
    np.testing.assert_allclose(same.keypoints, sample.keypoints, atol=1e-6)
    np.testing.assert_array_equal(same.spans, sample.spans)


# ---------------------------------------------------------------- transform_plane
def test_transform_plane_identity_and_missing_hands():
    present = np.ones(12, bool)
    present[3:6] = False
    sample = linear_motion_sample(12, right_present=present)
    same = augment.transform_plane(sample, 1.0, 0.0)
    np.testing.assert_allclose(same.keypoints, sample.keypoints, atol=1e-6)
    assert same.keypoints.dtype == np.float32

    turned = augment.transform_plane(sample, 1.1, 25.0).keypoints
    assert not turned[3:6, kp.RIGHT_HAND].any()  # missing stays all zero
    assert_missing_hands_are_zero(turned)
    np.testing.assert_array_equal(turned[..., kp.CONFIDENCE], sample.keypoints[..., kp.CONFIDENCE])


def test_transform_plane_rotates_and_scales_about_the_image_centre():
    sample = linear_motion_sample(6)
    scale, degrees = 0.8, 90.0
    result = augment.transform_plane(sample, scale, degrees).keypoints
    xy, new_xy = sample.keypoints[..., :2] - 0.5, result[..., :2] - 0.5
    # 90 degrees: (x, y) -> (-y, x), times the scale.
    np.testing.assert_allclose(new_xy[..., 0], -scale * xy[..., 1], atol=1e-6)
    np.testing.assert_allclose(new_xy[..., 1], scale * xy[..., 0], atol=1e-6)
    np.testing.assert_allclose(result[..., 2], scale * sample.keypoints[..., 2], atol=1e-6)
    velocity, new_velocity = sample.keypoints[..., 3:6], result[..., 3:6]
    np.testing.assert_allclose(new_velocity[..., 0], -scale * velocity[..., 1], atol=1e-5)
    np.testing.assert_allclose(new_velocity[..., 1], scale * velocity[..., 0], atol=1e-5)
    np.testing.assert_allclose(new_velocity[..., 2], scale * velocity[..., 2], atol=1e-5)


@pytest.mark.parametrize(("scale", "degrees"), [(1.0, 17.0), (1.2, -8.0), (0.9, 133.0)])
def test_transform_plane_preserves_joint_distances_up_to_scale(scale, degrees):
    sample = linear_motion_sample(5)
    result = augment.transform_plane(sample, scale, degrees).keypoints
    before, after = sample.keypoints[..., :2], result[..., :2]  # (frames, joints, xy)
    distance = lambda xy: np.linalg.norm(xy[:, :, None] - xy[:, None], axis=-1)
    np.testing.assert_allclose(distance(after), scale * distance(before), atol=1e-5)
    # Distances to the image centre scale the same way (it is the fixed point).
    np.testing.assert_allclose(
        np.linalg.norm(after - 0.5, axis=-1),
        scale * np.linalg.norm(before - 0.5, axis=-1),
        atol=1e-5,
    )


# ---------------------------------------------------------------- random_window
def window_start(window: np.ndarray, source: np.ndarray) -> int:
    matches = [
        start
        for start in range(len(source) - len(window) + 1)
        if np.array_equal(source[start : start + len(window)], window)
    ]
    assert len(matches) == 1
    return matches[0]


def test_random_window_crops_on_the_hop_grid_and_keeps_mostly_inside_glosses():
    frames, window, hop = 50, 20, 8
    rng_xyz = np.random.default_rng(1).uniform(0.2, 0.8, size=(frames, 42, 3))
    keypoints = kp.assemble_keypoints(rng_xyz, np.full((frames, 2), 0.9))
    spans = np.array([[0, 10], [10, 21], [21, 30], [30, 40], [40, 50]], np.int64)
    sample = Sample(keypoints, np.array([5, 6, 7, 8, 9]), spans, signer=3, timed=True)

    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(60):
        crop = augment.random_window(sample, window, hop, rng)
        assert crop.keypoints.shape == (window, 42, 7)
        start = window_start(crop.keypoints, keypoints)
        starts.add(start)
        inside = np.minimum(spans[:, 1], start + window) - np.maximum(spans[:, 0], start)
        keep = inside / (spans[:, 1] - spans[:, 0]) > 0.5
        np.testing.assert_array_equal(crop.labels, sample.labels[keep])
        np.testing.assert_array_equal(crop.spans, np.clip(spans[keep] - start, 0, window))
        assert crop.signer == 3
    assert starts == {0, 8, 16, 24, 30}  # hop grid, plus the last window flush with the end


def test_random_window_span_exactly_half_inside_is_dropped():
    frames = 30
    keypoints = kp.assemble_keypoints(
        np.random.default_rng(2).uniform(0.2, 0.8, size=(frames, 42, 3)), np.ones((frames, 2))
    )
    # Windows [0, 10) and [20, 30) with hop 20: span [5, 15) is half inside the first window,
    # span [16, 25) more than half (5 of 9 frames) inside the second one.
    spans = np.array([[5, 15], [16, 25]])
    sample = Sample(keypoints, np.array([1, 2]), spans, signer=0, timed=True)
    rng = np.random.default_rng(0)
    results = {}
    for _ in range(20):
        crop = augment.random_window(sample, 10, 20, rng)
        results[window_start(crop.keypoints, keypoints)] = crop.labels.tolist()
    assert results == {0: [], 20: [2]}


def test_random_window_leaves_short_samples_alone():
    sample = linear_motion_sample(40)
    crop = augment.random_window(sample, 40, 10, np.random.default_rng(0))
    assert crop is sample


def untimed_clip(seconds: float, labels) -> Sample:
    """A clip as the processed layout and the raw formats give it (``untimed_sample``: every
    gloss spans the whole clip, ``timed`` False)."""
    frames = round(seconds * kp.FPS)
    xyz = np.random.default_rng(frames).uniform(0.2, 0.8, size=(frames, 42, 3))
    keypoints = kp.assemble_keypoints(xyz, np.full((frames, 2), 0.9))
    sample = untimed_sample(keypoints, np.array(labels, np.int64))
    assert sample.spans.tolist() == [[0, frames]] * len(labels) and not sample.timed
    return sample


@pytest.mark.parametrize(
    ("seconds", "labels"), [(6.0, [4]), (8.0, [7]), (10.0, [3, 1, 3]), (4.0, [2, 5])]
)
def test_random_window_trains_untimed_clips_longer_than_the_window_whole(seconds, labels):
    # 3 s windows with 1.5 s overlap (stage 3): the over-half rule on whole-clip spans kept
    # no gloss of these clips; with no timing, no window is known to hold a gloss.
    sample = untimed_clip(seconds, labels)
    assert not sample.timed
    window, hop = 3 * kp.FPS, round(1.5 * kp.FPS)
    assert augment.window_length(len(sample.keypoints), sample.timed, window) == len(
        sample.keypoints
    )
    rng = np.random.default_rng(0)
    for _ in range(10):
        crop = augment.random_window(sample, window, hop, rng)
        assert crop.labels.tolist() == labels
        assert len(crop.keypoints) == round(seconds * kp.FPS)
        np.testing.assert_array_equal(crop.spans, sample.spans)


def test_random_window_on_timed_continuous_synthetic_clips_keeps_the_over_half_rule():
    config = SyntheticConfig(mode="continuous", num_glosses=6, train_signers=2)
    window, hop = 90, 45
    windows = 0
    for index in range(8):
        sample = generate_sample(config, "train", index)
        assert sample.timed  # the generator knows its spans
        assert augment.window_length(len(sample.keypoints), sample.timed, window) == min(
            len(sample.keypoints), window
        )
        if len(sample.keypoints) <= window:
            continue
        rng = np.random.default_rng(index)
        for _ in range(6):
            crop = augment.random_window(sample, window, hop, rng)
            start = window_start(crop.keypoints, sample.keypoints)
            spans = sample.spans
            inside = np.minimum(spans[:, 1], start + window) - np.maximum(spans[:, 0], start)
            keep = inside / (spans[:, 1] - spans[:, 0]) > 0.5
            np.testing.assert_array_equal(crop.labels, sample.labels[keep])
            assert (crop.spans[:, 1] > crop.spans[:, 0]).all()  # every kept gloss is there
            windows += 1
    assert windows >= 30


# ---------------------------------------------------------------- augment
def test_augment_keeps_the_keypoint_contract():
    config = SyntheticConfig(num_glosses=2, train_signers=2, samples_per_gloss_per_signer=1)
    present = np.ones(36, bool)
    present[5:9] = False
    samples = [generate_sample(config, "train", index) for index in range(2)]
    assert all((~hand_present(s.keypoints)).any() for s in samples)  # a hand goes missing
    samples.append(linear_motion_sample(36, right_present=present))
    samples.append(linear_motion_sample(36, right_present=np.zeros(36, bool)))
    rng = np.random.default_rng(0)
    augment_config = augment.AugmentConfig(mirror_prob=0.5, noise_std=0.01)
    changed = 0
    for sample in samples:
        for _ in range(4):
            result = augment.augment(sample, augment_config, rng)
            keypoints = result.keypoints
            assert keypoints.ndim == 3 and keypoints.shape[1:] == (42, 7)
            assert keypoints.dtype == np.float32 and np.isfinite(keypoints).all()
            assert_missing_hands_are_zero(keypoints)
            confidence = keypoints[..., kp.CONFIDENCE]
            assert ((confidence >= 0) & (confidence <= 1)).all()
            low, high = (len(sample.keypoints) / f for f in augment_config.speed_range[::-1])
            assert low - 1 <= len(keypoints) <= high + 1
            np.testing.assert_array_equal(result.labels, sample.labels)
            assert result.spans.shape == sample.spans.shape
            assert (result.spans >= 0).all() and (result.spans <= len(keypoints)).all()
            changed += not np.array_equal(keypoints, sample.keypoints)
    assert changed == 16
    # The always-missing hand is missing after augmentation too (in one slot or the other).
    result = augment.augment(samples[-1], augment_config, rng)
    assert (~hand_present(result.keypoints)).all(axis=0).sum() == 1


# ---------------------------------------------------------------- jitter and masking
def test_temporal_jitter_keeps_length_order_and_missing_hands():
    present = np.ones(40, bool)
    present[10:20] = False
    sample = linear_motion_sample(40, right_present=present)
    plain = augment.change_speed(sample, 1.0)
    jittered = augment.change_speed(sample, 1.0, jitter=0.4, rng=np.random.default_rng(0))
    assert jittered.keypoints.shape == plain.keypoints.shape
    assert_missing_hands_are_zero(jittered.keypoints)
    left_x = jittered.keypoints[:, 0, 0]  # moves linearly: jitter keeps time monotonic
    assert np.all(np.diff(left_x) * np.sign(left_x[-1] - left_x[0]) >= 0)
    offset = np.abs(jittered.keypoints[:, 0, 0] - plain.keypoints[:, 0, 0])
    step = np.abs(np.diff(plain.keypoints[:, 0, 0])).max()
    assert 0 < offset.max() <= 0.4 * step + 1e-6


def test_mask_features_masks_joints_and_a_time_segment():
    keypoints = linear_motion_sample(30).keypoints
    config = augment.AugmentConfig(joint_mask_prob=0.2, time_mask_segments=1, time_mask_frames=6)
    masked = augment.mask_features(keypoints, config, np.random.default_rng(1))
    dropped = ~masked.any(axis=(1, 2))  # frames where everything is zero
    assert 1 <= dropped.sum() <= 6
    assert np.ptp(np.flatnonzero(dropped)) == dropped.sum() - 1  # one contiguous segment
    kept = masked[~dropped]
    joint_masked = ~kept[:, :, :6].any(axis=(0, 2))  # (42,) motion features zero throughout
    assert 0 < joint_masked.sum() < 42
    np.testing.assert_array_equal(kept[:, :, 6], keypoints[~dropped][:, :, 6])  # confidence
    np.testing.assert_array_equal(kept[:, ~joint_masked], keypoints[~dropped][:, ~joint_masked])
