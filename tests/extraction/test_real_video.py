"""Extraction of a real signing clip in a side environment with mediapipe 0.10.21.

The environment (.venvs/mediapipe-legacy, about a minute to build with pip's cache, then
reused) has the legacy `mp.solutions.hands` and the Tasks API. The Tasks backend runs with a
hand_landmarker.task assembled from the two hand models in that wheel, because the official
file cannot be downloaded here.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, SIGNING_CLIP, load_script

from whispersign_jax import keypoints as kp

legacy_env = load_script("legacy_env")

CLIP = SIGNING_CLIP
CLIP_FRAMES, CLIP_FPS = 58, 29.9166  # fixtures/README.md and the container


def _extract(python: Path, out: Path, *options: str) -> str:
    """Runs the CLI on the clip in the side environment; returns its stdout."""
    command = [str(python), "-m", "whispersign_jax.extract", "--video", str(CLIP)]
    command += ["--out", str(out), *options]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _check_contract(keypoints: np.ndarray) -> None:
    """Shape for 60 FPS, missing hands all zero, coordinates in range, velocities consistent."""
    assert keypoints.dtype == np.float32
    duration = (CLIP_FRAMES - 1) / CLIP_FPS
    assert abs(keypoints.shape[0] - (duration * kp.FPS + 1)) <= 1.5
    assert keypoints.shape[1:] == (42, 7)
    confidence = keypoints[:, ::21, kp.CONFIDENCE]  # (frames, hands)
    hands = keypoints.reshape(-1, 2, 21, 7)  # (frames, hands, joints, features)
    assert np.all(hands[confidence == 0] == 0.0)
    present = confidence > 0
    assert np.all(hands[..., kp.CONFIDENCE][present] == confidence[present][:, None])
    assert np.all(confidence <= 1.0)
    xy = hands[present][..., :2]
    assert xy.min() > -0.1 and xy.max() < 1.1
    assert np.abs(hands[present][..., 2]).max() < 1.0
    # Central differences where a hand is present in three consecutive frames.
    middle = present[1:-1] & present[:-2] & present[2:]  # (frames - 2, hands)
    expected = (hands[2:, ..., :3] - hands[:-2, ..., :3]) * kp.FPS / 2
    np.testing.assert_allclose(
        hands[1:-1, ..., 3:6][middle], expected[middle], rtol=1e-3, atol=1e-3
    )
    assert middle.sum() > 10


def test_legacy_backend_on_a_real_signing_clip(legacy_python, tmp_path):
    out = tmp_path / "clip.npy"
    summary = _extract(legacy_python, out, "--backend", "legacy")
    frames_with_hand = int(re.search(r"a hand in (\d+)", summary).group(1))
    assert 15 <= frames_with_hand <= 30, summary  # about 21 of 58 (fixtures/README.md)
    keypoints = np.load(out, allow_pickle=False)
    _check_contract(keypoints)
    present = keypoints[:, ::21, kp.CONFIDENCE] > 0  # (frames, [left, right])
    # The clip is unmirrored: the visible hand is the signer's right.
    assert present[:, 1].sum() >= 25 and present[:, 1].sum() > 5 * present[:, 0].sum()


def test_mirrored_option_swaps_the_slots(legacy_python, tmp_path):
    out = tmp_path / "clip.npy"
    _extract(legacy_python, out, "--backend", "legacy", "--mirrored", "--target_fps", "none")
    keypoints = np.load(out, allow_pickle=False)
    assert keypoints.shape == (CLIP_FRAMES, 42, 7)
    present = keypoints[:, ::21, kp.CONFIDENCE] > 0
    assert present[:, 0].sum() > 5 * present[:, 1].sum()


def test_tasks_backend_on_a_real_signing_clip(legacy_python, tmp_path):
    model = legacy_env.assemble_tasks_model(legacy_python, tmp_path / "hand_landmarker.task")
    out = tmp_path / "clip.npy"
    _extract(legacy_python, out, "--backend", "tasks", "--hand_model", str(model))
    keypoints = np.load(out, allow_pickle=False)
    _check_contract(keypoints)
    present = keypoints[:, ::21, kp.CONFIDENCE] > 0
    assert present[:, 1].sum() >= 25 and present[:, 1].sum() > 5 * present[:, 0].sum()


def test_extraction_modules_import_no_jax_or_tensorflow():
    code = (
        "import sys, whispersign_jax.extract; "
        "print(sorted(m for m in ('jax', 'tensorflow', 'mediapipe', 'cv2') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


WRITE_VIDEOS = """
import sys
import cv2
import numpy as np
folder = sys.argv[1]
for name, frames in (("one_frame.mp4", 1), ("no_hands.mp4", 12)):
    writer = cv2.VideoWriter(f"{folder}/{name}", cv2.VideoWriter_fourcc(*"mp4v"), 30, (160, 120))
    for index in range(frames):
        writer.write(np.full((120, 160, 3), 40 + 10 * index, np.uint8))  # plain grey frames
    writer.release()
"""


@pytest.fixture(scope="module")
def bad_videos(legacy_python, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad_videos")
    (folder / "garbage.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    (folder / "empty.mp4").write_bytes(b"")
    subprocess.run([str(legacy_python), "-c", WRITE_VIDEOS, str(folder)], check=True)
    return folder


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("garbage.mp4", r"garbage\.mp4: OpenCV cannot open this file as a video"),
        ("empty.mp4", r"empty\.mp4: OpenCV cannot open this file as a video"),
        ("one_frame.mp4", r"one_frame\.mp4: 1 readable frame\(s\); a sign needs at least 2"),
        ("no_hands.mp4", r"no_hands\.mp4: no hand detected in any of its 12 frames"),
    ],
)
def test_bad_videos_fail_with_the_file_named(legacy_python, bad_videos, tmp_path, name, message):
    command = [str(legacy_python), "-m", "whispersign_jax.extract", "--backend", "legacy"]
    command += ["--video", str(bad_videos / name), "--out", str(tmp_path / "out.npy")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 1 and not (tmp_path / "out.npy").exists()
    assert re.search(message, result.stderr), result.stderr[-1000:]
