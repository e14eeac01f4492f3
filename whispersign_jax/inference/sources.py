"""Where a recogniser's keypoints come from: a video through the MediaPipe extractor, a webcam,
or a keypoint clip replayed in small chunks (optionally at its real frame rate)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from whispersign_jax import keypoints

CAMERA_CHUNK_S = 0.25  # camera frames are resampled to 60 FPS in chunks of this length


@dataclasses.dataclass(frozen=True)
class ExtractorSettings:
    """How videos and camera frames become keypoints: the model's joint set and the
    extractor's flags."""

    keypoints: str = keypoints.DEFAULT_JOINT_SET
    backend: str = "auto"
    mirrored: bool = False
    model_path: str | None = None
    pose_model_path: str | None = None
    face_model_path: str | None = None

    def open_tracker(self):
        from whispersign_jax.extraction.pipeline import open_tracker

        return open_tracker(**dataclasses.asdict(self))


def load_video(path: str | Path, settings: ExtractorSettings) -> np.ndarray:
    """Keypoints of a video through the MediaPipe extractor."""
    from whispersign_jax.extraction.pipeline import extract_keypoints

    return extract_keypoints(path, **dataclasses.asdict(settings))


def replay(clip: np.ndarray, realtime: bool, chunk: int = 4) -> Iterator[np.ndarray]:
    """Frames of a clip in small chunks, paced at 60 FPS when ``realtime``."""
    start = time.perf_counter()
    for first in range(0, len(clip), chunk):
        if realtime:
            time.sleep(max(0.0, start + first / keypoints.FPS - time.perf_counter()))
        yield clip[first : first + chunk]


def camera_chunks(index: int, settings: ExtractorSettings) -> Iterator[np.ndarray]:
    """Live ``(n, J, 7)`` keypoints from a webcam (OpenCV), resampled to 60 FPS in short
    chunks; each chunk starts at the previous chunk's last camera frame, so the 60 FPS grid
    restarts every ``CAMERA_CHUNK_S`` (a sub-frame jitter). Not verified on these machines
    (no camera, no OpenCV)."""
    import cv2

    from whispersign_jax.extraction.tracks import tracks_to_keypoints

    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise OSError(f"--camera={index}: cannot open the camera; check the device index.")
    origin = time.perf_counter()
    positions, presence, times = [], [], []
    try:
        with settings.open_tracker() as tracker:
            while True:
                ok, frame_bgr = capture.read()
                if not ok:
                    return
                now = time.perf_counter() - origin
                frame_positions, frame_presence = tracker.track(
                    cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB), now
                )
                positions.append(frame_positions)
                presence.append(frame_presence)
                times.append(now)
                if len(times) >= 2 and times[-1] - times[0] >= CAMERA_CHUNK_S:
                    chunk = tracks_to_keypoints(
                        np.stack(positions), np.stack(presence), np.asarray(times)
                    )
                    yield chunk[:-1]  # the last frame starts the next chunk
                    positions, presence, times = positions[-1:], presence[-1:], times[-1:]
    finally:
        capture.release()
