"""Pose and lips extraction with scripted backends: parts, slots, mirroring, resampling."""

import numpy as np
import pytest

from whispersign_jax import keypoints as kp
from whispersign_jax.extraction import body, pipeline, tracker
from whispersign_jax.extraction.body import BodyDetection
from whispersign_jax.extraction.slots import HandDetection

FULL = kp.joint_set("hands_pose_lips")
POSE = FULL.part("pose")
LIPS = FULL.part("lips")
NOSE, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 5, 6  # positions within the pose part


class ScriptedBody:
    """A stand-in for a body backend: scripted BodyDetections, one per frame."""

    name = "scripted"

    def __init__(self, detections, labels_assume_mirrored=False):
        self.detections = list(detections)
        self.labels_assume_mirrored = labels_assume_mirrored
        self.timestamps_ms = []
        self.closed = False

    def detect(self, frame_rgb, timestamp_ms):
        self.timestamps_ms.append(timestamp_ms)
        return self.detections[len(self.timestamps_ms) - 1]

    def close(self):
        self.closed = True


class ScriptedHands(ScriptedBody):
    """The same hands as a hand backend reports them."""

    def detect(self, frame_rgb, timestamp_ms):
        return super().detect(frame_rgb, timestamp_ms).hands


def _hand(wrist_x, label="Left", score=1.0):
    landmarks = np.tile([wrist_x, 0.5, -0.01], (21, 1)) + np.linspace(0, 0.1, 21)[:, None]
    return HandDetection(landmarks, label, score)


def _pose(shift=0.0, visibility=0.8):
    """(33, 4): point i at x = 0.01 i + shift, y = 0.02 i, z = -0.1, the given visibility."""
    index = np.arange(33)
    return np.stack(
        [0.01 * index + shift, 0.02 * index, np.full(33, -0.1), np.full(33, visibility)], axis=1
    )


def _face(points=468, shift=0.0):
    """(points, 3): point i at x = i / 1000 + shift, y = 0.4, z = i / 10000."""
    index = np.arange(points)
    return np.stack([index / 1000 + shift, np.full(points, 0.4), index / 10000], axis=1)


def _frames(times):
    return [(np.zeros((4, 6, 3), np.uint8), time_s) for time_s in times]


def _track(detection, keypoints="hands_pose_lips", mirrored=False, labels_assume_mirrored=False):
    backend = ScriptedBody([detection], labels_assume_mirrored)
    return tracker.BodyTracker(backend, keypoints, mirrored).track(*_frames([0.0])[0])


def test_pose_part_takes_the_13_points_with_visibility_clipped():
    pose = _pose(visibility=0.7)
    pose[kp.POSE_POINTS[3], 3] = 1.4  # MediaPipe's visibility can leave [0, 1]
    pose[kp.POSE_POINTS[4], 3] = -0.2
    xyz, confidence = body.pose_part(pose)
    assert xyz.shape == (13, 3) and confidence.shape == (13,)
    np.testing.assert_allclose(xyz[:, 0], 0.01 * np.array(kp.POSE_POINTS))
    np.testing.assert_allclose(confidence, [0.7, 0.7, 0.7, 1.0, 0.0] + [0.7] * 8)
    xyz, confidence = body.pose_part(None)
    assert np.all(xyz == 0) and np.all(confidence == 0)
    with pytest.raises(ValueError, match=r"\(33, 4\) landmarks, got \(25, 4\)"):
        body.pose_part(np.zeros((25, 4)))


def test_lips_part_takes_the_40_points_of_468_or_478():
    for points in (468, 478):  # Face Mesh, or the Tasks FaceLandmarker with the irises
        xyz, confidence = body.lips_part(_face(points))
        np.testing.assert_allclose(xyz[:, 0], np.array(kp.LIP_POINTS) / 1000)
        np.testing.assert_array_equal(confidence, np.ones(40))
    xyz, confidence = body.lips_part(None)
    assert xyz.shape == (40, 3) and np.all(xyz == 0) and np.all(confidence == 0)
    with pytest.raises(ValueError, match="468, 3"):
        body.lips_part(np.zeros((100, 3)))


def test_body_tracker_fills_every_part_of_the_joint_set():
    detection = BodyDetection([_hand(0.3, "Right", 0.9)], _pose(), _face())
    positions, confidence = _track(detection)
    assert positions.shape == (95, 3) and confidence.shape == (95,)
    # Labels as seen in an unmirrored image (Holistic, Tasks): "Right" is the right slot.
    np.testing.assert_array_equal(confidence[kp.RIGHT_HAND], 0.9)
    assert np.all(confidence[kp.LEFT_HAND] == 0) and np.all(positions[kp.LEFT_HAND] == 0)
    np.testing.assert_allclose(positions[kp.RIGHT_HAND, 0], 0.3 + np.linspace(0, 0.1, 21))
    np.testing.assert_allclose(positions[POSE, 0], 0.01 * np.array(kp.POSE_POINTS))
    np.testing.assert_allclose(confidence[POSE], 0.8)
    np.testing.assert_allclose(positions[LIPS, 0], np.array(kp.LIP_POINTS) / 1000)
    np.testing.assert_array_equal(confidence[LIPS], 1.0)
    positions, confidence = _track(detection, "hands_pose")
    assert positions.shape == (55, 3)
    np.testing.assert_array_equal(positions[42:], _track(detection)[0][POSE])


def test_missing_face_leaves_lips_zero_and_missing_pose_leaves_pose_zero():
    positions, confidence = _track(BodyDetection([_hand(0.3)], _pose(), None))
    assert np.all(positions[LIPS] == 0) and np.all(confidence[LIPS] == 0)
    assert np.all(confidence[POSE] == 0.8)
    positions, confidence = _track(BodyDetection([_hand(0.3)], None, _face()))
    assert np.all(positions[POSE] == 0) and np.all(confidence[POSE] == 0)
    assert np.all(confidence[LIPS] == 1)
    positions, confidence = _track(BodyDetection([], None, None))
    assert np.all(positions == 0) and np.all(confidence == 0)


