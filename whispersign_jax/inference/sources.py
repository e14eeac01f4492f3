"""Where a recogniser's keypoints come from: a video through the MediaPipe extractor, a webcam,
or a keypoint clip replayed in small chunks (optionally at its real frame rate)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from whispersign_jax import keypoints
from whispersign_jax.extraction.tracker import TrackerSettings

CAMERA_CHUNK_S = 0.25  # camera frames are resampled to 60 FPS in chunks of this length


def load_video(path: str | Path, settings: TrackerSettings) -> np.ndarray:
    """Keypoints of a video through the MediaPipe extractor."""
    from whispersign_jax.extraction.pipeline import extract_keypoints

    return extract_keypoints(path, **settings.options())


def replay(clip: np.ndarray, realtime: bool, chunk: int = 4) -> Iterator[np.ndarray]:
    """Frames of a clip in small chunks, paced at 60 FPS when ``realtime``."""
    start = time.perf_counter()
    for first in range(0, len(clip), chunk):
        if realtime:
            time.sleep(max(0.0, start + first / keypoints.FPS - time.perf_counter()))
        yield clip[first : first + chunk]


def camera_chunks(index: int, settings: TrackerSettings) -> Iterator[np.ndarray]:
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
        with settings.open() as tracker:
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
