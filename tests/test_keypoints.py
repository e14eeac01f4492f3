"""The keypoint contract helpers: velocities, assembly, mirroring and validation."""

import numpy as np
import pytest

from whispersign_jax import keypoints as kp


def _random_xyz(frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, size=(frames, kp.NUM_JOINTS, 3))


def test_layout_constants_match_the_contract():
    assert (kp.FPS, kp.NUM_JOINTS, kp.JOINTS_PER_HAND, kp.NUM_FEATURES) == (60, 42, 21, 7)
    assert np.arange(42)[kp.LEFT_HAND].tolist() == list(range(21))
    assert np.arange(42)[kp.RIGHT_HAND].tolist() == list(range(21, 42))
    assert np.arange(7)[kp.XYZ].tolist() == [0, 1, 2]
    assert np.arange(7)[kp.VELOCITY].tolist() == [3, 4, 5]
    assert kp.CONFIDENCE == 6


def test_hand_topology_is_mediapipes():
    assert len(kp.HAND_PARENTS) == 21 and kp.HAND_PARENTS[0] == -1
    assert len(kp.HAND_BONES) == 20
    fingers = {"thumb": kp.THUMB, "index": kp.INDEX, "middle": kp.MIDDLE, "ring": kp.RING,
               "little": kp.LITTLE}  # fmt: skip
    for finger in fingers.values():
        # Each finger is a chain that starts at the wrist and ends at its tip.
        assert kp.HAND_PARENTS[finger[0]] == kp.WRIST
        assert [kp.HAND_PARENTS[joint] for joint in finger[1:]] == list(finger[:-1])
    assert sorted(j for finger in fingers.values() for j in finger) == list(range(1, 21))
    assert fingers["index"] == (5, 6, 7, 8) and fingers["little"][-1] == 20


def test_velocities_match_np_gradient_when_hands_are_always_present():
    xyz = _random_xyz(9)
    velocity = kp.compute_velocities(xyz, np.ones((9, 2), bool), fps=60)
    np.testing.assert_allclose(velocity, np.gradient(xyz, axis=0) * 60, rtol=1e-12)


def test_velocities_never_cross_a_gap():
    # x of the left hand moves 0.01 per frame; the hand is missing in frame 3.
    xyz = np.zeros((7, kp.NUM_JOINTS, 3))
    xyz[:, kp.LEFT_HAND, 0] = 0.01 * np.arange(7)[:, None]
    present = np.ones((7, 2), bool)
    present[3, 0] = False
    velocity = kp.compute_velocities(xyz, present, fps=60)[:, 0, 0]
    # Central at 1 and 5, one-sided next to the gap (2, 4) and at the edges (0, 6), zero in it.
    np.testing.assert_allclose(velocity, [0.6, 0.6, 0.6, 0.0, 0.6, 0.6, 0.6], atol=1e-12)

    jump = xyz.copy()
    jump[4:, kp.LEFT_HAND, 0] += 5.0  # the hand reappears far away: no motion is invented
    velocity = kp.compute_velocities(jump, present, fps=60)[:, 0, 0]
    np.testing.assert_allclose(velocity, [0.6, 0.6, 0.6, 0.0, 0.6, 0.6, 0.6], atol=1e-9)


def test_a_lone_frame_between_gaps_has_zero_velocity():
    xyz = _random_xyz(3)
    present = np.array([[False, True], [True, True], [False, True]])
    velocity = kp.compute_velocities(xyz, present)
    assert np.all(velocity[:, kp.LEFT_HAND] == 0)
    assert np.all(velocity[1, kp.RIGHT_HAND] != 0)


