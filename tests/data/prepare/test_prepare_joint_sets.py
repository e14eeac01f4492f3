"""--joint_set: the formats give the joint sets their data carry and refuse the others."""

import json
import logging

import numpy as np
import pytest
from conftest import HOLISTIC_POSE
from test_prepare_mp_data import write_sequence
from test_prepare_voya import voya_frames, write_class_file

from whispersign_jax import keypoints as kp
from whispersign_jax.data.prepare import read_format, video_csv
from whispersign_jax.data.prepare.cli import main as prepare_main
from whispersign_jax.data.prepare.pose_format import read_pose_keypoints
from whispersign_jax.extraction.tracker import TrackerSettings

POSE = kp.joint_set("hands_pose_lips").part("pose")
LIPS = kp.joint_set("hands_pose_lips").part("lips")
LEFT_WRIST, RIGHT_WRIST = (POSE.start + kp.POSE_POINTS.index(i) for i in (15, 16))
CORNER_61, CORNER_291 = (LIPS.start + kp.LIP_POINTS.index(i) for i in (61, 291))


@pytest.fixture
def mp_data_root(fixtures_dir):
    return fixtures_dir / "mp_data_asl" / "MP_Data"


def test_mp_data_258_gives_hands_pose_and_refuses_lips_once(mp_data_root):
    hands = read_format("mp_data", mp_data_root).samples
    body = read_format("mp_data", mp_data_root, keypoints="hands_pose")
    assert body.failures == [] and len(body.samples) == len(hands) == 320
    for plain, more in zip(hands, body.samples, strict=True):
        assert more.keypoints.shape == (len(plain.keypoints), 55, 7)
        np.testing.assert_array_equal(more.keypoints[:, :42], plain.keypoints)  # unchanged
    sample = body.samples[0]
    frame = np.load(mp_data_root / "-" / "0" / "0.npy", allow_pickle=False)
    pose = frame[:132].reshape(33, 4)[list(kp.POSE_POINTS)]  # (13, x y z visibility)
    assert sample.origin.endswith("-/0")
    np.testing.assert_allclose(sample.keypoints[0, 42:, :3], pose[:, :3], atol=1e-6)
    np.testing.assert_allclose(sample.keypoints[0, 42:, 6], np.clip(pose[:, 3], 0, 1), atol=1e-6)
    with pytest.raises(ValueError, match=(
        r"MP_Data frames of 258 values carry pose and hands, not the hands_pose_lips joint "
        r"set; use --joint_set hands or --joint_set hands_pose"
    )):  # fmt: skip
        read_format("mp_data", mp_data_root, keypoints="hands_pose_lips")


def holistic_frames(frames=6):
    """MP_Data frames of 1662 values with every part: the pose lost in frame 2, the face in
    frame 3, the right hand in frame 4."""
    rng = np.random.default_rng(0)
    data = np.zeros((frames, 1662))
    pose = rng.uniform(0.2, 0.8, (frames, 33, 4))
    pose[..., 3] = rng.uniform(0.1, 1.0, (frames, 33))  # visibility
    data[:, :132] = pose.reshape(frames, -1)
    data[:, 132:1536] = rng.uniform(0.3, 0.7, (frames, 468 * 3))
    data[:, 1536:1662] = rng.uniform(0.1, 0.9, (frames, 126))
    data[2, :132] = 0.0
    data[3, 132:1536] = 0.0
    data[4, 1599:1662] = 0.0
    return data


