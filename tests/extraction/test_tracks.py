import numpy as np
import pytest

from whispersign_jax import keypoints as kp
from whispersign_jax.extraction.tracks import resampling_times, tracks_to_keypoints


def _moving_hands(timestamps: np.ndarray, speed: float = 0.3) -> np.ndarray:
    """(T, 2, 21, 3) positions moving along x at `speed` per second from a random pose."""
    rng = np.random.default_rng(0)
    pose = rng.uniform(0.2, 0.6, (1, 2, 21, 3))
    shift = np.zeros((timestamps.size, 1, 1, 3))
    shift[:, 0, 0, 0] = speed * timestamps
    return pose + shift


def test_upsampling_30_to_60_fps_interpolates_positions_and_velocities():
    timestamps = np.arange(10) / 30.0
    positions = _moving_hands(timestamps)
    keypoints = tracks_to_keypoints(positions, np.full((10, 2), 0.9), timestamps, 60.0)
    assert keypoints.shape == (19, 42, 7) and keypoints.dtype == np.float32
    expected_x = _moving_hands(np.arange(19) / 60.0)[:, 0, :, 0]
    np.testing.assert_allclose(keypoints[:, kp.LEFT_HAND, 0], expected_x, atol=1e-6)
    np.testing.assert_allclose(keypoints[..., 3], 0.3, atol=1e-3)  # vx per second
    np.testing.assert_allclose(keypoints[..., 4:6], 0.0, atol=1e-3)
    np.testing.assert_allclose(keypoints[..., kp.CONFIDENCE], 0.9, atol=1e-6)


def test_own_rate_keeps_frames_one_to_one_despite_millisecond_rounding():
    fps = 30000 / 1001  # 29.97, container timestamps rounded to whole milliseconds
    true_times = np.arange(12) / fps
    timestamps = np.round(true_times * 1000) / 1000
    positions = _moving_hands(true_times)
    presence = np.full((12, 2), 0.8)
    presence[5, 1] = 0.0
    keypoints = tracks_to_keypoints(positions, presence, timestamps, fps)
    assert keypoints.shape == (12, 42, 7)
    np.testing.assert_array_equal(
        keypoints[:, kp.LEFT_HAND, :3], positions[:, 0].astype(np.float32)
    )
    assert keypoints[5, kp.RIGHT_HAND].max() == 0.0  # missing stays missing, nothing blended
    np.testing.assert_allclose(keypoints[:, kp.LEFT_HAND, 3], 0.3, atol=1e-3)


def test_gap_in_one_hand_is_not_bridged():
    timestamps = np.arange(7) / 30.0
    positions = _moving_hands(timestamps)
    presence = np.full((7, 2), 1.0)
    presence[3, 0] = 0.0  # left hand lost in input frame 3 (t = 0.1 s)
    keypoints = tracks_to_keypoints(positions, presence, timestamps, 60.0)
    left_confidence = keypoints[:, 0, kp.CONFIDENCE]
    # Output frames 4 (input 2) and 8 (input 4) keep the hand; 5, 6 and 7 lie in the gap.
    np.testing.assert_array_equal(np.nonzero(left_confidence == 0)[0], [5, 6, 7])
    assert np.all(keypoints[5:8, kp.LEFT_HAND] == 0.0)
    assert np.all(keypoints[:, kp.RIGHT_HAND, kp.CONFIDENCE] == 1.0)
    # Velocities next to the gap are one-sided, never across it.
    np.testing.assert_allclose(keypoints[[3, 4, 8, 9], 0, 3], 0.3, atol=1e-3)


def test_isolated_detection_survives_on_an_unaligned_grid():
    timestamps = 0.004 + np.arange(5) / 25.0  # 25 fps, grid offset from 60 fps multiples
    positions = _moving_hands(timestamps)
    presence = np.zeros((5, 2))
    presence[2, 1] = 0.7  # one frame only, at t = 0.084 s
    keypoints = tracks_to_keypoints(positions, presence, timestamps, 60.0)
    frames_with_hand = np.nonzero(keypoints[:, 21, kp.CONFIDENCE])[0]
    times = resampling_times(timestamps, 60.0)
    assert frames_with_hand.size == 1
    assert abs(times[frames_with_hand[0]] - timestamps[2]) <= 0.5 / 60
    np.testing.assert_array_equal(
        keypoints[frames_with_hand[0], kp.RIGHT_HAND, :3], positions[2, 1].astype(np.float32)
    )
    assert np.all(keypoints[frames_with_hand[0], :, 3:6] == 0.0)  # no neighbour, no velocity


