"""Joint sets: the table, mirror pairs checked on real pose and face points, and the keypoint
helpers on 55 and 95 joints."""

import numpy as np
import pytest
from conftest import HOLISTIC_POSE

from whispersign_jax import keypoints as kp

HANDS_POSE_LIPS = kp.joint_set("hands_pose_lips")


def test_the_table_of_joint_sets():
    counts = {name: s.num_joints for name, s in kp.JOINT_SETS.items()}
    assert counts == {"hands": 42, "hands_pose": 55, "hands_pose_lips": 95}
    assert kp.DEFAULT_JOINT_SET == "hands" and kp.NUM_JOINTS == 42
    for joint_set in kp.JOINT_SETS.values():
        assert joint_set.part("left_hand") == kp.LEFT_HAND  # the hands always come first
        assert joint_set.part("right_hand") == kp.RIGHT_HAND
        mirror = np.array(joint_set.mirror)
        assert sorted(mirror) == list(range(joint_set.num_joints))  # a permutation
        np.testing.assert_array_equal(mirror[mirror], np.arange(joint_set.num_joints))
        assert kp.joint_set_for(joint_set.num_joints) is joint_set
    assert HANDS_POSE_LIPS.part("pose") == slice(42, 55)
    assert HANDS_POSE_LIPS.part("lips") == slice(55, 95)
    assert len(set(kp.LIP_POINTS)) == 40 and len(kp.POSE_POINT_NAMES) == len(kp.POSE_POINTS)
    # Pose: the nose is its own mirror, the left wrist (MediaPipe 15) trades with the right (16).
    pose = np.array(HANDS_POSE_LIPS.mirror[42:55]) - 42
    assert pose[kp.POSE_POINTS.index(0)] == kp.POSE_POINTS.index(0)
    assert pose[kp.POSE_POINTS.index(15)] == kp.POSE_POINTS.index(16)
    # Lips: 13 and 14 (inner midline) stay, the mouth corners 61 and 291 trade.
    lips = np.array(HANDS_POSE_LIPS.mirror[55:]) - 55
    assert lips[kp.LIP_POINTS.index(13)] == kp.LIP_POINTS.index(13)
    assert lips[kp.LIP_POINTS.index(61)] == kp.LIP_POINTS.index(291)
    assert kp.joint_set_for(43) is None
    with pytest.raises(ValueError, match=r"'face'.*hands \(42 joints\).*hands_pose_lips"):
        kp.joint_set("face")


def test_pose_mirror_pairs_are_left_right_pairs_on_real_pose_points(fixtures_dir):
    """MP_Data fixture (unmirrored webcam): a pair's left point (the signer's left) is at the
    larger x in every frame, and eyes, ears, shoulders and hips of a pair share their height."""
    files = sorted((fixtures_dir / "mp_data_asl" / "MP_Data").glob("*/*/*.npy"))[::10]
    frames = np.stack([np.load(path, allow_pickle=False) for path in files])  # (frames, 258)
    pose = frames[:, :132].reshape(-1, 33, 4)  # (frames, points, x y z visibility)
    pose = pose[(pose != 0).any(axis=(1, 2))]
    assert len(pose) > 500
    for left, right in kp.POSE_MIRROR_PAIRS:
        assert (pose[:, left, 0] > pose[:, right, 0]).all(), (left, right)
        if left not in (13, 15):  # elbows and wrists move with the signing
            assert np.median(np.abs(pose[:, left, 1] - pose[:, right, 1])) < 0.02
    nose = pose[:, 0, 0]
    assert ((pose[:, 5, 0] < nose) & (nose < pose[:, 2, 0])).mean() > 0.99


