"""The extraction suite (``--only extract``): video to hand keypoints.

``extract.<backend>.fps``: video frames per second through
``whispersign_jax.extraction.pipeline.track_video`` (decoding, MediaPipe hand tracking, slot
assignment) on ``data/samples/signing_clip.mp4``, best of 3 passes, for each backend
available. Where the main environment has no MediaPipe it runs in the side environment of
mediapipe 0.10.21 (``.venvs/mediapipe-legacy``, built on first use; ``scripts/legacy_env.py``):
the legacy backend, and the Tasks backend with a hand_landmarker.task assembled from that
wheel's two hand models. ``extract.skipped``: why nothing ran (the clip is absent).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import REPO, SAMPLE_CLIP

# Runs in whichever Python has MediaPipe; prints frames per second (best of 3 passes).
EXTRACT_FPS_CODE = """
import sys, time
from whispersign_jax.extraction.pipeline import open_hand_tracker, track_video
video, backend, model = sys.argv[1], sys.argv[2], sys.argv[3] or None
best = 0.0
for _ in range(3):
    with open_hand_tracker(backend, model_path=model) as tracker:
        start = time.perf_counter()
        frames = track_video(video, tracker).timestamps.size
        best = max(best, frames / (time.perf_counter() - start))
print(best)
"""


def side_env_hand_model(folder: Path) -> tuple[str, Path]:
    """The python of the mediapipe 0.10.21 side environment (built on first use) and a
    hand_landmarker.task in ``folder`` assembled from that wheel's two hand models."""
    from legacy_env import assemble_tasks_model, ensure_legacy_env  # scripts/legacy_env.py

    python = str(ensure_legacy_env(REPO / ".venvs" / "mediapipe-legacy"))
    return python, assemble_tasks_model(python, folder / "hand_landmarker.task")


def backend_runs(scratch: Path) -> dict[str, tuple[str, str]]:
    """backend -> (the python that runs it, its model file or ""): this environment's
    MediaPipe backends, else both of the side environment."""
    from whispersign_jax.extraction import model_file

    if importlib.util.find_spec("mediapipe") is None:
        python, model = side_env_hand_model(scratch)
        return {"legacy": (python, ""), "tasks": (python, str(model))}
    from whispersign_jax.extraction.backends import has_legacy_hands, import_mediapipe

    runs = {}
    if has_legacy_hands(import_mediapipe()):
        runs["legacy"] = (sys.executable, "")
    if model_file.available_model() is not None:
        runs["tasks"] = (sys.executable, str(model_file.available_model()))
    return runs


def benchmark_extract() -> dict[str, float | str]:
    """Frames per second of video extraction for each available MediaPipe backend."""
    if not SAMPLE_CLIP.is_file():
        return {"extract.skipped": f"{SAMPLE_CLIP} is absent"}
    results: dict[str, float | str] = {}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory() as scratch:
        for backend, (python, model) in backend_runs(Path(scratch)).items():
            command = [python, "-c", EXTRACT_FPS_CODE, str(SAMPLE_CLIP), backend, model]
            output = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
            results[f"extract.{backend}.fps"] = float(output.stdout.strip().splitlines()[-1])
    return results