def test_assemble_keypoints_follows_the_contract():
    xyz = _random_xyz(5)
    confidence = np.array([[0.9, 0.8], [0.0, 0.85], [0.95, 0.0], [0.9, 0.9], [0.9, 0.9]])
    keypoints = kp.assemble_keypoints(xyz, confidence)
    assert keypoints.shape == (5, 42, 7) and keypoints.dtype == np.float32
    assert np.all(keypoints[1, kp.LEFT_HAND] == 0) and np.all(keypoints[2, kp.RIGHT_HAND] == 0)
    np.testing.assert_array_equal(
        keypoints[0, kp.LEFT_HAND, kp.XYZ], xyz[0, :21].astype(np.float32)
    )
    np.testing.assert_allclose(keypoints[3, kp.RIGHT_HAND, kp.CONFIDENCE], 0.9, rtol=1e-6)
    # Frame 3 of the right hand: central difference of frames 2 (missing) and 4 -> one-sided.
    expected = (xyz[4, 21:] - xyz[3, 21:]).astype(np.float32) * 60
    np.testing.assert_allclose(keypoints[3, kp.RIGHT_HAND, kp.VELOCITY], expected, rtol=1e-4)


def test_assemble_keypoints_rejects_bad_confidence():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        kp.assemble_keypoints(_random_xyz(2), np.full((2, 2), 1.5))
    with pytest.raises(ValueError, match="confidence"):
        kp.assemble_keypoints(_random_xyz(2), np.ones((3, 2)))


def mirrored_hands(keypoints: np.ndarray) -> np.ndarray:
    """Reference left-right mirror of ``(T, 42, 7)`` hands: the two hand slots swap, present
    joints get x -> 1 - x and vx -> -vx, missing joints stay all zero."""
    mirrored = np.concatenate([keypoints[:, kp.RIGHT_HAND], keypoints[:, kp.LEFT_HAND]], axis=1)
    present = mirrored[..., kp.CONFIDENCE] > 0
    mirrored[..., 0] = np.where(present, 1 - mirrored[..., 0], 0)
    mirrored[..., 3] = np.where(present, -mirrored[..., 3], 0)
    return mirrored


def test_mirror_joints_of_hands_swaps_slots_and_flips_x():
    confidence = np.array([[0.9, 0.0], [0.8, 0.95], [0.0, 0.9]])
    keypoints = kp.assemble_keypoints(_random_xyz(3), confidence)
    mirrored = kp.mirror_joints(keypoints)
    np.testing.assert_array_equal(mirrored, mirrored_hands(keypoints))
    np.testing.assert_allclose(mirrored[1, kp.LEFT_HAND, 0], 1 - keypoints[1, kp.RIGHT_HAND, 0])
    np.testing.assert_array_equal(mirrored[1, kp.LEFT_HAND, 1:3], keypoints[1, kp.RIGHT_HAND, 1:3])
    # A missing hand stays all zero in its new slot.
    assert np.all(mirrored[0, kp.LEFT_HAND] == 0) and np.all(mirrored[2, kp.RIGHT_HAND] == 0)
    twice = kp.mirror_joints(mirrored)
    assert twice.dtype == np.float32
    np.testing.assert_allclose(twice, keypoints, rtol=0, atol=1e-7)
    assert not np.shares_memory(mirrored, keypoints)


def test_validate_keypoints_names_the_source():
    good = kp.validate_keypoints(np.zeros((4, 42, 7), np.float64), "clip.npy")
    assert good.dtype == np.float32 and good.shape == (4, 42, 7)
    with pytest.raises(ValueError, match=r"clip\.npy.*\(4, 42, 6\)"):
        kp.validate_keypoints(np.zeros((4, 42, 6)), "clip.npy")
    with pytest.raises(ValueError, match="sample_00007"):
        kp.validate_keypoints(np.zeros((42, 7)), "sample_00007")
    with pytest.raises(ValueError, match=r"empty\.npy.*no frames"):
        kp.validate_keypoints(np.zeros((0, 42, 7)), "empty.npy")
    broken = np.zeros((5, 42, 7))
    broken[3, 2, 1] = np.nan
    broken[4, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"nan\.npy: 2 NaN or infinite values.*frame 3"):
        kp.validate_keypoints(broken, "nan.npy")
    with pytest.raises(ValueError, match=r"text\.npy"):
        kp.validate_keypoints(np.array([["a"]]), "text.npy")
