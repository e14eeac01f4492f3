"""Pose and lips of a real signing clip with legacy Holistic, in the mediapipe 0.10.21 side
environment (see test_real_video.py), checked against the hands extraction of the same clip."""

import numpy as np
import pytest

from extraction.test_real_video import CLIP_FPS, CLIP_FRAMES, _extract
from whispersign_jax import keypoints as kp

FULL = kp.joint_set("hands_pose_lips")
POSE, LIPS = FULL.part("pose"), FULL.part("lips")
NAMES = kp.POSE_POINT_NAMES


def _pose_point(keypoints, name):
    return keypoints[:, POSE.start + NAMES.index(name)]  # (frames, features)


@pytest.fixture(scope="module")
def clips(legacy_python, tmp_path_factory):
    """The clip's keypoints: hands and hands_pose_lips at its own frames and at 60 FPS, and
    hands_pose_lips of the clip taken as mirrored."""
    folder = tmp_path_factory.mktemp("holistic")
    runs = {
        "hands": ("--backend", "legacy", "--target_fps", "none"),
        "full": ("--backend", "legacy", "--joint_set", "hands_pose_lips", "--target_fps", "none"),
        "full_60": ("--backend", "legacy", "--joint_set", "hands_pose_lips"),
        "mirrored": ("--backend", "legacy", "--joint_set", "hands_pose_lips", "--mirrored",
                     "--target_fps", "none"),
    }  # fmt: skip
    clips, summaries = {}, {}
    for name, options in runs.items():
        summaries[name] = _extract(legacy_python, folder / f"{name}.npy", *options)
        clips[name] = np.load(folder / f"{name}.npy", allow_pickle=False)
    clips["summaries"] = summaries
    return clips


def test_hands_pose_lips_has_the_contract_shape_at_60_fps(clips):
    keypoints = clips["full_60"]
    duration = (CLIP_FRAMES - 1) / CLIP_FPS
    assert keypoints.dtype == np.float32 and keypoints.shape[1:] == (95, 7)
    assert abs(keypoints.shape[0] - (duration * kp.FPS + 1)) <= 1.5
    assert clips["full"].shape == (CLIP_FRAMES, 95, 7)
    for clip in (keypoints, clips["full"]):
        missing = clip[..., kp.CONFIDENCE] == 0
        assert np.all(clip[missing] == 0) and np.all(clip[..., kp.CONFIDENCE] <= 1)
    assert "pose in 58, lips in 58" in clips["summaries"]["full"]


def test_pose_and_lips_sit_where_a_body_is(clips):
    keypoints = clips["full"]
    pose_found = (keypoints[:, POSE, kp.CONFIDENCE] > 0).any(axis=1)
    assert pose_found.mean() >= 0.9  # 58 of 58 frames with mediapipe 0.10.21
    nose = _pose_point(keypoints, "NOSE")[pose_found]
    left = _pose_point(keypoints, "LEFT_SHOULDER")[pose_found]
    right = _pose_point(keypoints, "RIGHT_SHOULDER")[pose_found]
    assert nose[:, kp.CONFIDENCE].min() > 0.9  # the face is in view throughout
    # Image y grows downwards: both shoulders below the nose, by about 0.2 of the height.
    assert np.all(left[:, 1] > nose[:, 1] + 0.1) and np.all(right[:, 1] > nose[:, 1] + 0.1)
    # Unmirrored: the signer's left shoulder is on the image's right (MediaPipe's anatomical
    # names), the nose between the shoulders.
    assert np.all(left[:, 0] > nose[:, 0]) and np.all(nose[:, 0] > right[:, 0])
    lips_found = keypoints[:, LIPS.start, kp.CONFIDENCE] > 0
    assert lips_found.mean() >= 0.9
    assert np.all(keypoints[lips_found][:, LIPS, kp.CONFIDENCE] == 1)
    lips = keypoints[lips_found & pose_found][:, LIPS, :2].mean(axis=1)  # (frames, xy)
    nose = _pose_point(keypoints, "NOSE")[lips_found & pose_found, :2]
    offset = lips - nose
    assert np.all(np.linalg.norm(offset, axis=1) < 0.12)  # about 0.06 measured
    assert np.all(offset[:, 1] > 0.02)  # the mouth under the nose
    corner_61 = keypoints[lips_found, LIPS.start + kp.LIP_POINTS.index(61), 0]
    corner_291 = keypoints[lips_found, LIPS.start + kp.LIP_POINTS.index(291), 0]
    assert np.all(corner_61 < corner_291)  # 61 is the signer's right corner: image left


def test_holistic_hands_take_the_slots_of_the_hands_extraction(clips):
    """Holistic's hands are not the Hands solution's: it runs the hand landmark model on a crop
    found from the pose's wrist, not from the palm detector, so positions differ by a few
    thousandths of the image and the frames with a hand differ by a few. They must land in
    the same anatomical slots."""
    hands, full = clips["hands"], clips["full"][:, :42]
    in_hands = hands[:, ::21, kp.CONFIDENCE] > 0  # (frames, [left, right])
    in_full = full[:, ::21, kp.CONFIDENCE] > 0
    assert in_full[:, 1].sum() >= 15 and in_full[:, 0].sum() == 0  # the signer's right hand
    both = in_hands.any(axis=1) & in_full.any(axis=1)
    assert both.sum() >= 12
    same_slot = (in_hands[both] == in_full[both]).all(axis=1)
    assert same_slot.mean() >= 0.9  # Hands labels one frame "Right" (17 of 58): its mistake
    shared = in_hands[:, 1] & in_full[:, 1]
    distance = np.linalg.norm(hands[shared, 21:, :2] - full[shared, 21:, :2], axis=-1)
    assert np.median(distance.mean(axis=1)) < 0.02 and distance.mean(axis=1).max() < 0.06
    np.testing.assert_array_equal(full[in_full[:, 1], 21:, kp.CONFIDENCE], 1.0)  # no score
    # The right hand's wrist is the pose's right wrist (about 0.03 away), never its left.
    hand_wrist = full[in_full[:, 1], 21, :2]
    to_right, to_left = (
        np.linalg.norm(_pose_point(clips["full"], name)[in_full[:, 1], :2] - hand_wrist, axis=1)
        for name in ("RIGHT_WRIST", "LEFT_WRIST")
    )
    assert np.median(to_right) < 0.05 and np.all(to_right < 0.15) and np.all(to_right < to_left)


def test_a_mirrored_clip_trades_every_joint_with_its_mirror(clips):
    plain, mirrored = clips["full"], clips["mirrored"]
    in_mirrored = mirrored[:, ::21, kp.CONFIDENCE][:, :2] > 0
    assert in_mirrored[:, 0].sum() >= 15 and in_mirrored[:, 1].sum() == 0
    # Holistic is deterministic on the same frames: the same detections, in mirrored joints.
    np.testing.assert_array_equal(mirrored, plain[:, list(FULL.mirror)])