def test_lip_mirror_pairs_are_reflections_on_real_face_points():
    """Holistic face points of the .pose fixture: each lip point reflected across the mouth's
    midline (through 0, 13, 14, 17) lands nearest its partner in the table."""
    from whispersign_jax.data.prepare.pose_format import parse_pose

    path = HOLISTIC_POSE
    pose = parse_pose(path.read_bytes(), str(path))
    face = next(c for c in pose.components if c.name == "FACE_LANDMARKS")
    points = [face.first_point + face.points.index(str(i)) for i in kp.LIP_POINTS]
    lips = pose.data[:, 0, points, :2].astype(np.float64)  # (frames, 40, xy) pixels
    midline = [kp.LIP_POINTS.index(i) for i in (0, 13, 14, 17)]
    centre = lips[:, midline].mean(axis=1, keepdims=True)  # (frames, 1, 2)
    axis = lips[:, kp.LIP_POINTS.index(17)] - lips[:, kp.LIP_POINTS.index(0)]
    axis = (axis / np.linalg.norm(axis, axis=-1, keepdims=True))[:, None]  # (frames, 1, 2)
    offset = lips - centre
    reflected = centre + 2 * (offset * axis).sum(-1, keepdims=True) * axis - offset
    distance = np.linalg.norm(reflected[:, :, None] - lips[:, None], axis=-1)  # (f, 40, 40)
    partner = np.array(HANDS_POSE_LIPS.mirror[55:]) - 55
    agreement = (distance.argmin(axis=-1) == partner).mean(axis=0)  # per lip point
    assert agreement.min() > 0.8, dict(zip(kp.LIP_POINTS, agreement.round(2), strict=True))
    mouth_width = np.linalg.norm(lips[:, 0] - lips[:, 10], axis=-1).mean()  # 61 to 291
    own_distance = np.median(distance[:, np.arange(40), partner], axis=0)
    assert own_distance.max() < 0.05 * mouth_width


def random_tracks(joint_set, frames, seed=0):
    """Positions and per-joint confidence of `joint_set`: the right hand lost in frame 2, no
    pose in frame 3 and no face in frame 4."""
    joint_set = kp.joint_set(joint_set)
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(0.2, 0.8, size=(frames, joint_set.num_joints, 3))
    confidence = np.ones((frames, joint_set.num_joints))
    confidence[2, kp.RIGHT_HAND] = 0.0
    if "pose" in joint_set.parts:
        confidence[:, joint_set.part("pose")] = rng.uniform(0.3, 1.0, size=(frames, 13))
        confidence[3, joint_set.part("pose")] = 0.0
    if "lips" in joint_set.parts:
        confidence[4, joint_set.part("lips")] = 0.0
    return xyz, confidence


@pytest.mark.parametrize("name", ["hands_pose", "hands_pose_lips"])
def test_assemble_and_velocities_per_joint_never_cross_a_missing_part(name):
    joint_set = kp.joint_set(name)
    xyz, confidence = random_tracks(name, 7)
    keypoints = kp.assemble_keypoints(xyz, confidence)
    assert keypoints.shape == (7, joint_set.num_joints, 7) and keypoints.dtype == np.float32
    pose = joint_set.part("pose")
    assert (keypoints[3, pose] == 0).all()  # no pose detected: all seven features 0
    np.testing.assert_allclose(keypoints[5, pose, 6], confidence[5, pose], rtol=1e-6)
    stored = xyz.astype(np.float32).astype(np.float64)
    # Pose in frame 4: frame 3 has no pose, so a one-sided difference to frame 5.
    np.testing.assert_allclose(
        keypoints[4, pose, 3:6], (stored[5, pose] - stored[4, pose]) * 60, rtol=1e-4
    )
    # The hands are untouched by the pose's gap: a central difference in frame 3.
    np.testing.assert_allclose(
        keypoints[3, :21, 3:6], (stored[4, :21] - stored[2, :21]) * 30, rtol=1e-4
    )
    if name == "hands_pose_lips":
        lips = joint_set.part("lips")
        assert (keypoints[4, lips] == 0).all() and (keypoints[3, lips, 6] == 1).all()
        np.testing.assert_allclose(  # frame 5 of the lips: after the gap, one-sided
            keypoints[5, lips, 3:6], (stored[6, lips] - stored[5, lips]) * 60, rtol=1e-4
        )
    # The same velocities with timestamps 1/60 s apart.
    timed = kp.assemble_keypoints(xyz, confidence, timestamps=np.arange(7) / 60)
    np.testing.assert_allclose(timed, keypoints, rtol=1e-5, atol=1e-4)


