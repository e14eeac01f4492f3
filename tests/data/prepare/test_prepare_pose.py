"""`.pose` files: the real Holistic fixture, a v0.2 file written here, and bad files."""

import struct

import numpy as np
from conftest import HOLISTIC_POSE

from whispersign_jax.data.prepare import read_format
from whispersign_jax.data.prepare.pose_format import parse_pose, read_pose_keypoints


def test_reads_the_real_holistic_fixture():
    path = HOLISTIC_POSE
    pose = parse_pose(path.read_bytes(), str(path))
    assert (pose.version, pose.width, pose.height, pose.fps) == (0.1, 1250, 1250, 24.0)
    assert pose.data.shape == (170, 1, 178, 3)
    keypoints = read_pose_keypoints(path)
    assert keypoints.shape == (423, 42, 7)  # 169 / 24 s at 60 FPS
    left, right = keypoints[:, :21], keypoints[:, 21:]
    assert (left == 0).all()  # this signer's left hand is never tracked
    present = right[:, 0, 6] > 0
    assert 0.8 < present.mean() < 0.9
    xy = right[present][..., :2]
    assert xy.min() > 0.15 and xy.max() < 1.0  # pixels / 1250
    # The first frame is on the output grid: coordinates are the file's pixels / 1250.
    right_hand = pose.components[3]
    assert right_hand.name == "RIGHT_HAND_LANDMARKS"
    first = int(np.argmax(pose.confidence[:, 0, right_hand.first_point] > 0))
    frame = round(first * 60 / 24)
    expected = pose.data[first, 0, right_hand.first_point : right_hand.first_point + 21, :2]
    np.testing.assert_allclose(right[frame, :, :2], expected / 1250, atol=1e-6)
    assert abs(right[present][..., 2]).max() < 0.01  # depth relative to the wrist


def pose_bytes(data, confidence, fps=30.0, names=("LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS")):
    """A version 0.2 .pose file with one 21-point XYZC component per name."""

    def text(value):
        encoded = value.encode()
        return struct.pack("<H", len(encoded)) + encoded

    header = struct.pack("<f", 0.2) + struct.pack("<HHH", 200, 100, 0)
    header += struct.pack("<H", len(names))
    for name in names:
        header += text(name) + text("XYZC") + struct.pack("<HHH", 21, 1, 1)
        header += b"".join(text(f"P{i}") for i in range(21))
        header += struct.pack("<HH", 0, 1) + struct.pack("<HHH", 255, 0, 0)
    body = struct.pack("<fI", fps, data.shape[0]) + struct.pack("<H", data.shape[1])
    return header + body + data.astype("<f4").tobytes() + confidence.astype("<f4").tobytes()


def hand_frames(frames=5):
    data = np.zeros((frames, 1, 42, 3), np.float32)  # (frames, people, points, xyz) pixels
    data[:, 0, :21, 0] = 50.0  # left hand at x = 50 px of 200
    data[:, 0, :21, 1] = np.arange(frames)[:, None] * 10.0  # moving down 10 px of 100
    data[:, 0, 21:] = 150.0
    confidence = np.ones((frames, 1, 42), np.float32)
    confidence[2, 0, 21:] = 0.0  # right hand lost in frame 2
    return data, confidence


def test_reads_version_0_2_and_labels_from_folders(tmp_path):
    (tmp_path / "mẹ").mkdir()
    (tmp_path / "mẹ" / "a.pose").write_bytes(pose_bytes(*hand_frames(), fps=60.0))
    (tmp_path / "loose.pose").write_bytes(pose_bytes(*hand_frames()))
    result = read_format("pose", tmp_path)
    (sample,) = result.samples
    assert sample.glosses == ("mẹ",)
    np.testing.assert_allclose(sample.keypoints[:, 0, 0], 0.25)
    np.testing.assert_allclose(sample.keypoints[:, 0, 1], np.arange(5) * 0.1, atol=1e-6)
    np.testing.assert_allclose(sample.keypoints[1:4, 0, 4], 6.0, rtol=1e-5)  # 0.1 x 60 FPS
    assert sample.keypoints[:, 21, 6].tolist() == [1, 1, 0, 1, 1]
    assert result.failures == [
        (
            str(tmp_path / "loose.pose"),
            f"{tmp_path / 'loose.pose'}: no label; put it in a <gloss>/ folder or pass --label_csv",
        )
    ]
    mirrored = read_format("pose", tmp_path, mirrored=True).samples[0]
    np.testing.assert_array_equal(mirrored.keypoints[:, 21:], sample.keypoints[:, :21])


def test_labels_from_a_csv_and_bad_files_are_reported(tmp_path):
    data, confidence = hand_frames()
    (tmp_path / "good.pose").write_bytes(pose_bytes(data, confidence))
    (tmp_path / "short.pose").write_bytes(pose_bytes(data, confidence)[:-7])
    (tmp_path / "old.pose").write_bytes(struct.pack("<f", 0.0) + b"\0" * 20)
    (tmp_path / "body.pose").write_bytes(pose_bytes(data, confidence, names=("BODY", "FACE")))
    (tmp_path / "one.pose").write_bytes(pose_bytes(data[:1], confidence[:1]))
    nan = data.copy()
    nan[3, 0, 4, 1] = np.nan
    (tmp_path / "nan.pose").write_bytes(pose_bytes(nan, confidence))
    (tmp_path / "unlisted.pose").write_bytes(pose_bytes(data, confidence))
    names = ["good", "short", "old", "body", "one", "nan", "absent"]
    rows = "".join(f"{name}.pose,{name.upper()}\n" for name in names)
    (tmp_path / "labels.csv").write_text("file,gloss\n" + rows + "../x.pose,X\n")
    result = read_format("pose", tmp_path, label_csv=tmp_path / "labels.csv")
    assert [s.glosses for s in result.samples] == [("GOOD",)]
    reasons = {origin.rsplit("/", 1)[-1]: reason for origin, reason in result.failures}
    assert "truncated" in reasons["short.pose"]
    assert "version 0.0 is not supported" in reasons["old.pose"]
    assert "no pair of 21-point hand components; it has ['BODY', 'FACE']" in reasons["body.pose"]
    assert "1 frame(s)" in reasons["one.pose"]
    assert "NaN or infinite values in 1 of 5 frames, first at frame 3" in reasons["nan.pose"]
    assert "listed in" in reasons["absent.pose"]
    assert "no row in" in reasons["unlisted.pose"]
    assert "leaves the data folder" in reasons["labels.csv:9"]
    assert len(result.failures) == 8