def test_mirrored_image_swaps_hands_body_sides_and_lip_sides():
    detection = BodyDetection([_hand(0.3, "Right", 0.9)], _pose(), _face())
    plain, _ = _track(detection)
    mirrored, confidence = _track(detection, mirrored=True)
    np.testing.assert_array_equal(mirrored[kp.LEFT_HAND], plain[kp.RIGHT_HAND])
    np.testing.assert_array_equal(confidence[kp.LEFT_HAND], 0.9)
    # Pose point 11 (labelled LEFT_SHOULDER) is the signer's right shoulder in a selfie view.
    np.testing.assert_array_equal(mirrored[POSE][RIGHT_SHOULDER], plain[POSE][LEFT_SHOULDER])
    np.testing.assert_array_equal(mirrored[POSE][NOSE], plain[POSE][NOSE])
    lips = list(kp.LIP_POINTS)
    np.testing.assert_array_equal(mirrored[LIPS][lips.index(61)], plain[LIPS][lips.index(291)])
    np.testing.assert_array_equal(mirrored[LIPS][lips.index(0)], plain[LIPS][lips.index(0)])
    # The joint set's mirror permutation says the same for every joint.
    np.testing.assert_array_equal(mirrored, plain[list(FULL.mirror)])


def test_legacy_hands_convention_goes_through_the_slot_assigner():
    detection = BodyDetection([_hand(0.3, "Left")], None, None)
    _, confidence = _track(detection, labels_assume_mirrored=True)
    assert confidence[kp.RIGHT_HAND].min() == 1.0 and confidence[kp.LEFT_HAND].max() == 0.0


def test_hands_of_a_body_extraction_equal_the_hands_extraction_bit_for_bit():
    """Same hand detections -> the first 42 joints equal the hands keypoints exactly, after
    resampling 30 FPS timestamps (with a gap) to 60 FPS."""
    times = np.round(np.arange(12) / 29.97, 3)
    detections = [
        BodyDetection(
            [_hand(0.3 + 0.01 * i, "Right", 0.9)] + ([_hand(0.7, "Left", 0.6)] if i > 5 else []),
            _pose(0.002 * i) if i not in (3, 4) else None,
            _face(shift=0.001 * i) if i != 8 else None,
        )
        if i != 6
        else BodyDetection()
        for i in range(12)
    ]
    hands = pipeline.track_frames(
        _frames(times), tracker.HandTracker(ScriptedHands(detections)), "clip.mp4", 29.97
    )
    joints = pipeline.track_frames(
        _frames(times),
        tracker.BodyTracker(ScriptedBody(detections), "hands_pose_lips"),
        "clip.mp4",
        29.97,
    )
    assert joints.positions.shape == (12, 95, 3) and joints.joint_set == "hands_pose_lips"
    np.testing.assert_array_equal(joints.hands_per_frame(), hands.hands_per_frame())
    np.testing.assert_array_equal(
        joints.part_presence("pose"), [i not in (3, 4, 6) for i in range(12)]
    )
    for target_fps in (60.0, None):
        expected = pipeline.keypoints_from_tracks(hands, "clip.mp4", target_fps)
        keypoints = pipeline.keypoints_from_tracks(joints, "clip.mp4", target_fps)
        assert keypoints.shape == (expected.shape[0], 95, 7)
        assert keypoints[:, :42].tobytes() == expected.tobytes()


def test_resampling_never_bridges_a_frame_without_pose():
    times = np.arange(8) / 30.0
    detections = [
        BodyDetection([_hand(0.3)], None if i in (3, 4) else _pose(0.01 * i), _face())
        for i in range(8)
    ]
    tracks = pipeline.track_frames(
        _frames(times), tracker.BodyTracker(ScriptedBody(detections), "hands_pose"), "c.mp4"
    )
    keypoints = pipeline.keypoints_from_tracks(tracks, "c.mp4", 60.0)  # (15, 55, 7)
    pose = keypoints[:, 42:]
    present = pose[:, NOSE, kp.CONFIDENCE] > 0
    # Input frames 0-2 and 5-7 are output frames 0-4 and 10-14; 5-9 lie in the gap.
    np.testing.assert_array_equal(np.flatnonzero(~present), [5, 6, 7, 8, 9])
    assert np.all(pose[~present] == 0)
    np.testing.assert_allclose(pose[1, NOSE, 0], 0.005, atol=1e-6)  # halfway from 0 to 0.01
    np.testing.assert_allclose(pose[present][:, :, 3], 0.3, atol=1e-4)  # x moves 0.01 per frame


def test_a_video_with_pose_but_no_hand_is_an_error():
    tracks = pipeline.track_frames(
        _frames([0.0, 0.1]),
        tracker.BodyTracker(ScriptedBody([BodyDetection([], _pose(), _face())] * 2), "hands_pose"),
        "clip.mp4",
    )
    with pytest.raises(pipeline.ExtractionError, match=r"clip\.mp4: no hand detected in any"):
        pipeline.keypoints_from_tracks(tracks, "clip.mp4", 60.0)


def test_body_tracker_clock_and_closing():
    backend = ScriptedBody([BodyDetection()] * 3)
    with tracker.BodyTracker(backend, "hands_pose") as body_tracker:
        for frame, time_s in _frames([0.0, 0.0, 0.0334]):
            body_tracker.track(frame, time_s)
    assert backend.timestamps_ms == [0, 1, 33] and backend.closed
