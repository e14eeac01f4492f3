"""The Kaggle source end to end with real MediaPipe: the CLI in the mediapipe 0.10.21 side
environment (no JAX, no tqdm there), two worker processes, on the real signing clip."""

import csv
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from conftest import REPO, SIGNING_CLIP, load_script

legacy_env = load_script("legacy_env")

CLIP = SIGNING_CLIP


@pytest.fixture(scope="module")
def side_python():
    if not CLIP.is_file():
        pytest.skip(f"{CLIP} is absent (a fresh clone has no ../shared)")
    try:
        return legacy_env.ensure_legacy_env(REPO / ".venvs" / "mediapipe-legacy")
    except legacy_env.LegacyEnvError as error:
        pytest.skip(f"cannot build the mediapipe 0.10.21 side environment: {error}")


def test_kaggle_copy_layout_with_the_real_extractor(side_python, tmp_path):
    videos = tmp_path / "VSL" / "Dataset" / "Videos"
    labels = tmp_path / "VSL" / "Dataset" / "Labels"
    videos.mkdir(parents=True)
    labels.mkdir()
    shutil.copy(CLIP, videos / "D0001.mp4")
    shutil.copy(CLIP, videos / "D0002.mp4")  # the same recording under another name
    (videos / "D0003.mp4").write_bytes(CLIP.read_bytes()[:1000])  # truncated
    (labels / "label.csv").write_text(
        "ID,VIDEO,LABEL\n1,D0001.mp4,Xin chào B\n2,D0001.mp4,Xin chào T\n3,D0002,Xin chào N\n"
        "4,D0003.mp4,Cảm ơn\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    command = [str(side_python), str(REPO / "scripts" / "prepare_vsl_data.py")]
    command += ["--source", "kaggle", "--data_dir", str(tmp_path / "VSL")]
    command += ["--output_dir", str(out), "--backend", "legacy", "--workers", "2"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "kaggle: 3 ok, 1 skipped (1 x OpenCV cannot open this file" in run.stdout

    with open(out / "failures.csv", encoding="utf-8") as f:
        assert [row[0] for row in csv.reader(f)] == ["origin", str(videos / "D0003.mp4")]
    manifests = [
        row
        for split in ("train", "val", "test")
        for row in csv.DictReader(
            (out / split / "manifest.csv").read_text(encoding="utf-8").splitlines()
        )
    ]
    assert sorted(row["glosses"] for row in manifests) == ["Xin chào B", "Xin chào N", "Xin chào T"]
    assert len({row["recording"] for row in manifests}) == 1  # one split for all three
    split = next(s for s in ("train", "val", "test") if any((out / s / "features").iterdir()))
    keypoints = np.load(out / split / "features" / "sample_00000.npy")
    assert abs(keypoints.shape[0] - 115) <= 1  # 57 / 29.9 s at 60 FPS
    right_present = (keypoints[:, 21:, 6] > 0).all(axis=1)
    assert 0.2 < right_present.mean() < 0.6  # the signer's right hand, in its anatomical slot
    assert (keypoints[:, :21, 6] > 0).any(axis=1).mean() < 0.1


def test_video_csv_with_hands_pose_through_holistic(side_python, tmp_path):
    shutil.copy(CLIP, tmp_path / "clip.mp4")
    (tmp_path / "labels.csv").write_text("video,gloss\nclip.mp4,hello\n", encoding="utf-8")
    out = tmp_path / "out"
    command = [str(side_python), str(REPO / "scripts" / "prepare_vsl_data.py")]
    command += ["--format", "video", "--data_dir", str(tmp_path), "--label_csv", "labels.csv"]
    command += ["--output_dir", str(out), "--backend", "legacy", "--workers", "1"]
    command += ["--joint_set", "hands_pose", "--split_fractions", "1,0,0"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "video: 1 ok, 0 skipped" in run.stdout and "(hands_pose keypoints)" in run.stdout
    assert json.loads((out / "keypoints.json").read_text()) == {"joint_set": "hands_pose"}
    keypoints = np.load(out / "train" / "features" / "sample_00000.npy", allow_pickle=False)
    assert keypoints.shape[1:] == (55, 7) and abs(keypoints.shape[0] - 115) <= 1
    assert (keypoints[:, 42:, 6] > 0).any(axis=1).mean() > 0.9  # pose in (nearly) every frame
    right_present = (keypoints[:, 21:42, 6] > 0).all(axis=1)
    assert 0.2 < right_present.mean() < 0.6 and not (keypoints[:, :21, 6] > 0).any()