def test_mp_data_1662_gives_every_set_and_mirrored_swaps_body_sides(tmp_path):
    data = holistic_frames()
    write_sequence(tmp_path, "hi", 0, data)
    by_set = {name: read_format("mp_data", tmp_path, fps=60.0, keypoints=name).samples[0]
              for name in kp.JOINT_SETS}  # fmt: skip
    full = by_set["hands_pose_lips"].keypoints
    assert full.shape == (6, 95, 7)  # 60 FPS in, frames kept 1:1
    for name, sample in by_set.items():
        np.testing.assert_array_equal(sample.keypoints, full[:, : kp.JOINT_SETS[name].num_joints])
    face = data[:, 132:1536].reshape(6, 468, 3)
    np.testing.assert_allclose(full[0, LIPS, :3], face[0, list(kp.LIP_POINTS)], atol=1e-6)
    assert (full[3, LIPS] == 0).all() and (full[[0, 1, 2, 4, 5]][:, LIPS, 6] == 1).all()
    pose = data[:, :132].reshape(6, 33, 4)[:, list(kp.POSE_POINTS)]
    np.testing.assert_allclose(full[1, POSE, 6], pose[1, :, 3], atol=1e-6)
    assert (full[2, POSE] == 0).all() and (full[4, 21:42] == 0).all()
    mirrored = read_format("mp_data", tmp_path, fps=60.0, keypoints="hands_pose_lips",
                           mirrored=True).samples[0].keypoints  # fmt: skip
    np.testing.assert_array_equal(mirrored[:, :21], full[:, 21:42])
    np.testing.assert_array_equal(mirrored[:, LEFT_WRIST], full[:, RIGHT_WRIST])
    np.testing.assert_array_equal(mirrored[:, CORNER_61], full[:, CORNER_291])
    np.testing.assert_array_equal(mirrored[:, POSE.start], full[:, POSE.start])  # the nose


def test_mp_data_126_refuses_body_sets_naming_its_layout(tmp_path):
    write_sequence(tmp_path, "hi", 0, np.full((4, 126), 0.5))
    with pytest.raises(ValueError, match=r"126 values carry hands only, not the hands_pose "):
        read_format("mp_data", tmp_path, keypoints="hands_pose")
    code = prepare_main(["--format", "mp_data", "--data_dir", str(tmp_path), "--output_dir",
                         str(tmp_path / "out"), "--joint_set", "hands_pose_lips"])  # fmt: skip
    assert code == 2


@pytest.mark.parametrize("joint_set", ["hands_pose", "hands_pose_lips"])
def test_video_formats_send_the_joint_set_and_model_files_to_the_extractor(
    tmp_path, monkeypatch, joint_set
):
    (tmp_path / "a.mp4").write_bytes(b"video")
    (tmp_path / "labels.csv").write_text("video,label\na.mp4,hello\n")
    jobs = []

    def run_jobs(function, submitted, workers, description):
        jobs.extend(submitted)
        frames = np.zeros((5, kp.joint_set(joint_set).num_joints, 7), np.float32)
        return [((frames, "0" * 40), None) for _ in submitted]

    monkeypatch.setattr(video_csv, "run_jobs", run_jobs)
    models = {"pose_model_path": "p.task", "face_model_path": "f.task"}
    result = read_format("video", tmp_path, label_csv="labels.csv", keypoints=joint_set,
                         backend="tasks", model_path="h.task", **models)  # fmt: skip
    (job,) = jobs
    assert job.tracker == TrackerSettings(joint_set, "tasks", False, "h.task", "p.task", "f.task")
    (sample,) = result.samples
    assert sample.keypoints.shape == (5, kp.joint_set(joint_set).num_joints, 7)
    with pytest.raises(ValueError, match=r"--pose_model does not apply to --format pose"):
        read_format("pose", tmp_path, keypoints=joint_set, pose_model_path="p.task")
    with pytest.raises(ValueError, match=r"Unknown keypoint joint set 'face'"):
        read_format("kaggle", tmp_path, keypoints="face")