def test_stack_parts_orders_the_parts_and_zeroes_missing_points():
    frames = 3
    hands = np.full((frames, 21, 3), 0.5)
    pose = np.arange(frames * 13 * 3, dtype=float).reshape(frames, 13, 3)
    visibility = np.linspace(0, 1, frames * 13).reshape(frames, 13)
    lips = np.full((frames, 40, 3), 0.3)
    face_present = np.array([1.0, 0.0, 1.0])
    parts = {"left_hand": (hands, np.ones(frames)), "right_hand": (hands + 0.1, np.zeros(frames)),
             "pose": (pose, visibility), "lips": (lips, face_present)}  # fmt: skip
    positions, confidence = kp.stack_parts("hands_pose_lips", parts)
    assert positions.shape == (3, 95, 3) and confidence.shape == (3, 95)
    assert (positions[:, 21:42] == 0).all() and (confidence[:, 21:42] == 0).all()
    np.testing.assert_array_equal(confidence[:, 42:55], visibility)
    assert (positions[0, 42] == 0).all()  # visibility 0: missing
    np.testing.assert_array_equal(positions[2, 42:55], pose[2])
    np.testing.assert_array_equal(confidence[:, 55:], np.repeat(face_present[:, None], 40, 1))
    positions, _ = kp.stack_parts("hands_pose", parts)  # extra parts are left out
    assert positions.shape == (3, 55, 3)
    del parts["lips"]
    with pytest.raises(ValueError, match="no lips points for the hands_pose_lips joint set"):
        kp.stack_parts("hands_pose_lips", parts)


def test_mirroring_95_joints_swaps_the_wrists_and_twice_is_identity():
    xyz, confidence = random_tracks("hands_pose_lips", 6, seed=1)
    keypoints = kp.assemble_keypoints(xyz, confidence)
    mirrored = kp.mirror_joints(keypoints)
    pose = HANDS_POSE_LIPS.part("pose")
    left_wrist, right_wrist = (pose.start + kp.POSE_POINTS.index(i) for i in (15, 16))
    present = keypoints[:, right_wrist, 6] > 0
    np.testing.assert_allclose(
        mirrored[present, left_wrist, 0], 1 - keypoints[present, right_wrist, 0], atol=1e-7
    )
    np.testing.assert_array_equal(mirrored[:, left_wrist, 1:3], keypoints[:, right_wrist, 1:3])
    np.testing.assert_array_equal(mirrored[:, left_wrist, 3], -keypoints[:, right_wrist, 3])
    np.testing.assert_array_equal(mirrored[:, 0, 4:], keypoints[:, 21, 4:])  # hand wrists
    corner, other_corner = (95 - 40 + kp.LIP_POINTS.index(i) for i in (61, 291))
    np.testing.assert_array_equal(mirrored[:, corner, 1:3], keypoints[:, other_corner, 1:3])
    assert (mirrored[3, pose] == 0).all() and (mirrored[2, :21] == 0).all()  # missing stays 0
    np.testing.assert_allclose(kp.mirror_joints(mirrored), keypoints, rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match=r"mirror_joints expects.*\(6, 50, 7\)"):
        kp.mirror_joints(np.zeros((6, 50, 7)))


def test_validate_keypoints_names_the_joint_sets():
    lips = np.zeros((4, 95, 7), np.float32)
    assert kp.validate_keypoints(lips, "clip.npy").shape == (4, 95, 7)  # any joint set
    assert kp.validate_keypoints(lips, "clip.npy", "hands_pose_lips").shape == (4, 95, 7)
    with pytest.raises(ValueError, match=r"clip\.npy: keypoints must have shape.*\(4, 50, 7\)"):
        kp.validate_keypoints(np.zeros((4, 50, 7)), "clip.npy")
    message = (
        r"clip\.npy: hands_pose_lips \(95 joints\) keypoints, but the model takes hands \(42 "
        r"joints\) keypoints; prepare or extract them with --joint_set=hands"
    )
    with pytest.raises(ValueError, match=message):
        kp.validate_keypoints(lips, "clip.npy", kp.joint_set("hands"), expected_by="the model")
    with pytest.raises(ValueError, match=r"shape \(frames, 55, 7\), got \(4, 50, 7\)"):
        kp.validate_keypoints(np.zeros((4, 50, 7)), "clip.npy", "hands_pose")