def test_long_timestamp_gap_is_not_interpolated():
    timestamps = np.array([0.0, 1 / 30, 2 / 30, 0.5, 0.5 + 1 / 30])  # frames dropped
    keypoints = tracks_to_keypoints(_moving_hands(timestamps), np.ones((5, 2)), timestamps, 60.0)
    times = resampling_times(timestamps, 60.0)
    in_gap = (times > 2 / 30 + 0.5 / 60) & (times < 0.5 - 0.5 / 60)
    assert in_gap.sum() > 20
    assert np.all(keypoints[in_gap, :, kp.CONFIDENCE] == 0.0)
    assert np.all(keypoints[~in_gap, :, kp.CONFIDENCE] == 1.0)


def test_downsampling_60_to_30_fps_takes_every_other_frame():
    timestamps = np.arange(9) / 60.0
    positions = _moving_hands(timestamps)
    keypoints = tracks_to_keypoints(positions, np.ones((9, 2)), timestamps, 30.0)
    assert keypoints.shape == (5, 42, 7)
    np.testing.assert_allclose(
        keypoints[:, kp.RIGHT_HAND, :3], positions[::2, 1].astype(np.float32), atol=1e-7
    )
    np.testing.assert_allclose(keypoints[:, 0, 3], 0.3, atol=1e-3)


def test_no_resampling_uses_uneven_timestamps_for_velocities():
    timestamps = np.array([0.0, 0.01, 0.05, 0.06, 0.2])
    positions = _moving_hands(timestamps, speed=2.0)
    presence = np.ones((5, 2))
    presence[4, 0] = 0.0
    keypoints = tracks_to_keypoints(positions, presence, timestamps, target_fps=None)
    assert keypoints.shape == (5, 42, 7)
    np.testing.assert_allclose(keypoints[:4, 0, 3], 2.0, rtol=1e-4)
    np.testing.assert_allclose(keypoints[:, 21, 3], 2.0, rtol=1e-4)
    assert np.all(keypoints[4, kp.LEFT_HAND] == 0.0)


def test_single_frame_gives_one_frame_with_zero_velocity():
    positions = _moving_hands(np.zeros(1))
    keypoints = tracks_to_keypoints(positions, np.array([[0.0, 0.6]]), np.array([1.5]))
    assert keypoints.shape == (1, 42, 7)
    assert np.all(keypoints[0, kp.LEFT_HAND] == 0.0)
    assert np.all(keypoints[0, kp.RIGHT_HAND, 3:6] == 0.0)
    np.testing.assert_allclose(keypoints[0, kp.RIGHT_HAND, kp.CONFIDENCE], 0.6)


@pytest.mark.parametrize(
    ("positions", "presence", "timestamps", "message"),
    [
        (np.zeros((3, 42, 3)), np.ones((3, 2)), np.arange(3.0), "expects positions"),
        (np.zeros((3, 2, 21, 3)), np.ones((2, 2)), np.arange(3.0), "expects positions"),
        (np.zeros((0, 2, 21, 3)), np.ones((0, 2)), np.zeros(0), "no frames"),
        (np.zeros((3, 2, 21, 3)), np.ones((3, 2)), np.array([0.0, 0.1, 0.1]), "strictly"),
        (np.zeros((3, 2, 21, 3)), np.ones((3, 2)), np.array([0.0, 0.2, 0.1]), "strictly"),
        (np.full((3, 2, 21, 3), np.nan), np.ones((3, 2)), np.arange(3.0), "positions contain"),
        (np.zeros((3, 2, 21, 3)), np.ones((3, 2)), np.array([0, np.inf, 1]), "timestamps"),
        (np.zeros((3, 2, 21, 3)), np.full((3, 2), 2.0), np.arange(3.0), "presence must"),
    ],
)
def test_bad_tracks_are_rejected(positions, presence, timestamps, message):
    with pytest.raises(ValueError, match=message):
        tracks_to_keypoints(positions, presence, timestamps)


def test_bad_target_fps_is_rejected():
    with pytest.raises(ValueError, match="target_fps"):
        tracks_to_keypoints(np.zeros((2, 2, 21, 3)), np.ones((2, 2)), np.arange(2.0), 0.0)
