"""VOYA_VSL class files generated from the synthetic kinematic hands, and bad layouts."""

import json

import numpy as np
import pytest

from whispersign_jax.data import synthetic
from whispersign_jax.data.prepare import read_format, split_by_recording
from whispersign_jax.data.prepare.voya import LayoutError

CONFIG = synthetic.SyntheticConfig(num_glosses=6, samples_per_gloss_per_signer=1)


def voya_frames(index, frames=60):
    """`(frames, 535, 3)` points: 25 pose points with wrists at the hands, the synthetic
    signer's left and right hands, then a rigid 468-point face."""
    keypoints = synthetic.generate_sample(CONFIG, "train", index).keypoints
    keypoints = keypoints[np.minimum(np.arange(frames), len(keypoints) - 1)]
    points = np.zeros((frames, 535, 3))
    points[:, 25:46] = keypoints[:, :21, :3]
    points[:, 46:67] = keypoints[:, 21:, :3]
    points[:, 11] = [0.62, 0.45, 0.0]  # shoulders
    points[:, 12] = [0.38, 0.45, 0.0]
    for pose_wrist, hand in ((15, 25), (16, 46)):
        seen = points[:, hand].any(axis=1)
        points[:, pose_wrist] = np.where(seen[:, None], points[:, hand], [0.5, 0.9, 0.0])
    angles = np.random.default_rng(index).uniform(0, 2 * np.pi, 468)
    points[:, 67:, 0] = 0.5 + 0.07 * np.cos(angles)
    points[:, 67:, 1] = 0.25 + 0.09 * np.sin(angles)
    return points


def write_class_file(folder, class_id, points, copies=4, labels=None):
    """Augmented copies of one recording, as VOYA_VSL stores them."""
    rng = np.random.default_rng(class_id)
    sequences = []
    for _ in range(copies):
        noisy = points * rng.uniform(0.95, 1.05) + rng.normal(0, 0.001, points.shape)
        noisy[points == 0] = 0  # missing hands stay all zero
        sequences.append(noisy.reshape(len(points), 1605))
    folder.mkdir(parents=True, exist_ok=True)
    labels = np.full(copies, class_id) if labels is None else np.asarray(labels)
    np.savez(folder / f"class_{class_id:04d}.npz", sequences=np.stack(sequences), labels=labels)


@pytest.fixture
def voya_dir(tmp_path):
    for class_id in range(6):
        write_class_file(tmp_path / "Merged", class_id, voya_frames(class_id))
    names = {str(i): name for i, name in enumerate(["ăn", "uống", "đi", "ngủ", "chơi", "học"])}
    (tmp_path / "labels.json").write_text(json.dumps(names, ensure_ascii=False))
    return tmp_path


def test_reads_class_files_with_hands_in_the_anatomical_slots(voya_dir):
    result = read_format("huggingface", voya_dir)
    assert result.failures == []
    assert len(result.samples) == 24
    assert len({s.recording for s in result.samples}) == 6  # one recording per class file
    assert result.samples[0].glosses == ("ăn",)
    first = result.samples[8]  # class 2: both hands sign
    assert first.glosses == ("đi",)
    assert first.keypoints.shape == (119, 42, 7)  # 60 frames at 30 FPS -> 59/30 s at 60 FPS
    source = voya_frames(2)
    for slot, start in ((slice(0, 21), 25), (slice(21, 42), 46)):
        present = source[:, start].any(axis=1)
        assert (first.keypoints[::2, slot, 6][present] == 1).all()
        assert (first.keypoints[::2, slot][~present] == 0).all()  # missing hand: all zero
        scale = first.keypoints[::2, slot, :2][present] / source[present, start : start + 21, :2]
        assert np.allclose(scale, scale.flat[0], atol=0.02)  # the same points, augmented
    splits = split_by_recording(result.samples)
    for recording in {s.recording for s in result.samples}:
        assert sum(any(s.recording == recording for s in split) for split in splits.values()) == 1


def test_layout_that_does_not_fit_is_a_clear_error(tmp_path):
    points = voya_frames(0)
    moved = np.concatenate([points[:, 25:67], points[:, :25], points[:, 67:]], axis=1)
    write_class_file(tmp_path / "Merged", 0, moved)  # hands first, then the pose
    (tmp_path / "labels.json").write_text(json.dumps(["ăn"]))
    with pytest.raises(LayoutError, match=r"points (25-45|46-66) are not a (left|right) hand"):
        read_format("huggingface", tmp_path)


def test_hands_swapped_against_the_pose_wrists_are_an_error(tmp_path):
    points = voya_frames(1)
    points[:, [15, 16]] = points[:, [16, 15]]
    write_class_file(tmp_path / "Merged", 1, points)
    (tmp_path / "labels.json").write_text(json.dumps({"x": 0, "y": 1}))
    with pytest.raises(LayoutError, match="hands are swapped relative to the pose"):
        read_format("huggingface", tmp_path)


def test_bad_files_and_labels_are_reported_and_skipped(voya_dir):
    merged = voya_dir / "Merged"
    write_class_file(merged, 6, voya_frames(0), copies=2, labels=[0, 99])  # 99: no such class
    nan = voya_frames(2)
    nan[10, 30, 0] = np.nan
    write_class_file(merged, 7, nan, copies=2, labels=[2, 7])
    np.savez(merged / "class_0008.npz", sequences=np.zeros((2, 60, 1600)), labels=[1, 1])
    (merged / "class_0009.npz").write_bytes(b"not a zip")
    write_class_file(merged, 10, voya_frames(3)[:1], copies=1, labels=[3])
    result = read_format("huggingface", voya_dir)
    assert len(result.samples) == 24 + 1
    reasons = {origin.rsplit("/", 1)[-1]: reason for origin, reason in result.failures}
    assert "label '99' is not in labels.json" in reasons["class_0006.npz[1]"]
    assert (
        "NaN or infinite values in 1 of 60 frames, first at frame 10"
        in reasons["class_0007.npz[0]"]
    )
    assert "label '7' is not in labels.json" in reasons["class_0007.npz[1]"]
    assert "expected (N, frames, 1605)" in reasons["class_0008.npz"]
    assert "unreadable .npz file" in reasons["class_0009.npz"]
    assert "1 frame(s)" in reasons["class_0010.npz[0]"]
    assert len(result.failures) == 6