def test_pose_fixture_gives_hands_pose_lips():
    path = HOLISTIC_POSE
    hands = read_pose_keypoints(path)
    missing = set()
    full = read_pose_keypoints(path, keypoints="hands_pose_lips", missing=missing)
    assert full.shape == (423, 95, 7)
    np.testing.assert_array_equal(full[:, :42], hands)
    # This file keeps 8 pose points: the nose, eyes and ears are missing throughout.
    assert missing == {f"POSE_LANDMARKS:{name}" for name in kp.POSE_POINT_NAMES[:5]}
    assert (full[:, POSE.start : POSE.start + 5] == 0).all()
    shoulders = full[0, POSE.start + 5 : POSE.start + 7]
    np.testing.assert_allclose(shoulders[:, :2], [[879.7185, 651.0957], [353.6963, 627.5555]]
                               / np.float32(1250), atol=1e-6)  # fmt: skip
    np.testing.assert_allclose(shoulders[:, 6], [0.9978148, 0.9980872], atol=1e-6)
    assert shoulders[0, 0] > shoulders[1, 0]  # the signer's left shoulder: image right
    assert (full[:, LIPS, 6] == 1).all()  # the face is found in every frame
    lips = full[:, LIPS, :2]
    assert lips[..., 0].min() > 0.35 and lips[..., 0].max() < 0.6  # under the nose, pixels/1250
    # Face Mesh's 61 is the signer's right mouth corner: image left, like the right shoulder.
    assert (full[:, CORNER_61, 0] < full[:, CORNER_291, 0]).all()
    assert np.abs(full[:, LIPS, 2]).max() < 0.01  # depth relative to the lips' mean


def test_pose_folder_warns_once_about_points_its_files_lack(tmp_path, caplog):
    for name in ("a", "b"):
        (tmp_path / "hello").mkdir(exist_ok=True)
        (tmp_path / "hello" / f"{name}.pose").write_bytes(HOLISTIC_POSE.read_bytes())
    with caplog.at_level(logging.WARNING):
        result = read_format("pose", tmp_path, keypoints="hands_pose")
    assert len(result.samples) == 2 and result.samples[0].keypoints.shape == (423, 55, 7)
    warnings = [r.getMessage() for r in caplog.records if "lack" in r.getMessage()]
    assert len(warnings) == 1
    assert (
        "lack 5 hands_pose points (POSE_LANDMARKS:LEFT_EAR, POSE_LANDMARKS:LEFT_EYE"
        in (warnings[0])
    )


def test_pose_file_without_a_body_component_is_skipped_with_the_reason(tmp_path):
    from test_prepare_pose import hand_frames, pose_bytes

    (tmp_path / "hi").mkdir()
    (tmp_path / "hi" / "a.pose").write_bytes(pose_bytes(*hand_frames()))
    result = read_format("pose", tmp_path, keypoints="hands_pose")
    assert result.samples == []
    ((_origin, reason),) = result.failures
    assert "no POSE_LANDMARKS component" in reason and "--joint_set (hands)" in reason


def test_voya_gives_every_joint_set(tmp_path):
    points = voya_frames(2)
    points[:, :25] = np.random.default_rng(0).uniform(0.2, 0.8, (60, 25, 3))
    points[:, 15], points[:, 16] = points[:, 25], points[:, 46]  # pose wrists at the hands
    points[10, :25] = 0.0  # no pose in frame 10
    write_class_file(tmp_path / "Merged", 0, points, copies=1)
    (tmp_path / "labels.json").write_text(json.dumps(["ăn"]))
    by_set = {name: read_format("huggingface", tmp_path, fps=60.0, keypoints=name).samples[0]
              for name in kp.JOINT_SETS}  # fmt: skip
    full = by_set["hands_pose_lips"].keypoints
    assert full.shape == (60, 95, 7)
    for name, sample in by_set.items():
        np.testing.assert_array_equal(sample.keypoints, full[:, : kp.JOINT_SETS[name].num_joints])
    stored = np.load(tmp_path / "Merged" / "class_0000.npz")["sequences"][0].reshape(60, 535, 3)
    np.testing.assert_allclose(full[0, POSE, :3], stored[0, list(kp.POSE_POINTS)], atol=1e-6)
    np.testing.assert_allclose(
        full[0, LIPS, :3], stored[0, [67 + i for i in kp.LIP_POINTS]], atol=1e-6
    )
    assert (full[10, POSE] == 0).all() and (full[11, POSE, 6] == 1).all()
    assert (full[:, LIPS, 6] == 1).all()
